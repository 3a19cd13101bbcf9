#!/usr/bin/env bash
# Installs Google Antigravity into the agent image with the vendor's installer (runs as root during the build).
set -euo pipefail

installer_host="antigravity.google"
installer_url="https://antigravity.google/install.sh"

if ! command -v curl >/dev/null 2>&1; then
  echo "install.sh: curl is missing from the base image; cannot fetch $installer_url" >&2
  exit 1
fi

script="$(mktemp)"
trap 'rm -f "$script"' EXIT

# Fetch first and run second, so an unreachable host gives one clear message
# instead of a half-run pipe.
if ! curl -fsSL --connect-timeout 15 --max-time 120 -o "$script" "$installer_url"; then
  echo "cannot reach $installer_host: this blueprint's installer needs it" >&2
  exit 1
fi

bash "$script"

if ! command -v antigravity >/dev/null 2>&1; then
  echo "install.sh: the installer from $installer_host finished but no 'antigravity' command is on PATH" >&2
  exit 1
fi
echo "install.sh: installed antigravity from $installer_host"
