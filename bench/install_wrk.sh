#!/usr/bin/env bash
# Installs wrk for `make bench` where it can: Debian/Ubuntu with apt-get (as root, or with
# sudo that needs no password), macOS with Homebrew. Otherwise says how, and exits 2.
set -euo pipefail
command -v wrk >/dev/null && exit 0
if command -v apt-get >/dev/null; then
  # (A flag, not "is the array set": bash calls an empty array, root's, unset.)
  can_install=no
  if [ "$(id -u)" = 0 ]; then as_root=(env); can_install=yes
  elif sudo -n true 2>/dev/null; then as_root=(sudo env); can_install=yes; fi
  if [ "$can_install" = yes ]; then
    echo "bench: installing wrk with apt-get"
    "${as_root[@]}" apt-get update -qq >/dev/null
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    exit 0
  fi
elif command -v brew >/dev/null; then
  echo "bench: installing wrk with Homebrew"
  brew install wrk
  exit 0
fi
echo "make bench needs wrk: sudo apt-get install wrk (Debian/Ubuntu) or brew install wrk" >&2
exit 2
