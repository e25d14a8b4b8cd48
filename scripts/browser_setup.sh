#!/usr/bin/env bash
# Set up what the real-browser test (tests/browser/) needs, idempotently:
#   * Debian's Chromium at /usr/bin/chromium (apt-get; never a browser download),
#   * the Python packages playwright and pytest-playwright in .venv.
# Playwright's own browser download (`playwright install`) is never run: the tests launch
# /usr/bin/chromium through executable_path.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV_PY="${VENV_PY:-.venv/bin/python}"

if [ ! -x /usr/bin/chromium ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "browser_setup: installing Debian chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # fonts: without any, screenshots show boxes instead of text
    packages="chromium fonts-dejavu-core"
    # try the package lists we have first; refresh them only if that fails (fresh machines)
    if ! $SUDO apt-get install -y -q --no-install-recommends $packages >/dev/null 2>&1; then
        $SUDO apt-get update -q
        $SUDO apt-get install -y -q --no-install-recommends $packages
    fi
else
    echo "browser_setup: /usr/bin/chromium present"
fi

if ! "$VENV_PY" -c "import playwright, pytest_playwright" >/dev/null 2>&1; then
    echo "browser_setup: pip-installing playwright and pytest-playwright into .venv"
    "$VENV_PY" -m pip install -q playwright pytest-playwright
else
    echo "browser_setup: playwright and pytest-playwright present"
fi

/usr/bin/chromium --version 2>/dev/null || true
"$VENV_PY" -c "from importlib.metadata import version; print('playwright', version('playwright'))"
