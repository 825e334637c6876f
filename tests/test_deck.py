"""The management review deck (ISO 9001 clause 9.3): a PPTX built from a release bundle.

One small synthetic organisation (one site, five waves: the planted fall in
communication lands in the latest wave, so there are real changes and findings)
is released and analysed once per session; variants without findings, ISO
evidence or changes are copies of its bundle with those tables dropped or emptied.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from pptx import Presentation
from pptx.util import Emu

from culture.boundary.bundle import Bundle
from culture.report.deck import write_deck

pytestmark = pytest.mark.slow

EMU_PER_IN = 914400


@pytest.fixture(scope="session")
def bundle(tmp_path_factory, instrument) -> Bundle:
    from culture.demo import ingest_demo_files, write_demo_files
    from culture.pipeline.packs import compute_bundle
    from culture.store.workspace import Workspace
    from culture.synth import SynthConfig, make_organisation

    root = tmp_path_factory.mktemp("deck-ws")
    org = make_organisation(instrument, SynthConfig(seed=11, n_sites=1, n_waves=5,
                                                    depts_per_site=(3, 3), teams_per_dept=(2, 3)))
    files = write_demo_files(org, root / "exports")
    ws = Workspace.init(root / "workspace")
    ingest_demo_files(ws, files, instrument, out=lambda _msg: None)
    built, _ = compute_bundle(ws, instrument, org.waves[-1], root / "bundle")
    # what the tests below rely on (a change to the synthetic organisation shows up here)
    assert built.has("findings") and built.has("iso_evidence") and built.has("changes")
    assert len(built.table("iso_evidence")) > 8
    return built


@pytest.fixture(scope="session")
def deck(bundle, tmp_path_factory):
    path = write_deck(bundle, tmp_path_factory.mktemp("deck") / "review.pptx")
    return Presentation(path)


def variant(bundle: Bundle, folder: Path, *, drop=(), empty=(), replace=None) -> Bundle:
    """A copy of the bundle with tables dropped, emptied (columns kept) or replaced."""
    tables = {n: bundle.table(n) for n in bundle.tables if n not in drop}
    for name in empty:
        tables[name] = tables[name].iloc[0:0]
    tables.update(replace or {})
    Bundle(wave=bundle.wave, releases=dict(bundle.releases), tables=tables,
           meta=dict(bundle.meta)).save(folder)
    return Bundle.load(folder)


# ----------------------------------------------------------------------------- reading a deck
def texts(shape) -> list[str]:
    """Every text of a shape, table cells and a picture's alt text included."""
    if shape.shape_type == 13:  # MSO_SHAPE_TYPE.PICTURE
        return [shape._element.nvPicPr.cNvPr.get("descr") or ""]
    if shape.has_text_frame:
        return [shape.text_frame.text]
    if getattr(shape, "has_table", False) and shape.has_table:
        return [cell.text for row in shape.table.rows for cell in row.cells]
    return []


def slide_text(slide) -> str:
    return "\n".join(t for shape in slide.shapes for t in texts(shape))


def title(slide) -> str:
    return next(t for shape in slide.shapes for t in texts(shape) if t)


def slides_titled(prs, prefix: str) -> list:
    return [s for s in prs.slides if title(s).startswith(prefix)]


def table_rows(slide) -> list[list[str]]:
    tables = [s for s in slide.shapes if getattr(s, "has_table", False) and s.has_table]
    assert len(tables) == 1
    return [[cell.text for cell in row.cells] for row in tables[0].table.rows]


# ----------------------------------------------------------------------------- the deck
def test_deck_is_16_9_with_every_section_in_order(deck):
    assert deck.slide_width * 9 == deck.slide_height * 16
    titles = [title(s) for s in deck.slides]
    order = ["Leadership and", "Summary", "Scores by unit", "Top findings", "ISO 9001 evidence",
             "Method and provenance"]
    first = [next(i for i, t in enumerate(titles) if t.startswith(p)) for p in order]
    assert first == sorted(first), titles
    assert "confidential: released cells only" in slide_text(deck.slides[0]).lower()
    assert all("released cells only" in slide_text(s) for s in deck.slides)


def test_summary_shows_the_waves_responses_and_response_rate(deck, bundle):
    part = bundle.table("participation")
    row = part[part["wave"] == bundle.wave].iloc[0]
    (summary,) = slides_titled(deck, "Summary")
    text = slide_text(summary)
    assert f"n = {int(row['n'])} responses of {int(row['invited'])} invited" in text
    assert f"Response rate: {row['response_rate']:.0%}" in text
    changes = bundle.table("changes")
    real = int((changes["verdict"] == "significant and meaningful").sum())
    previous = changes["previous_wave"].iloc[0]
    assert real > 0 and f"Real changes since {previous}: {real}\n" in text
    # headline constructs with the organisation's released means
    constructs = bundle.table("constructs")
    scores = bundle.release.table("scores")
    units = bundle.release.table("units")
    root = units.loc[units["parent_id"].isna(), "unit_id"].iloc[0]
    rows = table_rows(summary)
    for _, c in constructs[constructs["headline"]].iterrows():
        org = scores[(scores["unit_id"] == root) & (scores["measure"] == c["measure"])].iloc[0]
        assert [c["name"], f"{org['mean']:.2f}", f"{org['pct_favourable']:.0f}%"] in [r[:3] for r in rows]


def test_heatmap_is_a_picture_with_alt_text(deck):
    (slide,) = slides_titled(deck, "Scores by unit")
    pictures = [s for s in slide.shapes if s.shape_type == 13]  # MSO_SHAPE_TYPE.PICTURE
    assert len(pictures) == 1
    alt = pictures[0]._element.nvPicPr.cNvPr.get("descr")
    assert alt and "Heatmap of released mean scores" in alt and "Withheld cells" in alt
    assert pictures[0].image.content_type == "image/png"


def test_top_findings_in_rank_order(deck, bundle):
    findings = bundle.table("findings").sort_values("rank")
    text = "\n".join(slide_text(s) for s in slides_titled(deck, "Top findings"))
    shown = re.findall(r"^([A-Z]\d{3}): ", text, flags=re.M)
    assert shown == findings["finding_id"].head(5).tolist()
    for _, f in findings.head(5).iterrows():
        assert f"{f['finding_id']}: {f['sentence']}" in text
    more = len(findings) - 5
    if more > 0:
        assert f"{more} more finding" in text


def test_iso_evidence_is_a_native_table_split_into_slides(deck, bundle):
    iso = bundle.table("iso_evidence")
    slides = slides_titled(deck, "ISO 9001 evidence")
    assert len(slides) >= math.ceil(len(iso) / 8)
    body = []
    for slide in slides:
        header, *rows = table_rows(slide)
        assert header[0] == "ISO 9001 clause" and header[2] == "Mean"
        assert 1 <= len(rows) <= 8
        assert rows[0][0], "each slide names the clause of its first row"
        body += rows
    assert len(body) == len(iso)
    clauses = pd.Series([r[0] or None for r in body]).ffill()
    assert clauses.tolist() == iso["clause_title"].tolist()
    assert [r[1] for r in body] == iso["construct_name"].tolist()
    assert [r[2] for r in body] == [f"{m:.2f}" for m in iso["mean"]]
    assert [r[3] for r in body] == [f"{p:.0f}%" for p in iso["pct_favourable"]]
    assert all(r[5] for r in body) and not any("\u22120.00" in r[5] for r in body)


def test_no_nan_none_or_raw_unit_id_on_any_slide(deck, bundle):
    unit_ids = {str(u) for r in bundle.releases.values() for u in r.table("units")["unit_id"]}
    raw = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(unit_ids, key=len, reverse=True)))
                     + r")(?![\w-])")
    for i, slide in enumerate(deck.slides, start=1):
        text = slide_text(slide)
        assert not re.search(r"\bnan\b", text, flags=re.I), f"slide {i}: {text}"
        assert "None" not in text and "<NA>" not in text, f"slide {i}"
        assert not raw.search(text), f"slide {i}: raw unit id {raw.search(text)[0]!r}"


# ----------------------------------------------------------------------------- fitting
def estimated_height_in(shape) -> float:
    """Chars per line x lines x font size: the height (inches) a text box's text needs,
    with a generous average glyph width of 0.5 em (0.55 em bold) and lines of 1.2 em."""
    tf = shape.text_frame
    width_pt = (shape.width - tf.margin_left - tf.margin_right) / EMU_PER_IN * 72
    total_pt = (tf.margin_top + tf.margin_bottom) / EMU_PER_IN * 72
    for p in tf.paragraphs:
        sizes = [r.font.size.pt for r in p.runs if r.font.size is not None]
        assert sizes, f"text without an explicit font size: {p.text[:40]!r}"
        size = max(sizes)
        em = 0.55 if any(r.font.bold for r in p.runs) else 0.5
        per_line = max(1, int(width_pt / (em * size)))
        lines = max(1, len(textwrap.wrap(p.text, per_line, break_long_words=True)))
        line = p.line_spacing.pt if hasattr(p.line_spacing, "pt") else size * 1.2 * (p.line_spacing or 1)
        assert line >= size, "lines closer than their font size"
        total_pt += lines * line + (p.space_after.pt if p.space_after is not None else 0)
    return total_pt / 72


def assert_fits(prs) -> None:
    for i, slide in enumerate(prs.slides, start=1):
        for shape in slide.shapes:
            where = f"slide {i} ({title(slide)!r}), shape {shape.name!r}"
            assert shape.left >= 0 and shape.top >= 0, where
            assert shape.left + shape.width <= prs.slide_width, where
            assert shape.top + shape.height <= prs.slide_height, where
            if shape.has_text_frame and shape.text_frame.text.strip():
                need = estimated_height_in(shape)
                assert need <= shape.height / EMU_PER_IN + 1e-6, f"{where}: text needs {need:.2f} in"
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = shape.table.rows
                assert sum(r.height for r in rows) == shape.height, where
                for r, row in enumerate(rows):
                    for c, cell in enumerate(row.cells):
                        width_pt = (shape.table.columns[c].width - cell.margin_left
                                    - cell.margin_right) / EMU_PER_IN * 72
                        size = cell.text_frame.paragraphs[0].runs[0].font.size.pt
                        per_line = int(width_pt / ((0.55 if r == 0 else 0.5) * size))
                        lines = max(1, len(textwrap.wrap(cell.text, per_line)))
                        need = lines * size * 1.2 / 72 + (cell.margin_top + cell.margin_bottom) / EMU_PER_IN
                        assert need <= row.height / EMU_PER_IN + 1e-6, f"{where}: row {r}, column {c}"


def test_no_text_or_table_runs_off_its_slide(deck):
    assert_fits(deck)


def test_many_long_findings_continue_on_more_slides(bundle, tmp_path):
    findings = bundle.table("findings")
    long = pd.concat([findings] * 5, ignore_index=True)
    long["rank"] = range(1, len(long) + 1)
    long["finding_id"] = [f"C{i:03d}" for i in range(1, len(long) + 1)]
    long["sentence"] = long["sentence"] + " " + long["sentence"]
    b = variant(bundle, tmp_path / "b", replace={"findings": long})
    prs = Presentation(write_deck(b, tmp_path / "deck.pptx", top_findings=len(long)))
    slides = slides_titled(prs, "Top findings")
    assert len(slides) > 1
    shown = re.findall(r"^(C\d{3}): ", "\n".join(slide_text(s) for s in slides), flags=re.M)
    assert shown == long["finding_id"].tolist()
    assert_fits(prs)


# ----------------------------------------------------------------------------- thin bundles
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_bundle_without_findings_iso_evidence_or_changes(bundle, tmp_path, how):
    gone = ("findings", "iso_evidence", "changes")
    b = variant(bundle, tmp_path / "b", drop=gone if how == "absent" else (),
                empty=gone if how == "empty" else ())
    prs = Presentation(write_deck(b, tmp_path / "deck.pptx"))
    (findings,) = slides_titled(prs, "Top findings")
    assert "No finding passed the bar this quarter" in slide_text(findings)
    (iso,) = slides_titled(prs, "ISO 9001 evidence")
    assert "maps no ISO 9001 clauses" in slide_text(iso)
    assert not [s for s in iso.shapes if getattr(s, "has_table", False) and s.has_table]
    (summary,) = slides_titled(prs, "Summary")
    assert "Real changes: not assessed" in slide_text(summary)
    assert "no comparison" in slide_text(summary)
    assert_fits(prs)
    for slide in prs.slides:
        assert not re.search(r"\bnan\b", slide_text(slide), flags=re.I)
        assert "None" not in slide_text(slide)


def test_withheld_cells_read_not_reported(bundle, tmp_path):
    iso = bundle.table("iso_evidence")
    iso.loc[0, ["mean", "pct_favourable"]] = float("nan")
    iso.loc[0, "status"] = "not reported"
    iso.loc[1, ["trend", "findings"]] = ""
    b = variant(bundle, tmp_path / "b", replace={"iso_evidence": iso})
    prs = Presentation(write_deck(b, tmp_path / "deck.pptx"))
    header, first, second, *_ = table_rows(slides_titled(prs, "ISO 9001 evidence")[0])
    assert first[2:5] == ["not reported", "not reported", "not reported"]
    assert second[5:] == ["no earlier wave", "none"]


def test_title_date_and_instrument_title(bundle, tmp_path):
    import datetime as dt

    meta = dict(bundle.meta)
    meta["instrument"] = {**meta["instrument"], "title": "Leadership and Quality Culture Survey"}
    folder = tmp_path / "b"
    Bundle(wave=bundle.wave, releases=dict(bundle.releases),
           tables={n: bundle.table(n) for n in bundle.tables}, meta=meta).save(folder)
    prs = Presentation(write_deck(Bundle.load(folder), tmp_path / "deck.pptx",
                                  built=dt.date(2026, 4, 2)))
    first = slide_text(prs.slides[0])
    assert first.startswith("Leadership and Quality Culture Survey")
    assert f"wave {bundle.wave}" in first and "Built 2026-04-02" in first
    assert prs.core_properties.title.startswith("Leadership and Quality Culture Survey")
    assert Emu(prs.slide_width).inches == pytest.approx(13.333, abs=0.01)
