#!/usr/bin/env bash
# Make Debian's Chromium available for the browser tests (tests marked `browser`).
#
#   scripts/ensure_chromium.sh      install the `chromium` package with apt if missing
#
# Only Debian's package is used: never a browser build downloaded by Playwright
# (`playwright install` is not run anywhere). Exits 0 whether or not the install worked:
# when /usr/bin/chromium is still missing the browser tests skip and say why.
# CHROMIUM_PATH overrides the executable the tests drive (default /usr/bin/chromium).
set -uo pipefail
log() { echo "[chromium] $*" >&2; }

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi
if [[ "${SKIP_CHROMIUM_INSTALL:-0}" == "1" ]]; then
  log "$CHROMIUM missing and SKIP_CHROMIUM_INSTALL=1: the browser tests will skip"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  log "$CHROMIUM missing and no apt-get here: the browser tests will skip"
  exit 0
fi
SUDO=()
if [[ "$(id -u)" != "0" ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    log "$CHROMIUM missing and not root (no passwordless sudo): the browser tests will skip"
    exit 0
  fi
fi
log "installing Debian's chromium package (once; about a minute)"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=180 install -y -q --no-install-recommends chromium >/tmp/tristate-chromium-install.log 2>&1; then
  # The package lists may be missing or stale on a fresh machine.
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=180 update -q >>/tmp/tristate-chromium-install.log 2>&1 || true
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=180 install -y -q --no-install-recommends chromium >>/tmp/tristate-chromium-install.log 2>&1 || true
fi
if [[ -x "$CHROMIUM" ]]; then
  log "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
  log "could not install chromium (see /tmp/tristate-chromium-install.log): the browser tests will skip"
fi
exit 0
