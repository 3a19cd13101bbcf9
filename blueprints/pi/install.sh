#!/usr/bin/env bash
# Installs the pi coding agent into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund @earendil-works/pi-coding-agent

if ! command -v pi >/dev/null 2>&1; then
  echo "install.sh: npm installed @earendil-works/pi-coding-agent but no 'pi' command is on PATH" >&2
  exit 1
fi
echo "install.sh: installed @earendil-works/pi-coding-agent"
