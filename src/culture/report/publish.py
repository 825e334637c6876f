"""Recipient packs: every person receives their own part of the report pack and nothing else.

``publish`` turns a built pack (``reports/<wave>/``) into one folder per recipient of
the access list (:mod:`culture.ingest.access`)::

    published/<wave>/
      recipients.json            who received what: files and SHA-256 (for the audit trail;
                                 it lists e-mail addresses, so it stays with HR)
      people/<person>/           one folder per recipient, self-contained
        index.html               their own index, listing only their pages
        units/<unit>.html        the briefs of their scope (and .pdf with ``pdf``)
        org_report.html ...      the organisation documents their role allows
      archives/<person>.zip      with ``archives``: each folder as an AES-encrypted zip

What each role receives (:data:`ROLE_DOCUMENTS`):

``leader``     the briefs of their units (each unit's subtree, or only the named unit),
               no organisation-level page: those show every unit's scores side by side
               (heat maps, tables, findings, control charts), and a brief already compares
               the unit with the whole organisation
``executive``  every brief and the organisation report, change over time and culture and
               quality; not the instrument review (item-level psychometrics for the people
               who maintain the survey) and not the exports (raw release tables meant for
               analysts, which are easy to forward and re-slice)
``hr``         everything: every page, the instrument review, the exports and the pack's
               manifest

A person whose scope holds no brief of the pack (a team leader when the pack has
department briefs only) gets no folder and is reported.

Every folder is checked before anything is published, and any finding fails the whole
publish: the leak gate (:func:`~culture.boundary.leakgate.scan_outputs`) over every file;
the links of every page (parsed with :mod:`html.parser`: a link either stays inside the
person's folder on a file that is there, or it is removed; nothing points out); and the
scope check: no id or label of a unit outside their scope (their units and the units
above them, which briefs name as comparison lines), and no comment released for a unit
outside their scope, may appear in their pages. Folders are built in a hidden temporary
folder and swapped into place only when every check passed, so a failed publish leaves
the previous one as it was.
"""

from __future__ import annotations

import html
import json
import os
import posixpath
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from culture.boundary.bundle import Bundle
from culture.boundary.leakgate import MIN_TEXT, fold_text, scan_outputs
from culture.boundary.release import unit_paths
from culture.errors import ConfidentialityError, ConfigError, Problem, ValidationError
from culture.files import sha256_file
from culture.report.html import page
from culture.report.pack import DOCUMENTS, UNIT_NOTEBOOK

ROLES = ("leader", "executive", "hr")
DOCUMENT_NAMES = tuple(name for name, _, _ in DOCUMENTS)
#: The organisation-level documents each role receives (briefs follow the scope).
ROLE_DOCUMENTS: Mapping[str, tuple[str, ...]] = {
    "leader": (),
    "executive": ("org_report", "culture_trends", "quality_linkage"),
    "hr": DOCUMENT_NAMES,
}
#: Roles that receive the exports (release tables, ISO evidence, findings) and the manifest.
EXPORT_ROLES = ("hr",)
WHOLE_ORGANISATION = ("executive", "hr")
PEOPLE = "people"
ARCHIVES = "archives"
MANIFEST = "recipients.json"
_URL_ATTRS = {"href", "src", "srcset", "action", "formaction", "poster", "data", "background",
              "cite", "longdesc", "xlink:href", "manifest", "ping"}
_CSS_URL_RE = re.compile(r"url\(\s*['\"]?\s*(?!data:|#)[^)'\"\s]|@import", re.IGNORECASE)


@dataclass(frozen=True)
class Recipient:
    """One person of the access list: id, address, role and the units they lead
    (``(unit_id, scope)`` pairs, scope ``subtree`` or ``unit``)."""

    person_id: str
    email: str
    role: str
    units: tuple[tuple[str, str], ...] = ()


def recipients_from_access(frame: pd.DataFrame) -> list[Recipient]:
    """Recipients from an access list frame (one row per person and unit), in file order."""
    out: dict[str, dict[str, Any]] = {}
    for row in frame.itertuples(index=False):
        r = out.setdefault(str(row.person_id), {"email": str(row.email), "role": str(row.role),
                                                "units": []})
        if row.unit_id is not None and not pd.isna(row.unit_id):
            r["units"].append((str(row.unit_id), str(row.scope or "subtree")))
    return [Recipient(p, r["email"], r["role"], tuple(dict.fromkeys(r["units"])))
            for p, r in out.items()]


@dataclass(frozen=True)
class Share:
    """What one recipient receives: pack-relative files, the units in scope, their folder."""

    recipient: Recipient
    folder: str
    scope: frozenset[str]
    briefs: tuple[str, ...]
    documents: tuple[str, ...]
    exports: tuple[str, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.documents, *self.briefs, *self.exports)

    @property
    def empty(self) -> bool:
        return not self.files

    @property
    def whole_organisation(self) -> bool:
        return self.recipient.role in WHOLE_ORGANISATION


@dataclass(frozen=True)
class PublishPlan:
    """Who receives what (``shares``), who receives nothing (``nobody``) and the briefs no
    leader receives (``unreceived``: only executives and HR get them)."""

    wave: str
    pack: Path
    shares: tuple[Share, ...]
    nobody: tuple[Share, ...]
    unreceived: tuple[str, ...]
    titles: Mapping[str, str] = field(repr=False)
    brief_units: Mapping[str, str] = field(repr=False)

    def lines(self) -> list[str]:
        """One line per person (ids, role, files): what ``--dry-run`` prints."""
        out = []
        for s in self.shares:
            out.append(f"{s.recipient.person_id} ({s.recipient.role}): {len(s.briefs)} brief(s), "
                       f"{len(s.documents)} organisation document(s), {len(s.exports)} export(s)"
                       f" -> {PEOPLE}/{s.folder}/")
            out += [f"    {f}" for f in s.files]
        out += [f"{s.recipient.person_id} ({s.recipient.role}): nothing (no brief of this pack "
                "is in their scope)" for s in self.nobody]
        out += [f"no leader receives {b} (only executives and HR do)" for b in self.unreceived]
        return out


@dataclass(frozen=True)
class PublishResult:
    folder: Path
    manifest: dict = field(repr=False)
    plan: PublishPlan = field(repr=False)
    seconds: float = 0.0
    passwords: Mapping[str, str] = field(default_factory=dict, repr=False)

    def archive(self, person_id: str) -> Path | None:
        for r in self.manifest["recipients"]:
            if r["person_id"] == person_id and r.get("archive"):
                return self.folder / r["archive"]["file"]
        return None


# ----------------------------------------------------------------------------- planning

def folder_name(person_id: str) -> str:
    """A person's folder: their id with anything but letters, digits, ``-`` and ``_`` as ``_``."""
    slug = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "_"
                   for ch in str(person_id).strip())
    return slug.strip("_") or "person"


def _tree(bundle: Bundle) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    units = bundle.release.table("units")
    parent = {str(u): (None if p is None or pd.isna(p) else str(p))
              for u, p in zip(units["unit_id"], units["parent_id"], strict=True)}
    children: dict[str, list[str]] = {}
    for u, p in parent.items():
        if p is not None:
            children.setdefault(p, []).append(u)
    return parent, children


def _subtree(children: Mapping[str, list[str]], unit: str) -> set[str]:
    out, todo = set(), [unit]
    while todo:
        u = todo.pop()
        if u not in out:
            out.add(u)
            todo.extend(children.get(u, ()))
    return out


def _ancestors(parent: Mapping[str, str | None], units: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for u in units:
        p = parent.get(u)
        while p is not None and p not in out:
            out.add(p)
            p = parent.get(p)
    return out


def read_pack(pack: Path) -> dict:
    try:
        return json.loads((pack / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{pack}: no report pack here (no manifest.json); build it first "
                          "with `culture report --wave W`") from None


def plan_publish(pack: str | Path, bundle: Bundle,
                 recipients: Sequence[Recipient]) -> PublishPlan:
    """Decide who receives which files of the pack (nothing is written).

    Raises
    ------
    ConfigError
        The pack was not built from this bundle, or is for another wave.
    ValidationError
        A recipient names a unit that is not in the wave's org chart, has an unknown role,
        or two people would share one folder.
    """
    pack = Path(pack)
    manifest = read_pack(pack)
    if manifest.get("wave") != bundle.wave or manifest.get("audit") != bundle.meta.get("audit"):
        raise ConfigError(f"{pack}: this pack was not built from the bundle of {bundle.wave} "
                          "(another wave, or the bundle was rebuilt since); rebuild the pack with "
                          f"`culture report --wave {bundle.wave}` and publish again")
    parent, children = _tree(bundle)
    paths = unit_paths(bundle.release)
    briefs: dict[str, str] = {}
    documents: list[str] = []
    titles = {name: title for name, title, _ in DOCUMENTS}
    page_titles: dict[str, str] = {}
    for doc in manifest.get("documents", []):
        if doc["notebook"] == UNIT_NOTEBOOK:
            unit = str(doc["parameters"]["unit_id"])
            briefs[doc["page"]] = unit
            page_titles[doc["page"]] = paths.get(unit, unit)
        else:
            documents.append(doc["page"])
            page_titles[doc["page"]] = titles.get(doc["notebook"], doc["notebook"])
    notebook_of = {d["page"]: d["notebook"] for d in manifest.get("documents", [])}
    exports = sorted(p.name for p in pack.iterdir() if p.is_file() and p.suffix != ".html")
    problems: list[Problem] = []
    shares, nobody, folders = [], [], {}
    for r in recipients:
        where = f"person {r.person_id}"
        if r.role not in ROLES:
            problems.append(Problem(where, f"role must be one of {', '.join(ROLES)}"))
            continue
        unknown = [u for u, _ in r.units if u not in parent]
        problems += [Problem(f"{where}, unit {u}", f"not in the org chart of {bundle.wave}")
                     for u in unknown]
        folder = folder_name(r.person_id)
        if folder in folders:
            problems.append(Problem(where, f"would share the folder {folder!r} with person "
                                    f"{folders[folder]}; give them distinct ids"))
        folders.setdefault(folder, r.person_id)
        if r.role in WHOLE_ORGANISATION:
            scope = frozenset(parent)
        else:
            scope = frozenset().union(*[_subtree(children, u) if s == "subtree" else {u}
                                        for u, s in r.units if u in parent])
        docs = tuple(p for p in documents if notebook_of[p] in ROLE_DOCUMENTS[r.role])
        mine = tuple(p for p, u in briefs.items() if u in scope)
        share = Share(r, folder, scope, mine, docs,
                      tuple(exports) if r.role in EXPORT_ROLES else ())
        (nobody if share.empty else shares).append(share)
    if problems:
        raise ValidationError(problems, source="access list")
    led = {p for s in shares if s.recipient.role == "leader" for p in s.briefs}
    unreceived = tuple(p for p in briefs if p not in led)
    return PublishPlan(bundle.wave, pack, tuple(shares), tuple(nobody), unreceived,
                       page_titles, briefs)


# ----------------------------------------------------------------------------- links

class _Tags(HTMLParser):
    """Start tags with URL attributes (offset, raw text, tag, attrs), text and style content."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[int, int, str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.attr_text: list[str] = []
        self.urls: list[str] = []
        self.styles: list[str] = []
        self._in_style = 0
        self._lines: list[int] = [0]

    def feed_document(self, text: str) -> _Tags:
        for line in text.splitlines(keepends=True):
            self._lines.append(self._lines[-1] + len(line))
        self.feed(text)
        self.close()
        return self

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, col = self.getpos()
        raw = self.get_starttag_text() or ""
        self.tags.append((self._lines[line - 1] + col, len(raw), tag, attrs))
        for k, v in attrs:
            if v and not v.lstrip().lower().startswith("data:"):
                self.attr_text.append(v)
                if k in _URL_ATTRS:
                    self.urls.append(v)
            if k == "style" and v:
                self.styles.append(v)
        if tag == "style":
            self._in_style += 1

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._in_style:
            self._in_style -= 1

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


def _allowed_url(value: str, tag: str, page_rel: str, files: set[str]) -> bool:
    """A URL may stay when it is a fragment of the page, an embedded image (``data:`` outside
    links) or a relative path to a file that is in the same person's folder."""
    v = (value or "").strip()
    if not v or v.startswith("#"):
        return True
    if v.lower().startswith("data:"):
        return tag not in ("a", "area", "iframe", "object", "embed", "form", "base", "link")
    parts = urlsplit(v)
    if parts.scheme or parts.netloc or parts.query or v.startswith(("/", "\\")) or "\\" in v:
        return False
    target = posixpath.normpath(posixpath.join(posixpath.dirname(page_rel), parts.path))
    return not target.startswith("..") and target in files


def _bad_attrs(tag: str, attrs: list[tuple[str, str | None]], page_rel: str,
               files: set[str]) -> list[str]:
    bad = []
    for k, v in attrs:
        if k in _URL_ATTRS:
            values = [c.strip().split()[0] for c in (v or "").split(",") if c.strip()] \
                if k == "srcset" else [v or ""]
            if not all(_allowed_url(x, tag, page_rel, files) for x in values):
                bad.append(k)
        elif tag == "meta" and k == "http-equiv" and (v or "").lower() == "refresh":
            bad.append("content")
    return bad


def rewrite_links(text: str, page_rel: str, files: set[str]) -> tuple[str, int]:
    """The page with every URL attribute that leaves the folder (or names a file not in it)
    removed, the rest of the page byte for byte as it was; and how many were removed.
    A removed link keeps its text (``<a>`` without ``href``)."""
    parsed = _Tags().feed_document(text)
    out, last, removed = [], 0, 0
    for offset, length, tag, attrs in parsed.tags:
        bad = _bad_attrs(tag, attrs, page_rel, files)
        if not bad:
            continue
        kept = "".join(f' {k}="{html.escape(v, quote=True)}"' if v is not None else f" {k}"
                       for k, v in attrs if k not in bad)
        raw = text[offset:offset + length]
        closing = "/>" if raw.rstrip().endswith("/>") else ">"
        out += [text[last:offset], f"<{tag}{kept}{closing}"]
        last = offset + length
        removed += len(bad)
    out.append(text[last:])
    return "".join(out), removed


def link_findings(folder: Path) -> list[dict]:
    """Every URL in every HTML page of ``folder`` that does not stay inside it (should be none
    after :func:`rewrite_links`), and CSS that loads anything from outside."""
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    out = []
    for rel in sorted(f for f in files if f.endswith((".html", ".htm"))):
        parsed = _Tags().feed_document((folder / rel).read_text(encoding="utf-8"))
        for _, _, tag, attrs in parsed.tags:
            for k in _bad_attrs(tag, attrs, rel, files):
                out.append({"file": rel, "location": f"<{tag} {k}>", "kind": "link",
                            "detail": "a link or resource outside the person's folder"})
        if any(_CSS_URL_RE.search(s) for s in parsed.styles):
            out.append({"file": rel, "location": "style", "kind": "link",
                        "detail": "a style sheet loads something from outside the page"})
    return out


# ----------------------------------------------------------------------------- scope check

@dataclass(frozen=True)
class Forbidden:
    """What must not appear in one person's folder: unit ids (in file names and link
    targets), unit labels (their path, as pages name units) and released comments of units
    outside their scope."""

    ids: frozenset[str]
    labels: tuple[str, ...]
    texts: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.ids or self.labels or self.texts)

    def names_unit(self, text: str) -> bool:
        if not self.labels:
            return False
        if self._label_re is None:
            alternatives = "|".join(re.escape(label) for label in self.labels)
            object.__setattr__(self, "_label_re", re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])"))
        return self._label_re.search(text) is not None

    _label_re: re.Pattern | None = field(default=None, repr=False, compare=False)


def forbidden_for(share: Share, bundle: Bundle) -> Forbidden:
    """Everything of the units outside ``share``'s scope. The units above their scope stay
    visible as labels (a brief names its parent and the organisation as comparison lines),
    but their comments do not (a site's comments include other departments')."""
    if share.whole_organisation:
        return Forbidden(frozenset(), (), ())
    parent, _ = _tree(bundle)
    paths = unit_paths(bundle.release)
    visible = set(share.scope) | _ancestors(parent, share.scope)
    outside = [u for u in parent if u not in visible]
    shown = [paths[u] for u in visible]
    labels = [paths[u] for u in outside  # a label inside a visible one ("A" in "A › B") stays
              if not any(paths[u] in s and _contains_label(s, paths[u]) for s in shown)]
    comments = bundle.release.table("comments")
    mine = {fold_text(t) for t in comments.loc[comments["unit_id"].isin(share.scope), "text"]}
    texts = {fold_text(t) for t in comments.loc[~comments["unit_id"].isin(share.scope), "text"]}
    # a text that is (part of) a comment released in scope may show: people repeat phrases
    inside = "\n".join(mine)
    return Forbidden(frozenset(outside), tuple(sorted(set(labels), key=len, reverse=True)),
                     tuple(sorted(t for t in texts - mine
                                  if len(t) >= MIN_TEXT and t not in inside)))


def _contains_label(text: str, label: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(label)}(?![\w])", text) is not None


_ID_SPLIT = re.compile(r"[^\w-]+")


def scope_findings(folder: Path, forbidden: Forbidden) -> list[dict]:
    """Places in ``folder`` where a unit outside the person's scope shows (see
    :class:`Forbidden`); PDFs are printed from pages checked here and are not read."""
    out: list[dict] = []
    if forbidden.empty:
        return out

    def check(rel: str, where: str, texts: Iterable[str], urls: Iterable[str]) -> None:
        for t in texts:
            if forbidden.names_unit(t):
                out.append({"file": rel, "location": where, "kind": "out_of_scope_unit",
                            "detail": "a unit outside the person's scope is named"})
            flat = fold_text(t)
            if any(c in flat for c in forbidden.texts):
                out.append({"file": rel, "location": where, "kind": "out_of_scope_comment",
                            "detail": "a comment of a unit outside the person's scope"})
        for u in urls:
            if set(_ID_SPLIT.split(u)) & forbidden.ids:
                out.append({"file": rel, "location": where, "kind": "out_of_scope_unit",
                            "detail": "a link or file names a unit outside the scope"})

    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        check(rel, "file name", [], [Path(rel).stem])
        suffix = path.suffix.lower()
        if suffix in (".html", ".htm"):
            parsed = _Tags().feed_document(path.read_text(encoding="utf-8"))
            check(rel, "page text", ["\n".join(parsed.text), *parsed.attr_text], parsed.urls)
        elif suffix in (".json", ".csv", ".txt", ".md"):
            text = path.read_text(encoding="utf-8", errors="replace")
            check(rel, "file text", [text], [text])
        elif suffix == ".xlsx":
            from openpyxl import load_workbook

            book = load_workbook(path, read_only=True)
            cells = [str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                     for v in row if isinstance(v, str)]
            book.close()
            check(rel, "workbook cells", cells, cells)
    return out


# ----------------------------------------------------------------------------- building

def recipient_index(share: Share, plan: PublishPlan) -> str:
    """A person's own landing page: only their pages, nothing about anyone else."""
    described = {name: desc for name, _, desc in DOCUMENTS}
    notebook = {f"{name}.html": name for name in DOCUMENT_NAMES}

    def item(rel: str, text: str, extra: str = "") -> str:
        return f'<li><a href="{html.escape(rel)}">{html.escape(text)}</a>{extra}</li>'

    parts = [f"<h1>Leadership and quality culture &mdash; {html.escape(plan.wave)}</h1>",
             "<p>Your part of the quarterly report pack. Every figure comes from released "
             "cells only; withheld cells show one neutral label.</p>"]
    if share.documents:
        docs = "".join(item(d, plan.titles[d], f" &mdash; {html.escape(described[notebook[d]])}"
                            if d in notebook else "") for d in share.documents)
        parts.append(f"<h2>Organisation documents</h2><ul>{docs}</ul>")
    if share.briefs:
        ordered = sorted(share.briefs, key=lambda b: plan.titles[b])
        parts.append("<h2>Unit briefs</h2><ul class='units'>"
                     + "".join(item(b, plan.titles[b]) for b in ordered) + "</ul>")
    if share.exports:
        parts.append("<h2>Exports</h2><ul>" + "".join(item(e, e) for e in share.exports)
                     + "</ul>")
    return page(f"Culture report {plan.wave}", "".join(parts))


def _print_briefs(pages: Iterable[str], plan: PublishPlan, work: Path) -> dict[str, Path]:
    """Each brief printed once to PDF from a copy without any link (a PDF keeps link
    targets, which would name files on this machine)."""
    from culture.report.pdf import print_pdfs

    pages = sorted(set(pages))
    for rel in pages:
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text, _ = rewrite_links((plan.pack / rel).read_text(encoding="utf-8"), rel, set())
        target.write_text(text, encoding="utf-8")
    printed = print_pdfs(work, pages) if pages else []
    return {rel: pdf for rel, pdf in zip(pages, printed, strict=True)}


def build_folder(share: Share, plan: PublishPlan, target: Path,
                 pdfs: Mapping[str, Path]) -> list[str]:
    """Write one person's folder; returns the files written (folder-relative)."""
    files = {"index.html", *share.files}
    files |= {str(Path(b).with_suffix(".pdf")) for b in share.briefs if b in pdfs}
    for rel in share.files:
        src, dst = plan.pack / rel, target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith((".html", ".htm")):
            text, _ = rewrite_links(src.read_text(encoding="utf-8"), rel, files)
            dst.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(src, dst)
    for b in share.briefs:
        if b in pdfs:
            shutil.copyfile(pdfs[b], target / Path(b).with_suffix(".pdf"))
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.html").write_text(recipient_index(share, plan), encoding="utf-8")
    return sorted(files)


def _finding_lines(findings: list[dict], limit: int = 100) -> str:
    lines = [f"{f['file']} {f['location']}: {f['kind']} ({f['detail']})" for f in findings[:limit]]
    more = [f"... and {len(findings) - limit} more"] if len(findings) > limit else []
    return "\n  - ".join(["", *lines, *more])


def publish(pack: str | Path, bundle: Bundle, recipients: Sequence[Recipient],
            out_root: str | Path, *, pseudonyms: Iterable[str] = (),
            unreleased_texts: Iterable[str] = (), pdf: bool = False, archives: bool = False,
            passwords: Mapping[str, str] | None = None,
            progress: Callable[[str], None] = lambda _msg: None,
            _tamper: Callable[[Path], None] | None = None) -> PublishResult:
    """Build, check and publish one folder per recipient into ``out_root/<wave>/``.

    ``pdf`` also prints each leader's briefs to PDF (headless Chromium) into their folder.
    ``archives`` zips each folder with AES-256 (:mod:`culture.report.delivery`); the
    password per person comes from ``passwords`` (person id -> password) or is generated
    and returned in :attr:`PublishResult.passwords` (never written into the published
    folder). Everything is built in a hidden folder beside the target and swapped into place
    only when the leak gate, the link check and the scope check pass for every folder.

    Raises
    ------
    ConfidentialityError
        A check found something in some folder; nothing was published.
    """
    started = time.perf_counter()
    plan = plan_publish(pack, bundle, recipients)
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{time.time_ns()}"
    build = out_root / f".{plan.wave}.publishing-{stamp}"
    work = out_root / f".{plan.wave}.print-{stamp}"
    try:
        (build / PEOPLE).mkdir(parents=True)
        pdfs: dict[str, Path] = {}
        if pdf:
            progress("printing the leaders' briefs to PDF")
            pdfs = _print_briefs((b for s in plan.shares if s.recipient.role == "leader"
                                  for b in s.briefs), plan, work)
        written: dict[str, list[str]] = {}
        for i, share in enumerate(plan.shares, start=1):
            progress(f"building folder {i}/{len(plan.shares)}")
            leader_pdfs = pdfs if share.recipient.role == "leader" else {}
            written[share.folder] = build_folder(share, plan, build / PEOPLE / share.folder,
                                                 leader_pdfs)
        if _tamper is not None:  # tests: plant a violation after the folders were built
            _tamper(build / PEOPLE)
        progress("checking every folder: leak gate, links, scope")
        findings = check_folders(build / PEOPLE, plan, bundle, written, scratch=work / "gate",
                                 pseudonyms=pseudonyms, unreleased_texts=unreleased_texts)
        if findings:
            raise ConfidentialityError(
                f"publish of {plan.wave} refused: {len(findings)} finding(s) in the recipient "
                "folders; nothing was published and the previous publish stays as it was"
                + _finding_lines(findings))
        chosen: dict[str, str] = {}
        if archives:
            from culture.report.delivery import make_archives

            progress("writing the encrypted archives")
            chosen = make_archives(build / PEOPLE, build / ARCHIVES,
                                   [s.folder for s in plan.shares],
                                   {s.folder: s.recipient.person_id for s in plan.shares},
                                   passwords or {})
        manifest = _manifest(plan, build, written, archives)
        (build / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True),
                                      encoding="utf-8")
        final = _swap(build, out_root / plan.wave)
    finally:
        shutil.rmtree(build, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return PublishResult(final, manifest, plan, time.perf_counter() - started, chosen)


def _leak_gate(people: Path, scratch: Path, *, pseudonyms: Iterable[str],
               unreleased_texts: Iterable[str], k: int) -> list[dict]:
    """The leak gate over every file of every folder, each distinct content scanned once (a
    brief is in the folders of its leader, the leaders above and HR, byte for byte the same:
    the gate reads a file's content only, so its findings hold for every copy)."""
    copies: dict[str, list[str]] = {}
    for path in sorted(p for p in people.rglob("*") if p.is_file()):
        rel = path.relative_to(people).as_posix()
        copies.setdefault(f"{sha256_file(path)}{path.suffix.lower()}", []).append(rel)
    scratch.mkdir(parents=True, exist_ok=True)
    for name, rels in copies.items():
        os.link(people / rels[0], scratch / name)
    leaks = scan_outputs(scratch, pseudonyms=pseudonyms, unreleased_texts=unreleased_texts, k=k)
    return [{**f, "file": rel} for f in leaks.findings.to_dict("records")
            for rel in copies[f["file"]]]


def check_folders(people: Path, plan: PublishPlan, bundle: Bundle,
                  written: Mapping[str, list[str]], *, scratch: Path,
                  pseudonyms: Iterable[str] = (), unreleased_texts: Iterable[str] = ()
                  ) -> list[dict]:
    """Every check of every person's folder; findings name ``<folder>/<file>`` and the kind,
    never what was found. ``scratch``: an empty folder on the same file system (the leak
    gate reads each distinct file once, through hard links there)."""
    findings = _leak_gate(people, scratch, pseudonyms=pseudonyms,
                          unreleased_texts=unreleased_texts, k=bundle.release.thresholds.scores)
    present = {p.name for p in people.iterdir()}
    for extra in sorted(present - {s.folder for s in plan.shares}):
        findings.append({"file": extra, "location": "folder", "kind": "unexpected_folder",
                         "detail": "a folder nobody was planned to receive"})
    for share in plan.shares:
        folder = people / share.folder
        have = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        for f in sorted(set(have) ^ set(written[share.folder])):
            findings.append({"file": f"{share.folder}/{f}", "location": "file list",
                             "kind": "unexpected_file", "detail": "not what the person's "
                             "scope and role give them"})
        found = link_findings(folder) + scope_findings(folder, forbidden_for(share, bundle))
        findings += [{**f, "file": f"{share.folder}/{f['file']}"} for f in found]
    return findings


def _manifest(plan: PublishPlan, build: Path, written: Mapping[str, list[str]],
              archives: bool) -> dict:
    people = []
    for s in plan.shares:
        r = s.recipient
        entry = {"person_id": r.person_id, "email": r.email, "role": r.role,
                 "units": [{"unit_id": u, "scope": sc} for u, sc in r.units],
                 "folder": f"{PEOPLE}/{s.folder}", "status": "published",
                 "files": [{"file": f, "sha256": sha256_file(build / PEOPLE / s.folder / f)}
                           for f in written[s.folder]]}
        if archives:
            zipped = build / ARCHIVES / f"{s.folder}.zip"
            entry["archive"] = {"file": f"{ARCHIVES}/{s.folder}.zip",
                                "sha256": sha256_file(zipped)}
        people.append(entry)
    for s in plan.nobody:
        r = s.recipient
        people.append({"person_id": r.person_id, "email": r.email, "role": r.role,
                       "units": [{"unit_id": u, "scope": sc} for u, sc in r.units],
                       "folder": None, "status": "nothing: no brief of this pack is in their "
                       "scope", "files": []})
    return {"wave": plan.wave, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pack_manifest_sha256": sha256_file(plan.pack / "manifest.json"),
            "documents_by_role": {k: list(v) for k, v in ROLE_DOCUMENTS.items()},
            "exports_to": list(EXPORT_ROLES), "recipients": people,
            "unreceived_briefs": list(plan.unreceived)}


def _swap(build: Path, final: Path) -> Path:
    """Swap the built folder into place; the previous publish survives until the new one is in."""
    old = final.with_name(f".{final.name}.previous-{os.getpid()}-{time.time_ns()}")
    if final.exists():
        final.rename(old)
    try:
        build.rename(final)
    except OSError:
        if old.exists():
            old.rename(final)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final
