"""Running the report notebooks: papermill, on warm kernels, on threads or a Dask cluster.

Each job is one notebook run with its parameters and turned into its HTML page where it
ran, so a worker returns a page, not a notebook. Notebooks that run many times (the unit
briefs) run on a *warm* kernel: one started kernel per worker thread and notebook, its
namespace reset between runs (imported libraries stay loaded), through papermill's engine
API, so a brief costs its own cells rather than a kernel start and the library imports.
A notebook run once gets a fresh kernel, as plain ``papermill`` would.

A failing cell is named by its position in the source notebook and the exception type
only (its message may quote data).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat

from culture.errors import ConfigError, NotebookError

# Kernel start-up warnings and the shutdown interrupt are noise.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]
WARM_ENGINE = "culture-warm"


@dataclass(frozen=True)
class Job:
    output: str          # path of the HTML page inside the pack, e.g. "units/S1-D2.html"
    notebook: str        # notebook name without .ipynb
    title: str
    params: dict
    warm: bool = False   # run on a warm kernel (the notebook runs many times)


@dataclass(frozen=True)
class Page:
    output: str
    html: str
    timings: dict


# --------------------------------------------------------------------------- warm kernels
class _WarmKernels:
    """Started kernels and their connected clients, one per (thread, kernel name, notebook);
    shut down at exit."""

    def __init__(self) -> None:
        self._kernels: dict[tuple, object] = {}
        self._lock = threading.Lock()
        atexit.register(self.shutdown)

    def get(self, kernel_name: str, notebook: str, start_timeout: float = 60):
        """(kernel manager, blocking client with channels open) for this thread."""
        from jupyter_client import KernelManager

        key = (threading.get_ident(), kernel_name, notebook)
        pair = self._kernels.get(key)
        if pair is not None and not pair[0].is_alive():
            self.discard(key)
            pair = None
        if pair is None:
            km = KernelManager(kernel_name=kernel_name)
            km.start_kernel(extra_arguments=KERNEL_ARGS)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=start_timeout)
            kc.allow_stdin = False
            pair = (km, kc)
            with self._lock:
                self._kernels[key] = pair
        return pair

    def discard(self, key: tuple) -> None:
        with self._lock:
            pair = self._kernels.pop(key, None)
        if pair is not None:
            pair[1].stop_channels()
            pair[0].shutdown_kernel(now=True)

    def shutdown(self) -> None:
        for key in list(self._kernels):
            self.discard(key)


WARM = _WarmKernels()


@functools.cache  # once per process (two threads registering it twice is harmless)
def _register_engine() -> None:
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import remove_args

    class WarmEngine(NBClientEngine):
        """papermill's nbclient engine on a started kernel; the namespace is reset after."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None,
                                     **kwargs):
            notebook = kwargs.pop("warm_notebook")
            kwargs = remove_args(["input_path", "timeout", "startup_timeout", "extra_arguments"], **kwargs)
            km, kc = WARM.get(kernel_name, notebook, start_timeout)
            client = PapermillNotebookClient(nb_man, km=km, timeout=execution_timeout,
                                             startup_timeout=start_timeout, kernel_name=kernel_name,
                                             log_output=log_output, stdout_file=stdout_file,
                                             stderr_file=stderr_file, **kwargs)
            client.kc = kc  # connected already: no client start per notebook
            try:
                return client.execute()
            finally:
                # Forget everything the run defined; modules stay imported.
                kc.execute_interactive("get_ipython().run_line_magic('reset', '-f')", silent=True,
                                       timeout=60)

    papermill_engines.register(WARM_ENGINE, WarmEngine)


# --------------------------------------------------------------------------- one job
def execute(job: Job, workdir: Path, *, notebooks: Path,
            kernel: str = "python3") -> tuple[nbformat.NotebookNode, dict]:
    """Run one notebook with papermill; return the executed notebook and its timings (the
    notebook is also written to ``workdir``, kept there when the pack fails)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    src = notebooks / f"{job.notebook}.ipynb"
    out = workdir / (job.output[:-5].replace("/", "__") + ".ipynb")
    engine = {}
    if job.warm:
        _register_engine()
        engine = {"engine_name": WARM_ENGINE, "warm_notebook": job.notebook}
    started = time.perf_counter()
    try:
        # Written once at the end (papermill would rewrite it at every cell's start and end).
        nb = papermill.execute_notebook(str(src), str(out), parameters=job.params,
                                        kernel_name=kernel, progress_bar=False, log_output=False,
                                        request_save_on_cell_execute=False,
                                        extra_arguments=KERNEL_ARGS, **engine)
    except PapermillExecutionError as exc:
        # Name the cell by its position in the source notebook (papermill counts the cell it
        # injected) and the exception type only: its message may quote data.
        cells = nbformat.read(out, as_version=4).cells[:exc.cell_index]
        position = sum("injected-parameters" not in c.metadata.get("tags", []) for c in cells)
        raise NotebookError(f"notebook {job.notebook} ({job.output}) failed in cell "
                            f"{position} with {exc.ename}") from None
    total = time.perf_counter() - started
    cells = sum(float(c.metadata.get("papermill", {}).get("duration") or 0) for c in nb.cells)
    return nb, {"total_s": round(total, 3), "cells_s": round(cells, 3),
                 "kernel_and_overhead_s": round(total - cells, 3), "warm_kernel": job.warm}


def render(job: Job, workdir: Path, *, notebooks: Path) -> Page:
    """Run one job and turn it into its HTML page (where it ran: pages travel, notebooks not)."""
    from culture.report.html import to_html

    executed, timings = execute(job, workdir, notebooks=notebooks)
    started = time.perf_counter()
    html = to_html(executed, job.title, back="../index.html" if "/" in job.output else "index.html")
    return Page(job.output, html, dict(timings, html_s=round(time.perf_counter() - started, 3)))


# --------------------------------------------------------------------------- fan-out
def run_all(jobs: list[Job], work: Path, notebooks: Path, workers: int, progress=None, *,
            executor: str = "local", scheduler: str | None = None) -> dict[str, Page]:
    """Every job's page: on ``workers`` threads here, or on the Dask cluster at ``scheduler``."""
    if executor == "dask":
        return _run_dask(jobs, notebooks, scheduler, progress)
    if executor != "local":
        raise ConfigError(f"unknown executor {executor!r}; choose local or dask")
    pages: dict[str, Page] = {}
    failures: list[NotebookError] = []
    bar = _bar(len(jobs), progress)
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {pool.submit(render, job, work, notebooks=notebooks): job for job in jobs}
            for done, fut in enumerate(as_completed(futures), start=1):
                job = futures[fut]
                try:
                    pages[job.output] = fut.result()
                except NotebookError as exc:
                    failures.append(exc)
                _advance(bar, progress, done, len(jobs), job.output)
    finally:
        bar.close()
        WARM.shutdown()  # the pool's threads are gone; their kernels with them
    if failures:
        raise NotebookError("; ".join(sorted(str(f) for f in failures)))
    return pages


def _bar(total: int, progress):
    from tqdm import tqdm

    # A caller-supplied progress callback replaces the bar; None lets tqdm hide it off a terminal.
    return tqdm(total=total, desc="notebooks", unit="nb", disable=True if progress else None,
                file=sys.stderr)


def _advance(bar, progress, done: int, total: int, output: str) -> None:
    bar.update(1)
    if progress:
        progress(done, total, output)


# --------------------------------------------------------------------------- Dask
def _run_dask(jobs: list[Job], notebooks: Path, scheduler: str | None, progress) -> dict[str, Page]:
    """Fan the jobs out to a Dask distributed cluster. Workers get the bundle (zipped, sent
    once) and need only ``culture`` installed; each returns pages."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError("--executor dask needs the distributed package "
                          "(pip install 'culture[dask]')") from None
    if not scheduler:
        raise ConfigError("--executor dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786)")
    bundle = Path(jobs[0].params["bundle"])
    blob = _zip_folder(bundle)
    digest = hashlib.sha256(blob).hexdigest()[:16]
    pages: dict[str, Page] = {}
    failures: list[str] = []
    bar = _bar(len(jobs), progress)
    try:
        with Client(scheduler, timeout="30s") as client:
            shipped = client.scatter(blob, broadcast=True)
            futures = [client.submit(_render_remote, job, shipped, digest, key=f"culture-{i}-{digest}",
                                     pure=False) for i, job in enumerate(jobs)]
            for done, fut in enumerate(dask_completed(futures), start=1):
                output, page, error = fut.result()
                if error:
                    failures.append(error)
                else:
                    pages[output] = page
                _advance(bar, progress, done, len(jobs), output)
    finally:
        bar.close()
    if failures:
        raise NotebookError("; ".join(sorted(failures)))
    return pages


def _zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()


_unpack_lock = threading.Lock()


def _render_remote(job: Job, blob: bytes, digest: str) -> tuple[str, Page | None, str]:
    """On a Dask worker: unpack the bundle once per worker, then render the job there."""
    from culture.resources import notebook_dir

    root = Path(tempfile.gettempdir()) / f"culture-bundle-{digest}-{os.getpid()}"
    done = root.with_name(root.name + ".complete")  # beside it: a bundle refuses unlisted files
    with _unpack_lock:
        if not done.exists():
            with zipfile.ZipFile(io.BytesIO(blob)) as zf:
                zf.extractall(root)
            done.touch()
    local = replace(job, params=dict(job.params, bundle=str(root)))
    work = Path(tempfile.mkdtemp(prefix="culture-work-"))
    try:
        page = render(local, work, notebooks=notebook_dir())
        return job.output, page, ""
    except NotebookError as exc:
        return job.output, None, str(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
