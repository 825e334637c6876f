"""The package installs like any other: a wheel in a fresh venv runs the commands.

The wheel is built from this checkout and installed into a new virtual environment
with ``--no-deps``; the dependencies come from the project's own environment through
a ``.pth`` file (so the test needs no network), while ``culture`` itself, its
notebooks and its instrument come only from the wheel.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
                str(ROOT)])
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("culture-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel; returns its bin directory."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    done = run([str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--quiet",
                str(wheel)])
    assert done.returncode == 0, done.stderr[-2000:]
    purelib = run([str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                  check=True).stdout.strip()
    # dependencies only: the project venv's site-packages, after the new venv's own
    (Path(purelib) / "project-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return bin_dir


def test_the_wheel_carries_the_notebooks_and_the_instrument(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"culture/notebooks/{nb.name}" in names
    assert "culture/surveys/leadership-quality-culture.yaml" in names
    assert not [n for n in names if "checkpoint" in n or n.endswith(".pyc")]


def test_version_and_imports_come_from_the_wheel(installed):
    version = run([str(installed / "culture"), "--version"], cwd="/")
    assert version.returncode == 0 and version.stdout.startswith("culture "), version.stderr
    where = run([str(installed / "python"), "-c",
                 "import culture, culture.resources as r; print(culture.__file__); "
                 "print(r.notebook_dir()); print(r.default_instrument_path())"], cwd="/")
    lines = where.stdout.split()
    assert len(lines) == 3, where.stderr
    assert all(str(ROOT) not in line for line in lines), lines  # nothing from the checkout
    assert all(Path(line).exists() for line in lines)


def test_a_tiny_pack_from_the_installed_wheel(installed, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CULTURE_")}
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
    # the dependencies' data files (nbconvert templates, kernel specs) sit under the
    # project venv's prefix, as they would under the new venv after a normal install
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    done = run([str(installed / "culture"), "demo", "--sites", "1", "--seed", "3",
                "--workspace", str(tmp_path / "demo")], cwd=tmp_path, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Ingesting through the same path a user takes" in done.stdout
    line = next(x for x in done.stdout.splitlines() if x.startswith("Report pack: "))
    index = Path(line.split("Report pack: ")[-1])
    assert "Published for " in done.stdout.strip().splitlines()[-1]  # the sample access list
    assert index.name == "index.html" and index.exists()
    assert (index.parent / "org_report.html").exists()
    assert list((index.parent / "units").glob("*.html"))
