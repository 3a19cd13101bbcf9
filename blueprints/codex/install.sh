#!/usr/bin/env bash
# Installs OpenAI's Codex CLI into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund @openai/codex

if ! command -v codex >/dev/null 2>&1; then
  echo "install.sh: npm installed @openai/codex but no 'codex' command is on PATH" >&2
  exit 1
fi
echo "install.sh: installed @openai/codex"
