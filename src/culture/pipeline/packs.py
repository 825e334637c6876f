"""The quarterly pack: every wave released, analysed, bundled, reported.

``compute_bundle`` releases (or reuses) every wave up to the reported one, runs the
analyses on released cells and writes the signed :class:`~culture.boundary.bundle.Bundle`
the notebooks read; ``run_report`` then builds the pack behind the leak gate.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from culture import frames as F
from culture.boundary.audit import audit_cross_wave
from culture.boundary.bundle import Bundle
from culture.boundary.comments import comments_long, unreleased_texts
from culture.boundary.leakgate import fold_text, scan_outputs
from culture.files import sha256_file
from culture.measure.instrument import Instrument
from culture.pipeline.policy import load_policy
from culture.pipeline.waves import ReleasedWave, release_waves, resolve_wave
from culture.store.workspace import Workspace

PACKAGES = ("culture", "numpy", "pandas", "scipy", "statsmodels", "duckdb", "papermill", "matplotlib",
            "seaborn")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
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


def bundle_key(ws: Workspace) -> bytes:
    """The key that signs a workspace's bundles (derived from its pseudonymisation key)."""
    return ws.pseudonymizer.derive_key("bundle signature")


def action_tables(actions: pd.DataFrame, releases: dict, *, min_change: float) -> dict[str, pd.DataFrame]:
    """The actions register with each closed action's measured follow-up (bundle tables
    ``actions`` and ``action_follow_up``; none when the workspace has no actions).
    Actions are workspace data, not respondent data; their follow-up reads released cells."""
    import datetime as dt

    from culture.analysis.actions import actions_with_verdicts, follow_up

    if actions.empty:
        return {}
    measured = follow_up(actions, releases, min_change=min_change)
    listed = actions_with_verdicts(actions, measured, today=dt.date.today())
    for col in ("opened", "due", "closed"):  # dates as ISO text: what pages and exports show
        listed[col] = pd.to_datetime(listed[col]).dt.strftime("%Y-%m-%d").where(listed[col].notna(), None)
    return {"actions": listed, "action_follow_up": measured}


def cite_actions(iso: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """The ISO evidence table with an ``actions`` column: on a clause row of a construct,
    the actions on that construct recorded under that clause (10.2 corrective, 10.3
    improvement) or, on 5.1.1 rows, any action on it (top management's commitment)."""
    def cited(row: pd.Series) -> str:
        clause = str(row["clause"])
        on = actions[actions["construct"] == row["construct"]]
        on = on if clause.startswith("5.1.1") else on[on["clause"].astype(str) == clause]
        if on.empty:
            return ""
        closed = int((on["status"] == "closed").sum())
        improved = int((on["verdict"] == "improved beyond noise").sum())
        return f"{len(on)} action(s): {closed} closed, {improved} improved beyond noise"
    return iso.assign(actions=iso.apply(cited, axis=1) if not iso.empty else pd.Series(dtype=object))


def compute_bundle(ws: Workspace, instrument: Instrument, wave: str, out_dir: str | Path, *,
                   min_change: float | None = None, seed: int = 0,
                   progress: Callable[[str], None] = lambda _msg: None
                   ) -> tuple[Bundle, dict[str, ReleasedWave]]:
    """Release every wave up to ``wave``, analyse released cells, write the bundle to ``out_dir``.

    Returns the bundle as read back from disk (what the notebooks will see) and the
    released waves (respondent-level, for the leak gate; never handed to notebooks).
    """
    from culture.analysis.wave import analyse_wave, instrument_display

    policy = load_policy(ws.root, instrument)
    min_change = policy.meaningful_change if min_change is None else min_change
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    released = release_waves(ws, instrument, wave, progress=progress)
    timings["release_and_audit"] = time.perf_counter() - t0
    current = released[wave].release

    t0 = time.perf_counter()
    progress("analysing released cells")
    tables, notes = analyse_wave(released, instrument, wave=wave, thresholds=current.thresholds,
                                 events=ws.quality_events(), exposure=ws.exposure(),
                                 min_change=min_change, seed=seed,
                                 targets=asdict(policy.targets))
    timings["analysis"] = time.perf_counter() - t0
    # the bundle holds only released quantities: what combines two waves is audited too
    audit_cross_wave(tables.get("changes", pd.DataFrame()), k=current.thresholds.complements
                     ).require_pass()
    if "comment_themes" in tables:  # re-derived from the release before the bundle is written
        from culture.analysis.comment_themes import audit_themes

        audit_themes(tables["comment_themes"], current, instrument,
                     examples=tables.get("comment_theme_examples"),
                     changes=tables.get("comment_theme_changes")).require_pass()
    tables.update(action_tables(ws.actions(), {w: r.release for w, r in released.items()},
                                min_change=min_change))
    if "actions" in tables and "iso_evidence" in tables:
        tables["iso_evidence"] = cite_actions(tables["iso_evidence"], tables["actions"])
    release_notes = [n for rw in released.values() for n in rw.notes]
    notes = release_notes + list(notes)

    imports = ws.imports()
    inputs = [{"file": Path(str(r["source"])).name, "kind": r["kind"], "sha256": r["sha256"],
               "wave": r["wave"]} for _, r in imports.iterrows()]
    meta = {
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "instrument": {"id": instrument.id, "version": instrument.version,
                       "sha256": sha256_file(instrument.source)
                       if instrument.source and Path(instrument.source).exists() else None,
                       **instrument_display(instrument)},
        "policy": {**policy.as_dict(), "meaningful_change": min_change},
        "thresholds": current.thresholds.as_dict(),
        "min_change": min_change,
        "demographic": current.demographic,
        "audit": {w: {"passed": True, "release_id": r.release_id, "reused": r.reused,
                      "cells_checked": r.audit.cells_checked if r.audit else None,
                      "refused_rerelease": bool(r.notes)}
                  for w, r in released.items()},
        "inputs": inputs,
        "packages": package_versions(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "notes": list(notes),
        "release_notes": release_notes,
    }
    bundle = Bundle(wave=wave, releases={w: r.release for w, r in released.items()},
                    tables=tables, meta=meta)
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)  # a bundle is rewritten whole, never merged with an older one
    key = bundle_key(ws)
    bundle.save(out_dir, key=key)
    return Bundle.load(out_dir, key=key), released


def run_report(ws: Workspace, instrument: Instrument, wave: str, *, reports_dir: str | Path = "reports",
               workers: int | None = None, pdf: bool = False, unit_level: int | None = None,
               units: Collection[str] | None = None,
               progress: Callable[[str], None] = lambda _msg: None, executor: str = "local",
               scheduler: str | None = None):
    """``culture report``: bundle (inside the boundary), notebooks (bundle only), gates, publish.

    ``wave`` may be ``latest``; it is resolved here, once.
    """
    from culture.report.pack import build_pack

    wave = resolve_wave(ws, wave)
    bundle_dir = ws.root / "bundles" / wave
    bundle, released = compute_bundle(ws, instrument, wave, bundle_dir, progress=progress)
    pseudonyms, texts = leak_inputs(released, instrument)
    # the leak gate runs over the bundle too, not only over what is published from it
    scan_outputs(bundle_dir, pseudonyms=pseudonyms, unreleased_texts=texts,
                 k=bundle.release.thresholds.scores).require_clean()
    progress("running the report notebooks")
    return build_pack(bundle_dir, reports_dir, workers=workers, pseudonyms=pseudonyms,
                      unreleased_texts=texts, pdf=pdf, unit_level=unit_level, units=units,
                      key=bundle_key(ws),
                      executor=executor, scheduler=scheduler)


def bundle_leak_inputs(ws: Workspace, bundle: Bundle, instrument: Instrument
                       ) -> tuple[list[str], list[str]]:
    """What must never appear in a recipient's folder: every respondent pseudonym of the
    bundle's waves, and every comment those waves' releases (the ones the pack was built
    from) did not show. Like :func:`leak_inputs`, without releasing the waves again."""
    pseudonyms: set[str] = set()
    texts: set[str] = set()
    shown: set[str] = set()
    for w, release in bundle.releases.items():
        r = ws.responses(w, instrument=instrument)
        pseudonyms |= set(r[F.RESPONDENT].dropna().astype(str)) | \
            set(r[F.RESPONSE_ID].dropna().astype(str))
        comments = comments_long(r, [q.id for q in instrument.comments if q.id in r])
        texts |= set(unreleased_texts(comments, release))
        shown |= {fold_text(t) for t in release.table("comments")["text"].astype(str)}
    return sorted(pseudonyms), sorted(t for t in texts if fold_text(t) not in shown)


def publish_wave(ws: Workspace, instrument: Instrument, wave: str, *,
                 reports_dir: str | Path = "reports", out_dir: str | Path = "published",
                 pdf: bool = False, archives: bool = False,
                 passwords: dict[str, str] | None = None,
                 progress: Callable[[str], None] | None = None):
    """Publish the built pack of ``wave`` to one folder per person of the access list in
    force (:func:`culture.report.publish.publish`); the access list is checked against
    the wave's org chart first. Returns the :class:`~culture.report.publish.PublishResult`."""
    from culture.errors import ConfigError, ValidationError
    from culture.ingest.access import org_problems
    from culture.report.publish import publish, recipients_from_access

    access = ws.access_list(wave)
    problems = org_problems(access, ws.org(wave))
    if problems:
        raise ValidationError(problems, source=f"access list of {access.attrs['access_wave']}, "
                              f"against the org chart of {wave} (import an updated list)")
    bundle_dir = ws.root / "bundles" / wave
    if not bundle_dir.exists():
        raise ConfigError(f"no bundle for {wave}; build the pack first (culture report --wave {wave})")
    bundle = Bundle.load(bundle_dir, key=bundle_key(ws))
    if progress:
        progress("reading the responses for the leak gate")
    pseudonyms, texts = bundle_leak_inputs(ws, bundle, instrument)
    return publish(Path(reports_dir) / wave, bundle, recipients_from_access(access), out_dir,
                   pseudonyms=pseudonyms, unreleased_texts=texts, pdf=pdf, archives=archives,
                   passwords=passwords or {}, progress=progress or (lambda _msg: None))
