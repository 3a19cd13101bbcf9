#!/usr/bin/env bash
# Installs Google's Gemini CLI into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund @google/gemini-cli

if ! command -v gemini >/dev/null 2>&1; then
  echo "install.sh: npm installed @google/gemini-cli but no 'gemini' command is on PATH" >&2
  exit 1
fi

# Gemini CLI reads system settings from /etc/gemini-cli/settings.json, which win
# over the user's ~/.gemini/settings.json; the home folder is mounted at run time,
# so only a file under /etc survives. Keys as the CLI's settings schema names them.
#   general.enableAutoUpdateNotification=false: no latest-version lookup at start
#   general.enableAutoUpdate=false: no self-update (the root filesystem is read-only)
#   privacy.usageStatisticsEnabled=false: no usage statistics sent to Google
#   telemetry.enabled=false: no OpenTelemetry export
install -d -m 0755 /etc/gemini-cli
cat >/etc/gemini-cli/settings.json <<'JSON'
{
  "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
  "privacy": {"usageStatisticsEnabled": false},
  "telemetry": {"enabled": false}
}
JSON
chmod 0644 /etc/gemini-cli/settings.json

echo "install.sh: installed @google/gemini-cli"
