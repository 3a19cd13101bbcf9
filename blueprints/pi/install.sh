#!/usr/bin/env bash
# Installs the pi coding agent into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund @earendil-works/pi-coding-agent

if ! command -v pi >/dev/null 2>&1; then
  echo "install.sh: npm installed @earendil-works/pi-coding-agent but no 'pi' command is on PATH" >&2
  exit 1
fi

# pi's find and grep tools use fd and ripgrep, and download them from GitHub into
# the home folder when neither is on PATH. The agent base image has ripgrep;
# Debian's fd-find (installed as fdfind, a name pi looks for) saves the download.
if ! command -v fd >/dev/null 2>&1 && ! command -v fdfind >/dev/null 2>&1; then
  apt-get update
  apt-get install -y --no-install-recommends fd-find
  rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin
fi

echo "install.sh: installed @earendil-works/pi-coding-agent"
