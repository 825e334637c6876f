"""Leak gate: the last check before anything is published, plus safe-export helpers.

:func:`scan_outputs` reads every HTML, CSV, XLSX, JSON, Parquet and text file in
a folder and reports:

``pseudonym``        a respondent pseudonym (as a whole token)
``unreleased_text``  a free-text answer that the release did not show (texts of at
                     least 8 characters, compared case- and space-insensitively; in a
                     page or text file also across lines, ``lines 4-5``)
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

Each file is read once, streaming where it can (CSV rows, Parquet row batches,
XLSX rows through calamine, or openpyxl for a workbook with formulas), and its
text checked in batches by matchers built once per scan: a set of pseudonym
tokens and one Aho-Corasick automaton for the unreleased texts (pyahocorasick),
so the cost grows with the size of the pack, not with pack x pseudonyms x texts.

Export helpers. :func:`neutralise_formula` makes a text cell that a spreadsheet
would run as a formula (starting with ``= + - @``, tab or carriage return) plain
text by prefixing an apostrophe; :func:`neutralise_frame` applies it to every
text cell of a table. :func:`html_escape` is the one way to put text from data
or configuration (unit names, item texts, comments) into HTML: escape at the
point of insertion, never earlier (double escaping) and never skip it for
"trusted" config, because unit names come from HR files.
"""

from __future__ import annotations

import bisect
import csv
import html
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
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
SCANNED = {".html", ".htm", ".csv", ".xlsx", ".json", ".parquet", ".txt", ".md", ".pptx"}


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


# The checks, each over a whole batch of text units (lines or cells) at once. Every one
# gives exactly the places the per-unit pattern gives (units are joined with "\n", which
# no pseudonym token, path, e-mail or folded comment contains):
_PATH_DIRS = re.compile(r"/(?:home|work|tmp|Users)/")  # PATH_RE, split so that each part
_PATH_DRIVE = re.compile(r"\b[A-Za-z]:\\")  # starts with a literal the engine skips to
_EMAIL_AT = re.compile(r"[\w.+-]@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")  # EMAIL_RE around one "@"
_EQUALS = re.compile(r"=\s*\d")  # where COUNT_RE can match: its "=" ...
_KINDS = ("pseudonym", "unreleased_text", "local_path", "email", "small_count")
_PSEUDONYM, _TEXT, _PATH, _EMAIL, _COUNT = range(len(_KINDS))
_BATCH_CHARS = 1 << 23  # a table's text cells are checked in batches of about this size


class _Matcher:
    """Every occurrence of any of a set of strings, in one pass over a text (Aho-Corasick).

    One automaton over all the strings: the time is linear in the text, whatever the
    number of strings (a regular expression alternating 10,000 comments tries each in
    turn at every position).
    """

    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(sorted(set(words)))
        self._automaton: Any = None
        if self.words:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for word in self.words:
                automaton.add_word(word, len(word))
            automaton.make_automaton()
            self._automaton = automaton

    def __bool__(self) -> bool:
        return self._automaton is not None

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of every occurrence, overlapping ones included."""
        if self._automaton is None:
            return iter(())
        return ((last + 1 - size, last + 1) for last, size in self._automaton.iter(text))

    def found_in(self, text: str) -> bool:
        return self._automaton is not None and next(self._automaton.iter(text), None) is not None


def _offsets(parts: list[str], sep: int = 1) -> list[int]:
    """Start of each part in ``sep.join(parts)`` (separator of length ``sep``)."""
    return list(itertools.accumulate((len(p) + sep for p in parts[:-1]), initial=0))


class _Scanner:
    """The checks of :func:`scan_outputs`, compiled once for all files.

    Pseudonyms that are tokens go in a set (each token of a file is looked up once),
    other pseudonyms and the unreleased texts in one Aho-Corasick automaton each.
    Text units (lines, cells, JSON strings) are checked in batches: a batch is joined
    and each check runs once over the join, so a file is read once and a check costs
    the same for 10 or 100,000 pseudonyms and comments.
    """

    def __init__(self, pseudonyms: Iterable[str], texts: Iterable[str], k: int) -> None:
        self.k = k
        ids = {str(p).casefold() for p in pseudonyms if str(p).strip()}
        self.token_ids = frozenset(p for p in ids if TOKEN_RE.fullmatch(p))
        self.other_ids = _Matcher(ids - self.token_ids)
        self.texts = _Matcher(t for t in (fold_text(str(x)) for x in texts) if len(t) >= MIN_TEXT)
        self.findings: list[dict] = []

    def add(self, file: str, where: str, kind: str, detail: str) -> None:
        self.findings.append({"file": file, "location": where, "kind": kind, "detail": detail})

    def detail(self, kind: int, source: str = "text") -> str:
        if kind == _COUNT:
            return (f"a count in column 'n' below k = {self.k}" if source == "column"
                    else f"a count 'n = ...' below k = {self.k}")
        return ("a respondent pseudonym appears", "a comment that was not released appears",
                "a local file path appears", "an e-mail address appears")[kind]

    def small(self, value: Any) -> bool:
        """A respondent count below k (what ``pd.to_numeric`` makes of the cell)."""
        # numpy's integers are no Python ints: without them every cell of a Parquet count
        # column took the slow path below (minutes for a large bundle)
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_):
            return bool(value == value and value < self.k)  # NaN is no count
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        return bool(pd.notna(number) and number < self.k)

    def scan(self, values: list[str], *, across: bool = False) -> list[tuple[int, int, int]]:
        """(first unit, last unit, kind) of every finding in the text units ``values``.

        A finding lies in one unit, except an unreleased text found ``across`` units
        (lines of a page: a comment wrapped over lines is still the comment).
        """
        hits: list[tuple[int, int, int]] = []
        if not values:
            return hits
        doc = "\n".join(values)
        starts = _offsets(values)

        def unit(pos: int) -> int:
            return bisect.bisect_right(starts, pos) - 1

        if self.token_ids and not self.token_ids.isdisjoint(map(str.lower, TOKEN_RE.findall(doc))):
            hits += [(u, u, _PSEUDONYM) for u in {unit(m.start()) for m in TOKEN_RE.finditer(doc)
                                                  if m.group().lower() in self.token_ids}]
        if self.other_ids:
            hits += [(u, u, _PSEUDONYM) for u, v in enumerate(values)
                     if self.other_ids.found_in(v.casefold())]
        if self.texts:
            folded = [fold_text(v) for v in values]
            kept = [u for u, f in enumerate(folded) if f]
            parts = [folded[u] for u in kept]
            joined = (" " if across else "\n").join(parts)
            fstarts = _offsets(parts)
            spans = {(kept[bisect.bisect_right(fstarts, a) - 1],
                      kept[bisect.bisect_right(fstarts, b - 1) - 1])
                     for a, b in self.texts.spans(joined)}
            hits += [(a, b, _TEXT) for a, b in spans]
        if "/" in doc:
            hits += [(u, u, _PATH) for u in {unit(m.start()) for m in _PATH_DIRS.finditer(doc)}]
        if ":\\" in doc:
            hits += [(u, u, _PATH) for u in {unit(m.start()) for m in _PATH_DRIVE.finditer(doc)}]
        at = doc.find("@", 1)
        while at > 0:
            if _EMAIL_AT.match(doc, at - 1):
                hits.append((unit(at), unit(at), _EMAIL))
            at = doc.find("@", at + 1)
        for m in _EQUALS.finditer(doc):
            # ... preceded by [nN] and space: match COUNT_RE from there (its look-behind
            # sees the text before, as in the unit alone, where "\n" is no word character)
            j = m.start() - 1
            while j >= 0 and doc[j].isspace():
                j -= 1
            count = COUNT_RE.match(doc, j) if j >= 0 and doc[j] in "nN" else None
            if count is not None and int(count.group(1)) < self.k and unit(j) == unit(count.end() - 1):
                hits.append((unit(j), unit(j), _COUNT))
        return hits

    # --- one file's text units in order, checked in batches

    def batch(self, file: str, *, across: bool = False) -> _Batch:
        return _Batch(self, file, across=across)


class _Batch:
    """A file's text units and column counts, in file order; findings come out in that order."""

    def __init__(self, scanner: _Scanner, file: str, *, across: bool) -> None:
        self.scanner, self.file, self.across = scanner, file, across
        self.values: list[str] = []
        self.places: list[Any] = []
        self.seqs: list[int] = []
        self.hits: list[tuple[int, int, str, str, str]] = []
        self.seq, self.chars = 0, 0

    def text(self, place: Any, value: str) -> None:
        """A text unit; ``place`` is its location, or (row, column name) for a table cell."""
        if value:
            self.values.append(value)
            self.places.append(place)
            self.seqs.append(self.seq)
            self.seq += 1
            self.chars += len(value)
            if self.chars > _BATCH_CHARS and not self.across:
                self.flush()

    def count(self, place: Any, value: Any) -> None:
        if self.scanner.small(value):
            self.hits.append((self.seq, _COUNT, _where(place), "small_count",
                              self.scanner.detail(_COUNT, "column")))
        self.seq += 1

    def flush(self) -> None:
        sc = self.scanner
        for a, b, kind in sc.scan(self.values, across=self.across):
            where = _where(self.places[a]) if a == b else _span(self.places[a], self.places[b])
            self.hits.append((self.seqs[a], kind, where, _KINDS[kind], sc.detail(kind)))
        self.values, self.places, self.seqs, self.chars = [], [], [], 0

    def close(self) -> None:
        self.flush()
        for _, _, where, kind, detail in sorted(self.hits, key=lambda h: h[:2]):
            self.scanner.add(self.file, where, kind, detail)
        self.hits = []


def _where(place: Any) -> str:
    if isinstance(place, tuple):
        row, col = place
        return f"{row}, column {col or '?'}"
    return str(place)


def _span(first: Any, last: Any) -> str:
    a, b = _where(first), _where(last)
    if a.startswith("line ") and b.startswith("line "):
        return f"lines {a[5:]}-{b[5:]}"
    return f"{a} to {b}"


def _table(batch: _Batch, header: list[Any], rows: Iterable[tuple[str, Sequence[Any]]]) -> None:
    """Header cells and rows of a table: counts in count columns, every other text cell."""
    names = [str(h).strip().casefold() if h is not None else "" for h in header]
    for i, name in enumerate(header):
        batch.text(f"header column {i + 1}", str(name) if name is not None else "")
    counts = [c in RESPONDENT_COUNTS for c in names]
    for where, row in rows:
        for col, is_count, value in zip(names, counts, row, strict=False):
            if is_count:
                if not _blank(value):
                    batch.count((where, col), value)
            elif isinstance(value, str):
                batch.text((where, col), value)


def _json(batch: _Batch, node: Any, path: str = "$") -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            batch.text(f"{path} (key)", str(key))
            if (str(key).casefold() in RESPONDENT_COUNTS and isinstance(value, int | float)
                    and not isinstance(value, bool)):
                batch.count(f"{path}.{key}", value)
            else:
                _json(batch, value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _json(batch, value, f"{path}[{i}]")
    elif isinstance(node, str):
        batch.text(path, node)


# XLSX: calamine (a Rust reader) unless a sheet holds formulas, whose text only openpyxl
# gives (calamine reads cached values), or is too large to hold (openpyxl streams rows).
_CALAMINE_MAX_XML = 256 << 20


def _xlsx_sheets(path: Path) -> Iterator[tuple[str, Iterator[Sequence[Any]]]]:
    """(title, rows from row 1) of every worksheet, in workbook order."""
    if _xlsx_needs_openpyxl(path):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=False)
        try:
            for sheet in book.worksheets:
                yield sheet.title, sheet.iter_rows(values_only=True)
        finally:
            book.close()
        return
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    with CalamineWorkbook.from_path(str(path)) as book:
        for meta in book.sheets_metadata:
            if meta.typ == SheetTypeEnum.WorkSheet:
                yield meta.name, _calamine_rows(book.get_sheet_by_name(meta.name))


def _calamine_rows(sheet: Any) -> Iterator[Sequence[Any]]:
    """A calamine sheet's rows from row 1 and column A (it starts at the first used column)."""
    start, end = sheet.start, sheet.end
    if start is None or end is None:
        return
    rows = sheet.iter_rows()
    first = next(rows, None)
    if first is None:
        return
    width = end[1] + 1
    lead = [""] * max(width - len(first), 0)
    if start[0] > 0 and any(v != "" for v in first):  # leading blank rows were left out
        for _ in range(start[0]):
            yield [""] * width
    yield lead + list(first) if lead else first
    for row in rows:
        yield lead + list(row) if lead else row


def _xlsx_needs_openpyxl(path: Path) -> bool:
    """Whether a worksheet holds a formula (``<f>`` in its cells) or is too large for calamine."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any(_openpyxl_sheet(z, info) for info in z.infolist()
                       if info.filename.endswith(".xml"))
    except (OSError, zipfile.BadZipFile, KeyError):
        return True  # openpyxl reports what is wrong with the file


def _openpyxl_sheet(z: Any, info: Any) -> bool:
    """Whether a zip member is a worksheet that calamine should not read (other parts: False)."""
    with z.open(info) as fh:
        data = fh.read(1 << 22)
        root = re.search(rb"<([A-Za-z_][\w.-]*:)?worksheet[\s>]", data[:4096])
        if root is None:
            return False
        if info.file_size > _CALAMINE_MAX_XML:
            return True
        prefix = root.group(1) or b""
        formula = re.compile(rb"<" + re.escape(prefix) + rb"f[\s>/]")
        close = b"</" + prefix + b"sheetData>"
        pending = b""
        while data:
            chunk = pending + data
            end = chunk.find(close)
            cut = end if end >= 0 else max(chunk.rfind(b"<"), 0)
            if formula.search(chunk, 0, cut):
                return True
            if end >= 0:
                return False
            pending, data = chunk[cut:], fh.read(1 << 22)
    return formula.search(pending) is not None


_PARQUET_BATCH = 65_536


def _scan_file(scanner: _Scanner, path: Path, name: str) -> None:
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm", ".txt", ".md"):
        # A page is one batch: a comment wrapped over lines is found across them.
        batch = scanner.batch(name, across=True)
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            # entities hide text from a plain search ("&#64;" is "@"), so scan the unescaped line
            batch.text(f"line {i}", html.unescape(line) if suffix in (".html", ".htm") else line)
        batch.close()
    elif suffix == ".csv":
        batch = scanner.batch(name)
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            _table(batch, header, ((f"row {i}", row) for i, row in enumerate(reader, start=2)))
        batch.close()
    elif suffix == ".xlsx":
        for title, rows in _xlsx_sheets(path):
            batch = scanner.batch(name)
            header = list(next(rows, ()) or ())
            _table(batch, header, ((f"sheet {title!r} row {i}", r) for i, r in enumerate(rows, start=2)))
            batch.close()
    elif suffix == ".json":
        raw = path.read_bytes()
        try:
            tree = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            batch = scanner.batch(name)
            batch.text("whole file (not valid JSON)", raw.decode("utf-8", errors="replace"))
        else:
            batch = scanner.batch(name)
            _json(batch, tree)
        batch.close()
    elif suffix == ".parquet":
        _scan_parquet(scanner, path, name)
    elif suffix == ".pptx":
        _scan_pptx(scanner, path, name)


_DRAWING_NS = "{http://schemas.openxmlformats.org/drawingml/2006/main}"


def _scan_pptx(scanner: _Scanner, path: Path, name: str) -> None:
    """Every paragraph of every slide (text boxes, tables, notes) as one batch per slide."""
    import zipfile
    from xml.etree import ElementTree

    with zipfile.ZipFile(path) as deck:
        parts = sorted((n for n in deck.namelist() if re.fullmatch(
            r"ppt/(slides/slide|notesSlides/notesSlide)\d+\.xml", n)),
            key=lambda n: (n.split("/")[1], int(re.sub(r"\D", "", n.rsplit("/", 1)[1]))))
        for part in parts:
            batch = scanner.batch(name, across=True)
            tree = ElementTree.fromstring(deck.read(part))
            for i, para in enumerate(tree.iter(f"{_DRAWING_NS}p"), start=1):
                text = "".join(t.text or "" for t in para.iter(f"{_DRAWING_NS}t"))
                if text:
                    batch.text(f"{part.split('/', 1)[1]} paragraph {i}", text)
            batch.close()


def _scan_parquet(scanner: _Scanner, path: Path, name: str) -> None:
    """Row groups in batches of rows, as pandas reads them (index columns stay the index)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        header = list(parquet.schema_arrow.empty_table().to_pandas().columns)

        def rows() -> Iterator[tuple[str, Sequence[Any]]]:
            i = 2
            for part in parquet.iter_batches(batch_size=_PARQUET_BATCH):
                for row in part.to_pandas().itertuples(index=False, name=None):
                    yield f"row {i}", row
                    i += 1

        batch = scanner.batch(name)
        _table(batch, header, rows())
        batch.close()


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
