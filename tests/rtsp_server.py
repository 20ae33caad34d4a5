"""A real RTSP server for the tests: gst-rtsp-server serving an MP4's H.264 or H.265 track, and
with --audio its AAC track as it is or turned into what other cameras send (G.711 A-law or µ-law, Opus).

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

# The file's AAC track as each kind of camera sends it (G.711 is 8 kHz mono by definition).
_DECODED = "aacparse ! avdec_aac ! audioconvert ! audioresample"
AUDIO = {
    "aac": "aacparse ! rtpmp4gpay name=pay1 pt=97",
    "pcma": f"{_DECODED} ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1",
    "pcmu": f"{_DECODED} ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1",
    "opus": f"{_DECODED} ! audio/x-raw,rate=48000 ! opusenc ! rtpopuspay name=pay1 pt=97",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", required=True, help="MP4 with an H.264 (or, with --codec h265, H.265) track")
    parser.add_argument("--codec", choices=["h264", "h265"], default="h264")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--audio", choices=sorted(AUDIO), help="also serve the file's AAC track, as this codec")
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
    video = f"{codec}parse ! rtp{codec}pay name=pay0 pt=96 config-interval=1"
    if args.audio:
        launch = f'filesrc location="{location}" ! qtdemux name=d d.video_0 ! queue ! {video} d.audio_0 ! queue ! '
        launch += AUDIO[args.audio]
    else:
        launch = f'filesrc location="{location}" ! qtdemux ! {video}'
    factory.set_launch(f"( {launch} )")
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
