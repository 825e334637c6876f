"""The confidentiality boundary object: :class:`Release` and its :class:`Thresholds`.

A ``Release`` is the only thing the reporting layer (notebooks, plots, findings,
exports) may read. It holds aggregates that already passed primary and
complementary suppression (see :func:`culture.anonymity.build_release`), no
respondent ids and no path to the workspace store. It checks its own invariants
when built and when loaded from disk, so a tampered or hand-made bundle with a
small count in it is refused.

Tables (all tidy; ``status`` is ``released`` or ``suppressed``; a suppressed row
has NaN statistics and a missing ``n``; n = 0 looks exactly like suppressed):

``units``          unit_id, name, parent_id, level, status
``scores``         unit_id, kind, measure, n, mean, sd, se, ci_low, ci_high, pct_favourable, status
``items``          unit_id, measure, sensitive, n, mean, sd, se, ci_low, ci_high, pct_favourable, status
``response_rates`` unit_id, n, invited, response_rate, status
``cuts``           unit_id, demographic, band, kind, measure, n, mean, sd, se, ci_low, ci_high,
                   pct_favourable, status
``comments``       unit_id, question, position, text

How counts are marked in outputs: a respondent count is always a column named
``n`` in tables and the text ``n = <count>`` in prose / HTML (:func:`count_label`),
so :func:`culture.leakgate.scan_outputs` can check every one against k.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from culture.errors import ConfidentialityError, ConfigError
from culture.files import sha256_file

# One neutral label for every withheld cell. It does not say "fewer than k",
# because complementary suppression also hides cells with k or more people and
# a different wording would tell the reader which cells are large.
SUPPRESSED_LABEL = "Not reported (protects anonymity)"
RELEASED, SUPPRESSED = "released", "suppressed"
FORMAT_VERSION = 1
TABLES = ("units", "scores", "items", "response_rates", "cuts", "comments")
STATS = ("mean", "sd", "se", "ci_low", "ci_high", "pct_favourable")
SPREAD = ("sd", "se", "ci_low", "ci_high")  # reveal the SD, so they need the distribution threshold
FORBIDDEN_COLUMNS = ("respondent", "response_id", "respondent_id", "employee_id", "email")


def count_label(n: int) -> str:
    """The one way a respondent count is written in prose/HTML: ``n = 12``."""
    return f"n = {int(n)}"


@dataclass(frozen=True)
class Thresholds:
    """Minimum group sizes (distinct respondents) of one wave's release.

    Defaults and floors: ``docs/confidentiality.md``. ``complements``
    is the smallest group that may be obtainable by subtraction; ``sensitive``
    applies to items flagged ``sensitive`` (for their means and their complements).

    Raises
    ------
    ConfigError
        Listing every parameter below its floor (or of the wrong type) at once.
    """

    scores: int = 5
    complements: int = 5
    distributions: int = 10
    comments: int = 10
    models: int = 30
    sensitive: int = 10

    FLOORS = MappingProxyType({"scores": 3, "complements": 3, "distributions": 5, "comments": 5,
                               "models": 20, "sensitive": 3})

    def __post_init__(self) -> None:
        problems = []
        for f in fields(self):
            value = getattr(self, f.name)
            floor = self.FLOORS[f.name]
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                problems.append(f"thresholds.{f.name} must be a whole number >= {floor}, got {value!r}")
            elif value < floor:
                problems.append(f"thresholds.{f.name} = {value} is below its floor of {floor}")
        if not problems:
            for name in ("distributions", "sensitive"):
                if getattr(self, name) < self.scores:
                    problems.append(f"thresholds.{name} = {getattr(self, name)} must be at least "
                                    f"thresholds.scores = {self.scores}")
        if problems:
            raise ConfigError("invalid confidentiality thresholds:\n  - " + "\n  - ".join(problems))

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thresholds:
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"unknown threshold parameter(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(allowed))}")
        return cls(**dict(data))




@dataclass(frozen=True)
class Release:
    """Suppressed, publishable aggregates of one wave (see the module doc for tables).

    Build it with :func:`culture.anonymity.build_release` or :meth:`load`.
    Tables are returned as copies, so nothing downstream can alter the release.
    """

    wave: str
    instrument_id: str
    instrument_version: str
    thresholds: Thresholds
    demographic: str | None
    _tables: Mapping[str, pd.DataFrame] = field(repr=False)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [t for t in TABLES if t not in self._tables]
        if missing:
            raise ConfigError(f"a Release needs the tables {', '.join(TABLES)}; missing {', '.join(missing)}")
        object.__setattr__(self, "_tables", MappingProxyType({t: self._tables[t].copy() for t in TABLES}))
        problems = self.invariant_problems()
        if problems:
            raise ConfidentialityError("release refused, it breaks the confidentiality rules:\n  - "
                                       + "\n  - ".join(problems))

    # ------------------------------------------------------------------ access
    def table(self, name: str) -> pd.DataFrame:
        if name not in TABLES:
            raise ConfigError(f"unknown release table {name!r}; tables: {', '.join(TABLES)}")
        return self._tables[name].copy()

    units = property(lambda self: self.table("units"))
    scores = property(lambda self: self.table("scores"))
    items = property(lambda self: self.table("items"))
    response_rates = property(lambda self: self.table("response_rates"))
    cuts = property(lambda self: self.table("cuts"))
    comments = property(lambda self: self.table("comments"))

    def summary(self) -> str:
        units = self._tables["units"]
        shown = int((units["status"] == RELEASED).sum())
        return (f"Release of wave {self.wave} ({self.instrument_id} {self.instrument_version}): "
                f"{shown} of {len(units)} units reported; cut: {self.demographic or 'none'}; "
                f"k = {self.thresholds.scores} (distributions {self.thresholds.distributions}, "
                f"comments {self.thresholds.comments}, sensitive items {self.thresholds.sensitive})")

    def _repr_html_(self) -> str:
        import html
        return f"<p>{html.escape(self.summary())}</p>"

    # ------------------------------------------------------------------ invariants
    def invariant_problems(self) -> list[str]:
        """Rules every release satisfies whatever built it (checked on build and load)."""
        th, problems = self.thresholds, []
        for name, df in self._tables.items():
            bad_cols = [c for c in df.columns if c.lower() in FORBIDDEN_COLUMNS]
            if bad_cols:
                problems.append(f"table {name} has identifying column(s) {', '.join(bad_cols)}")
            if "status" in df.columns and not df["status"].isin([RELEASED, SUPPRESSED]).all():
                problems.append(f"table {name}: status must be {RELEASED!r} or {SUPPRESSED!r}")
            if "n" not in df.columns:
                continue
            shown = df["status"] == RELEASED
            k = pd.Series(th.scores, index=df.index)
            if "sensitive" in df.columns:
                k = k.where(~df["sensitive"].astype(bool), th.sensitive)
            n = pd.to_numeric(df["n"], errors="coerce")
            if (shown & ~(n >= k)).any():
                problems.append(f"table {name}: {int((shown & ~(n >= k)).sum())} released row(s) "
                                f"have n below the threshold")
            stat_cols = [c for c in (*STATS, "invited", "response_rate") if c in df.columns]
            hidden_values = df.loc[~shown, ["n", *stat_cols]].notna().any(axis=1)
            if hidden_values.any():
                problems.append(f"table {name}: {int(hidden_values.sum())} suppressed row(s) carry values")
            spread = [c for c in SPREAD if c in df.columns]
            if spread:
                k_dist = np.maximum(th.distributions, k)
                wide = df[spread].notna().any(axis=1) & ~(n >= k_dist)
                if wide.any():
                    problems.append(f"table {name}: {int(wide.sum())} row(s) show SD/CI below the "
                                    "distribution threshold")
        return problems

    # ------------------------------------------------------------------ display
    def display_table(self, name: str, *, decimals: int = 2) -> pd.DataFrame:
        """A copy of a table for people: rounded, counts as ``n = 12``, withheld cells labelled.

        Every statistic of a suppressed row (and ``n``) shows :data:`SUPPRESSED_LABEL`;
        a statistic that is merely not available (e.g. SD below the distribution
        threshold) is left blank.
        """
        df = self.table(name)
        if "status" not in df.columns:
            return df
        hidden = df["status"] == SUPPRESSED
        out = df.astype({c: object for c in df.columns if c in (*STATS, "n", "invited", "response_rate")})
        for col in (c for c in (*STATS, "invited", "response_rate") if c in df.columns):
            values = pd.to_numeric(df[col], errors="coerce")
            text = values.map(lambda v: "" if pd.isna(v) else f"{v:.{decimals}f}")
            out[col] = text.where(~hidden, SUPPRESSED_LABEL)
        if "n" in df.columns:
            counts = pd.to_numeric(df["n"], errors="coerce")
            out["n"] = counts.map(lambda v: "" if pd.isna(v) else count_label(v)).where(~hidden, SUPPRESSED_LABEL)
        return out.drop(columns=["status"])

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> Path:
        """Write one Parquet file per table plus ``manifest.json`` (with SHA-256 of each file)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name in TABLES:
            path = out / f"{name}.parquet"
            self._tables[name].to_parquet(path, index=False)
            files[name] = {"file": path.name, "sha256": sha256_file(path), "rows": len(self._tables[name])}
        manifest = {"format": "culture-release", "format_version": FORMAT_VERSION, "wave": self.wave,
                    "instrument": {"id": self.instrument_id, "version": self.instrument_version},
                    "thresholds": self.thresholds.as_dict(), "demographic": self.demographic,
                    "notes": list(self.notes), "tables": files}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        return out / "manifest.json"

    @classmethod
    def load(cls, directory: str | Path) -> Release:
        """Read a bundle written by :meth:`save`; checks file hashes and the invariants."""
        src = Path(directory)
        try:
            manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{src / 'manifest.json'}: no release manifest found") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{src / 'manifest.json'}: not valid JSON (line {exc.lineno})") from None
        if manifest.get("format") != "culture-release" or manifest.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"{src / 'manifest.json'}: not a culture release of format version {FORMAT_VERSION}")
        tables = {}
        for name in TABLES:
            entry = manifest["tables"][name]
            path = src / entry["file"]
            if sha256_file(path) != entry["sha256"]:
                raise ConfidentialityError(f"{path}: file changed since the release was written (SHA-256 differs)")
            tables[name] = pd.read_parquet(path)
        return cls(wave=manifest["wave"], instrument_id=manifest["instrument"]["id"],
                   instrument_version=manifest["instrument"]["version"],
                   thresholds=Thresholds.from_dict(manifest["thresholds"]),
                   demographic=manifest.get("demographic"), _tables=tables,
                   notes=tuple(manifest.get("notes", ())))


def unit_paths(release: Release) -> dict[str, str]:
    """Each unit's label as its path below the organisation ("North Plant › Warehouse"),
    since department and team names repeat across sites; the root keeps its own name.
    Computed once per release (a release never changes) and handed out as a copy."""
    cached = release.__dict__.get("_unit_paths")
    if cached is not None:
        return dict(cached)
    units = release.table("units")
    name = dict(zip(units["unit_id"], units["name"], strict=True))
    parent = dict(zip(units["unit_id"], units["parent_id"], strict=True))
    out = {}
    for unit in name:
        parts, u = [], unit
        while u in parent and parent[u] is not None and not pd.isna(parent[u]):
            parts.append(str(name[u]))
            u = parent[u]
        out[unit] = " › ".join(reversed(parts)) or str(name[unit])
    object.__setattr__(release, "_unit_paths", out)
    return dict(out)


# ---------------------------------------------------------------------- tables for analysts
WITHHELD = "withheld"  # how an export names a suppressed cell (the status column, never a number)
EXPORT_DECIMALS = 4    # statistics in exports: numbers rounded to 4 decimals (reproducible files)
EXPORT_TABLES = ("scores", "items", "response_rates", "cuts")
UNIT_COLUMNS = ("unit_id", "unit_path", "unit", "level")
_VALUE_COLUMNS = ("n", *STATS, "invited", "response_rate")


def _whole_numbers(values: pd.Series) -> pd.Series:
    """A column as nullable integers when every present value is whole, else unchanged."""
    numbers = pd.to_numeric(values, errors="coerce")
    present = numbers.dropna()
    if numbers.notna().sum() == values.notna().sum() and (present == present.round()).all():
        return numbers.round().astype("Int64")
    return values


def export_table(release: Release, name: str, *, decimals: int | None = EXPORT_DECIMALS) -> pd.DataFrame:
    """A release table for analysts: numbers as numbers, the withheld state in its own column.

    Columns: ``unit_id``, ``unit_path`` (the unit's path below the organisation, see
    :func:`unit_paths`), ``unit`` (its own name), ``level``, the table's describing
    columns (``kind``, ``measure``, ``demographic``, ``band``, ``sensitive`` where it has
    them), ``status`` (``released`` or ``withheld``), then ``n`` (nullable integer) and the
    statistics (floats, rounded to ``decimals``; ``None`` keeps full precision). A withheld
    row has an empty ``n`` and empty statistics (never 0: an empty group must look like a
    withheld one), so the leak gate's count check and any numeric reader agree. A
    release does not record why a cell was withheld (the reason could tell which cells are
    large), so there is no ``withheld_reason``. Text cells are not neutralised here: the
    writers do that (:func:`culture.boundary.leakgate.neutralise_frame`).
    """
    if name not in EXPORT_TABLES:
        raise ConfigError(f"unknown export table {name!r}; tables: {', '.join(EXPORT_TABLES)}")
    df = release.table(name)
    units = release.table("units")
    paths = unit_paths(release)
    label = units.set_index("unit_id")
    ids = df["unit_id"]
    out = pd.DataFrame({"unit_id": ids.astype(object),
                        "unit_path": ids.map(paths).astype(object),
                        "unit": ids.map(label["name"]).astype(object),
                        "level": _whole_numbers(ids.map(label["level"]))}, index=df.index)
    for col in df.columns:
        if col not in ("unit_id", "status", *_VALUE_COLUMNS):
            out[col] = df[col].astype(object) if pd.api.types.is_string_dtype(df[col]) else df[col]
    out["status"] = df["status"].map({RELEASED: RELEASED, SUPPRESSED: WITHHELD}).astype(object)
    hidden = df["status"] != RELEASED
    for col in (c for c in _VALUE_COLUMNS if c in df.columns):
        values = pd.to_numeric(df[col], errors="coerce").mask(hidden)
        if col == "n":
            out[col] = values.round().astype("Int64")
        elif col == "invited":  # a headcount: whole people (kept as given if it is not)
            out[col] = _whole_numbers(values)
        else:
            values = values.astype("float64")
            out[col] = values.round(decimals) if decimals is not None else values
    return out.reset_index(drop=True)


def release_table(release: Release, *, level: int | None = None, by: str | None = None,
                  numeric: bool = False) -> pd.DataFrame:
    """Construct scores ready to print (what ``culture scores`` prints) or to export.

    Parameters
    ----------
    level : keep only units of this org level.
    by : a demographic id: show the cut table for it instead (must be the release's cut).
    numeric : the analysts' form (``culture scores --format csv|xlsx|json``): see below.

    Returns
    -------
    For people (``numeric=False``): ``unit_id``, ``unit`` (its path below the
    organisation, e.g. "North Plant › Warehouse"), ``level``, ``band`` when ``by`` is
    given, ``measure``, ``n``, ``mean``, ``ci_low``, ``ci_high``, ``pct_favourable``:
    values rounded to 2 decimals, withheld cells showing :data:`SUPPRESSED_LABEL`,
    counts as ``n = 12``.

    For analysts (``numeric=True``, rows of :func:`export_table`): ``unit_id``,
    ``unit_path``, ``unit`` (its own name), ``level``, ``demographic`` and ``band`` when
    ``by`` is given, ``measure``, ``status`` (``released``/``withheld``), ``n`` (integer,
    empty when withheld) and the statistics as floats rounded to
    :data:`EXPORT_DECIMALS` decimals (empty when withheld).
    """
    if by is not None and by != release.demographic:
        raise ConfigError(f"by={by!r}: this release is cut by {release.demographic or 'no demographic'}")
    name = "cuts" if by is not None else "scores"
    raw = release.table(name)
    if by is not None:
        keep = ((raw["demographic"] == by) & (raw["kind"] != "item")).to_numpy()
    else:
        keep = (raw["kind"] != "respondents").to_numpy()
    stats = ["n", "mean", "ci_low", "ci_high", "pct_favourable"]
    if numeric:
        out = export_table(release, name)[keep]
        if level is not None:
            out = out[out["level"] == level]
        cols = [*UNIT_COLUMNS, *(["demographic", "band"] if by else []), "measure", "status", *stats]
        return out[cols].reset_index(drop=True)
    shown = release.display_table(name)[keep]
    units = release.table("units")[["unit_id", "level"]]
    out = shown.merge(units, on="unit_id", how="left")
    out.insert(1, "unit", out["unit_id"].map(unit_paths(release)))
    if level is not None:
        out = out[out["level"] == level]
    cols = ["unit_id", "unit", "level", *(["band"] if by else []), "measure", *stats]
    return out[cols].reset_index(drop=True)
