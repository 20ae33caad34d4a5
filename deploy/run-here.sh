#!/usr/bin/env bash
# Runs vcam from this checkout: installs python3-venv if needed, builds .venv with the pinned
# requirements, creates .env from .env_example if there is none (the demo camera until RTSP_URL
# is set), and starts the daemon. Arguments go to vcam_runner.py (e.g. --demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/apt-install.sh python3-venv
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
[ -f .env ] || cp .env_example .env
exec .venv/bin/python vcam_runner.py "$@"
