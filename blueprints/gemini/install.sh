#!/usr/bin/env bash
# Installs Google's Gemini CLI into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund @google/gemini-cli

if ! command -v gemini >/dev/null 2>&1; then
  echo "install.sh: npm installed @google/gemini-cli but no 'gemini' command is on PATH" >&2
  exit 1
fi
echo "install.sh: installed @google/gemini-cli"
