#!/usr/bin/env bash
# Starts OpenAI's Codex CLI for a headless run; the Sandbox's args are passed through.
set -euo pipefail

exec codex "$@"
