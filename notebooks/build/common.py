"""What every chapter's build script shares: the standard setup cell (the second cell of each chapter).

The build scripts run as ``python notebooks/build/NAME.py``, so this folder is on ``sys.path``.
"""

SETUP_CELL = """\
# Setup: on Colab, fetch the course and install its helpers; locally, use this checkout.
import importlib.util
import os

on_colab = importlib.util.find_spec("google") and importlib.util.find_spec("google.colab")
if on_colab and not os.path.isdir("/content/nst-course"):
    !git clone -q --depth 1 https://github.com/nst-course/nst-course /content/nst-course
    %pip install -q -e /content/nst-course
    os.chdir("/content/nst-course/notebooks")

from nst_helpers.course import setup

cfg = setup()  # device, quick mode, weights; shows a banner when weights are random"""
