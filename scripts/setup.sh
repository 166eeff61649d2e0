#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for ScaleNet (run from the repository root, as root or with sudo).
#   bash scripts/setup.sh               system packages + .venv with every package and tool
#   bash scripts/setup.sh --tools-only  system packages + .venv with nox/dvc only (for `nox`)
# Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-full}"
case "$mode" in full|--full) mode=full ;; --tools-only) mode=tools ;;
  *) echo "setup.sh: unknown option '$mode' (allowed: --full, --tools-only)" >&2; exit 2 ;; esac

# System packages: the FFCV build (libturbojpeg, OpenCV, pkg-config), the embedded data set and
# tcmalloc (the torch stages preload it: 1.1-1.6x on the CPU, docs/running.md "CPU performance").
need=()
for pkg in libopencv-dev libturbojpeg0-dev pkg-config dataset-fashion-mnist libtcmalloc-minimal4 git; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "$mode" = tools ]; then
  .venv/bin/pip install -q "nox>=2024.4" "dvc>=3.50"
else
  echo "setup: installing requirements.txt into .venv (torch is a large wheel; about 2 minutes)"
  .venv/bin/pip install -q -r requirements.txt
fi
# DVC needs a git repository (a source tarball has none).
[ -d .git ] || git init -q
echo "setup: done ($mode). Activate with: . .venv/bin/activate"
