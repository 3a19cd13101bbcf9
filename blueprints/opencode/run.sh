#!/usr/bin/env bash
# Starts the opencode agent for a headless run; the Sandbox's args are passed through.
set -euo pipefail

exec opencode "$@"
