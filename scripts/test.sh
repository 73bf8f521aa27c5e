#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine (Chromium and
# ChromeDriver for the browser tests, systemd-analyze for the unit file), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "Installing Chromium and ChromeDriver for the browser tests..."
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# systemd-analyze checks the packaged systemd unit (tests/cli.rs).
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "Installing systemd (systemd-analyze) for the unit file test..."
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq systemd >/dev/null
fi

# The whole workspace: the app and its stand-ins (sandbox/).
cargo test --workspace "$@"
