#!/usr/bin/env bash
# Installs the opencode agent into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund opencode-ai

if ! command -v opencode >/dev/null 2>&1; then
  echo "install.sh: npm installed opencode-ai but no 'opencode' command is on PATH" >&2
  exit 1
fi
echo "install.sh: installed opencode-ai"
