"""culture: measure leadership and quality culture in ISO 9001 organisations.

The package is organised by job, along the confidentiality boundary (see
``docs/architecture.md``): :mod:`culture.ingest` reads what users bring,
:mod:`culture.store` keeps it, :mod:`culture.measure` scores it,
:mod:`culture.boundary` turns it into releases that may be published,
:mod:`culture.stats` and :mod:`culture.analysis` analyse released waves,
:mod:`culture.report` builds the pack, :mod:`culture.synth` makes a synthetic
organisation with known truth; :mod:`culture.pipeline` joins them and
:mod:`culture.cli` is the ``culture`` command.
"""

__version__ = "0.2.0"
