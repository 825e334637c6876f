"""Display primitives for the report notebooks: bundle tables made ready for people.

Notebook cells stay thin: one call, one display. Everything shown comes from a
:class:`~culture.boundary.bundle.Bundle`; text from data or configuration is
HTML-escaped; numbers are rounded for reading; a missing value is an empty cell or
a sentence, never ``nan`` or ``None``; units are named by their path, measures by
their name, reverse-worded items are marked; withheld cells show the one neutral
label and the table says why below it. Figures are inline SVG with their text kept
as text (readable, searchable, and measurable in a browser) and alt text.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
from IPython.display import HTML

from culture.boundary.bundle import Bundle
from culture.boundary.release import SUPPRESSED_LABEL, unit_paths
from culture.errors import ConfigError
from culture.files import sha256_file
from culture.frames import OUTCOME_LABELS
from culture.report import wording

CSS = """
<style>
.culture-note {color:#444; font-size:0.9em; margin:0.4em 0 1em 0}
.culture-finding {margin:0.3em 0} .culture-finding:target {background:#fff3c4}
table.culture {border-collapse:collapse; font-size:0.9em; margin:0.5em 0 0.4em 0}
table.culture th, table.culture td {border-bottom:1px solid #ddd; padding:4px 8px; text-align:left;
  vertical-align:top}
table.culture td.num {text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap}
.status-meets {color:#1a6b3c; font-weight:600} .status-watch {color:#8a5a00; font-weight:600}
.status-below {color:#a11d2f; font-weight:600} .withheld {color:#666; font-style:italic}
.culture-summary {border:1px solid #c9d7e8; background:#f5f9fd; padding:0.6em 1.1em; margin:1em 0}
.culture-summary h3 {margin:0.6em 0 0.2em 0; font-size:1.02em}
.culture-headline {display:flex; flex-wrap:wrap; gap:0.8em; margin:0.8em 0}
.culture-headline div {border:1px solid #c9d7e8; padding:0.4em 0.8em; min-width:9em}
.culture-headline b {display:block; font-size:1.35em}
figure.culture {margin:0.6em 0 1.2em 0} figure.culture svg {max-width:100%; height:auto}
</style>
"""

REVERSE_MARK = " (reverse-worded)"
FINDING_ID = re.compile(r"\b([CSLG]\d{3})\b")


_OPENED: dict[tuple[str, str], Bundle] = {}


def open_bundle(path: str, wave: str) -> Bundle:
    """Load the bundle and check it is the wave the notebook was asked to report.

    A kernel that runs many briefs (a warm kernel) reads and verifies a bundle once: a
    Bundle is immutable (its tables are handed out as copies), and the cache is keyed by
    the folder and the hash of its manifest, so a bundle written again is read again.
    """
    folder = Path(path).resolve()
    manifest = folder / "manifest.json"
    key = (str(folder), sha256_file(manifest) if manifest.is_file() else "")
    bundle = _OPENED.get(key)
    if bundle is None:
        bundle = Bundle.load(folder)
        _OPENED.clear()  # one bundle at a time: a pack's run never needs two
        _OPENED[key] = bundle
    if wave not in ("", "latest") and bundle.wave != wave:
        raise ConfigError(f"parameter wave={wave!r} but the bundle at the given path is for {bundle.wave}")
    return bundle


def names(bundle: Bundle) -> dict[str, str]:
    """Measure id -> what a reader sees: construct names, item texts (reverse-worded items
    marked), outcome labels."""
    c = bundle.table("constructs")
    out = dict(OUTCOME_LABELS)
    out.update(zip(c["measure"], c["name"].map(lambda n: str(n).split(" (")[0]), strict=True))
    items = bundle.table("items")
    out.update({m: str(t) + (REVERSE_MARK if bool(r) else "")
                for m, t, r in zip(items["measure"], items["text"], items["reverse"], strict=True)})
    return out


def name_of(bundle: Bundle, measure: str) -> str:
    return names(bundle).get(str(measure), str(measure).replace("_", " "))


def root_id(bundle: Bundle) -> str:
    units = bundle.release.table("units")
    return str(units.loc[units["parent_id"].isna(), "unit_id"].iloc[0])


EXCLUDING = " (excluding groups too small to report)"


_TREE: list = []  # [(bundle, paths, units by id)] of the bundle last asked about


def _tree(bundle: Bundle) -> tuple[dict[str, str], pd.DataFrame]:
    """Unit paths and the units table by id, computed once per bundle (a brief asks many
    times, and a warm kernel writes many briefs from one bundle)."""
    if not _TREE or _TREE[0][0] is not bundle:
        _TREE[:] = [(bundle, unit_paths(bundle.release),
                     bundle.release.table("units").set_index("unit_id"))]
    return _TREE[0][1], _TREE[0][2]


def unit_label(bundle: Bundle, unit_id: str) -> str:
    """A unit's path below the organisation ("North Plant › Assembly › Team A": team and
    department names repeat across sites); a unit reported without its few directly
    attached people says so."""
    paths, units = _tree(bundle)
    if unit_id not in paths:
        raise ConfigError(f"unit_id {unit_id!r} is not in the {bundle.wave} release")
    excluding = "excluding" in units and bool(units.at[unit_id, "excluding"])
    return paths[unit_id] + (EXCLUDING if excluding else "")


def parent_of(bundle: Bundle, unit_id: str) -> str | None:
    units = _tree(bundle)[1]
    p = units.at[unit_id, "parent_id"] if unit_id in units.index else None
    return None if p is None or pd.isna(p) else str(p)


def is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA or v is pd.NaT


def num(v, decimals: int = 2, *, sign: bool = False, suffix: str = "") -> str:
    """A number for reading ('' when missing): never 'nan'."""
    if is_missing(v):
        return ""
    return f"{float(v):{'+' if sign else ''}.{decimals}f}{suffix}".replace("-", "\u2212")


def p_text(p) -> str:
    return "" if is_missing(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")


def finding_link(fid: str, *, page: str = "") -> str:
    """An anchor to a finding in the organisation report's list of all findings."""
    fid = html.escape(fid)
    return f'<a href="{html.escape(page)}#finding-{fid}">{fid}</a>'


def html_table(frame: pd.DataFrame, *, numeric: tuple[str, ...] = (), empty: str = "Nothing to show.",
               links: dict[str, str] | None = None, why: str = "") -> HTML:
    """An escaped HTML table (no index); a sentence instead of an empty table.

    ``links`` maps a column to the page its finding ids link to; ``why`` is the sentence
    shown under the table when any cell is withheld (the reason, in plain words)."""
    if frame.empty:
        return note(empty)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows, withheld = [], False
    for _, r in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = r[c]
            text = "" if is_missing(v) else str(v)
            cls = ' class="num"' if c in numeric else ""
            if text == SUPPRESSED_LABEL:
                cls, withheld = ' class="withheld"', True
            if c in ("status", "verdict") and text in ("meets", "watch", "below"):
                cls = f' class="status-{text}"'
            body = html.escape(text)
            if links and c in links:
                target = links[c]
                body = FINDING_ID.sub(lambda m, t=target: finding_link(m.group(1), page=t), body)
            cells.append(f"<td{cls}>{body}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    foot = f'<p class="culture-note">{html.escape(SUPPRESSED_LABEL)}: {html.escape(why)}.</p>' \
        if withheld and why else ""
    return HTML(f'{CSS}<div style="overflow-x:auto"><table class="culture"><thead><tr>{head}</tr>'
                f'</thead><tbody>{"".join(rows)}</tbody></table></div>{foot}')


def note(text: str) -> HTML:
    return HTML(f'{CSS}<p class="culture-note">{html.escape(text)}</p>')


def heading(text: str, level: int = 2) -> HTML:
    return HTML(f"<h{level}>{html.escape(text)}</h{level}>")


def paragraph(text: str) -> HTML:
    return HTML(f"<p>{html.escape(text)}</p>")


def join(*parts: HTML | str) -> HTML:
    """Several outputs as one (a section: heading, sentence, table, figure)."""
    return HTML("".join(p.data if isinstance(p, HTML) else p for p in parts))


def figure(fig, alt: str) -> HTML:
    """A matplotlib figure as inline SVG (text kept as text) with alt text."""
    from culture.report.plots import svg

    alt = alt or (fig.axes[0].get_title() if fig.axes else "") or "chart"
    code = svg(fig)
    code = code.replace("<svg ", f'<svg role="img" aria-label="{html.escape(alt)}" ', 1)
    return HTML(f'{CSS}<figure class="culture">{code}</figure>')


def tidy(frame: pd.DataFrame, *, columns: dict[str, str] | None = None, decimals: int = 2,
         percent: tuple[str, ...] = (), pvalues: tuple[str, ...] = ("p", "p_value", "q")
         ) -> pd.DataFrame:
    """Round numbers for reading (``percent`` columns hold shares 0-1; p and q values as
    '< 0.001'), booleans as yes/'', then pick and rename."""
    out = frame.copy()
    for col in out.columns:
        if col in percent:
            out[col] = out[col].map(lambda v: num(None if is_missing(v) else 100 * v, 0, suffix="%"))
        elif col in pvalues:
            out[col] = out[col].map(p_text)
        elif pd.api.types.is_bool_dtype(out[col]):
            out[col] = out[col].map(lambda v: "yes" if v else "")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: num(v, decimals))
        elif pd.api.types.is_integer_dtype(out[col]):
            out[col] = out[col].map(lambda v: "" if is_missing(v) else str(int(v)))
        else:
            out[col] = out[col].map(lambda v: "" if is_missing(v) else v)
    if columns:
        out = out[[c for c in columns if c in out.columns]].rename(columns=columns)
    return out.reset_index(drop=True)


def readable(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    """Unit ids as paths, measure and construct ids as names (in place of the ids)."""
    frame = frame.copy()
    if "unit_id" in frame:
        frame["unit"] = frame["unit_id"].map(lambda u: unit_label(bundle, u) if not is_missing(u)
                                             else "the organisation")
    nm = names(bundle)
    for col in ("measure", "construct", "term", "worst_item", "item"):
        if col in frame:
            frame[col] = frame[col].map(lambda m: "" if is_missing(m) else nm.get(str(m), str(m)))
    if "outcome" in frame:
        frame["outcome"] = frame["outcome"].map(lambda o: OUTCOME_LABELS.get(str(o), str(o)))
    return frame


def table(bundle: Bundle, name: str, *, columns: dict[str, str] | None = None, decimals: int = 2,
          percent: tuple[str, ...] = (), empty: str = "Nothing to show for this table.") -> HTML:
    """A bundle table, made readable, tidied and rendered; a sentence when empty or absent."""
    if not bundle.has(name):
        return note(empty)
    frame = readable(bundle, bundle.table(name))
    return html_table(tidy(frame, columns=columns, decimals=decimals, percent=percent), empty=empty)


def notes_html(bundle: Bundle, *, contains: str = "") -> HTML:
    """The analysis notes (caveats, what was dropped and why), ids replaced by names."""
    nm = {**names(bundle), **OUTCOME_LABELS}
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(nm, key=len, reverse=True)
                                          if "_" in k) + r")\b") if nm else None

    def words(text: str) -> str:
        return pattern.sub(lambda m: nm[m.group(1)], text) if pattern else text

    notes = [words(n) for n in bundle.meta.get("notes", []) if contains.lower() in n.lower()]
    if not notes:
        return note("No caveats recorded.")
    return HTML(CSS + "<ul>" + "".join(f'<li class="culture-note">{html.escape(n)}</li>'
                                       for n in notes) + "</ul>")


def withheld_note(bundle: Bundle) -> str:
    return wording.withheld_why(bundle)
