"""The quarterly report pack: papermill fan-out, HTML without code, gates, atomic publish.

``build_pack`` takes a release bundle (files only) and builds ``reports/<wave>/``:

1. plan one job per document (org report, trends, linkage, instrument review)
   and one unit brief per released unit; check every job's parameters before
   any kernel starts;
2. execute the notebooks in parallel with papermill (``workers`` threads here, or a
   Dask cluster: ``executor="dask"``), each given the bundle and nothing that leads to
   the store; the unit briefs on warm kernels (see :mod:`culture.report.execute`);
3. where each ran, convert it to a self-contained HTML page with no code, no
   parameters cells and no notebook metadata (figures embedded);
4. write the exports (release.xlsx/csv, ISO 9001 evidence, findings), the
   landing page and ``manifest.json``;
5. run the leak gate over everything that would be published;
6. only then swap the new folder into place. A failure leaves the previous pack
   intact, moves failing notebooks to ``reports/.quarantine/`` (never published)
   and raises an error that names the notebook and cell, but no data.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from culture.boundary.bundle import Bundle
from culture.boundary.leakgate import scan_outputs
from culture.boundary.release import RELEASED, unit_paths
from culture.errors import ConfidentialityError, NotebookError
from culture.report.deck import write_deck
from culture.report.execute import Job, run_all
from culture.report.exports import write_exports
from culture.report.html import page
from culture.report.params import validate_parameters
from culture.report.pdf import print_pdfs
from culture.resources import notebook_dir

DOCUMENTS = (
    ("org_report", "Organisation report", "Participation, scores by unit, top findings, ISO 9001 evidence"),
    ("culture_trends", "Change over time", "Wave-on-wave change, trends, control charts, leader-staff gaps"),
    ("quality_linkage", "Culture and quality", "How culture scores relate to quality outcomes"),
    ("instrument_review", "Instrument review", "Reliability, factor structure, invariance, item checks"),
    ("methodology", "Methodology and audit", "Date, versions, instrument hash, thresholds, targets, "
                                             "the audit of every wave, how to read the verdicts"),
)
UNIT_NOTEBOOK = "unit_brief"





@dataclass(frozen=True)
class PackResult:
    folder: Path
    index: Path
    manifest: dict = field(repr=False)
    stages_s: dict = field(default_factory=dict)  # seconds per stage of this build


def plan_jobs(bundle: Bundle, bundle_path: Path, *, unit_level: int | None = None,
              units: Collection[str] | None = None) -> list[Job]:
    """One job per document and one brief per released unit (optionally one org level, or
    only the given units: a subset rerun, or a benchmark's sample)."""
    common = {"bundle": str(bundle_path), "wave": bundle.wave}
    jobs = [Job(f"{name}.html", name, title, dict(common)) for name, title, _ in DOCUMENTS]
    briefs = bundle.release.table("units")
    briefs = briefs[briefs["status"] == RELEASED]
    if unit_level is not None:
        briefs = briefs[briefs["level"] == unit_level]
    if units is not None:
        briefs = briefs[briefs["unit_id"].astype(str).isin({str(u) for u in units})]
    paths = unit_paths(bundle.release)
    # Briefs listed as the org chart reads: the organisation, then each site followed by its
    # departments and teams (sorting by path puts children right after their parent).
    briefs = briefs.assign(path=briefs["unit_id"].map(paths), child=briefs["parent_id"].notna())
    briefs = briefs.sort_values(["child", "path"], kind="stable")
    for _, u in briefs.iterrows():
        jobs.append(Job(f"units/{_slug(u['unit_id'])}.html", UNIT_NOTEBOOK,
                        f"Brief: {u['path']}", {**common, "unit_id": str(u["unit_id"])}, warm=True))
    return jobs


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(text))



def index_page(bundle: Bundle, jobs: list[Job], exports: list[str]) -> str:
    """The landing page: the organisation's headline numbers above the list of documents."""
    from culture.report import sections, wording

    described = {name: desc for name, _, desc in DOCUMENTS}
    docs = "".join(f'<li><a href="{html.escape(j.output)}">{html.escape(j.title)}</a> &mdash; '
                   f"{html.escape(described[j.notebook])}</li>"
                   for j in jobs if j.notebook != UNIT_NOTEBOOK)
    meeting = [(e, d) for e, d in MEETING if e in exports]
    meeting_list = "".join(f'<li><a href="{html.escape(e)}">{html.escape(d)}</a></li>' for e, d in meeting)
    briefs = "".join(f'<li><a href="{html.escape(j.output)}">{html.escape(j.title[7:])}</a></li>'
                     for j in jobs if j.notebook == UNIT_NOTEBOOK)
    files = "".join(f'<li><a href="{html.escape(e)}">{html.escape(EXPORT_NAMES.get(e, e))}</a> '
                    f'<span class="culture-note">({html.escape(e)})</span></li>'
                    for e in exports if e not in dict(MEETING))
    body = (f"<h1>{html.escape(wording.title(bundle))} &mdash; {html.escape(bundle.wave)}</h1>"
            f"{sections.headline_numbers(bundle).data}"
            f"<p>Quarterly report pack. Every figure comes from released cells only; a group "
            f"that is too small, or could be worked out by subtraction, is shown as not reported.</p>"
            f"<h2>Documents</h2><ul>{docs}</ul>"
            + (f"<h2>For the management review (ISO 9001 clause 9.3)</h2><ul>{meeting_list}</ul>"
               if meeting else "")
            + f"<h2>Unit briefs</h2><ul class='units'>{briefs}</ul><h2>Exports</h2><ul>{files}</ul>")
    return page(f"Culture report pack {bundle.wave}", body)


# What each export holds, in words (the file name follows in brackets).
EXPORT_NAMES = {
    "release.csv": "Released scores, items and response rates for analysts (CSV)",
    "release.xlsx": "Released scores, items and response rates for analysts (Excel)",
    "iso_evidence.csv": "ISO 9001 evidence table (CSV)",
    "iso_evidence.xlsx": "ISO 9001 evidence table (Excel)",
    "findings.csv": "Every finding of this quarter with its numbers (CSV)",
    "actions_suggested.csv": "Suggested actions for the quality system, one per focus area "
                             "without an open action (CSV)",
}


def write_suggested_actions(bundle: Bundle, jobs: list[Job], folder: Path) -> list[str]:
    """``actions_suggested.csv``: the suggestion lines of every brief of the pack, for the
    quality team to import into their QMS (none when no brief has one)."""
    import pandas as pd

    from culture.boundary.leakgate import neutralise_frame
    from culture.report.actions_views import SUGGESTION_COLUMNS, suggestions

    units = [j.params["unit_id"] for j in jobs if j.notebook == UNIT_NOTEBOOK]
    rows = [suggestions(bundle, u) for u in units]
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=SUGGESTION_COLUMNS)
    if table.empty:
        return []
    neutralise_frame(table).to_csv(folder / "actions_suggested.csv", index=False)
    return ["actions_suggested.csv"]

# Files for the management review meeting, listed apart on the index page.
MEETING = (("management_review.pptx", "Management review deck (PowerPoint)"),
           ("org_report.pdf", "Organisation report (PDF)"))


def build_pack(bundle_path: str | Path, out_root: str | Path, *, workers: int | None = None,
               notebooks: Path | None = None, pseudonyms: Iterable[str] = (),
               unreleased_texts: Iterable[str] = (), pdf: bool = False, unit_level: int | None = None,
               units: Collection[str] | None = None,
               progress: Callable[[int, int, str], None] | None = None,
               key: bytes | None = None, executor: str = "local",
               scheduler: str | None = None) -> PackResult:
    """Build the pack for the bundle's wave into ``out_root/<wave>`` (see module doc)."""
    bundle_path = Path(bundle_path).resolve()
    notebooks = notebooks or notebook_dir()
    out_root = Path(out_root)
    bundle = Bundle.load(bundle_path, key=key)  # with the workspace's key: signature checked
    jobs = plan_jobs(bundle, bundle_path, unit_level=unit_level, units=units)
    for job in jobs:  # refuse bad parameters before any kernel starts
        validate_parameters(notebooks / f"{job.notebook}.ipynb", job.params)

    out_root.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{int(time.time())}"
    build = out_root / f".{bundle.wave}.building-{stamp}"
    work = out_root / f".{bundle.wave}.work-{stamp}"   # executed notebooks: never published
    (build / "units").mkdir(parents=True)
    work.mkdir()
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        stages[stage] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    try:
        pages = run_all(jobs, work, notebooks, workers or os.cpu_count() or 1, progress,
                        executor=executor, scheduler=scheduler)
        for page in pages.values():
            (build / page.output).write_text(page.html, encoding="utf-8")
        timings = {output: page.timings for output, page in pages.items()}
        lap("notebooks")
        exports = write_exports(bundle, build)
        exports += write_suggested_actions(bundle, jobs, build)
        lap("exports")
        write_deck(bundle, build / "management_review.pptx", built=_bundle_date(bundle))
        exports.append("management_review.pptx")
        lap("deck")
        if pdf:  # briefs for leaders who read on paper, the report for the meeting's papers
            print_pdfs(build, [j.output for j in jobs if j.notebook == UNIT_NOTEBOOK
                               or j.notebook == "org_report"])
            exports.append("org_report.pdf")
        (build / "index.html").write_text(index_page(bundle, jobs, exports), encoding="utf-8")
        manifest = _manifest(bundle, jobs, timings)
        (build / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True),
                                             encoding="utf-8")
        lap("pdf_index_manifest")
        leaks = scan_outputs(build, pseudonyms=pseudonyms, unreleased_texts=unreleased_texts,
                             k=bundle.release.thresholds.scores)
        if not leaks.passed:
            raise ConfidentialityError("leak gate refused the pack: " + leaks.summary())
        lap("leak_gate")
        final = _publish(build, out_root / bundle.wave)
    except NotebookError:
        _quarantine(work, out_root, bundle.wave)
        raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return PackResult(final, final / "index.html", manifest, stages)



def _bundle_date(bundle: Bundle) -> datetime.date | None:
    """The day the bundle was computed: what the deck's title slide shows (a rebuild of
    the same bundle gives the same deck)."""
    created = str(bundle.meta.get("created") or "")[:10]
    try:
        return datetime.date.fromisoformat(created)
    except ValueError:
        return None


def _quarantine(work: Path, out_root: Path, wave: str) -> Path:
    """Keep failing (and finished) executed notebooks for diagnosis, outside the published pack."""
    target = out_root / ".quarantine" / f"{wave}-{time.strftime('%Y%m%dT%H%M%S')}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(work, target, dirs_exist_ok=True)
    return target


def _publish(build: Path, final: Path) -> Path:
    """Swap the built folder into place; the previous pack survives until the new one is in."""
    old = final.with_name(f".{final.name}.previous-{os.getpid()}")
    if final.exists():
        final.rename(old)
    build.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def _manifest(bundle: Bundle, jobs: list[Job], timings: dict) -> dict:
    meta = dict(bundle.meta)
    return {
        "wave": bundle.wave,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "instrument": meta.get("instrument"),
        "thresholds": meta.get("thresholds"),
        "inputs": meta.get("inputs"),
        "packages": meta.get("packages"),
        "audit": meta.get("audit"),
        "release_notes": meta.get("release_notes", []),
        "analysis_timings_s": meta.get("timings_s"),
        "documents": [{"page": j.output, "notebook": j.notebook,
                       "parameters": {k: v for k, v in j.params.items() if k != "bundle"},
                       "timings_s": timings.get(j.output)} for j in jobs],
    }
