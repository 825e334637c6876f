"""`make lab` serves the notebooks: a Jupyter server on 127.0.0.1 lists them through its REST API."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyter_server_lists_the_notebooks(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
           "--ServerApp.open_browser=False", "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate"]
    env = {"JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/?token={token}"
        listing = None
        for _ in range(120):  # up to 60 s for a cold start on a busy 2-core machine
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    listing = json.load(resp)
                break
            except OSError:
                time.sleep(0.5)
        assert listing is not None, "jupyter lab did not answer on 127.0.0.1"
        names = {item["name"] for item in listing["content"]}
        assert {"org_report.ipynb", "unit_brief.ipynb", "culture_trends.ipynb", "quality_linkage.ipynb",
                "instrument_review.ipynb"} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernelspecs?token={token}",
                                    timeout=5) as resp:
            assert json.load(resp)["kernelspecs"]
    finally:
        server.terminate()
        server.wait(timeout=20)
