#!/usr/bin/env python3
"""Run the vcam daemon: ``python vcam_runner.py [--demo] [--env-file PATH]`` (same as ``python -m vcam run``)."""

import sys

from vcam.app import main

if __name__ == "__main__":
    sys.exit(main())
