"""Comment themes for people: what a brief or the organisation report shows of comments.

Reads the bundle tables ``comment_themes``, ``comment_theme_examples`` and
``comment_theme_changes`` (made by :mod:`culture.analysis.comment_themes` from
released comment cells only). Every text from data or configuration is escaped; a
theme count is written ``n = 12`` and a count below the comment threshold "fewer than
k", never as a number; where there is nothing to show, a sentence says why.

Notebook cells call, e.g.::

    comment_views.themes_html(bundle, unit_id)          # a brief's comment section
    comment_views.themes_by_unit_html(bundle)           # organisation: themes by unit
    comment_views.theme_changes_html(bundle)            # organisation: grew / shrank

A bundle may also hold ``comment_questions`` (``question``, ``text``) so questions are
shown by their wording; otherwise by their id.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd
from IPython.display import HTML

from culture.boundary.bundle import Bundle
from culture.boundary.release import RELEASED, count_label, unit_paths
from culture.report.views import CSS, html_table, note

THEMES, EXAMPLES, CHANGES = "comment_themes", "comment_theme_examples", "comment_theme_changes"
ALL, UNTHEMED = "_all", "_none"
SENTIMENT_CAVEAT = (
    "Sentiment is estimated by a word-list method (VADER), for English comments only. In public "
    "tests it gave the same positive / neutral / negative label as human raters for about 6 "
    "sentences in 10 (9 in 10 for tweets), and for fewer than half of the workplace comments we "
    "checked, often calling plain complaints neutral: read it as a rough guide.")


def _k(bundle: Bundle) -> int:
    return int(bundle.release.thresholds.comments)


def fewer_than(bundle: Bundle) -> str:
    """How a theme count below the comment threshold is shown."""
    return f"fewer than {_k(bundle)}"


def _questions(bundle: Bundle) -> dict[str, str]:
    """Comment questions by their wording: from the bundle's instrument description."""
    if bundle.has("comment_questions"):
        q = bundle.table("comment_questions")
        return dict(zip(q["question"].astype(str), q["text"].astype(str), strict=True))
    from culture.report.wording import instrument_meta

    return {str(k): str(v) for k, v in (instrument_meta(bundle).get("comment_questions") or {}).items()}


def _pct(v: float) -> str:
    return "" if pd.isna(v) else f"{100 * v:.0f}%"


def _sentiment(row: Mapping) -> str:
    if row.get("sentiment") != "scored":
        return "not scored"
    if pd.isna(row.get("positive")):
        return ""
    return (f"positive {_pct(row['positive'])} · neutral {_pct(row['neutral'])} · "
            f"negative {_pct(row['negative'])}")


def _theme_label(row: Mapping) -> str:
    if row["kind"] == "emergent":
        return f"Other topic: {row['theme_name']}"
    return str(row["theme_name"])


def _cell_rows(bundle: Bundle, unit_id: str) -> pd.DataFrame:
    if not bundle.has(THEMES):
        return pd.DataFrame()
    t = bundle.table(THEMES)
    return t[t["unit_id"].astype(str) == str(unit_id)]


def themes_table(bundle: Bundle, unit_id: str, question: str) -> pd.DataFrame:
    """One comment question of a unit for people: theme, respondents, share, sentiment.

    Shown themes first (largest first), then those with fewer than k comments (no
    numbers); the comments no theme or topic claims last.
    """
    t = _cell_rows(bundle, unit_id)
    t = t[(t["question"].astype(str) == str(question)) & (t["theme"] != ALL)]
    if t.empty:
        return pd.DataFrame(columns=["theme", "respondents", "share", "sentiment"])
    t = t.assign(_shown=t["status"] == RELEASED, _last=t["theme"] == UNTHEMED)
    t = t.sort_values(["_last", "_shown", "n"], ascending=[True, False, False], kind="stable")
    rows = []
    for _, r in t.iterrows():
        shown = r["status"] == RELEASED
        rows.append({"theme": _theme_label(r),
                     "respondents": count_label(r["n"]) if shown else fewer_than(bundle),
                     "share": _pct(r["share"]) if shown else "",
                     "sentiment": _sentiment(r) if shown else ""})
    return pd.DataFrame(rows)


def _examples(bundle: Bundle, unit_id: str, question: str) -> dict[str, list[str]]:
    if not bundle.has(EXAMPLES):
        return {}
    e = bundle.table(EXAMPLES)
    e = e[(e["unit_id"].astype(str) == str(unit_id)) & (e["question"].astype(str) == str(question))]
    return {str(t): part.sort_values("example")["text"].astype(str).tolist()
            for t, part in e.groupby("theme")}


def _no_comments(bundle: Bundle) -> HTML:
    return note(f"No comments are shown for this unit: comments need at least {_k(bundle)} "
                "respondents and must pass the same subtraction checks as scores.")


def themes_html(bundle: Bundle, unit_id: str) -> HTML:
    """A unit's comment section: per comment question, its themes with counts, shares,
    sentiment and up to three example comments (redacted, in a shuffled order)."""
    if not bundle.has(THEMES):
        return note("Comment themes were not computed for this pack.")
    cells = _cell_rows(bundle, unit_id)
    if cells.empty:
        return _no_comments(bundle)
    wording = _questions(bundle)
    parts = [CSS]
    for question in sorted(cells["question"].astype(str).unique()):
        cell = cells[cells["question"].astype(str) == question]
        total = cell[cell["theme"] == ALL]
        parts.append(f"<h4>{html.escape(wording.get(question, question))}</h4>")
        if not total.empty:
            r = total.iloc[0]
            line = f"{count_label(r['n'])} comments"
            if r.get("sentiment") == "scored" and pd.notna(r.get("positive")):
                line += f"; sentiment (rough guide): {_sentiment(r)}"
            parts.append(f'<p class="culture-note">{html.escape(line)}</p>')
        examples = _examples(bundle, unit_id, question)
        themed = cell[(cell["theme"] != ALL)].copy()
        themed = themed.assign(_shown=themed["status"] == RELEASED, _last=themed["theme"] == UNTHEMED)
        themed = themed.sort_values(["_last", "_shown", "n"], ascending=[True, False, False],
                                    kind="stable")
        rows = []
        for _, r in themed.iterrows():
            shown = r["status"] == RELEASED
            said = examples.get(str(r["theme"]), [])
            quotes = "".join(f"<li>{html.escape(x)}</li>" for x in said)
            rows.append(
                "<tr>"
                f"<td>{html.escape(_theme_label(r))}</td>"
                f'<td class="num">{html.escape(count_label(r["n"]) if shown else fewer_than(bundle))}</td>'
                f'<td class="num">{html.escape(_pct(r["share"]) if shown else "")}</td>'
                f"<td>{html.escape(_sentiment(r) if shown else '')}</td>"
                f"<td>{'<ul>' + quotes + '</ul>' if quotes else ''}</td>"
                "</tr>")
        if rows:
            parts.append('<div style="overflow-x:auto"><table class="culture"><thead><tr>'
                         "<th>theme</th><th>respondents</th><th>share</th><th>sentiment</th>"
                         "<th>examples</th></tr></thead><tbody>" + "".join(rows)
                         + "</tbody></table></div>")
        else:
            parts.append(f'<p class="culture-note">{html.escape("No theme was found in these comments.")}</p>')
    parts.append(f'<p class="culture-note">{html.escape(_share_note(bundle))}</p>')
    if (cells["sentiment"] == "scored").any():
        parts.append(f'<p class="culture-note">{html.escape(SENTIMENT_CAVEAT)}</p>')
    return HTML("".join(parts))


def _share_note(bundle: Bundle) -> str:
    return (f"A comment can touch several themes, so shares can add up to more than 100%. Themes "
            f"raised by {fewer_than(bundle)} people show no number, and no examples; their "
            "comments are still in the full list. 'Other topic' groups comments no theme of the "
            "survey claims, labelled by words at least that many people used.")


def themes_by_unit(bundle: Bundle, *, question: str | None = None, level: str | None = None,
                   value: str = "share") -> pd.DataFrame:
    """Organisation view: one row per unit whose comments are shown, one column per theme
    (share of the unit's comments, or ``fewer than k``; blank where no comment has it).

    ``question`` defaults to the first comment question; ``level`` keeps units of that
    org level (e.g. ``site``); ``value`` is ``share`` or ``n``.
    """
    if not bundle.has(THEMES):
        return pd.DataFrame()
    t = bundle.table(THEMES)
    questions = sorted(t["question"].astype(str).unique())
    question = question or (questions[0] if questions else None)
    t = t[(t["question"].astype(str) == str(question)) & ~t["theme"].isin([ALL, UNTHEMED])]
    if t.empty:
        return pd.DataFrame()
    units = bundle.release.table("units")
    if level is not None:
        keep = set(units.loc[units["level"].astype(str) == str(level), "unit_id"].astype(str))
        t = t[t["unit_id"].astype(str).isin(keep)]
        if t.empty:
            return pd.DataFrame()
    paths = unit_paths(bundle.release)
    order = list(dict.fromkeys(units["unit_id"].astype(str)))
    names = dict(zip(t["theme"], t.apply(_theme_label, axis=1), strict=False))
    theme_order = list(dict.fromkeys(t["theme"]))
    rows = []
    for unit in [u for u in order if u in set(t["unit_id"].astype(str))]:
        part = t[t["unit_id"].astype(str) == unit].set_index("theme")
        row = {"unit": paths.get(unit, unit)}
        for theme in theme_order:
            if theme not in part.index:
                row[names[theme]] = ""
            elif part.at[theme, "status"] != RELEASED:
                row[names[theme]] = fewer_than(bundle)
            else:
                v = part.at[theme, value]
                row[names[theme]] = _pct(v) if value == "share" else count_label(v)
        rows.append(row)
    return pd.DataFrame(rows)


def themes_by_unit_html(bundle: Bundle, *, question: str | None = None,
                        level: str | None = None) -> HTML:
    if not bundle.has(THEMES):
        return note("Comment themes were not computed for this pack.")
    table = themes_by_unit(bundle, question=question, level=level)
    if table.empty:
        return note(f"No unit has comments shown for this question: comments need at least "
                    f"{_k(bundle)} respondents and must pass the same subtraction checks as scores.")
    head = _questions(bundle).get(str(question), "") if question else ""
    out = html_table(table, empty="Nothing to show.")
    intro = f'<p class="culture-note">{html.escape(head)}</p>' if head else ""
    return HTML(CSS + intro + out.data + f'<p class="culture-note">{html.escape(_share_note(bundle))}</p>')


def theme_changes_table(bundle: Bundle, *, unit_id: str | None = None,
                        only_changed: bool = True) -> pd.DataFrame:
    """Themes whose share of comments grew or shrank since the previous wave, for people."""
    if not bundle.has(CHANGES):
        return pd.DataFrame()
    c = bundle.table(CHANGES)
    if unit_id is not None:
        c = c[c["unit_id"].astype(str) == str(unit_id)]
    if only_changed:
        c = c[c["change"].isin(["grew", "shrank"])]
    if c.empty:
        return pd.DataFrame()
    few = fewer_than(bundle)
    wording = _questions(bundle)
    paths = unit_paths(bundle.release)

    def share(n: float, s: float) -> str:
        return few if pd.isna(n) else f"{_pct(s)} ({count_label(n)})"

    out = pd.DataFrame({
        "unit": c["unit_id"].astype(str).map(lambda u: paths.get(u, u)),
        "question": c["question"].astype(str).map(lambda q: wording.get(q, q)),
        "theme": c.apply(_theme_label, axis=1),
        "before": [share(n, s) for n, s in zip(c["n_before"], c["share_before"], strict=True)],
        "now": [share(n, s) for n, s in zip(c["n_now"], c["share_now"], strict=True)],
        "change (points)": [("" if pd.isna(d) else f"{100 * d:+.0f} ({100 * lo:+.0f} to {100 * hi:+.0f})")
                            for d, lo, hi in zip(c["diff"], c["ci_low"], c["ci_high"], strict=True)],
        "q (FDR)": c["q"].map(lambda q: "" if pd.isna(q) else ("<0.001" if q < 0.001 else f"{q:.3f}")),
        "verdict": c["change"]})
    if unit_id is not None:
        out = out.drop(columns="unit")
    return out.reset_index(drop=True)


def theme_changes_html(bundle: Bundle, *, unit_id: str | None = None) -> HTML:
    """Themes that grew or shrank since the previous wave (a sentence when none did)."""
    if not bundle.has(THEMES):
        return note("Comment themes were not computed for this pack.")
    if not bundle.has(CHANGES) or bundle.table(CHANGES).empty:
        return note("There is no earlier wave with comments shown to compare with, so changes in "
                    "comment themes cannot be shown yet.")
    before = str(bundle.table(CHANGES)["wave_before"].iloc[0])
    table = theme_changes_table(bundle, unit_id=unit_id)
    if table.empty:
        return note(f"No comment theme grew or shrank clearly since {before} (share of comments, "
                    "two-proportion test, false discovery rate 5% across themes).")
    out = html_table(table)
    caption = (f"Share of comments with each theme, {before} and now; the change in percentage "
               f"points with its 95% interval, where both counts are at least {_k(bundle)}. "
               "Comments in both waves come largely from the same people, which the test "
               "does not take into account.")
    return HTML(CSS + out.data + f'<p class="culture-note">{html.escape(caption)}</p>')
