#!/usr/bin/env bash
# Installs vcam as the systemd service cameramonitor.service, from this checkout. Run as root:
#   sudo deploy/install.sh [--prefix /opt/camera_monitor] [--user pi] [--video-dir DIR]
# Idempotent: run it again to update. An existing .env is never overwritten.
# For tests: --root DIR installs below DIR (a staged tree); --no-systemctl skips systemctl;
# --no-venv skips building the virtual environment.
set -euo pipefail

prefix=/opt/camera_monitor
user=pi
video_dir=""
root=""
systemctl=yes
venv=yes
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --user) user=$2; shift 2 ;;
        --video-dir) video_dir=$2; shift 2 ;;
        --root) root=$2; shift 2 ;;
        --no-systemctl) systemctl=no; shift ;;
        --no-venv) venv=no; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
    esac
done
video_dir=${video_dir:-$prefix/video}
case "$prefix$video_dir" in *" "*) echo "install.sh: paths with spaces are not supported" >&2; exit 2 ;; esac
source_dir=$(cd "$(dirname "$0")/.." && pwd)
target=$root$prefix
unit_dir=$root/etc/systemd/system

if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo)" >&2
    exit 1
fi
if [ -z "$root" ] && ! id "$user" >/dev/null 2>&1; then
    echo "install.sh: creating system user $user"
    useradd --system --home-dir "$prefix" --shell /usr/sbin/nologin "$user"
fi

echo "Installing vcam into $target"
mkdir -p "$target" "$root$video_dir" "$unit_dir"
cp -r "$source_dir/vcam" "$source_dir/bin" "$source_dir/vcam_runner.py" "$source_dir/requirements.txt" \
      "$source_dir/README.md" "$source_dir/.env_example" "$source_dir/vcam.toml.example" "$target/"
find "$target/vcam" -name __pycache__ -prune -exec rm -rf {} +
# `vcam events`, `vcam check`… from anywhere: the command runs this install's venv and .env
mkdir -p "$root/usr/local/bin"
ln -sfn "$prefix/bin/vcam" "$root/usr/local/bin/vcam"

if [ ! -f "$target/.env" ]; then
    sed "s|^VIDEO_DIR=.*|VIDEO_DIR=$video_dir|" "$source_dir/.env_example" > "$target/.env"
    chmod 640 "$target/.env"
    echo "Created $target/.env from .env_example: set RTSP_URL there (it runs the demo camera until you do)"
else
    echo "Kept the existing $target/.env"
fi

if [ "$venv" = yes ]; then
    python3 -m venv "$target/venv"
    "$target/venv/bin/pip" install --quiet --disable-pip-version-check -r "$target/requirements.txt"
fi

render() {
    sed -e "s|/opt/camera_monitor/video|$video_dir|g" \
        -e "s|/opt/camera_monitor|$prefix|g" \
        -e "s|^User=pi$|User=$user|" -e "s|^Group=pi$|Group=$user|" \
        "$source_dir/deploy/cameramonitor.service"
}
render > "$unit_dir/cameramonitor.service"
# vcam@NAME.service: the same service for the cameras of $prefix/NAME.toml, one process per file
# (for cameras split across processes or machines); enabled by hand: systemctl enable --now vcam@NAME
render | sed -e "s|^\(ExecStart=.*vcam_runner.py\)$|\1 --config $prefix/%i.toml|" \
    -e "s|^Description=\(.*\)$|Description=\1: the cameras of $prefix/%i.toml|" \
    -e "s|journalctl -u cameramonitor.service|journalctl -u vcam@NAME.service|" > "$unit_dir/vcam@.service"

if [ -z "$root" ]; then
    chown -R "$user:" "$video_dir"
    chown root:"$user" "$target/.env"
fi

if [ "$systemctl" = yes ] && [ -z "$root" ]; then
    systemctl daemon-reload
    systemctl enable cameramonitor.service
    echo
    echo "Installed. Next:"
    echo "  sudo nano $prefix/.env                       # set RTSP_URL (and anything else)"
    echo "  sudo systemctl restart cameramonitor.service"
    echo "  journalctl -u cameramonitor.service -f        # watch it"
    echo "  vcam events                                    # what it recorded (vcam --help for more)"
    echo "Several cameras: $prefix/vcam.toml (see vcam.toml.example); one process per file: vcam@NAME.service"
else
    echo "Installed into $target (systemctl skipped)"
fi
