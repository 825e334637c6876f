"""The release bundle: everything the report layer may read, as files.

A bundle is a folder written once per wave by :func:`culture.pipeline.compute_bundle`
inside the confidentiality boundary. Notebooks receive its path and nothing
else, so the pack can be rebuilt from a copy of the bundle on another machine::

    bundle/
      manifest.json            wave, waves, instrument, thresholds, audit results,
                               SHA-256 of every file, package versions, inputs
      releases/<wave>/         one :class:`~culture.release.Release` per wave
      tables/<name>.parquet    analysis tables computed from released cells only
                               (changes, charts, gaps, linkage models, drivers,
                               reliability, findings, ISO 9001 evidence, ...)

:meth:`Bundle.load` checks every file against its hash and every release
against its invariants, and refuses files the manifest does not list, so a
tampered bundle is refused rather than published. The manifest itself is signed
(``manifest.sig``, HMAC-SHA256 with a key derived from the workspace key, which
never enters the bundle): whoever holds the key (the pipeline, the pack builder)
checks the signature too, so a file edited together with the manifest is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from culture.boundary.release import Release
from culture.errors import ConfidentialityError, ConfigError
from culture.files import sha256_file

SIGNATURE = "manifest.sig"
FORMAT = "culture-bundle"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Bundle:
    """A wave's releases and analysis tables, read-only."""

    wave: str
    releases: Mapping[str, Release]
    tables: Mapping[str, pd.DataFrame] = field(repr=False)
    meta: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def release(self) -> Release:
        """The release of the bundle's own wave."""
        return self.releases[self.wave]

    @property
    def waves(self) -> list[str]:
        return sorted(self.releases)

    def table(self, name: str) -> pd.DataFrame:
        """A copy of an analysis table; a name the bundle does not hold is a clear error
        (use :meth:`has` to ask first)."""
        if name not in self.tables:
            raise ConfigError(f"bundle has no table {name!r}; tables: {', '.join(sorted(self.tables))}")
        return self.tables[name].copy()

    def has(self, name: str) -> bool:
        return name in self.tables and not self.tables[name].empty

    def save(self, directory: str | Path, *, key: bytes | None = None) -> Path:
        out = Path(directory)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        for wave, release in self.releases.items():
            release.save(out / "releases" / wave)
            for p in sorted((out / "releases" / wave).iterdir()):
                files[str(p.relative_to(out))] = sha256_file(p)
        for name, frame in self.tables.items():
            path = out / "tables" / f"{name}.parquet"
            _safe_for_parquet(frame).to_parquet(path, index=False)
            files[str(path.relative_to(out))] = sha256_file(path)
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "wave": self.wave,
                    "waves": sorted(self.releases), "tables": sorted(self.tables),
                    "files": files, **{k: v for k, v in self.meta.items() if k not in ("files",)}}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str),
                                           encoding="utf-8")
        if key is not None:
            (out / SIGNATURE).write_text(_sign(out / "manifest.json", key) + "\n", encoding="ascii")
        return out

    @classmethod
    def load(cls, directory: str | Path, *, key: bytes | None = None) -> Bundle:
        """Read a bundle; every file must match its hash and be listed in the manifest.
        With ``key``, the manifest's signature is checked too (the pipeline's key)."""
        src = Path(directory)
        try:
            manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{src}: not a release bundle (no manifest.json); pass the folder "
                              "written by `culture report` or culture.pipeline.compute_bundle") from None
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"{src / 'manifest.json'}: not a {FORMAT} of version {FORMAT_VERSION}")
        if key is not None:
            sig = src / SIGNATURE
            if not sig.exists() or not hmac.compare_digest(
                    sig.read_text(encoding="ascii").strip(), _sign(src / "manifest.json", key)):
                raise ConfidentialityError(f"{src}: the bundle's manifest is not signed by this "
                                           "workspace (changed, or written elsewhere); refusing it")
        listed = set(manifest["files"]) | {"manifest.json", SIGNATURE}
        unknown = sorted(str(p.relative_to(src)) for p in src.rglob("*")
                         if p.is_file() and str(p.relative_to(src)) not in listed)
        if unknown:
            raise ConfidentialityError(f"{src}: files the manifest does not list: "
                                       f"{', '.join(unknown[:10])}; refusing the bundle")
        for rel, digest in manifest["files"].items():
            path = src / rel
            if not path.exists() or sha256_file(path) != digest:
                raise ConfidentialityError(f"{rel}: missing or changed since the bundle was written")
        releases = {w: Release.load(src / "releases" / w) for w in manifest["waves"]}
        tables = {n: pd.read_parquet(src / "tables" / f"{n}.parquet") for n in manifest["tables"]}
        meta = {k: v for k, v in manifest.items() if k not in ("files", "tables", "waves")}
        return cls(wave=manifest["wave"], releases=MappingProxyType(releases),
                   tables=MappingProxyType(tables), meta=MappingProxyType(meta))


def _safe_for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns with mixed types (e.g. True/NaN) become strings so Parquet accepts them."""
    out = frame.reset_index(drop=True).copy()
    for col in out.columns:
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col].dropna()}
            if len(kinds) > 1:
                out[col] = out[col].map(lambda v: None if pd.isna(v) else str(v))
    return out


def _sign(manifest: Path, key: bytes) -> str:
    return hmac.new(key, manifest.read_bytes(), hashlib.sha256).hexdigest()
