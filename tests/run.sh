#!/usr/bin/env bash
# Installs everything the tests need on Debian / Raspberry Pi OS (apt packages, a venv with the
# pinned requirements), checks lint and types, then runs the whole test suite.
# Extra arguments go to pytest: `bash tests/run.sh -m "not slow"` is the quick run.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    ffmpeg python3-venv chromium systemd
    gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
    gstreamer1.0-libav vlc-bin vlc-plugin-base motion mosquitto prometheus
    debootstrap systemd-container podman runc
)
bash deploy/apt-install.sh "${APT_PACKAGES[@]}"

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# Every real part was installed above, so a missing one fails instead of skipping.
VCAM_REQUIRE_E2E=1 exec .venv/bin/python -m pytest "$@"
