"""The management review deck (ISO 9001:2015 clause 9.3): a short PPTX built from a bundle.

For the management review meeting: top management and the quality manager read
six kinds of slide, all from a :class:`~culture.boundary.bundle.Bundle` (released
cells and the analysis tables computed from them, nothing else)::

    1  title              instrument, wave, date built, "confidential: released cells only"
    2  summary            responses and response rate, headline constructs, real changes
    3  heatmap            the score heatmap of :func:`culture.report.plots.score_heatmap`
    4  top findings       the first ``top_findings`` ranked findings (split if long)
    5  ISO 9001 evidence  a native table per slide of at most eight rows
    6  method             thresholds, instrument hash, audit per wave, package versions

Plain 16:9 slides drawn on the blank layout (no template file). Text is sized by
an estimate of its wrapped height (average glyph width, line height), so no box
runs off its slide; long lists and tables continue on further slides instead.
Withheld or missing numbers read "not reported", never NaN or None, and units
are named by their path below the organisation, never by their id.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import io
import re
import struct
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
from pptx.util import Emu, Inches, Pt

from culture import frames as F
from culture.boundary.bundle import Bundle
from culture.boundary.release import RELEASED, SUPPRESSED_LABEL, count_label, unit_paths

DEFAULT_TITLE = "Leadership and quality culture"
CONFIDENTIAL = "Confidential: released cells only"
NOT_REPORTED = "not reported"
MEANINGFUL = F.REAL
# a change's verdict in the words the pack uses ("−0.47 (real change)")
VERDICT_WORDS = F.PLAIN

# Geometry (inches) of a 16:9 slide.
SLIDE_W_EMU, SLIDE_H_EMU = 12192000, 6858000  # exactly 16:9 (PowerPoint's widescreen)
SLIDE_W, SLIDE_H = SLIDE_W_EMU / 914400, SLIDE_H_EMU / 914400
MARGIN = 0.5
TITLE_TOP, TITLE_H = 0.3, 0.85
BODY_TOP = 1.3
BODY_BOTTOM = 6.85
FOOTER_TOP, FOOTER_H = 7.0, 0.32
BODY_W = SLIDE_W - 2 * MARGIN
BODY_H = BODY_BOTTOM - BODY_TOP

# Text measure used to size text: an average glyph is at most about half an em wide in
# Calibri (bold a little wider), a line is 1.2 em high; text box insets are fixed below.
FONT = "Calibri"
EM_WIDTH, EM_WIDTH_BOLD, LINE = 0.5, 0.55, 1.2
INSET_X, INSET_Y = 0.1, 0.05
CELL_X, CELL_Y = 0.08, 0.05

INK = RGBColor(0x22, 0x22, 0x22)
NAVY = RGBColor(0x1F, 0x3A, 0x5F)
GREY = RGBColor(0x55, 0x55, 0x55)

MAX_TABLE_ROWS = 8
HEATMAP_LEVEL = 1       # the organisation and its sites
HEATMAP_MAX_W = 11.0    # inches: a wider figure is narrowed before it is drawn
HEATMAP_MIN_H = 3.8     # inches: a shorter one is made taller (room for the colour bar's label)
BODY_SIZES = (20, 18, 16, 14)


# ----------------------------------------------------------------------------- formatting
def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any, missing: str = NOT_REPORTED) -> str:
    """Text for a slide: missing values (None, NaN, empty) become ``missing``."""
    if _missing(value):
        return missing
    text = str(value).strip()
    return text if text and text.lower() not in ("nan", "none", "<na>") else missing


def _signed(x: float, decimals: int = 2) -> str:
    if round(x, decimals) == 0:
        return f"{0:.{decimals}f}"
    return f"{x:+.{decimals}f}".replace("-", "\u2212")


def fmt_mean(value: Any) -> str:
    return NOT_REPORTED if _missing(value) else f"{float(value):.2f}"


def fmt_pct(value: Any) -> str:
    """A percentage already on the 0-100 scale (``pct_favourable``)."""
    return NOT_REPORTED if _missing(value) else f"{float(value):.0f}%"


def fmt_share(value: Any) -> str:
    """A share on the 0-1 scale (``response_rate``)."""
    return NOT_REPORTED if _missing(value) else f"{float(value):.0%}"


_TREND = re.compile(r"^\s*(?P<diff>[+\u2212-]?\d+(?:\.\d+)?)\s+vs\s+(?P<prev>\S+)\s+\((?P<verdict>.+)\)\s*$")


def _trend(text: Any) -> tuple[str, str | None]:
    """``"−0.06 vs 2025Q4 (no real change)"`` -> (``"−0.06 (no real change)"``, ``"2025Q4"``).
    A signed zero ("−0.00") reads as 0.00; an empty trend means there is no earlier wave."""
    raw = _text(text, missing="")
    if not raw:
        return "no earlier wave", None
    m = _TREND.match(raw)
    if not m:
        return raw, None
    diff = float(m["diff"].replace("\u2212", "-"))
    return f"{_signed(diff)} ({m['verdict']})", m["prev"]


# ----------------------------------------------------------------------------- text fitting
@dataclass(frozen=True)
class Para:
    """One paragraph: an optional bold lead-in, then the text."""

    text: str
    lead: str = ""
    scale: float = 1.0       # font size relative to the box's base size
    bold: bool = False
    colour: RGBColor = INK
    space_after: float = 0.5  # in ems of the paragraph's own size


def _wrapped_lines(text: str, width_in: float, size_pt: float, *, bold: bool = False) -> int:
    em = EM_WIDTH_BOLD if bold else EM_WIDTH
    chars = max(1, int(width_in * 72 / (em * size_pt)))
    return sum(max(1, len(textwrap.wrap(line, chars, break_long_words=True)))
               for line in text.split("\n"))


def _paras_height(paras: Sequence[Para], width_in: float, size: float) -> float:
    """Estimated height (inches) of paragraphs in a text box of ``width_in`` at base ``size``."""
    inner = width_in - 2 * INSET_X
    total = 2 * INSET_Y
    for i, p in enumerate(paras):
        s = size * p.scale
        lines = _wrapped_lines(p.lead + p.text, inner, s, bold=p.bold or bool(p.lead))
        total += lines * s * LINE / 72
        if i < len(paras) - 1:
            total += p.space_after * s / 72
    return total


def _best_size(paras: Sequence[Para], width_in: float, height_in: float,
               sizes: Sequence[float]) -> float | None:
    for size in sizes:
        if _paras_height(paras, width_in, size) <= height_in:
            return size
    return None


def _chunks(paras: Sequence[Para], width_in: float, height_in: float, size: float) -> list[list[Para]]:
    """Split paragraphs into runs that each fit the box at ``size`` (one per slide)."""
    out: list[list[Para]] = [[]]
    for p in paras:
        if out[-1] and _paras_height([*out[-1], p], width_in, size) > height_in:
            out.append([])
        out[-1].append(p)
    return out


def _font(run, size: float, *, bold: bool = False, colour: RGBColor = INK) -> None:
    run.font.name = FONT
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.color.rgb = colour


def _text_box(slide, paras: Sequence[Para], left: float, top: float, width: float, height: float,
              sizes: Sequence[float] = BODY_SIZES, *, anchor=MSO_ANCHOR.TOP,
              align=PP_ALIGN.LEFT):
    """A text box whose font size is the largest of ``sizes`` that fits; when none does, the
    largest smaller size down to 10 pt (a caller splits long text across slides first)."""
    fallback = range(int(sizes[-1]) - 1, 9, -1)
    size = _best_size(paras, width, height, [*sizes, *fallback]) or 10
    box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
    tf = box.text_frame
    tf.word_wrap = True
    tf.auto_size = MSO_AUTO_SIZE.NONE
    tf.vertical_anchor = anchor
    tf.margin_left = tf.margin_right = Inches(INSET_X)
    tf.margin_top = tf.margin_bottom = Inches(INSET_Y)
    for i, p in enumerate(paras):
        para = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        para.alignment = align
        s = size * p.scale
        para.line_spacing = Pt(s * LINE)  # exact, so the text is as tall as it was measured
        if i < len(paras) - 1:
            para.space_after = Pt(p.space_after * s)
        if p.lead:
            lead = para.add_run()
            lead.text = p.lead
            _font(lead, s, bold=True, colour=p.colour)
        run = para.add_run()
        run.text = p.text
        _font(run, s, bold=p.bold, colour=p.colour)
    return box


# ----------------------------------------------------------------------------- slides
def _blank(prs):
    return prs.slides.add_slide(prs.slide_layouts[6])  # the default template's blank layout


def _titled(prs, title: str):
    slide = _blank(prs)
    _text_box(slide, [Para(title, bold=True, colour=NAVY)], MARGIN, TITLE_TOP, BODY_W, TITLE_H,
              sizes=(30, 28, 24, 20), anchor=MSO_ANCHOR.BOTTOM)
    line = slide.shapes.add_connector(1, Inches(MARGIN), Inches(TITLE_TOP + TITLE_H + 0.05),
                                      Inches(SLIDE_W - MARGIN), Inches(TITLE_TOP + TITLE_H + 0.05))
    line.line.color.rgb = NAVY
    line.line.width = Pt(1.25)
    return slide


def _root(bundle: Bundle) -> str:
    units = bundle.release.table("units")
    return str(units.loc[units["parent_id"].isna(), "unit_id"].iloc[0])


def _constructs(bundle: Bundle) -> pd.DataFrame:
    if "constructs" in bundle.tables:
        return bundle.table("constructs")
    measures = bundle.release.table("scores")["measure"].drop_duplicates()
    return pd.DataFrame({"measure": measures, "name": measures, "headline": False})


def _instrument(bundle: Bundle) -> dict[str, Any]:
    inst = dict(bundle.meta.get("instrument") or {})
    inst.setdefault("id", bundle.release.instrument_id)
    inst.setdefault("version", bundle.release.instrument_version)
    return inst


def _title_slide(prs, bundle: Bundle, built: dt.date) -> None:
    slide = _blank(prs)
    title = _text(_instrument(bundle).get("title"), missing=DEFAULT_TITLE)
    _text_box(slide, [Para(title, bold=True, colour=NAVY)], 1.0, 1.6, SLIDE_W - 2.0, 1.9,
              sizes=(40, 36, 32, 28, 24), anchor=MSO_ANCHOR.BOTTOM)
    _text_box(slide, [Para(f"Management review (ISO 9001 clause 9.3): survey wave {bundle.wave}",
                           colour=INK),
                      Para(f"Built {built.isoformat()}", colour=GREY, scale=0.8),
                      Para(CONFIDENTIAL, bold=True, colour=GREY, scale=0.8)],
              1.0, 3.7, SLIDE_W - 2.0, 2.2, sizes=(24, 22, 20, 18))


def _participation(bundle: Bundle) -> dict[str, Any] | None:
    if not bundle.has("participation"):
        return None
    p = bundle.table("participation")
    row = p[p["wave"].astype(str) == bundle.wave]
    return None if row.empty else row.iloc[0].to_dict()


def _changes_now(bundle: Bundle) -> pd.DataFrame | None:
    if not bundle.has("changes"):
        return None
    ch = bundle.table("changes")
    if "wave" in ch.columns:
        ch = ch[ch["wave"].astype(str) == bundle.wave]
    return ch


def _previous_wave(bundle: Bundle, changes: pd.DataFrame | None) -> str | None:
    if changes is not None and "previous_wave" in changes.columns and changes["previous_wave"].notna().any():
        return str(changes["previous_wave"].dropna().iloc[0])
    earlier = [w for w in bundle.waves if w < bundle.wave]
    return earlier[-1] if earlier else None


def _headline_rows(bundle: Bundle, changes: pd.DataFrame | None) -> list[list[str]]:
    constructs = _constructs(bundle)
    head = constructs[constructs["headline"].fillna(False).astype(bool)]
    if head.empty:  # an instrument without headline constructs: show its first few
        head = constructs.head(4)
    scores = bundle.release.table("scores")
    root = _root(bundle)
    org = scores[scores["unit_id"] == root].drop_duplicates("measure").set_index("measure")
    diffs = {}
    if changes is not None and not changes.empty:
        at_root = changes[changes["unit_id"] == root].drop_duplicates("measure").set_index("measure")
        diffs = {m: (r["diff"], r.get("verdict")) for m, r in at_root.iterrows()}
    rows = []
    for _, c in head.iterrows():
        m = c["measure"]
        shown = m in org.index and org.at[m, "status"] == RELEASED
        mean = org.at[m, "mean"] if shown else None
        fav = org.at[m, "pct_favourable"] if shown else None
        diff, verdict = diffs.get(m, (None, None))
        verdict = _text(verdict, missing="not assessed")
        change = ("no comparison" if _missing(diff)
                  else f"{_signed(float(diff))} ({VERDICT_WORDS.get(verdict, verdict)})")
        rows.append([_text(c["name"], missing=str(m)), fmt_mean(mean), fmt_pct(fav), change])
    return rows


def _summary_slide(prs, bundle: Bundle) -> None:
    slide = _titled(prs, f"Summary: wave {bundle.wave}")
    part = _participation(bundle)
    changes = _changes_now(bundle)
    previous = _previous_wave(bundle, changes)
    paras = []
    if part is None or _missing(part.get("n")):
        paras.append(Para(NOT_REPORTED, lead="Responses: "))
    else:
        invited = part.get("invited")
        of = "" if _missing(invited) else f" of {int(invited):,} invited"
        paras.append(Para(f"{count_label(part['n'])} responses{of}", lead="Responses: "))
        paras.append(Para(fmt_share(part.get("response_rate")), lead="Response rate: "))
    if changes is None:
        paras.append(Para("not assessed (no earlier wave to compare with)", lead="Real changes: "))
    else:
        real = int((changes["verdict"] == MEANINGFUL).sum()) if "verdict" in changes.columns else 0
        min_change = bundle.meta.get("min_change")
        size = "" if _missing(min_change) else f" and by at least {float(min_change):.1f} points"
        paras.append(Para(str(real), lead=f"Real changes since {previous}: " if previous
                          else "Real changes: "))
        paras.append(Para(f"A real change is significant after the Benjamini\u2013Hochberg correction"
                          f"{size}; counted over every released unit and construct.",
                          scale=0.75, colour=GREY))
    _text_box(slide, paras, MARGIN, BODY_TOP + 0.1, 4.9, BODY_H - 0.1, sizes=(24, 22, 20, 18, 16))

    rows = _headline_rows(bundle, changes)
    header = ["Headline construct", "Mean", "% favourable",
              f"Change since {previous}" if previous else "Change"]
    left = MARGIN + 5.2
    widths = [2.9, 0.9, 1.25, SLIDE_W - MARGIN - left - 5.05]
    frame = _table(slide, header, rows, left, BODY_TOP + 0.1, widths, size=16, numeric=(1, 2))
    top = BODY_TOP + 0.1 + frame.height / 914400 + 0.1
    _text_box(slide, [Para("Organisation-wide; mean on the 1\u20135 scale; % favourable is the share "
                           "of favourable answers.", colour=GREY)],
              left, top, sum(widths), min(0.7, BODY_BOTTOM - top), sizes=(13, 12))


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk of a PNG
    return width, height


def heatmap_alt(bundle: Bundle, level: int = HEATMAP_LEVEL) -> str:
    """Alt text of the heatmap: what its cells hold and the range of the released means."""
    scores = bundle.release.table("scores")
    units = bundle.release.table("units")
    paths = unit_paths(bundle.release)
    constructs = _constructs(bundle)
    names = dict(zip(constructs["measure"], constructs["name"], strict=False))
    shown_units = units.loc[units["level"] <= level, "unit_id"]
    cells = scores[scores["unit_id"].isin(shown_units) & scores["measure"].isin(names)
                   & (scores["status"] == RELEASED) & scores["mean"].notna()]
    below = "the units directly below it" if level == 1 else f"its units down to level {level}"
    text = (f"Heatmap of released mean scores for wave {bundle.wave}: one row for the organisation "
            f"and each of {below}, one column per construct. Withheld cells are grey and marked "
            "with a dash.")
    if not cells.empty:
        lo, hi = cells.loc[cells["mean"].idxmin()], cells.loc[cells["mean"].idxmax()]
        text += (f" Lowest released mean {lo['mean']:.2f} ({names[lo['measure']]}, "
                 f"{paths.get(lo['unit_id'], 'a unit')}); highest {hi['mean']:.2f} "
                 f"({names[hi['measure']]}, {paths.get(hi['unit_id'], 'a unit')}).")
    return text


def _heatmap_slide(prs, bundle: Bundle) -> None:
    from culture.report.plots import png, score_heatmap

    slide = _titled(prs, "Scores by unit and construct")
    fig = score_heatmap(bundle.release, _constructs(bundle), level=HEATMAP_LEVEL)
    if fig is None:
        _text_box(slide, [Para("No unit below the organisation has released scores this quarter, "
                               "so there is no heatmap to show.")],
                  MARGIN, BODY_TOP + 0.2, BODY_W, 2.0, sizes=(24, 22, 20))
        return
    # The figure is drawn for a page; narrow it (text keeps its point size) so that, stretched
    # to the slide, its labels stay legible, and give a short one (few units) the height its
    # colour bar's label needs.
    w_in, h_in = fig.get_size_inches()
    size = (min(w_in, HEATMAP_MAX_W), max(h_in, HEATMAP_MIN_H))
    if size != (w_in, h_in):
        fig.set_size_inches(*size)
        fig.tight_layout()
    data = png(fig, dpi=200)
    w_px, h_px = _png_size(data)
    box_w, box_h = BODY_W, BODY_H - 0.55
    scale = min(box_w / w_px, box_h / h_px)
    width, height = w_px * scale, h_px * scale
    left = MARGIN + (box_w - width) / 2
    pic = slide.shapes.add_picture(io.BytesIO(data), Inches(left), Inches(BODY_TOP),
                                   Inches(width), Inches(height))
    pic.name = "Score heatmap"
    pic._element.nvPicPr.cNvPr.set("descr", heatmap_alt(bundle))
    _text_box(slide, [Para("Released mean score of the organisation and the units directly below it. "
                           f"A dash marks a withheld cell: {SUPPRESSED_LABEL.lower()}.", colour=GREY)],
              MARGIN, BODY_TOP + height + 0.05, BODY_W, 0.5, sizes=(13, 12))


def _findings_slides(prs, bundle: Bundle, top: int) -> None:
    findings = bundle.table("findings") if bundle.has("findings") else pd.DataFrame()
    if not findings.empty and "rank" in findings.columns:
        findings = findings.assign(_r=pd.to_numeric(findings["rank"], errors="coerce")).sort_values(
            "_r", kind="stable")
    shown = findings.head(max(int(top), 0))
    if shown.empty:
        slide = _titled(prs, "Top findings")
        _text_box(slide, [Para("No finding passed the bar this quarter: no real change, "
                               "association with quality outcomes, leader\u2013staff gap or "
                               "control-chart signal.")],
                  MARGIN, BODY_TOP + 0.2, BODY_W, 2.0, sizes=(24, 22, 20))
        return
    paras = [Para(_text(r.get("sentence"), missing="(no sentence)"),
                  lead=f"{_text(r.get('finding_id'), missing=str(i + 1))}: ", space_after=0.7)
             for i, (_, r) in enumerate(shown.iterrows())]
    more = len(findings) - len(shown)
    note = ("Ranked: real changes first, then associations with quality outcomes and leader\u2013staff "
            "gaps, then control-chart signals. Associations are not proof of cause.")
    if more > 0:
        note += f" {more} more finding{'s' if more != 1 else ''} in the report pack."
    note_h = 0.6
    box_h = BODY_H - note_h - 0.1
    sizes = (20, 18, 16)
    size = _best_size(paras, BODY_W, box_h, sizes)
    pages = [list(paras)] if size is not None else _chunks(paras, BODY_W, box_h, sizes[-1])
    for i, page in enumerate(pages):
        slide = _titled(prs, "Top findings" + (" (continued)" if i else ""))
        _text_box(slide, page, MARGIN, BODY_TOP + 0.1, BODY_W, box_h, sizes=sizes)
        _text_box(slide, [Para(note, colour=GREY)], MARGIN, BODY_BOTTOM - note_h, BODY_W, note_h,
                  sizes=(13, 12, 11))


ISO_COLUMNS = ("ISO 9001 clause", "Evidence from", "Mean", "% fav.", "Status", "Change", "Findings")
ISO_WIDTHS = (4.45, 2.35, 0.7, 0.8, 1.05, 1.7, 1.28)
ISO_SIZE = 12


def iso_rows(iso: pd.DataFrame) -> tuple[list[list[str]], str | None]:
    """The ISO evidence table as slide text (one list per row) and the wave compared with."""
    rows, previous = [], None
    for _, r in iso.iterrows():
        trend, prev = _trend(r.get("trend"))
        previous = previous or prev
        rows.append([_text(r.get("clause_title"), missing=_text(r.get("clause"))),
                     _text(r.get("construct_name"), missing=_text(r.get("construct"))),
                     fmt_mean(r.get("mean")), fmt_pct(r.get("pct_favourable")),
                     _text(r.get("status")), trend, _text(r.get("findings"), missing="none")])
    return rows, previous


def _iso_slides(prs, bundle: Bundle) -> None:
    iso = bundle.table("iso_evidence") if bundle.has("iso_evidence") else pd.DataFrame()
    if iso.empty:
        slide = _titled(prs, "ISO 9001 evidence")
        _text_box(slide, [Para("This instrument maps no ISO 9001 clauses, so there is no clause-by-clause "
                               "evidence to show.")],
                  MARGIN, BODY_TOP + 0.2, BODY_W, 2.0, sizes=(24, 22, 20))
        return
    rows, previous = iso_rows(iso)
    header = list(ISO_COLUMNS)
    if previous:
        header[5] = f"Change since {previous}"
    note = "Status against targets"
    if {"target_mean", "target_pct_favourable"} <= set(iso.columns):
        tm, tf = iso["target_mean"].dropna(), iso["target_pct_favourable"].dropna()
        if len(tm) and len(tf):
            targets = (bundle.meta.get("policy") or {}).get("targets") or {}
            note += (f": meets = mean at least {tm.iloc[0]:.2f} and at least {tf.iloc[0]:.0f}% "
                     f"favourable; watch = within {float(targets.get('watch_mean', 0.2)):.2f} "
                     f"points and {float(targets.get('watch_favourable', 5)):g} percentage points; "
                     "below = further off")
    note += (". Organisation-wide scores; findings by id (the top ones on the Top findings slide, "
             "all in the report pack).")
    note_h = 0.55
    avail = BODY_H - note_h - 0.15
    pages = _table_pages(header, rows, ISO_WIDTHS, ISO_SIZE, avail)
    for i, page in enumerate(pages):
        slide = _titled(prs, "ISO 9001 evidence" + (f" ({i + 1} of {len(pages)})" if len(pages) > 1 else ""))
        # a clause evidenced by several constructs is named once per slide
        shown = [list(r) for r in page]
        for j in range(1, len(shown)):
            if page[j][0] == page[j - 1][0]:
                shown[j][0] = ""
        _table(slide, header, shown, MARGIN, BODY_TOP + 0.1, ISO_WIDTHS, size=ISO_SIZE,
               numeric=(2, 3), name="ISO 9001 evidence")
        _text_box(slide, [Para(note, colour=GREY)], MARGIN, BODY_BOTTOM - note_h, BODY_W, note_h,
                  sizes=(12, 11, 10))


def _actions_slide(prs, bundle: Bundle) -> None:
    """Improvement actions (ISO 9001 10.2, 10.3): counts and the closed ones' follow-up."""
    acts = bundle.table("actions") if bundle.has("actions") else pd.DataFrame()
    if acts.empty:
        return
    paths = unit_paths(bundle.release)
    names = dict(zip(_constructs(bundle)["measure"], _constructs(bundle)["name"], strict=False))
    status = acts["status"]
    overdue = int((status.eq("open") & acts["overdue"].fillna(False).astype(bool)).sum())
    improved = int(acts["verdict"].eq("improved beyond noise").sum())
    paras = [Para(f"{int(status.eq('open').sum())} open ({overdue} overdue), "
                  f"{int(status.eq('closed').sum())} closed, of which {improved} followed by a "
                  "measured improvement (an association, not proof the action caused it).",
                  bold=True)]
    for _, r in acts[status.eq("closed")].head(8).iterrows():
        where = paths.get(r["unit_id"], "a unit no longer in the chart")
        verdict = r["verdict"] or "not measured yet"
        paras.append(Para(f"{where}: {names.get(r['construct'], 'a construct')} "
                          f"(clause {r['clause']}): {verdict}"))
    slide = _titled(prs, "Improvement actions (ISO 9001 10.2, 10.3)")
    _text_box(slide, paras, MARGIN, BODY_TOP + 0.1, BODY_W, BODY_H - 0.2, sizes=(20, 18, 16, 14))


def _row_height(cells: Sequence[str], widths: Sequence[float], size: float, *,
                bold: bool = False) -> float:
    """Height (inches) a table row needs: its tallest cell, wrapped to its column."""
    lines = max(_wrapped_lines(c or " ", w - 2 * CELL_X, size, bold=bold)
                for c, w in zip(cells, widths, strict=True))
    return lines * size * LINE / 72 + 2 * CELL_Y + 0.02


def _table_pages(header: list[str], rows: list[list[str]], widths: Sequence[float], size: float,
                 height: float) -> list[list[list[str]]]:
    """Rows split into slides: at most MAX_TABLE_ROWS per slide and within ``height``."""
    head = _row_height(header, widths, size, bold=True)
    pages: list[list[list[str]]] = [[]]
    used = head
    for r in rows:
        h = _row_height(r, widths, size)
        if pages[-1] and (len(pages[-1]) >= MAX_TABLE_ROWS or used + h > height):
            pages.append([])
            used = head
        pages[-1].append(r)
        used += h
    return pages


def _table(slide, header: list[str], rows: list[list[str]], left: float, top: float,
           widths: Sequence[float], *, size: float, numeric: Sequence[int] = (), name: str = ""):
    heights = [_row_height(header, widths, size, bold=True)] + [_row_height(r, widths, size) for r in rows]
    frame = slide.shapes.add_table(len(rows) + 1, len(header), Inches(left), Inches(top),
                                   Inches(sum(widths)), Inches(sum(heights)))
    if name:
        frame.name = name
    table = frame.table
    table.first_row = True
    table.horz_banding = True
    for j, w in enumerate(widths):
        table.columns[j].width = Inches(w)
    for i, h in enumerate(heights):
        table.rows[i].height = Inches(h)
    for i, values in enumerate([header, *rows]):
        for j, value in enumerate(values):
            cell = table.cell(i, j)
            cell.margin_left = cell.margin_right = Inches(CELL_X)
            cell.margin_top = cell.margin_bottom = Inches(CELL_Y)
            cell.vertical_anchor = MSO_ANCHOR.TOP
            para = cell.text_frame.paragraphs[0]
            para.alignment = PP_ALIGN.RIGHT if j in numeric else PP_ALIGN.LEFT
            para.line_spacing = Pt(size * LINE)
            run = para.add_run()
            run.text = value
            _font(run, size, bold=i == 0, colour=RGBColor(0xFF, 0xFF, 0xFF) if i == 0 else INK)
    # the frame's extent is what the rows need (python-pptx keeps the height it was given)
    frame.height = Emu(sum(int(Inches(h)) for h in heights))
    return frame


def _audit_text(audit: Mapping[str, Any]) -> str:
    if not audit:
        return "not recorded in the bundle"
    parts = []
    for wave in sorted(audit):
        entry = audit[wave] if isinstance(audit[wave], Mapping) else {}
        passed = entry.get("passed")
        word = "passed" if passed is True else "FAILED" if passed is False else "not recorded"
        parts.append(f"{wave} {word}")
    return ", ".join(parts)


def _method_paras(bundle: Bundle) -> list[Para]:
    th = dict(bundle.meta.get("thresholds") or bundle.release.thresholds.as_dict())
    inst = _instrument(bundle)
    paras = []
    k = {key: _text(th.get(key)) for key in ("scores", "sensitive", "distributions", "comments", "models",
                                             "complements")}
    paras.append(Para(f"only released cells are shown. A score needs at least {k['scores']} respondents "
                      f"({k['sensitive']} for sensitive items), a spread or confidence interval "
                      f"{k['distributions']}, comments {k['comments']}, models {k['models']}; no group "
                      f"smaller than {k['complements']} can be obtained by subtracting one cell from "
                      "another.", lead="Confidentiality: "))
    min_change = bundle.meta.get("min_change")
    size = "" if _missing(min_change) else f" and at least {float(min_change):.1f} points on the scale"
    paras.append(Para(f"a change is called real only when it is significant after the "
                      f"Benjamini\u2013Hochberg correction{size}. Links between culture and quality "
                      "outcomes are associations, not proof of cause.", lead="Changes and links: "))
    sha = _text(inst.get("sha256"), missing="not recorded")
    paras.append(Para(f"{_text(inst.get('id'))} version {_text(inst.get('version'))}; "
                      f"SHA-256 {sha}", lead="Instrument: "))
    paras.append(Para(_audit_text(bundle.meta.get("audit") or {}), lead="Release audit per wave: "))
    packages = dict(bundle.meta.get("packages") or {})
    soft = ", ".join(f"{name} {_text(v, missing='not recorded')}" for name, v in packages.items())
    try:
        pptx_version = importlib.metadata.version("python-pptx")
    except importlib.metadata.PackageNotFoundError:  # vendored or renamed distribution
        pptx_version = "unknown"
    paras.append(Para((soft or "not recorded in the bundle") + f"; this deck: python-pptx {pptx_version}",
                      lead="Software: "))
    return paras


def _method_slides(prs, bundle: Bundle) -> None:
    paras = _method_paras(bundle)
    sizes = (18, 16, 14)
    size = _best_size(paras, BODY_W, BODY_H, sizes)
    pages = [paras] if size is not None else _chunks(paras, BODY_W, BODY_H, sizes[-1])
    for i, page in enumerate(pages):
        slide = _titled(prs, "Method and provenance" + (" (continued)" if i else ""))
        _text_box(slide, page, MARGIN, BODY_TOP + 0.1, BODY_W, BODY_H - 0.1, sizes=sizes)


def _footers(prs, bundle: Bundle, title: str) -> None:
    total = len(prs.slides)
    for i, slide in enumerate(prs.slides, start=1):
        if i == 1:
            continue
        _text_box(slide, [Para(f"{CONFIDENTIAL}  \u00b7  {title}, {bundle.wave}  \u00b7  {i} / {total}",
                               colour=GREY)],
                  MARGIN, FOOTER_TOP, BODY_W, FOOTER_H, sizes=(10,), align=PP_ALIGN.RIGHT)


def write_deck(bundle: Bundle, path: str | Path, *, top_findings: int = 5,
               built: dt.date | None = None) -> Path:
    """Write the management review deck (PPTX, 16:9) of a bundle's wave to ``path``.

    Parameters
    ----------
    bundle : the release bundle (:meth:`Bundle.load`); only its released cells and
        analysis tables are read.
    path : the ``.pptx`` file to write (its folder is created).
    top_findings : how many ranked findings to show (the rest are counted).
    built : the date printed on the title slide (default: today).

    Returns
    -------
    The path written.
    """
    built = built or dt.date.today()
    prs = Presentation()
    prs.slide_width, prs.slide_height = Emu(SLIDE_W_EMU), Emu(SLIDE_H_EMU)
    title = _text(_instrument(bundle).get("title"), missing=DEFAULT_TITLE)
    _title_slide(prs, bundle, built)
    _summary_slide(prs, bundle)
    _heatmap_slide(prs, bundle)
    _findings_slides(prs, bundle, top_findings)
    _iso_slides(prs, bundle)
    _actions_slide(prs, bundle)
    _method_slides(prs, bundle)
    _footers(prs, bundle, title)
    props = prs.core_properties
    props.title = f"{title}: management review, {bundle.wave}"
    props.subject = "ISO 9001 clause 9.3 management review input"
    props.author = props.last_modified_by = "culture"
    props.keywords = CONFIDENTIAL
    stamp = dt.datetime.combine(built, dt.time())
    props.created = props.modified = stamp
    props.revision = 1
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    prs.save(buf)
    out.write_bytes(_fixed_zip_times(buf.getvalue()))
    return out


def _fixed_zip_times(data: bytes) -> bytes:
    """The PPTX with every part dated 1980-01-01: the same bundle gives the same bytes
    (python-pptx stamps each zip entry with the time of writing)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = zipfile.ZIP_DEFLATED, info.external_attr
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


__all__ = ["write_deck", "heatmap_alt", "iso_rows", "fmt_mean", "fmt_pct", "fmt_share"]
