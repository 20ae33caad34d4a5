"""What connections hand out: codec parameters taken from the stream itself."""

from __future__ import annotations

from vcam.frames import parameter_sets


def test_parameter_sets_are_found_in_an_annex_b_keyframe() -> None:
    sps, pps, sei, idr = b"\x67\x42\xc0\x16", b"\x68\xce\x3c\x80", b"\x06\x05\x01", b"\x65\x88\x84"
    keyframe = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps + b"\x00\x00\x01" + sei + b"\x00\x00\x00\x01" + idr
    assert parameter_sets("h264", keyframe) == b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps
    vps, hevc_sps, hevc_idr = b"\x40\x01\x0c", b"\x42\x01\x01", b"\x26\x01\xaf"
    assert parameter_sets("hevc", b"\x00\x00\x01" + vps + b"\x00\x00\x01" + hevc_sps + b"\x00\x00\x01" + hevc_idr) == (
        b"\x00\x00\x00\x01" + vps + b"\x00\x00\x00\x01" + hevc_sps
    )
    assert parameter_sets("h264", b"\x00\x00\x00\x10" + idr) is None  # length-prefixed (MP4), not Annex B
    assert parameter_sets("mjpeg", keyframe) is None
