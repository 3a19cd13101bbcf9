#!/usr/bin/env bash
# Starts Google Antigravity for a headless run; the Sandbox's args are passed through.
set -euo pipefail

exec antigravity "$@"
