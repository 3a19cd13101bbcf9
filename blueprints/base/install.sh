#!/usr/bin/env bash
# Install step of the base blueprint: the agent base image already has everything it needs.
set -euo pipefail

echo "install.sh: base blueprint, nothing to install"
