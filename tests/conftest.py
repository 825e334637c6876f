"""Shared fixtures: the shipped instrument and small synthetic organisations."""

from __future__ import annotations

import pytest

from culture.instruments import load_default_instrument
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
