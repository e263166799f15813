#!/usr/bin/env bash
# Installs everything Bellwether needs to build, test and run on Debian 12.
# Idempotent: it does nothing when every package is already there.
set -euo pipefail

PKGS=(build-essential cmake pkg-config clang-format
      librdkafka-dev libavro-dev libpcre2-dev libhiredis-dev libcmocka-dev
      libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
      redis-server kcat python3 python3-yaml curl prometheus docker-compose
      clang libclang-rt-dev)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PKGS[@]} packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
