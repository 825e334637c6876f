"""Shared fixtures: the shipped instrument and small synthetic organisations."""

from __future__ import annotations

import pytest

from culture.measure.instrument import load_default_instrument
from culture.synth import SynthConfig, make_organisation


@pytest.fixture(scope="session")
def instrument():
    return load_default_instrument()


@pytest.fixture(scope="session")
def small_org(instrument):
    """A small organisation (2 sites) so tests stay fast; 8 waves."""
    return make_organisation(instrument, SynthConfig(seed=11, n_sites=2))


@pytest.fixture(scope="session")
def demo_org(instrument):
    """The demo-sized organisation (default config)."""
    return make_organisation(instrument, SynthConfig())


@pytest.fixture(scope="session")
def small_workspace(tmp_path_factory, instrument):
    """A workspace holding a small synthetic organisation, ingested from real-format exports."""
    from culture.demo import ingest_demo_files, write_demo_files
    from culture.store.workspace import Workspace

    root = tmp_path_factory.mktemp("small-ws")
    org = make_organisation(instrument, SynthConfig(seed=11, n_sites=2))
    files = write_demo_files(org, root / "exports")
    ws = Workspace.init(root / "workspace")
    ingest_demo_files(ws, files, instrument, out=lambda _msg: None)
    return ws, org


@pytest.fixture(scope="session")
def small_pack(tmp_path_factory, small_workspace, instrument):
    """The report pack of the small organisation's latest wave (department briefs only)."""
    from culture.pipeline import run_report

    ws, org = small_workspace
    reports = tmp_path_factory.mktemp("reports")
    result = run_report(ws, instrument, "latest", reports_dir=reports, workers=2, unit_level=2)
    return result, ws, org


@pytest.fixture(scope="session")
def second_pack(tmp_path_factory):
    """A pack from a second, deliberately different instrument (tests/fixtures/instruments/
    plant-pulse.yaml: 7 points, no demographics, outcome index or ISO mapping) on anonymous
    Google Forms exports: no respondent ids, no quality registers, three waves."""
    from pathlib import Path

    import pandas as pd

    from culture import frames as F
    from culture.measure.instrument import load_instrument
    from culture.pipeline import run_report
    from culture.store.workspace import Workspace
    from culture.synth.tool_exports import write_export

    inst = load_instrument(Path(__file__).parent / "fixtures" / "instruments" / "plant-pulse.yaml")
    org = make_organisation(inst, SynthConfig(seed=5, n_sites=2, n_waves=3))
    root = tmp_path_factory.mktemp("second")
    ws = Workspace.init(root / "workspace")
    for wave in org.waves:
        answers = org.responses_of(wave).assign(**{F.RESPONDENT: None, F.RESPONSE_ID: None})
        path = write_export(answers, inst, root / f"pulse-{wave}.csv", fmt="googleforms")
        pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="Employee ID") \
            .to_csv(path, index=False)
        org.org_of(wave)[[F.UNIT, F.PARENT, "name"]].to_csv(root / f"org-{wave}.csv", index=False)
        hc = org.headcount[org.headcount[F.WAVE] == wave][[F.UNIT, "invited"]]
        hc.to_csv(root / f"headcount-{wave}.csv", index=False)
        ws.ingest_org(root / f"org-{wave}.csv", wave=wave)
        ws.ingest_headcount(root / f"headcount-{wave}.csv", wave=wave)
        ws.ingest_responses(root / f"pulse-{wave}.csv", wave=wave, instrument=inst)
    result = run_report(ws, inst, "latest", reports_dir=root / "reports", workers=2, unit_level=1)
    return result, ws, inst
