"""The quarterly report pack: notebooks under papermill, gates, atomic publish, idempotence."""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from culture import frames as F
from culture.boundary.bundle import Bundle
from culture.errors import ConfidentialityError, ConfigError, NotebookError
from culture.report.pack import build_pack
from culture.report.params import validate_parameters
from culture.resources import notebook_dir

NOTEBOOK_DIR = notebook_dir()
LOCAL_PATH = re.compile(r"(/tmp/|/work/|/home/|/root/|[A-Z]:\\\\)")


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_pack_has_every_document_and_a_brief_per_released_unit(small_pack):
    result, ws, _ = small_pack
    folder = result.folder
    for name in ("index.html", "org_report.html", "culture_trends.html", "quality_linkage.html",
                 "instrument_review.html", "release.xlsx", "release.csv", "iso_evidence.csv",
                 "iso_evidence.xlsx", "manifest.json"):
        assert (folder / name).is_file(), name
    bundle = Bundle.load(ws.root / "bundles" / ws.waves()[-1])
    units = bundle.release.table("units")
    released_depts = units[(units["status"] == "released") & (units["level"] == 2)]["unit_id"]
    briefs = {p.stem for p in (folder / "units").glob("*.html")}
    assert briefs == set(released_depts)
    assert len(briefs) >= 1


def test_every_link_in_the_index_resolves(small_pack):
    result, _, _ = small_pack
    index = (result.folder / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+)"', index)
    assert len(links) >= 9
    for link in links:
        assert (result.folder / link).is_file(), link


def test_published_folder_holds_no_notebook_code_or_respondent_data(small_pack):
    result, ws, _ = small_pack
    files = [p for p in result.folder.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".ipynb"]
    wave = ws.waves()[-1]
    pseudonyms = set(ws.responses(wave)[F.RESPONDENT])
    for p in files:
        if p.suffix in (".html", ".csv", ".json"):
            text = p.read_text(encoding="utf-8")
            assert not LOCAL_PATH.search(text), f"local path in {p.name}"
            assert not any(ps in text for ps in list(pseudonyms)[:200]), p.name
            if p.suffix == ".html":
                assert "import culture" not in text and "check_parameters" not in text
                # papermill's cell tags and metadata (its name and version on the
                # methodology page's package list is provenance, not notebook residue)
                assert "injected-parameters" not in text and '"papermill"' not in text
                # a self-closed link (<a ... />) is an open link in HTML: it swallows the page
                assert not re.search(r"<a\b[^>]*/>", text), f"self-closed link in {p.name}"


def test_manifest_records_inputs_thresholds_versions_timings_audit(small_pack):
    result, _, _ = small_pack
    m = json.loads((result.folder / "manifest.json").read_text())
    assert m["thresholds"]["scores"] == 5
    assert all(len(i["sha256"]) == 64 for i in m["inputs"])
    assert m["instrument"]["version"] == "1.0.0"
    assert "pandas" in m["packages"] and "papermill" in m["packages"]
    assert all(a["passed"] for a in m["audit"].values())
    doc = m["documents"][0]
    assert doc["timings_s"]["total_s"] >= doc["timings_s"]["cells_s"] > 0
    assert "bundle" not in doc["parameters"]  # no local path in the published manifest


def test_suppressed_units_never_appear_in_published_tables(small_pack):
    result, ws, _ = small_pack
    bundle = Bundle.load(ws.root / "bundles" / ws.waves()[-1])
    units = bundle.release.table("units")
    hidden = set(units.loc[units["status"] == "suppressed", "unit_id"])
    for name in ("changes", "control_charts", "gaps"):
        if bundle.has(name) and "unit_id" in bundle.table(name):
            assert not hidden & set(bundle.table(name)["unit_id"]), name
    import pandas as pd

    csv = pd.read_csv(result.folder / "release.csv")
    shown = csv[csv["n"].astype(str).str.startswith("n = ")]
    assert not hidden & set(shown["unit_id"])


def test_bad_parameters_refused_before_execution():
    nb = NOTEBOOK_DIR / "unit_brief.ipynb"
    good = {"bundle": "b", "wave": "2026Q4", "unit_id": "S1"}
    validate_parameters(nb, good)
    with pytest.raises(ConfigError, match="unknown parameter 'colour'"):
        validate_parameters(nb, {**good, "colour": "red"})
    with pytest.raises(ConfigError, match="'unit_id' must be str, got int"):
        validate_parameters(nb, {**good, "unit_id": 7})
    with pytest.raises(ConfigError, match="must be a plain str, got a list"):
        validate_parameters(nb, {**good, "wave": ["2026Q4"]})


def test_every_notebook_is_thin_and_clean():
    """No def/class in notebooks, a parameters cell first, the check cell second, no outputs."""
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert "parameters" in nb.cells[0].metadata.get("tags", []), path.name
        assert "check_parameters(globals())" in nb.cells[1].source, path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not re.search(r"^\s*(def|class) ", cell.source, re.M), path.name
                assert not cell.outputs and cell.execution_count is None, path.name


def test_failing_notebook_keeps_previous_pack_and_quarantines(small_pack, tmp_path):
    result, ws, _ = small_pack
    reports = tmp_path / "reports"
    shutil.copytree(result.folder, reports / result.folder.name)
    before = _hashes(reports / result.folder.name)
    broken = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, broken)
    nb = nbformat.read(broken / "instrument_review.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise RuntimeError("respondent said: canary-7731")'))
    nbformat.write(nb, broken / "instrument_review.ipynb")
    bundle_dir = ws.root / "bundles" / ws.waves()[-1]
    with pytest.raises(NotebookError) as err:
        build_pack(bundle_dir, reports, workers=2, notebooks=broken, unit_level=0)
    message = str(err.value)
    assert "instrument_review" in message and "cell 3" in message and "RuntimeError" in message
    assert "canary" not in message
    assert _hashes(reports / result.folder.name) == before
    quarantined = list((reports / ".quarantine").rglob("*.ipynb"))
    assert any("instrument_review" in p.name for p in quarantined)
    assert not [p for p in reports.iterdir() if p.name.startswith(f".{result.folder.name}.")]


def test_leak_gate_stops_publication(small_pack, tmp_path):
    result, ws, _ = small_pack
    bundle_dir = ws.root / "bundles" / ws.waves()[-1]
    planted = Bundle.load(bundle_dir).release.table("units")["name"].iloc[0]
    with pytest.raises(ConfidentialityError, match="leak gate"):
        # Pretend a unit name were an unreleased comment: the gate must find it in the pages.
        build_pack(bundle_dir, tmp_path / "r", workers=2, unit_level=0, unreleased_texts=[planted])
    assert not (tmp_path / "r" / result.folder.name).exists()


def test_rebuild_is_idempotent(small_pack, tmp_path):
    _, ws, _ = small_pack
    bundle_dir = ws.root / "bundles" / ws.waves()[-1]
    first = build_pack(bundle_dir, tmp_path / "a", workers=2, unit_level=0)
    second = build_pack(bundle_dir, tmp_path / "b", workers=2, unit_level=0)
    a, b = _hashes(first.folder), _hashes(second.folder)
    a.pop("manifest.json")
    b.pop("manifest.json")
    assert a == b


def test_planted_change_is_a_finding_in_the_right_units_brief(small_pack, instrument):
    """synth plants an ownership rise in one department in the latest wave (Truth.events):
    its brief's one-minute summary names it as a real change, no other brief does, and
    the organisation report lists it as a finding naming the unit."""
    result, ws, org = small_pack
    event = next(e for e in org.truth.events if e.wave == org.waves[-1])
    from culture.boundary.release import unit_paths

    bundle = Bundle.load(ws.root / "bundles" / ws.waves()[-1])
    names = unit_paths(bundle.release)  # findings name units by their path
    construct = instrument.construct(event.construct).name.split(" (")[0]
    said = f"{construct} rose from "  # the brief's summary: "What changed for real"
    brief = (result.folder / "units" / f"{event.unit_id}.html").read_text(encoding="utf-8")
    assert said in brief
    for other in (result.folder / "units").glob("*.html"):
        if other.stem != event.unit_id:
            assert said not in other.read_text(encoding="utf-8"), other.stem
    report = (result.folder / "org_report.html").read_text(encoding="utf-8")
    assert html.escape(f"{construct} in {names[event.unit_id]} rose from ") in report
