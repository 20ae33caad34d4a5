#!/usr/bin/env bash
# Removes the cameramonitor.service and vcam@.service units and the installed program. Recordings and .env stay
# unless --purge is given. Run as root: sudo deploy/uninstall.sh [--prefix DIR] [--purge]
set -euo pipefail
prefix=/opt/camera_monitor
purge=no
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --purge) purge=yes; shift ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if systemctl list-unit-files cameramonitor.service >/dev/null 2>&1; then
    systemctl disable --now cameramonitor.service || true
fi
# every vcam@NAME instance that runs or is enabled
for instance in $(systemctl list-units --all --plain --no-legend 'vcam@*.service' 2>/dev/null | awk '{print $1}') \
                $(systemctl list-unit-files --plain --no-legend 'vcam@*.service' 2>/dev/null | awk '$1 != "vcam@.service" {print $1}'); do
    systemctl disable --now "$instance" || true
done
rm -f /etc/systemd/system/cameramonitor.service /etc/systemd/system/vcam@.service
systemctl daemon-reload || true
[ "$(readlink /usr/local/bin/vcam 2>/dev/null)" = "$prefix/bin/vcam" ] && rm -f /usr/local/bin/vcam
rm -rf "$prefix/vcam" "$prefix/bin" "$prefix/venv" "$prefix/vcam_runner.py" "$prefix/requirements.txt" "$prefix/README.md" "$prefix/.env_example" "$prefix/vcam.toml.example"
if [ "$purge" = yes ]; then
    rm -rf "$prefix"
    echo "Removed $prefix with its recordings and settings"
else
    echo "Removed the service; kept $prefix/.env and the recordings"
fi
