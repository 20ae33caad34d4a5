"""A real RTSP server for the tests: gst-rtsp-server serving an MP4's H.264 or H.265 track.

Runs under Debian's /usr/bin/python3 (the one that has python3-gi and GStreamer),
not under the project's interpreter. Prints ``READY <port>`` once it listens.
Each client gets its own pipeline, so every connection starts at the file's start.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True, help="MP4 with an H.264 (or, with --codec h265, H.265) track")
    parser.add_argument("--codec", choices=["h264", "h265"], default="h264")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/stream")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    location = args.file.replace("\\", "\\\\").replace('"', '\\"')
    codec = args.codec
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! {codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(False)

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        basic = GstRtspServer.RTSPAuth.make_basic(args.user, args.password or "")
        auth.add_basic(basic, token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print("FAILED to listen", file=sys.stderr, flush=True)
        sys.exit(1)

    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print(f"READY {args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
