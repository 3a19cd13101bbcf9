#!/usr/bin/env bash
# Starts a login shell for the base blueprint; the Sandbox's args go to bash (e.g. -c "make test").
set -euo pipefail

exec bash -l "$@"
