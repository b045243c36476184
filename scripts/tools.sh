#!/usr/bin/env bash
# The test command's outside tools: Python ones each in a virtual environment of its own under
# .build/ (kubernetes-validate for the manifests, Playwright + pytest for the browser tests,
# schemathesis for fuzzing) and Debian's Chromium and nginx (browser tests).
#   . scripts/tools.sh; tool_venv fuzz     → sets $venv to that environment, installing it if needed
#   scripts/tools.sh                       installs them all: the test command runs it beside the
#                                          Swift build, which leaves pip's downloads and unpacking
#                                          off the critical path (about 1.5 min of a fresh run)

declare -A tool_packages=(
  [tools]="kubernetes-validate==1.37.0"
  [browser]="playwright==1.* pytest==8.*"
  [fuzz]="schemathesis==4.32.5"
)

# tool_venv NAME: .build/NAME-venv with NAME's packages (made anew when they changed); sets $venv.
tool_venv() {
  venv=.build/$1-venv
  local packages=${tool_packages[$1]}
  [ "$(cat "$venv/.packages" 2>/dev/null)" = "$packages" ] && return
  echo "installing $packages into $venv…"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # one word per package
  "$venv/bin/pip" install -q --disable-pip-version-check $packages
  echo "$packages" > "$venv/.packages"
}

# ensure COMMAND PACKAGE: installs Debian's PACKAGE when COMMAND is missing (as root), or says how.
ensure() {
  command -v "$1" >/dev/null 2>&1 && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $2 (apt-get)…"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || { echo "$2 is needed: sudo apt-get install -y $2" >&2; return 1; }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  mkdir -p .build
  ensure chromium chromium
  ensure nginx nginx-light
  for name in tools browser fuzz; do tool_venv "$name"; done
fi
