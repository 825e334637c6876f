"""Leak gate: the last check before anything is published, plus safe-export helpers.

:func:`scan_outputs` reads every HTML, CSV, XLSX, JSON, Parquet and text file in
a folder and reports:

``pseudonym``        a respondent pseudonym (as a whole token)
``unreleased_text``  a free-text answer that the release did not show (texts of at
                     least 8 characters, compared case- and space-insensitively)
``local_path``       a local file path (``/home/``, ``/work/``, ``/tmp/``, ``/Users/``, ``C:\\``)
``email``            an e-mail address
``small_count``      a respondent count below k

How counts are marked (the contract with :mod:`culture.release` and the
reports): in prose and HTML a count is written ``n = 12``; in tables it is a
column named ``n`` (or another of :data:`culture.frames.RESPONDENT_COUNTS`, e.g.
``n_before``, ``paired_n``); in JSON a key of those names. Any such count below k (0
included: an empty group must look suppressed) is a finding.

Findings name the file and the place (line, row/column, sheet cell, JSON path)
and never repeat what was found.

Export helpers. :func:`neutralise_formula` makes a text cell that a spreadsheet
would run as a formula (starting with ``= + - @``, tab or carriage return) plain
text by prefixing an apostrophe; :func:`neutralise_frame` applies it to every
text cell of a table. :func:`html_escape` is the one way to put text from data
or configuration (unit names, item texts, comments) into HTML: escape at the
point of insertion, never earlier (double escaping) and never skip it for
"trusted" config, because unit names come from HR files.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from culture.errors import ConfidentialityError
from culture.frames import RESPONDENT_COUNTS
from culture.results import Result

COUNT_RE = re.compile(r"(?<![\w])[nN]\s*=\s*(\d+)")
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
PATH_RE = re.compile(r"(?:/home/|/work/|/tmp/|/Users/|\b[A-Za-z]:\\)")
TOKEN_RE = re.compile(r"[A-Za-z0-9_\-]+")
MIN_TEXT = 8
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SCANNED = {".html", ".htm", ".csv", ".xlsx", ".json", ".parquet", ".txt", ".md"}


def neutralise_formula(value: Any) -> Any:
    """Return text that a spreadsheet will not evaluate; other values unchanged.

    ``"=HYPERLINK(...)"`` -> ``"'=HYPERLINK(...)"`` (OWASP "CSV injection").
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`neutralise_formula` applied to every text cell (and header)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_formula)
    out.columns = [neutralise_formula(c) for c in out.columns]
    return out


def html_escape(value: Any) -> str:
    """Escape text from data or config for HTML (``& < > " '``); missing values become ''."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class LeakReport(Result):
    """Findings of :func:`scan_outputs` (``file``, ``location``, ``kind``, ``detail``)."""

    findings: pd.DataFrame
    files_scanned: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.findings.empty

    @property
    def table(self) -> pd.DataFrame:
        return self.findings.copy()

    def summary(self) -> str:
        if self.passed:
            return f"leak scan passed: {self.files_scanned} file(s), nothing found"
        kinds = ", ".join(f"{k}: {v}" for k, v in self.findings["kind"].value_counts().items())
        return f"leak scan FAILED: {len(self.findings)} finding(s) in {self.files_scanned} file(s) ({kinds})"

    def require_clean(self) -> None:
        """Raise :class:`ConfidentialityError` naming each finding's file, place and kind."""
        if self.passed:
            return
        lines = [f"{r.file} {r.location}: {r.kind} ({r.detail})" for r in self.findings.head(100).itertuples()]
        raise ConfidentialityError(self.summary() + "\n  - " + "\n  - ".join(lines))

    @property
    def provenance(self) -> dict[str, str]:
        return {"method": 'scan of every published file for pseudonyms, unreleased comments, local paths, e-mail addresses and counts below k',
                "reference": 'culture leak gate'}



def _blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or bool(pd.isna(value))


def fold_text(text: str) -> str:
    """Case- and space-insensitive form of a text, as the gate compares comments."""
    return " ".join(str(text).casefold().split())


class _Scanner:
    def __init__(self, pseudonyms: Iterable[str], texts: Iterable[str], k: int) -> None:
        self.k = k
        ids = {str(p).casefold() for p in pseudonyms if str(p).strip()}
        self.token_ids = {p for p in ids if TOKEN_RE.fullmatch(p)}
        self.other_ids = ids - self.token_ids
        self.texts = sorted({fold_text(str(t)) for t in texts if len(fold_text(str(t))) >= MIN_TEXT})
        self.findings: list[dict] = []

    def add(self, file: str, where: str, kind: str, detail: str) -> None:
        self.findings.append({"file": file, "location": where, "kind": kind, "detail": detail})

    def text(self, file: str, where: str, value: str) -> None:
        if not value:
            return
        folded = value.casefold()
        if any(tok.casefold() in self.token_ids for tok in TOKEN_RE.findall(value)) or \
                any(p in folded for p in self.other_ids):
            self.add(file, where, "pseudonym", "a respondent pseudonym appears")
        flat = fold_text(value)
        if any(t in flat for t in self.texts):
            self.add(file, where, "unreleased_text", "a comment that was not released appears")
        if PATH_RE.search(value):
            self.add(file, where, "local_path", "a local file path appears")
        if EMAIL_RE.search(value):
            self.add(file, where, "email", "an e-mail address appears")
        for m in COUNT_RE.finditer(value):
            if int(m.group(1)) < self.k:
                self.add(file, where, "small_count", f"a count 'n = ...' below k = {self.k}")

    def count(self, file: str, where: str, value: Any) -> None:
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        if pd.notna(number) and number < self.k:
            self.add(file, where, "small_count", f"a count in column 'n' below k = {self.k}")

    def table(self, file: str, rows: Iterator[tuple[str, list[Any]]], header: list[Any]) -> None:
        names = [str(h).strip().casefold() if h is not None else "" for h in header]
        for i, name in enumerate(header):
            self.text(file, f"header column {i + 1}", str(name) if name is not None else "")
        for where, row in rows:
            for col, value in zip(names, row, strict=False):
                place = f"{where}, column {col or '?'}"
                if col in RESPONDENT_COUNTS and not _blank(value):
                    self.count(file, place, value)
                elif isinstance(value, str):
                    self.text(file, place, value)

    def json(self, file: str, node: Any, path: str = "$") -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                self.text(file, f"{path} (key)", str(key))
                if (str(key).casefold() in RESPONDENT_COUNTS and isinstance(value, int | float)
                        and not isinstance(value, bool)):
                    self.count(file, f"{path}.{key}", value)
                else:
                    self.json(file, value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                self.json(file, value, f"{path}[{i}]")
        elif isinstance(node, str):
            self.text(file, path, node)


def _scan_file(scanner: _Scanner, path: Path, name: str) -> None:
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm", ".txt", ".md"):
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            # entities hide text from a plain search ("&#64;" is "@"), so scan the unescaped line
            scanner.text(name, f"line {i}", html.unescape(line) if suffix in (".html", ".htm") else line)
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            scanner.table(name, ((f"row {i}", row) for i, row in enumerate(reader, start=2)), header)
    elif suffix == ".xlsx":
        from openpyxl import load_workbook
        book = load_workbook(path, read_only=True, data_only=False)
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = list(next(rows, ()) or ())
            scanner.table(name, ((f"sheet {sheet.title!r} row {i}", list(r)) for i, r in enumerate(rows, start=2)),
                          header)
        book.close()
    elif suffix == ".json":
        try:
            scanner.json(name, json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError:
            scanner.text(name, "whole file (not valid JSON)", path.read_text(encoding="utf-8", errors="replace"))
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
        rows = ((f"row {i + 2}", list(r)) for i, r in enumerate(frame.itertuples(index=False)))
        scanner.table(name, rows, list(frame.columns))


def scan_outputs(folder: str | Path, *, pseudonyms: Iterable[str], unreleased_texts: Iterable[str],
                 k: int) -> LeakReport:
    """Scan every publishable file under ``folder`` (recursively) for leaks.

    Parameters
    ----------
    folder : the output folder (e.g. ``reports/<wave>/``).
    pseudonyms : every respondent pseudonym of the wave.
    unreleased_texts : raw comment texts that the release did not show
        (:func:`culture.anonymity.unreleased_texts`).
    k : the wave's reporting threshold (``Thresholds.scores``).
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfidentialityError(f"{root}: output folder not found, nothing was scanned")
    scanner = _Scanner(pseudonyms, unreleased_texts, k)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    scanned, notes = 0, []
    for path in files:
        name = str(path.relative_to(root))
        if path.suffix.lower() not in SCANNED:
            notes.append(f"{name}: not scanned (type {path.suffix or 'none'} is not a publishable format)")
            continue
        _scan_file(scanner, path, name)
        scanned += 1
    findings = pd.DataFrame(scanner.findings, columns=["file", "location", "kind", "detail"])
    return LeakReport(findings=findings.drop_duplicates(ignore_index=True), files_scanned=scanned,
                      notes=tuple(notes))
