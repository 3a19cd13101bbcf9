#!/usr/bin/env bash
# Starts Nous Research's Hermes agent for a headless run; the Sandbox's args are passed through.
set -euo pipefail

exec hermes "$@"
