#!/usr/bin/env bash
# Prints the path of a Chromium for the browser test (test/web-ui.test.ts), installing Debian's
# `chromium` with apt-get when none is found. Order: $CHROMIUM_PATH, /usr/bin/chromium, else
# apt-get install. Never `npx playwright install`: it downloads a browser build, and these
# machines reach only package registries.
set -euo pipefail

fail() {
  echo "ensure-chromium: $*" >&2
  exit 1
}

if [[ -n "${CHROMIUM_PATH:-}" ]]; then
  [[ -x "$CHROMIUM_PATH" ]] || fail "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file"
  echo "$CHROMIUM_PATH"
  exit 0
fi

debian_chromium=/usr/bin/chromium
if [[ -x "$debian_chromium" ]]; then
  echo "$debian_chromium"
  exit 0
fi

[[ "$(id -u)" -eq 0 ]] || fail "Chromium is not installed and installing it needs root: apt-get install chromium, or set CHROMIUM_PATH"
command -v apt-get >/dev/null 2>&1 || fail "Chromium is not installed and there is no apt-get: install it, or set CHROMIUM_PATH"

export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: refresh them only then.
if ! apt-cache show chromium >/dev/null 2>&1; then
  echo "ensure-chromium: apt-get update..." >&2
  apt-get update >&2 || fail "apt-get update failed"
fi
# Recommends (upower, udev, notification daemon, ...) are for a desktop session, not headless use;
# a font comes through chromium's own dependencies (fontconfig needs one).
packages=(chromium)
echo "ensure-chromium: installing ${packages[*]} with apt-get..." >&2
if ! apt-get install -y --no-install-recommends "${packages[@]}" >&2; then
  echo "ensure-chromium: install failed; refreshing the package lists and trying again..." >&2
  apt-get update >&2 || fail "apt-get update failed"
  apt-get install -y --no-install-recommends "${packages[@]}" >&2 || fail "apt-get install ${packages[*]} failed"
fi

[[ -x "$debian_chromium" ]] || fail "chromium is installed but $debian_chromium is missing"
echo "$debian_chromium"
