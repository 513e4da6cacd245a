#!/bin/sh
# kmodlab's Gradescope set-up: run once, as root, when Gradescope builds the image.
# Needs only the distribution's package archive: kmodlab and its Python
# dependencies are in wheels/, the guest kernel's packages in debs/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=${KMODLAB_GRADESCOPE_ROOT:-/autograder}
export DEBIAN_FRONTEND=noninteractive
say() { printf 'kmodlab setup.sh: %s\n' "$*" >&2; }

apt-get update -q
# Python 3.11 or newer with venv: python3 on Debian 12 and Ubuntu 24.04; Ubuntu
# 22.04's python3 is 3.10, and its python3.11 package is the one to install.
py=""
for cand in __PYTHONS__; do
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    py=$cand; break
  fi
done
if [ -z "$py" ]; then
  if apt-get install -y -q python3.11 python3.11-venv >/dev/null 2>&1; then
    py=python3.11
  else
    apt-get install -y -q python3 python3-venv
    py=python3
  fi
fi
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  say "error: kmodlab needs Python 3.11 or newer, and this image has none" \
      "(no python3.11 package either): choose a Debian 12 or Ubuntu 24.04 base image"
  exit 1
}
"$py" -m venv --help >/dev/null 2>&1 && "$py" -m ensurepip --version >/dev/null 2>&1 ||
  apt-get install -y -q "$(basename "$py")-venv" || {
    say "error: the package $(basename "$py")-venv is missing from this image's archive:" \
        "install venv for $py"
    exit 1
  }
"$py" -m venv "$root/kmodlab-venv"
"$root/kmodlab-venv/bin/python" -m pip install -q --no-index --find-links "$here/wheels" kmodlab
# Host packages (QEMU, bubblewrap, gcc-12, ...: `kmodlab setup` names any the
# archive lacks), the guest kernel from debs/, and a saved booted guest.
"$root/kmodlab-venv/bin/kmodlab" setup --debs "$here/debs"
"$root/kmodlab-venv/bin/kmodlab" doctor
