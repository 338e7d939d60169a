#!/usr/bin/env bash
# Installs the Debian packages qat needs to build, test and fetch data. Idempotent: only
# missing packages are installed. Extra package names may be given as arguments.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev libopenblas0-openmp
      libyaml-dev zlib1g-dev libpng-dev libstb-dev libutf8proc-dev libjansson-dev protobuf-c-compiler libprotobuf-c-dev curl ca-certificates "$@")
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
