"""vcam: a headless motion-recording daemon for IP cameras."""

__version__ = "0.2.0"  # the one place the version is written (`vcam --version`)
