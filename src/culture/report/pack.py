"""The quarterly report pack: papermill fan-out, HTML without code, gates, atomic publish.

``build_pack`` takes a release bundle (files only) and builds ``reports/<wave>/``:

1. plan one job per document (org report, trends, linkage, instrument review)
   and one unit brief per released unit; check every job's parameters before
   any kernel starts;
2. execute the notebooks in parallel with papermill (``workers``), each given
   the bundle path and nothing that leads to the store;
3. convert each executed notebook to a self-contained HTML page with no code,
   no parameters cells and no notebook metadata (figures embedded);
4. write the exports (release.xlsx/csv, ISO 9001 evidence, findings), the
   landing page and ``manifest.json``;
5. run the leak gate over everything that would be published;
6. only then swap the new folder into place. A failure leaves the previous pack
   intact, moves failing notebooks to ``reports/.quarantine/`` (never published)
   and raises an error that names the notebook and cell, but no data.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import pandas as pd

from culture.boundary.bundle import Bundle
from culture.boundary.leakgate import neutralise_frame, scan_outputs
from culture.boundary.release import RELEASED, unit_paths
from culture.errors import ConfidentialityError, NotebookError
from culture.report.params import validate_parameters

NOTEBOOK_DIR = Path(__file__).resolve().parents[3] / "notebooks"
DOCUMENTS = (
    ("org_report", "Organisation report", "Participation, scores by unit, top findings, ISO 9001 evidence"),
    ("culture_trends", "Change over time", "Wave-on-wave change, trends, control charts, leader-staff gaps"),
    ("quality_linkage", "Culture and quality", "How culture scores relate to quality outcomes"),
    ("instrument_review", "Instrument review", "Reliability, factor structure, invariance, item checks"),
)
UNIT_NOTEBOOK = "unit_brief"
HIDDEN_TAGS = {"parameters", "injected-parameters", "remove-cell"}
FIXED_TIME = datetime(2000, 1, 1)


@dataclass(frozen=True)
class Job:
    output: str          # path of the HTML page inside the pack, e.g. "units/S1-D2.html"
    notebook: str        # notebook name without .ipynb
    title: str
    params: dict


@dataclass(frozen=True)
class PackResult:
    folder: Path
    index: Path
    manifest: dict = field(repr=False)


def plan_jobs(bundle: Bundle, bundle_path: Path, *, unit_level: int | None = None) -> list[Job]:
    """One job per document and one brief per released unit (optionally one org level)."""
    common = {"bundle": str(bundle_path), "wave": bundle.wave}
    jobs = [Job(f"{name}.html", name, title, dict(common)) for name, title, _ in DOCUMENTS]
    units = bundle.release.table("units")
    units = units[units["status"] == RELEASED]
    if unit_level is not None:
        units = units[units["level"] == unit_level]
    paths = unit_paths(bundle.release)
    # Briefs listed as the org chart reads: the organisation, then each site followed by its
    # departments and teams (sorting by path puts children right after their parent).
    units = units.assign(path=units["unit_id"].map(paths), child=units["parent_id"].notna())
    units = units.sort_values(["child", "path"], kind="stable")
    for _, u in units.iterrows():
        jobs.append(Job(f"units/{_slug(u['unit_id'])}.html", UNIT_NOTEBOOK,
                        f"Brief: {u['path']}", {**common, "unit_id": str(u["unit_id"])}))
    return jobs


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(text))


def execute(job: Job, workdir: Path, *, notebooks: Path, kernel: str = "python3") -> tuple[Path, dict]:
    """Run one notebook with papermill; return the executed notebook and its timings."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    src = notebooks / f"{job.notebook}.ipynb"
    out = workdir / (job.output[:-5].replace("/", "__") + ".ipynb")
    started = time.perf_counter()
    try:
        papermill.execute_notebook(str(src), str(out), parameters=job.params, kernel_name=kernel,
                                   progress_bar=False, log_output=False,
                                   # Kernel start-up warnings and the shutdown interrupt are noise.
                                   extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    except PapermillExecutionError as exc:
        # Name the cell by its position in the source notebook (papermill counts the cell it
        # injected) and the exception type only: its message may quote data.
        cells = nbformat.read(out, as_version=4).cells[:exc.cell_index]
        position = sum("injected-parameters" not in c.metadata.get("tags", []) for c in cells)
        raise NotebookError(f"notebook {job.notebook} ({job.output}) failed in cell "
                            f"{position} with {exc.ename}") from None
    total = time.perf_counter() - started
    nb = nbformat.read(out, as_version=4)
    cells = sum(float(c.metadata.get("papermill", {}).get("duration") or 0) for c in nb.cells)
    return out, {"total_s": round(total, 3), "cells_s": round(cells, 3),
                 "kernel_and_overhead_s": round(total - cells, 3)}


def to_html(executed: Path, title: str, *, back: str = "") -> str:
    """Executed notebook -> standalone HTML: outputs only, no code, no metadata, no stderr."""
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    keep = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & HIDDEN_TAGS:
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.get("name") == "stderr")]
            if not cell.outputs:
                continue
        cell.metadata = {}
        keep.append(cell)
    nb.cells = keep
    nb.metadata = {"language_info": {"name": "python"}}
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, anchor_link_text="")
    body, _ = exporter.from_notebook_node(nb)
    return page(title, body, back=back)


PAGE_CSS = """
body {font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 980px;
      margin: 2em auto; padding: 0 1.2em; color: #1f2328; line-height: 1.45}
h1 {font-size: 1.6em; border-bottom: 2px solid #0b5394; padding-bottom: .3em}
h2 {font-size: 1.25em; margin-top: 1.6em} img {max-width: 100%; height: auto}
nav a {margin-right: 1em} .jp-OutputPrompt, .jp-InputPrompt {display: none}
footer {margin-top: 3em; color: #666; font-size: .85em; border-top: 1px solid #ddd; padding-top: .6em}
"""


def page(title: str, body: str, *, back: str = "") -> str:
    nav = f'<nav><a href="{html.escape(back)}">&larr; Report pack</a></nav>' if back else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{PAGE_CSS}</style></head>"
            f"<body>{nav}{body}<footer>Culture workbench. Groups below the anonymity threshold and "
            f"groups that could be derived by subtraction are not reported.</footer></body></html>\n")


def write_xlsx(sheets: dict[str, pd.DataFrame], path: Path) -> None:
    """Write sheets to XLSX byte-for-byte reproducibly (fixed document dates and zip times),
    so an unchanged pack rebuilds identically."""
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, frame in sheets.items():
            neutralise_frame(frame).to_excel(xw, sheet_name=name, index=False)
        xw.book.properties.created = xw.book.properties.modified = FIXED_TIME
    entries = []
    with zipfile.ZipFile(path) as zin:
        entries = [(info.filename, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":  # openpyxl stamps "modified" with the save time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2000-01-01T00:00:00Z", data)
            zout.writestr(zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0)), data,
                          compress_type=zipfile.ZIP_DEFLATED)


def write_exports(bundle: Bundle, folder: Path) -> list[str]:
    """release.xlsx / release.csv, ISO 9001 evidence (CSV + XLSX) and findings.csv."""
    release = bundle.release
    units = release.table("units")[["unit_id", "name"]].rename(columns={"name": "unit"})
    scores = units.merge(release.display_table("scores"), on="unit_id", how="right")
    neutralise_frame(scores).to_csv(folder / "release.csv", index=False)
    write_xlsx({name: release.display_table(name) for name in ("scores", "items", "response_rates", "cuts")},
               folder / "release.xlsx")
    iso = bundle.table("iso_evidence")
    neutralise_frame(iso).to_csv(folder / "iso_evidence.csv", index=False)
    write_xlsx({"iso_9001_evidence": iso}, folder / "iso_evidence.xlsx")
    findings = neutralise_frame(bundle.table("findings").drop(columns=["numbers"], errors="ignore"))
    findings.to_csv(folder / "findings.csv", index=False)
    return ["release.csv", "release.xlsx", "iso_evidence.csv", "iso_evidence.xlsx", "findings.csv"]


def index_page(bundle: Bundle, jobs: list[Job], exports: list[str]) -> str:
    described = {name: desc for name, _, desc in DOCUMENTS}
    docs = "".join(f'<li><a href="{html.escape(j.output)}">{html.escape(j.title)}</a> &mdash; '
                   f"{html.escape(described[j.notebook])}</li>"
                   for j in jobs if j.notebook != UNIT_NOTEBOOK)
    briefs = "".join(f'<li><a href="{html.escape(j.output)}">{html.escape(j.title[7:])}</a></li>'
                     for j in jobs if j.notebook == UNIT_NOTEBOOK)
    files = "".join(f'<li><a href="{html.escape(e)}">{html.escape(e)}</a></li>' for e in exports)
    body = (f"<h1>Leadership and quality culture &mdash; {html.escape(bundle.wave)}</h1>"
            f"<p>Quarterly report pack. Every figure comes from released cells only; withheld cells "
            f"show one neutral label.</p><h2>Documents</h2><ul>{docs}</ul>"
            f"<h2>Unit briefs</h2><ul class='units'>{briefs}</ul><h2>Exports</h2><ul>{files}</ul>")
    return page(f"Culture report pack {bundle.wave}", body)


def build_pack(bundle_path: str | Path, out_root: str | Path, *, workers: int | None = None,
               notebooks: Path = NOTEBOOK_DIR, pseudonyms: Iterable[str] = (),
               unreleased_texts: Iterable[str] = (), pdf: bool = False, unit_level: int | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> PackResult:
    """Build the pack for the bundle's wave into ``out_root/<wave>`` (see module doc)."""
    bundle_path = Path(bundle_path).resolve()
    out_root = Path(out_root)
    bundle = Bundle.load(bundle_path)
    jobs = plan_jobs(bundle, bundle_path, unit_level=unit_level)
    for job in jobs:  # refuse bad parameters before any kernel starts
        validate_parameters(notebooks / f"{job.notebook}.ipynb", job.params)

    out_root.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{int(time.time())}"
    build = out_root / f".{bundle.wave}.building-{stamp}"
    work = out_root / f".{bundle.wave}.work-{stamp}"   # executed notebooks: never published
    (build / "units").mkdir(parents=True)
    work.mkdir()
    timings: dict[str, dict] = {}
    try:
        executed = _run_all(jobs, work, notebooks, workers or os.cpu_count() or 1, timings, progress)
        for job in jobs:
            back = "../index.html" if "/" in job.output else "index.html"
            text = to_html(executed[job.output], job.title, back=back)
            (build / job.output).write_text(text, encoding="utf-8")
        exports = write_exports(bundle, build)
        (build / "index.html").write_text(index_page(bundle, jobs, exports), encoding="utf-8")
        if pdf:
            print_pdfs(build, [j.output for j in jobs if j.notebook == UNIT_NOTEBOOK])
        manifest = _manifest(bundle, jobs, timings)
        (build / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True),
                                             encoding="utf-8")
        leaks = scan_outputs(build, pseudonyms=pseudonyms, unreleased_texts=unreleased_texts,
                             k=bundle.release.thresholds.scores)
        if not leaks.passed:
            raise ConfidentialityError("leak gate refused the pack: " + leaks.summary())
        final = _publish(build, out_root / bundle.wave)
    except NotebookError:
        _quarantine(work, out_root, bundle.wave)
        raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return PackResult(final, final / "index.html", manifest)


def _run_all(jobs, work, notebooks, workers, timings, progress) -> dict[str, Path]:
    from tqdm import tqdm

    executed: dict[str, Path] = {}
    failures: list[NotebookError] = []
    # A caller-supplied progress callback replaces the bar; None lets tqdm hide it off a terminal.
    bar = tqdm(total=len(jobs), desc="notebooks", unit="nb", disable=True if progress else None,
               file=sys.stderr)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(execute, job, work, notebooks=notebooks): job for job in jobs}
        for done, fut in enumerate(as_completed(futures), start=1):
            job = futures[fut]
            try:
                executed[job.output], timings[job.output] = fut.result()
            except NotebookError as exc:
                failures.append(exc)
            bar.update(1)
            if progress:
                progress(done, len(jobs), job.output)
    bar.close()
    if failures:
        raise NotebookError("; ".join(sorted(str(f) for f in failures)))
    return executed


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
        "analysis_timings_s": meta.get("timings_s"),
        "documents": [{"page": j.output, "notebook": j.notebook,
                       "parameters": {k: v for k, v in j.params.items() if k != "bundle"},
                       "timings_s": timings.get(j.output)} for j in jobs],
    }


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
