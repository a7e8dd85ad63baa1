#!/usr/bin/env bash
# The real Prometheus tools the metrics tests run: promtool (Debian package `prometheus`) and the
# Pushgateway (`prometheus-pushgateway`). Test-only; the product never needs them.
# The packages are downloaded and unpacked into .tools/prometheus (git-ignored), not installed:
# nothing is added to the system, no service is started (installing `prometheus` would start a
# server on :9090 where systemd runs), and a user who is not root can do it too once apt's
# package lists exist. Both are Go programs that need only libc.
# Usage: bash .ci/prometheus-tools.sh   (prints the folder holding both programs)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/prometheus
bin="$dest/usr/bin"
if [ -x "$bin/promtool" ] && [ -x "$bin/prometheus-pushgateway" ]; then
  echo "$PWD/$bin"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "prometheus-tools: needs apt-get and dpkg-deb (Debian or Ubuntu) to fetch promtool and the Pushgateway" >&2
  exit 3
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# As root apt would hand the download to its _apt user, who cannot write into our private
# folder; it then downloads as root anyway, with a warning. Say so up front instead.
sandbox=()
[ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
fetch() { (cd "$work" && apt-get download -q "${sandbox[@]}" prometheus prometheus-pushgateway) >&2; }
if ! fetch; then
  # A new machine has no package lists yet; only root (or password-less sudo, as on CI runners)
  # can fetch them.
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2
  elif sudo -n true 2>/dev/null; then
    sudo apt-get update -qq >&2
  else
    echo "prometheus-tools: apt-get download failed and only root can run apt-get update" >&2
    exit 3
  fi
  fetch
fi
mkdir -p "$dest"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
mkdir -p "$bin"
cp "$work/root/usr/bin/promtool" "$work/root/usr/bin/prometheus-pushgateway" "$bin/"
"$bin/promtool" --version 2>&1 | head -1 >&2
"$bin/prometheus-pushgateway" --version 2>&1 | head -1 >&2
echo "$PWD/$bin"
