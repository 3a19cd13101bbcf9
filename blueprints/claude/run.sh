#!/usr/bin/env bash
# Starts Anthropic's Claude Code for a headless run; the Sandbox's args are passed through.
set -euo pipefail

exec claude "$@"
