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
def tutorial_run(tmp_path_factory):
    """docs/your-own-survey.md followed literally (tests/test_tutorial.py holds the helpers
    and the checks): the folder it ran in, each command's output, and the draft it wrote."""
    import test_tutorial

    return test_tutorial.follow_the_page(tmp_path_factory.mktemp("tutorial"))


@pytest.fixture(scope="session")
def second_pack(tutorial_run):
    """The tutorial's pack: a second, deliberately different instrument (7 points, no
    demographics, outcome index or ISO mapping) on anonymous Google Forms exports."""
    from culture.measure.instrument import load_instrument
    from culture.store.workspace import Workspace

    folder = tutorial_run.folder
    return (folder / "reports" / "2025Q2", Workspace.open(folder / "ws"),
            load_instrument(folder / "my-survey.yaml"))
