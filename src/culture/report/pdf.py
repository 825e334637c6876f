"""Briefs printed to PDF with headless Chromium, for leaders who read on paper."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from culture.errors import NotebookError


def print_pdfs(folder: Path, pages: list[str]) -> list[Path]:
    """Print pages to PDF with headless Chromium (for leaders who read on paper)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise NotebookError("--pdf needs Debian's chromium; install it (apt-get install chromium)")
    out = []
    for rel in pages:
        src = (folder / rel).resolve()
        pdf = src.with_suffix(".pdf")
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", f"--user-data-dir={folder / '.chromium'}",
                        "--no-pdf-header-footer", f"--print-to-pdf={pdf}", src.as_uri()],
                       check=True, capture_output=True, timeout=120)
        out.append(pdf)
    shutil.rmtree(folder / ".chromium", ignore_errors=True)
    return out
