#!/usr/bin/env bash
# Installs OpenAI's Codex CLI into the agent image (runs as root during the image build).
set -euo pipefail

npm install -g --no-audit --no-fund @openai/codex

if ! command -v codex >/dev/null 2>&1; then
  echo "install.sh: npm installed @openai/codex but no 'codex' command is on PATH" >&2
  exit 1
fi

# Codex takes these from a config file, not the environment. The system layer
# (/etc/codex/config.toml) is read under every user's ~/.codex/config.toml, and
# the home folder is mounted at run time, so only a file under /etc survives.
# Keys as the codex binary names them; `codex doctor` shows them applied.
install -d -m 0755 /etc/codex
cat >/etc/codex/config.toml <<'TOML'
# Written by acctl's codex blueprint: nothing at run time waits on hosts the
# gate refuses, and nothing is reported home.
check_for_update_on_startup = false   # no latest-version probe at start

[analytics]
enabled = false                       # no usage events

[feedback]
enabled = false                       # /feedback uploads nothing

[otel]
exporter = "none"                     # no OpenTelemetry logs,
trace_exporter = "none"               # traces,
metrics_exporter = "none"             # or metrics (sent to OpenAI by default)
TOML
chmod 0644 /etc/codex/config.toml

echo "install.sh: installed @openai/codex $(codex --version)"
