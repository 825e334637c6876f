"""``culture demo``: the whole quarterly job on a synthetic organisation.

The demo takes exactly the path a user takes: the synthetic organisation is
written out as real survey-tool exports (Qualtrics CSV, Microsoft Forms XLSX,
plain CSV) plus org chart, headcount, quality registers and exposure files, and
those files are ingested into a fresh workspace through the public API.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from culture import frames as F
from culture.errors import ConfigError
from culture.measure.instrument import Instrument, load_default_instrument
from culture.measure.reliability import instrument_reliability
from culture.measure.scoring import score
from culture.pipeline import run_report
from culture.store.workspace import Workspace
from culture.synth import (
    SynthConfig,
    SyntheticOrganisation,
    make_organisation,
    write_export,
)

REGISTER_KINDS = ("nonconformity", "audit_finding", "complaint", "capa")


@dataclass(frozen=True)
class DemoFiles:
    responses: dict[str, Path]     # wave -> export file
    org: dict[str, Path]           # wave -> org chart
    headcount: dict[str, Path]
    registers: dict[str, Path]     # kind -> register file
    exposure: Path


def export_format(wave_pos: int, n_waves: int) -> str:
    """Latest wave as Qualtrics, the one before as Microsoft Forms, the rest plain CSV."""
    if wave_pos == n_waves - 1:
        return "qualtrics"
    if wave_pos == n_waves - 2:
        return "msforms"
    return "csv"


def write_demo_files(org: SyntheticOrganisation, folder: Path) -> DemoFiles:
    """Write the synthetic organisation as the files a user would receive."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = {"qualtrics": ".csv", "msforms": ".xlsx", "csv": ".csv"}
    responses, charts, heads = {}, {}, {}
    for pos, wave in enumerate(org.waves):
        fmt = export_format(pos, len(org.waves))
        path = folder / f"survey-{wave}-{fmt}{suffix[fmt]}"
        write_export(org.responses_of(wave), org.instrument, path, fmt=fmt, seed=pos)
        responses[wave] = path
        charts[wave] = folder / f"org-{wave}.csv"
        org.org_of(wave)[[F.UNIT, F.PARENT, "name"]].to_csv(charts[wave], index=False)
        heads[wave] = folder / f"headcount-{wave}.csv"
        hc = org.headcount[org.headcount[F.WAVE] == wave][[F.UNIT, "invited"]]
        hc.to_csv(heads[wave], index=False)
    registers = {}
    events = org.quality_events.rename(columns={"event_id": "id"})
    for kind in REGISTER_KINDS:
        registers[kind] = folder / f"register-{kind}.csv"
        rows = events[events["kind"] == kind].drop(columns="kind")
        rows.to_csv(registers[kind], index=False, date_format="%Y-%m-%d")
    exposure = folder / "exposure.csv"
    org.exposure[[F.UNIT, "quarter", "exposure"]].to_csv(exposure, index=False)
    return DemoFiles(responses, charts, heads, registers, exposure)


def ingest_demo_files(ws: Workspace, files: DemoFiles, instrument: Instrument,
                      out: Callable[[str], None]) -> None:
    for wave in files.org:
        ws.ingest_org(files.org[wave], wave=wave)
        ws.ingest_headcount(files.headcount[wave], wave=wave)
        report = ws.ingest_responses(files.responses[wave], instrument, wave=wave)
        out(f"  {files.responses[wave].name:<34} {report.accepted:>5} accepted, "
            f"{report.rejected} rejected, {report.duplicates} duplicate(s)")
    for kind, path in files.registers.items():
        ws.ingest_quality(path, kind=kind)
    ws.ingest_exposure(files.exposure)


def participation(ws: Workspace, wave: str) -> pd.DataFrame:
    """Responses and response rate per site for one wave (sites are the root's children)."""
    org = ws.org(wave)
    responses = ws.responses(wave)
    head = ws.headcount(wave)
    parent = dict(zip(org[F.UNIT], org[F.PARENT], strict=True))
    root = next(u for u, p in parent.items() if p is None or pd.isna(p))

    def site_of(unit: str) -> str:
        while parent.get(unit) not in (root, None) and not pd.isna(parent.get(unit)):
            unit = parent[unit]
        return unit

    names = dict(zip(org[F.UNIT], org["name"], strict=True))
    n = responses[F.UNIT].map(site_of).value_counts()
    invited = head.assign(site=head[F.UNIT].map(site_of)).groupby("site")["invited"].sum()
    table = pd.DataFrame({"responses": n, "invited": invited}).fillna(0).astype(int)
    table["response_rate"] = table["responses"] / table["invited"]
    table.index = [names.get(u, u) for u in table.index]
    return table.sort_index()


DEMO_MARKER = ".culture-demo"


def _clear_demo_folder(root: Path) -> None:
    """Remove an earlier demo's folder, and never anything else (a real workspace, say)."""
    if not root.exists():
        return
    if root.is_dir() and (root / DEMO_MARKER).exists():
        shutil.rmtree(root)
    elif root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    else:
        raise ConfigError(f"{root} exists and was not written by culture demo; the demo replaces "
                          "its folder, so give it a new or empty one (--workspace DIR)")


def run_demo(*, seed: int = 7, n_sites: int = 4, root: str | Path = "data/demo",
             reports: str | Path | None = "reports", workers: int | None = None,
             out: Callable[[str], None] = print) -> Path:
    """Build, export, ingest and summarise a synthetic organisation, then build the report pack.

    Returns the path of the pack's ``index.html`` (or of the workspace when ``reports`` is None).
    """
    root = Path(root)
    _clear_demo_folder(root)  # the demo always starts from a fresh workspace
    instrument = load_default_instrument()
    out(f"Building a synthetic organisation (seed {seed}, {n_sites} sites, 8 quarterly waves)...")
    org = make_organisation(instrument, SynthConfig(seed=seed, n_sites=n_sites))
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARKER).write_text("written by culture demo; the next demo run replaces this "
                                    "folder\n", encoding="utf-8")
    files = write_demo_files(org, root / "exports")
    out(f"Wrote survey exports and QMS registers to {root / 'exports'}")
    ws = Workspace.init(root / "workspace")
    out("Ingesting through the same path a user takes:")
    ingest_demo_files(ws, files, instrument, out)
    actions = _write_actions(org, root / "exports" / "qms-actions.csv")
    ws.ingest_actions(actions, instrument)
    out(f"  {actions.name:<34} improvement actions from the QMS (some effective, some not)")

    wave = org.waves[-1]
    responses = ws.responses(wave, instrument=instrument)
    scored = score(responses, instrument)
    out(f"\nParticipation, {wave}:")
    out(participation(ws, wave).to_string(formatters={"response_rate": "{:.0%}".format}))
    out(f"\nConstruct scores, {wave} (1-5 scale, whole organisation):")
    fav = scored.construct_favourable(instrument)
    table = pd.DataFrame({
        "construct": [c.name for c in instrument.constructs],
        "mean": scored.scores.mean().to_numpy(),
        "favourable": fav.mean().to_numpy(),
        "n": scored.scores.notna().sum().to_numpy(),
    })
    out(table.to_string(index=False, formatters={"mean": "{:.2f}".format,
                                                  "favourable": "{:.0%}".format}))
    out(f"\nReliability of the instrument, {wave}:")
    rel = instrument_reliability(responses, instrument)
    out(rel.to_string(index=False, float_format="{:.2f}".format))
    if reports is None:
        return root / "workspace"
    out(f"\nBuilding the report pack for {wave} (release, audit, analyses, notebooks)...")
    result = run_report(ws, instrument, wave, reports_dir=reports, workers=workers,
                        progress=lambda msg: out(f"  {msg}"))
    out(f"\nReport pack: {result.index.resolve()}")
    _publish_sample(ws, instrument, wave, root, reports, out)
    return result.index


def _write_actions(org: SyntheticOrganisation, path: Path) -> Path:
    """The planted improvement actions as a QMS action-list export (synth.planted_actions),
    plus two open ones (one overdue) so the pack shows every state of an action."""
    from culture.synth import planted_actions

    actions = planted_actions(org)[list(F.ACTION_COLUMNS)]
    last = pd.Period(org.waves[-1], freq="Q")
    first = actions.iloc[0]
    open_rows = pd.DataFrame([
        {**first, "action_id": "SYN-O1", "status": "open", "closed": None,  # overdue
         "opened": str((last - 2).start_time.date()), "due": str((last - 1).end_time.date())},
        {**first, "action_id": "SYN-O2", "status": "open", "closed": None,
         "opened": str(last.start_time.date()), "due": str((last + 2).end_time.date())}])
    pd.concat([actions, open_rows], ignore_index=True).to_csv(path, index=False)
    return path


def sample_access_list(org: pd.DataFrame, path: Path) -> Path:
    """A made-up access list: a leader for the organisation, every site and every department
    (each their subtree), an executive (the whole organisation) and an HR analyst."""
    rows = [{"person_id": f"L-{u.unit_id}", "email": f"lead.{u.unit_id.lower()}@example.org",
             "role": "leader", "unit_id": u.unit_id, "scope": "subtree"}
            for u in org.itertuples() if int(u.level) <= 2]
    rows += [{"person_id": "E-1", "email": "ceo@example.org", "role": "executive"},
             {"person_id": "H-1", "email": "people.analytics@example.org", "role": "hr"}]
    pd.DataFrame(rows, columns=["person_id", "email", "role", "unit_id", "scope"]) \
        .to_csv(path, index=False)
    return path


def _publish_sample(ws: Workspace, instrument: Instrument, wave: str, root: Path,
                    reports: str | Path, out: Callable[[str], None]) -> None:
    """Import a sample access list and publish one folder per person (docs/publishing.md)."""
    from culture.pipeline import publish_wave

    access = sample_access_list(ws.org(wave), root / "exports" / "access-list.csv")
    ws.ingest_access(access, wave=wave)
    result = publish_wave(ws, instrument, wave, reports_dir=reports, out_dir=root / "published")
    roles = pd.Series([s.recipient.role for s in result.plan.shares]).value_counts()
    briefs = sum(len(s.briefs) for s in result.plan.shares)
    out(f"\nPublished for {len(result.plan.shares)} people from the sample access list "
        f"({', '.join(f'{n} {r}' for r, n in roles.items())}; {briefs} briefs in all): "
        f"{result.folder.resolve()}")
