"""Fixtures for the real-browser test: a private JupyterLab server and Debian's Chromium.

The server runs on a random free localhost port with its own token, config, data and settings
folders (autosave off, no news or update checks), so the test neither reads nor changes the
user's Jupyter setup and never writes the notebook. Chromium is launched by pytest-playwright
from ``/usr/bin/chromium`` (``scripts/browser_setup.sh`` installs it and the Python packages);
Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
SERVER_START_TIMEOUT = 90

# JupyterLab user settings: nothing may write the notebook, fetch news or virtualise cells
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: open ``url(path)`` in the browser."""

    base: str
    token: str

    def url(self, path: str) -> str:
        """``/lab/tree/<path>`` with the token, ready for ``page.goto``."""
        return f"{self.base}/lab/tree/{path}?token={self.token}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_settings(folder: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_ready(base: str, token: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"JupyterLab did not answer in {SERVER_START_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> LabServer:
    """JupyterLab on 127.0.0.1:<free port>, root = the repository, NST_WEIGHTS=random, quick."""
    home = tmp_path_factory.mktemp("jupyter")
    settings = home / "settings"
    _write_settings(settings)
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "NST_WEIGHTS": "random",
        "NST_QUICK": "1",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows figures as a learner sees them
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--FileCheckpoints.root_dir={home / 'checkpoints'}",  # no .ipynb_checkpoints in the repo
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, token, proc, log)
        yield LabServer(base, token)
    finally:
        _stop(proc)
        if ARTIFACTS.is_dir() or proc.returncode not in (0, None):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "jupyterlab.log").write_bytes(log.read_bytes())


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started (it shuts its kernels down); force only if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)  # Jupyter asks to confirm one SIGINT; a second one quits
    time.sleep(0.3)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own session: the server and its kernels
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """pytest-playwright: a wide window, so the studio's two columns sit side by side."""
    return {**browser_context_args, "viewport": {"width": 1440, "height": 1000}}
