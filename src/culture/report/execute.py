"""Running the report notebooks: papermill, one kernel per document, a thread pool.

A failing cell is named by its position in the source notebook and the exception
type only (its message may quote data).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from culture.errors import NotebookError


@dataclass(frozen=True)
class Job:
    output: str          # path of the HTML page inside the pack, e.g. "units/S1-D2.html"
    notebook: str        # notebook name without .ipynb
    title: str
    params: dict


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



def run_all(jobs, work, notebooks, workers, timings, progress) -> dict[str, Path]:
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
