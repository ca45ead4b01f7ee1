#!/usr/bin/env bash
# carrybot's base image from Debian's packages alone, for machines that reach no image registry: Debian bookworm
# (minbase) with Python 3.11, venv and CA certificates, imported as carrybot-base:bookworm (or the tag given).
#   deploy/base-image.sh [TAG]    (root: debootstrap needs it; DEBIAN_MIRROR picks another mirror)
# Behind a TLS-intercepting proxy, EXTRA_CA_FILE=/path/to/proxy-ca.pem makes the image trust that authority too (pip
# inside the build reads the system's store). The same suite and package set give the same filesystem; apt's
# lists, caches and logs are left out of it.
set -euo pipefail
TAG=${1:-carrybot-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$MIRROR" >/dev/null
if [ -n "${EXTRA_CA_FILE:-}" ]; then
  cp "$EXTRA_CA_FILE" "$root/usr/local/share/ca-certificates/extra-ca.crt"
  chroot "$root" update-ca-certificates >/dev/null
fi
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*
tar --numeric-owner -C "$root" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
echo "$TAG"
