"""Display helpers for the report notebooks: bundle tables made ready for people.

Notebook cells stay thin: one call here, one display. Everything shown comes
from a :class:`~culture.bundle.Bundle`; text from data or configuration is
HTML-escaped; numbers are rounded for reading; withheld cells show the one
neutral label; respondent counts are written ``n = 12``.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
from IPython.display import HTML

from culture.boundary.bundle import Bundle
from culture.boundary.release import RELEASED, SUPPRESSED_LABEL, count_label, unit_paths
from culture.errors import ConfigError
from culture.frames import OUTCOME_LABELS

CSS = """
<style>
.culture-note {color:#444; font-size:0.9em; margin:0.4em 0 1em 0}
.culture-finding {margin:0.3em 0}
table.culture {border-collapse:collapse; font-size:0.9em; margin:0.5em 0 1.2em 0}
table.culture th, table.culture td {border-bottom:1px solid #ddd; padding:4px 8px; text-align:left}
table.culture td.num {text-align:right; font-variant-numeric: tabular-nums}
.status-meets {color:#1a6b3c; font-weight:600} .status-watch {color:#8a5a00; font-weight:600}
.status-below {color:#a11d2f; font-weight:600} .withheld {color:#666; font-style:italic}
</style>
"""


def open_bundle(path: str, wave: str) -> Bundle:
    """Load the bundle and check it is the wave the notebook was asked to report."""
    bundle = Bundle.load(Path(path))
    if wave not in ("", "latest") and bundle.wave != wave:
        raise ConfigError(f"parameter wave={wave!r} but the bundle at the given path is for {bundle.wave}")
    return bundle


def names(bundle: Bundle) -> dict[str, str]:
    c = bundle.table("constructs")
    out = dict(zip(c["measure"], c["name"], strict=True))
    items = bundle.table("items")
    out.update(dict(zip(items["measure"], items["text"], strict=True)))
    return out


def root_id(bundle: Bundle) -> str:
    units = bundle.release.table("units")
    return str(units.loc[units["parent_id"].isna(), "unit_id"].iloc[0])


def unit_label(bundle: Bundle, unit_id: str) -> str:
    """A unit's path below the organisation ("North Plant › Assembly › Team A"):
    team and department names repeat across sites."""
    paths = unit_paths(bundle.release)
    if unit_id not in paths:
        raise ConfigError(f"unit_id {unit_id!r} is not in the {bundle.wave} release")
    return paths[unit_id]




def html_table(frame: pd.DataFrame, *, numeric: tuple[str, ...] = (),
               empty: str = "Nothing to show.") -> HTML:
    """An escaped HTML table (no index); a sentence instead of an empty table."""
    if frame.empty:
        return note(empty)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = r[c]
            text = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
            cls = ' class="num"' if c in numeric else ""
            if text == SUPPRESSED_LABEL:
                cls = ' class="withheld"'
            if c == "status" and text in ("meets", "watch", "below"):
                cls = f' class="status-{text}"'
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return HTML(f'{CSS}<div style="overflow-x:auto"><table class="culture"><thead><tr>{head}</tr>'
                f'</thead><tbody>{"".join(rows)}</tbody></table></div>')


def note(text: str) -> HTML:
    return HTML(f'{CSS}<p class="culture-note">{html.escape(text)}</p>')


def heading(text: str, level: int = 2) -> HTML:
    return HTML(f"<h{level}>{html.escape(text)}</h{level}>")


def scores_table(bundle: Bundle, unit_id: str, *, compare_to_org: bool = True) -> pd.DataFrame:
    """Construct scores of a unit (and the organisation) for people to read."""
    scores = bundle.release.table("scores")
    cons = bundle.table("constructs")
    order = cons.sort_values("headline", ascending=False, kind="stable")
    rows = []
    org = scores[scores["unit_id"] == root_id(bundle)].set_index("measure")
    mine = scores[scores["unit_id"] == unit_id].set_index("measure")
    for _, c in order.iterrows():
        r = mine.loc[c["measure"]] if c["measure"] in mine.index else None
        ok = r is not None and r["status"] == RELEASED
        row = {"construct": c["name"] + (" \u2605" if c["headline"] else ""),
               "n": count_label(r["n"]) if ok else SUPPRESSED_LABEL,
               "mean": f"{r['mean']:.2f}" if ok else SUPPRESSED_LABEL,
               "95% CI": (f"{r['ci_low']:.2f} to {r['ci_high']:.2f}" if ok and pd.notna(r["ci_low"])
                          else ("" if ok else SUPPRESSED_LABEL)),
               "% favourable": f"{r['pct_favourable']:.0f}%" if ok else SUPPRESSED_LABEL}
        if compare_to_org and unit_id != root_id(bundle):
            o = org.loc[c["measure"]] if c["measure"] in org.index else None
            row["organisation"] = f"{o['mean']:.2f}" if o is not None and o["status"] == RELEASED else ""
        rows.append(row)
    return pd.DataFrame(rows)


def findings_html(bundle: Bundle, *, unit_id: str | None = None, top: int = 10,
                  kinds: tuple[str, ...] = ()) -> HTML:
    """The ranked findings as a numbered list (escaped)."""
    f = bundle.table("findings")
    if unit_id is not None and not f.empty:
        f = f[f["unit_id"] == unit_id]
    if kinds and not f.empty:
        f = f[f["kind"].isin(kinds)]
    if f.empty:
        return note("No finding passed the bar this quarter: no change was both significant after "
                    "correcting for multiple comparisons and larger than the meaningful minimum.")
    items = "".join(f'<li class="culture-finding">{html.escape(s)}</li>' for s in f["sentence"].head(top))
    return HTML(f"{CSS}<ol>{items}</ol>")


def changes_table(bundle: Bundle, *, unit_id: str | None = None, only_real: bool = False) -> pd.DataFrame:
    """Wave-on-wave changes with verdicts, for people."""
    ch = bundle.table("changes") if bundle.has("changes") else pd.DataFrame()
    if ch.empty:
        return ch
    if unit_id is not None:
        ch = ch[ch["unit_id"] == unit_id]
    if only_real:
        ch = ch[ch["verdict"] == "significant and meaningful"]
    nm = names(bundle)
    out = pd.DataFrame({
        "unit": ch["unit_id"].map(lambda u: unit_label(bundle, u)),
        "measure": ch["measure"].map(lambda m: nm.get(m, m)),
        "before": ch["mean_before"].map("{:.2f}".format), "now": ch["mean_now"].map("{:.2f}".format),
        "change": ch["diff"].map("{:+.2f}".format),
        "95% CI": [f"{lo:+.2f} to {hi:+.2f}" for lo, hi in zip(ch["ci_low"], ch["ci_high"], strict=True)],
        "q (FDR)": ch["q"].map(lambda q: "<0.001" if q < 0.001 else f"{q:.3f}"),
        "verdict": ch["verdict"], "comparison": ch["rule"]})
    if unit_id is not None:  # a unit's own brief: the unit column would repeat its name
        out = out.drop(columns="unit")
    return out.reset_index(drop=True)


def comments_html(bundle: Bundle, unit_id: str, *, limit: int = 12) -> HTML:
    c = bundle.release.table("comments")
    c = c[c["unit_id"] == unit_id]
    if c.empty:
        return note(f"No comments are shown for this unit: comments need at least "
                    f"{bundle.release.thresholds.comments} respondents and must pass the same "
                    "subtraction checks as scores.")
    items = "".join(f"<li>{html.escape(str(t))}</li>" for t in c.sort_values("position")["text"].head(limit))
    return HTML(f"{CSS}<ul>{items}</ul>")


def strengths_and_opportunities(bundle: Bundle, unit_id: str, *, top: int = 3) -> pd.DataFrame:
    """The unit's highest and lowest released items relative to the organisation."""
    items = bundle.release.table("items")
    org = items[(items["unit_id"] == root_id(bundle)) & (items["status"] == RELEASED)].set_index("measure")
    mine = items[(items["unit_id"] == unit_id) & (items["status"] == RELEASED)].set_index("measure")
    common = mine.index.intersection(org.index)
    if common.empty:
        return pd.DataFrame(columns=["", "item", "unit", "organisation", "difference"])
    diff = (mine.loc[common, "mean"] - org.loc[common, "mean"]).sort_values()
    nm = names(bundle)
    rows = [("strength", m) for m in diff.index[::-1][:top]] + [("opportunity", m) for m in diff.index[:top]]
    items_meta = bundle.table("items").set_index("measure")
    reverse = items_meta["reverse"].to_dict() if "reverse" in items_meta else {}

    def text(m: str) -> str:  # reverse-worded items are scored reversed: say so beside them
        return nm.get(m, m) + (" (reverse-worded: a high score means people disagree)"
                               if reverse.get(m) else "")

    return pd.DataFrame([{"": kind, "item": text(m), "unit": f"{mine.at[m, 'mean']:.2f}",
                          "organisation": f"{org.at[m, 'mean']:.2f}", "difference": f"{diff[m]:+.2f}"}
                         for kind, m in rows])


def iso_table(bundle: Bundle) -> pd.DataFrame:
    t = bundle.table("iso_evidence")
    return pd.DataFrame({
        "clause": t["clause_title"], "construct": t["construct_name"],
        "mean": t["mean"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
        "% favourable": t["pct_favourable"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}%"),
        "status": t["status"], "trend": t["trend"], "findings": t["findings"]})


def linkage_table(bundle: Bundle) -> pd.DataFrame:
    m = bundle.table("linkage_models") if bundle.has("linkage_models") else pd.DataFrame()
    if m.empty:
        return m
    nm = names(bundle)
    rr = m["rate_ratio"].notna()
    return pd.DataFrame({
        "outcome": m["outcome"].map(lambda o: OUTCOME_LABELS.get(o, o)),
        "culture measure": m["term"].map(lambda t: nm.get(t, t)),
        "comparison": m["component"],
        "effect per point": [f"rate ratio {r:.2f}" if ok else f"{e:+.2f}"
                             for r, e, ok in zip(m["rate_ratio"], m.get("estimate", m["rate_ratio"]), rr,
                                                 strict=True)],
        "95% CI": [f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(m["ci_low"], m["ci_high"], strict=True)],
        "p": m["p"].map(lambda p: "<0.001" if p < 0.001 else f"{p:.3f}"),
        "units": m["n_units"].astype(int), "unit-quarters": m["n_obs"].astype(int)})


def figure(fig, alt: str = "") -> HTML:
    """A matplotlib figure as an embedded PNG with alt text (self-contained HTML, no backend)."""
    import base64

    from culture.report.plots import png

    alt = alt or (fig.axes[0].get_title() if fig.axes else "") or "chart"
    data = base64.b64encode(png(fig)).decode("ascii")
    return HTML(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')


def tidy(frame: pd.DataFrame, *, columns: dict[str, str] | None = None, decimals: int = 2,
         percent: tuple[str, ...] = ()) -> pd.DataFrame:
    """Round numbers for reading (``percent`` columns hold shares 0-1), then pick and rename."""
    out = frame.copy()
    for col in out.columns:
        if col in percent:
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{100 * v:.0f}%")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.{decimals}f}")
    if columns:
        out = out[list(columns)].rename(columns=columns)
    return out.reset_index(drop=True)


def table(bundle: Bundle, name: str, *, columns: dict[str, str] | None = None, decimals: int = 2,
          percent: tuple[str, ...] = (), empty: str = "Nothing to show for this table.") -> HTML:
    """A bundle table, tidied and rendered; a clear sentence when it is empty or absent."""
    if not bundle.has(name):
        return note(empty)
    frame = bundle.table(name)
    if "unit_id" in frame and "unit" in frame:
        frame["unit"] = frame["unit_id"].map(lambda u: unit_label(bundle, u))
    nm = names(bundle)
    for col in ("measure", "construct"):
        if col in frame:
            frame[col] = frame[col].map(lambda m: nm.get(m, m).split(" (")[0])
    if columns:
        columns = {k: v for k, v in columns.items() if k in frame.columns}
    return html_table(tidy(frame, columns=columns, decimals=decimals, percent=percent))


def notes_html(bundle: Bundle, *, contains: str = "") -> HTML:
    """The analysis notes (caveats, what was dropped and why), optionally filtered."""
    notes = [n for n in bundle.meta.get("notes", []) if contains.lower() in n.lower()]
    if not notes:
        return note("No caveats recorded.")
    return HTML(CSS + "<ul>" + "".join(f'<li class="culture-note">{html.escape(n)}</li>'
                                       for n in notes) + "</ul>")


QUALITY_SERIES = {k: OUTCOME_LABELS[k] for k in ("nc_customer", "nc_internal", "complaints", "audit_total")}


def quality_figure(bundle: Bundle, unit_id: str) -> HTML:
    """The unit's quality outcomes over time, or a sentence when the registers do not cover it."""
    from culture.report.plots import quality_over_time

    panel = bundle.table("quality_panel") if bundle.has("quality_panel") else pd.DataFrame()
    if panel.empty or unit_id not in set(panel["unit_id"]):
        return note("The quality registers are kept for production teams; this unit has no "
                    "register entries of its own. See the briefs of its teams.")
    return figure(quality_over_time(panel, unit_id, QUALITY_SERIES),
                  alt="Quality outcomes per quarter for this unit")
