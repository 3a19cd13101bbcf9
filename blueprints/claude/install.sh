#!/usr/bin/env bash
# Installs Anthropic's Claude Code into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund @anthropic-ai/claude-code

if ! command -v claude >/dev/null 2>&1; then
  echo "install.sh: npm installed @anthropic-ai/claude-code but no 'claude' command is on PATH" >&2
  exit 1
fi
echo "install.sh: installed @anthropic-ai/claude-code"
