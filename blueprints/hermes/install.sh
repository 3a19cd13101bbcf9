#!/usr/bin/env bash
# Installs Nous Research's Hermes agent into the agent image with the vendor's installer (runs as root during the build).
set -euo pipefail

installer_host="hermes-agent.nousresearch.com"
installer_url="https://hermes-agent.nousresearch.com/install.sh"

if ! command -v curl >/dev/null 2>&1; then
  echo "install.sh: curl is missing from the base image; cannot fetch $installer_url" >&2
  exit 1
fi

script="$(mktemp)"
trap 'rm -f "$script"' EXIT

# Fetch first and run second, so an unreachable host gives one clear message
# instead of a half-run pipe. Short timeouts: where the host is unreachable the
# build fails within seconds rather than hanging (a script of a few KB needs no more).
if ! curl_error=$(curl -fsSL --connect-timeout 5 --max-time 20 -o "$script" "$installer_url" 2>&1); then
  echo "install.sh: cannot reach $installer_host (${curl_error:-curl failed}); the $installer_url installer is the only way this blueprint installs" >&2
  exit 1
fi

bash "$script"

if ! command -v hermes >/dev/null 2>&1; then
  echo "install.sh: the installer from $installer_host finished but no 'hermes' command is on PATH" >&2
  exit 1
fi
echo "install.sh: installed hermes from $installer_host"
