"""The quarterly computation inside the confidentiality boundary.

``release_wave`` turns one wave of the store into an audited :class:`Release`
(score, aggregate, suppress, audit, record in the release ledger).
``compute_bundle`` does that for every wave up to the reported one, runs the
analyses (trends, linkage, drivers, instrument review, findings) on released
cells, and writes the :class:`~culture.bundle.Bundle` the report notebooks
read. Nothing respondent-level leaves this module.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from culture import frames as F
from culture.boundary.aggregate import aggregate_wave
from culture.boundary.audit import AuditResult, audit_release
from culture.boundary.bundle import Bundle
from culture.boundary.comments import comments_long, unreleased_texts
from culture.boundary.leakgate import fold_text
from culture.boundary.ledger import check_rerelease, ledger_cells
from culture.boundary.release import Release, Thresholds
from culture.boundary.suppression import build_release
from culture.errors import ConfigError
from culture.files import sha256_file
from culture.measure.instrument import Instrument
from culture.measure.scoring import ScoredWave, score
from culture.store.workspace import Workspace

DEFAULT_CUT = "role_level"  # leader-versus-staff gaps need the role cut
PACKAGES = ("culture", "numpy", "pandas", "scipy", "statsmodels", "duckdb", "papermill", "matplotlib",
            "seaborn")


@dataclass(frozen=True)
class WaveData:
    """Respondent-level data of one wave: stays inside the boundary."""

    wave: str
    responses: pd.DataFrame
    scored: ScoredWave
    org: pd.DataFrame
    headcount: pd.DataFrame


@dataclass(frozen=True)
class ReleasedWave:
    data: WaveData
    release: Release
    audit: AuditResult
    release_id: int | None


def load_wave(ws: Workspace, wave: str, instrument: Instrument) -> WaveData:
    responses = ws.responses(wave, instrument=instrument)
    org = ws.org(wave)
    try:
        headcount = ws.headcount(wave)
    except ConfigError:
        headcount = pd.DataFrame(columns=[F.UNIT, "invited"])
    return WaveData(wave, responses, score(responses, instrument), org, headcount)


def membership(data: WaveData, instrument: Instrument, demographic: str | None) -> pd.DataFrame:
    """Who is in which cell: respondent, unit, the cut, and whether each measure has a value.

    Used by the release ledger and the independent audit (which re-derives every cell).
    """
    r = data.responses
    cols = {F.RESPONDENT: r[F.RESPONDENT].to_numpy(), F.UNIT: r[F.UNIT].to_numpy()}
    if demographic:
        cols[demographic] = r[demographic].to_numpy()
    for c in instrument.construct_ids:
        cols[c] = data.scored.scores[c].notna().to_numpy()
    for i in instrument.item_ids:
        cols[i] = data.scored.keyed[i].notna().to_numpy()
    for q in instrument.comments:
        if q.id in r:
            text = r[q.id]
            cols[q.id] = (text.notna() & (text.astype("string").str.strip() != "")).to_numpy(dtype=bool)
    return pd.DataFrame(cols)


def build_wave_release(data: WaveData, instrument: Instrument, *, thresholds: Thresholds,
                       demographic: str | None = DEFAULT_CUT, comments: bool = True) -> Release:
    """Aggregate and suppress one wave (no audit, no ledger: :func:`release_wave` adds those)."""
    by = (demographic,) if demographic else ()
    agg = aggregate_wave(data.responses, data.scored, data.org, instrument=instrument, by=by,
                         headcount=data.headcount)
    texts = (comments_long(data.responses, [q.id for q in instrument.comments if q.id in data.responses])
             if comments else None)
    return build_release(agg, thresholds=thresholds, comments=texts)


def synthetic_releases(org, instrument: Instrument, *, thresholds: Thresholds | None = None,
                       waves: list[str] | None = None, comments: bool = False) -> dict[str, Release]:
    """Releases of a :class:`~culture.synth.SyntheticOrganisation` straight from its frames
    (no store): what tests, benchmarks and notebooks-in-development use."""
    out = {}
    for w in waves or org.waves:
        responses = org.responses_of(w)
        head = org.headcount[org.headcount[F.WAVE] == w][[F.UNIT, "invited"]]
        data = WaveData(w, responses, score(responses, instrument), org.org_of(w), head)
        out[w] = build_wave_release(data, instrument, thresholds=thresholds or Thresholds(),
                                    comments=comments)
    return out


def release_wave(ws: Workspace, data: WaveData, instrument: Instrument, *, thresholds: Thresholds,
                 demographic: str | None = DEFAULT_CUT, record: bool = True) -> ReleasedWave:
    """Score, aggregate, suppress and audit one wave; record it in the release ledger.

    Raises
    ------
    ConfidentialityError
        When the independent audit finds a derivable group below k, or the ledger refuses a
        re-release (thresholds changed, respondent set changed by fewer than k people).
    """
    release = build_wave_release(data, instrument, thresholds=thresholds, demographic=demographic)
    members = membership(data, instrument, demographic)
    audit = audit_release(members, data.org, release)
    audit.require_pass()
    release_id = None
    if record:
        cells = ledger_cells(release, members)
        check_rerelease(ws.releases(data.wave), thresholds, cells, members[F.RESPONDENT])
        release_id = ws.record_release(data.wave, thresholds=thresholds.as_dict(), cells=cells,
                                       respondents=members[F.RESPONDENT])
    return ReleasedWave(data, release, audit, release_id)


def resolve_wave(ws: Workspace, wave: str) -> str:
    """``latest`` means the newest wave with responses; anything else must exist."""
    waves = ws.waves()
    if not waves:
        raise ConfigError(f"workspace {ws.root} holds no survey responses yet; ingest a wave first")
    if wave == "latest":
        return waves[-1]
    if wave not in waves:
        raise ConfigError(f"--wave {wave!r} has no responses in the workspace; waves: {', '.join(waves)}")
    return wave


def wave_thresholds(ws: Workspace, wave: str) -> Thresholds:
    """The thresholds a wave is released with: frozen at its first release, else the defaults."""
    records = ws.releases(wave)
    return Thresholds.from_dict(records[0].thresholds) if records else Thresholds()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def release_waves(ws: Workspace, instrument: Instrument, wave: str, *, thresholds: Thresholds,
                  record: bool = True, demographic: str | None = DEFAULT_CUT,
                  progress: Callable[[str], None] = lambda _msg: None) -> dict[str, ReleasedWave]:
    """Release (and audit) every stored wave up to ``wave`` (a stored wave, see
    :func:`resolve_wave`); trends need the earlier waves too."""
    out = {}
    for w in (w for w in ws.waves() if F.wave_index(w) <= F.wave_index(wave)):
        progress(f"releasing {w}")
        out[w] = release_wave(ws, load_wave(ws, w, instrument), instrument, thresholds=thresholds,
                              demographic=demographic, record=record)
    return out


def leak_inputs(released: dict[str, ReleasedWave], instrument: Instrument) -> tuple[list[str], list[str]]:
    """What must never appear in a published file: pseudonyms and unreleased comment texts."""
    pseudonyms: set[str] = set()
    texts: set[str] = set()
    shown: set[str] = set()
    for rw in released.values():
        r = rw.data.responses
        pseudonyms |= set(r[F.RESPONDENT].dropna().astype(str)) | set(r[F.RESPONSE_ID].dropna().astype(str))
        comments = comments_long(r, [q.id for q in instrument.comments if q.id in r])
        texts |= set(unreleased_texts(comments, rw.release))
        shown |= {fold_text(t) for t in rw.release.table("comments")["text"].astype(str)}
    # The same words written in two units ("More training, please") may be released for one
    # and withheld for the other; seeing the released copy reveals nothing about the other.
    return sorted(pseudonyms), sorted(t for t in texts if fold_text(t) not in shown)


def compute_bundle(ws: Workspace, instrument: Instrument, wave: str, out_dir: str | Path, *,
                   thresholds: Thresholds | None = None, min_change: float = 0.2, seed: int = 0,
                   progress: Callable[[str], None] = lambda _msg: None
                   ) -> tuple[Bundle, dict[str, ReleasedWave]]:
    """Release every wave up to ``wave``, analyse released cells, write the bundle to ``out_dir``.

    Returns the bundle as read back from disk (what the notebooks will see) and the
    released waves (respondent-level, for the leak gate; never handed to notebooks).
    """
    from culture.analysis.wave import analyse_wave

    thresholds = thresholds or wave_thresholds(ws, wave)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    released = release_waves(ws, instrument, wave, thresholds=thresholds, progress=progress)
    timings["release_and_audit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("analysing released cells")
    tables, notes = analyse_wave(released, instrument, wave=wave, thresholds=thresholds,
                                 events=ws.quality_events(), exposure=ws.exposure(),
                                 min_change=min_change, seed=seed)
    timings["analysis"] = time.perf_counter() - t0

    imports = ws.imports()
    inputs = [{"file": Path(str(r["source"])).name, "kind": r["kind"], "sha256": r["sha256"],
               "wave": r["wave"]} for _, r in imports.iterrows()]
    meta = {
        "instrument": {"id": instrument.id, "version": instrument.version,
                       "sha256": sha256_file(instrument.source)
                       if instrument.source and Path(instrument.source).exists() else None},
        "thresholds": thresholds.as_dict(),
        "min_change": min_change,
        "demographic": DEFAULT_CUT,
        "audit": {w: {"passed": r.audit.passed, "cells_checked": r.audit.cells_checked,
                      "release_id": r.release_id} for w, r in released.items()},
        "inputs": inputs,
        "packages": package_versions(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "notes": list(notes),
    }
    bundle = Bundle(wave=wave, releases={w: r.release for w, r in released.items()},
                    tables=tables, meta=meta)
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a bundle is rewritten whole, never merged with an older one
    bundle.save(out_dir)
    return Bundle.load(out_dir), released


def run_report(ws: Workspace, instrument: Instrument, wave: str, *, reports_dir: str | Path = "reports",
               workers: int | None = None, pdf: bool = False, unit_level: int | None = None,
               thresholds: Thresholds | None = None,
               progress: Callable[[str], None] = lambda _msg: None):
    """``culture report``: bundle (inside the boundary), notebooks (bundle only), gates, publish.

    ``wave`` may be ``latest``; it is resolved here, once.
    """
    from culture.report.pack import build_pack

    wave = resolve_wave(ws, wave)
    bundle_dir = ws.root / "bundles" / wave
    bundle, released = compute_bundle(ws, instrument, wave, bundle_dir, thresholds=thresholds,
                                      progress=progress)
    pseudonyms, texts = leak_inputs(released, instrument)
    progress("running the report notebooks")
    return build_pack(bundle_dir, reports_dir, workers=workers, pseudonyms=pseudonyms,
                      unreleased_texts=texts, pdf=pdf, unit_level=unit_level)
