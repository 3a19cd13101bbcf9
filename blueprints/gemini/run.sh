#!/usr/bin/env bash
# Starts Google's Gemini CLI for a headless run; the Sandbox's args are passed through.
set -euo pipefail

exec gemini "$@"
