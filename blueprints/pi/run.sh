#!/usr/bin/env bash
# Starts the pi coding agent for a headless run; the Sandbox's args are passed through.
set -euo pipefail

exec pi "$@"
