"""Where Debian's Chromium is and how the browser tests launch it (never a downloaded browser)."""

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("NST_CHROMIUM", "/usr/bin/chromium"))
# Headless as root in a sandbox with no network: no sandbox, no GPU, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
