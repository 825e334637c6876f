"""Files shipped inside the package: the report notebooks and the default instrument.

Found with :mod:`importlib.resources`, so they are there whether culture runs from a
checkout (editable install) or from an installed wheel.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_INSTRUMENT = "leadership-quality-culture.yaml"


def notebook_dir() -> Path:
    """The folder of the report notebooks (``notebooks/`` in a checkout)."""
    return Path(str(resources.files("culture.notebooks")))


def default_instrument_path() -> Path:
    """The shipped instrument (``surveys/leadership-quality-culture.yaml`` in a checkout)."""
    return Path(str(resources.files("culture.surveys") / DEFAULT_INSTRUMENT))
