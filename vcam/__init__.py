"""vcam: a headless motion-recording daemon for IP cameras."""
