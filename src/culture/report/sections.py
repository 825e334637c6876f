"""Sections of the report documents: each returns one HTML output (table, figure and the
sentence that says how to read it, or one sentence when there is nothing to show)."""

from __future__ import annotations

import html

import pandas as pd
from IPython.display import HTML

from culture.boundary.bundle import Bundle
from culture.boundary.release import RELEASED, SUPPRESSED_LABEL, count_label
from culture.frames import OUTCOME_LABELS, PLAIN, PLAIN_GAP, REAL
from culture.report import plots, wording
from culture.report.views import (
    CSS,
    figure,
    finding_link,
    html_table,
    is_missing,
    join,
    name_of,
    names,
    note,
    num,
    p_text,
    readable,
    root_id,
    table,
    tidy,
    unit_label,
)

ORG_PAGE = "org_report.html"


# --------------------------------------------------------------------------- scores


def scores_frame(bundle: Bundle, unit_id: str) -> pd.DataFrame:
    """Construct scores of a unit (and the organisation) for people to read."""
    scores = bundle.release.table("scores")
    cons = bundle.table("constructs").sort_values("headline", ascending=False, kind="stable")
    root = root_id(bundle)
    org = scores[scores["unit_id"] == root].set_index("measure")
    mine = scores[scores["unit_id"] == unit_id].set_index("measure")
    rows = []
    for _, c in cons.iterrows():
        r = mine.loc[c["measure"]] if c["measure"] in mine.index else None
        ok = r is not None and r["status"] == RELEASED
        row = {"construct": str(c["name"]) + (" \u2605" if c["headline"] else ""),
               "n": count_label(r["n"]) if ok else SUPPRESSED_LABEL,
               "mean": num(r["mean"]) if ok else SUPPRESSED_LABEL,
               "95% CI": (f"{num(r['ci_low'])} to {num(r['ci_high'])}" if ok and not is_missing(r["ci_low"])
                          else ("spread not shown (small group)" if ok else SUPPRESSED_LABEL)),
               "% favourable": num(r["pct_favourable"], 0, suffix="%") if ok else SUPPRESSED_LABEL}
        if unit_id != root:
            o = org.loc[c["measure"]] if c["measure"] in org.index else None
            row["organisation"] = num(o["mean"]) if o is not None and o["status"] == RELEASED \
                else SUPPRESSED_LABEL
        rows.append(row)
    return pd.DataFrame(rows)


def scores_section(bundle: Bundle, unit_id: str) -> HTML:
    headline = wording.headline_names(bundle)
    intro = (f"{wording.scale_sentence(bundle)}, with 95% confidence intervals. "
             f"{wording.favourable_sentence(bundle)} "
             + (f"★ marks the headline constructs ({wording.listing(headline)})." if headline else ""))
    return join(note(intro), html_table(scores_frame(bundle, unit_id),
                                        numeric=("n", "mean", "% favourable", "organisation"),
                                        why=wording.withheld_why(bundle)))


def unit_figure(bundle: Bundle, unit_id: str) -> HTML:
    fig = plots.unit_vs_org(bundle.release, unit_id, bundle.table("constructs"),
                            scale=wording.scale(bundle)[:2], xlabel=wording.axis_label(bundle) + ", 95% CI")
    return figure(fig, alt=f"Construct means of {unit_label(bundle, unit_id)} beside the organisation")


def heatmap_section(bundle: Bundle, *, unit_id: str | None = None, level: int | None = None) -> HTML:
    """Units (the organisation, or one unit and everything below it) by construct, coloured
    by the difference from the organisation, each cell with its n."""
    fig = plots.score_heatmap(bundle.release, bundle.table("constructs"), level=level, under=unit_id,
                              spread=2 * wording.meaningful_change(bundle))
    if fig is None:
        return note("No unit below this one is reported separately.")
    where = unit_label(bundle, unit_id) if unit_id else "the organisation"
    return join(note(f"Each cell is a unit's mean with its number of respondents. Colour shows the "
                     f"difference from the organisation: blue above, red below, white the same. "
                     f"Grey cells marked – are {wording.withheld_why(bundle)}."),
                figure(fig, alt=f"Heatmap of construct means by unit for {where}, coloured by the "
                                "difference from the organisation"))


def trend_section(bundle: Bundle, unit_id: str) -> HTML:
    c = bundle.table("constructs")
    measures = c.loc[c["headline"].astype(bool), "measure"].tolist()
    if len(bundle.waves) < 2:
        return note("Only one wave so far: the trend appears from the second wave on.")
    fig = plots.trend_lines(bundle.releases, unit_id, measures, names(bundle),
                            ylabel=wording.axis_label(bundle) + ", 95% CI")
    return join(note("Released means of the headline constructs each wave, with 95% confidence "
                     "bands; a gap is a wave in which the unit was not reported."),
                figure(fig, alt=f"Headline construct scores of {unit_label(bundle, unit_id)} over "
                                "the waves"))


# --------------------------------------------------------------------------- change


def changes_frame(bundle: Bundle, *, unit_id: str | None = None, only_real: bool = False) -> pd.DataFrame:
    """Wave-on-wave changes, each with its verdict and the reason, for people."""
    ch = bundle.table("changes") if bundle.has("changes") else pd.DataFrame()
    if ch.empty:
        return ch
    if unit_id is not None:
        ch = ch[ch["unit_id"] == unit_id]
    if only_real:
        ch = ch[ch["verdict"] == REAL]
    if ch.empty:
        return pd.DataFrame()
    out = pd.DataFrame({
        "unit": ch["unit_id"].map(lambda u: unit_label(bundle, u)),
        "construct": ch["measure"].map(lambda m: name_of(bundle, m)),
        "before": ch["mean_before"].map(num), "now": ch["mean_now"].map(num),
        "change": ch["diff"].map(lambda d: num(d, sign=True)),
        "95% CI": [f"{num(lo, sign=True)} to {num(hi, sign=True)}" if not is_missing(lo) else ""
                   for lo, hi in zip(ch["ci_low"], ch["ci_high"], strict=True)],
        "verdict": ch["verdict"].map(lambda v: PLAIN.get(v, v)),
        "why": ch["reason"] if "reason" in ch else "",
        "compared": ch["rule"].where(ch["rule"].astype(str).str.startswith("re-organised"), "")})
    if unit_id is not None:  # a unit's own brief: the unit column would repeat its name
        out = out.drop(columns="unit")
    if not out["compared"].astype(bool).any():
        out = out.drop(columns="compared")
    return out.reset_index(drop=True)


def changes_section(bundle: Bundle, *, unit_id: str | None = None, only_real: bool = False) -> HTML:
    k = wording.meaningful_change(bundle)
    intro = (f"A change is real only when it survives the correction for every comparison made "
             f"this quarter (Benjamini–Hochberg, q < 0.05) and is at least {k:.2f} points; the "
             "“why” column gives the reason for each verdict.")
    frame = changes_frame(bundle, unit_id=unit_id, only_real=only_real)
    if frame.empty:
        empty = ("No change was both significant after the correction and at least the meaningful "
                 "minimum this quarter: nothing changed beyond normal quarter-to-quarter noise."
                 if only_real else "No comparison with the previous wave: this unit was not reported "
                                   "in both waves, or there is only one wave.")
        return note(empty)
    return join(note(intro), html_table(frame, numeric=("before", "now", "change", "95% CI")))


# --------------------------------------------------------------------------- findings


def findings_list(bundle: Bundle, *, unit_id: str | None = None, top: int | None = None,
                  anchors: bool = False, page: str = ORG_PAGE) -> HTML:
    """Ranked findings as a numbered list; with ``anchors`` each carries its id as anchor
    (the organisation report's full list, where finding ids elsewhere link to)."""
    f = bundle.table("findings") if bundle.has("findings") else pd.DataFrame()
    if unit_id is not None and not f.empty:
        f = f[f["unit_id"] == unit_id]
    if f.empty:
        return note("No finding passed the bar this quarter: no change or gap was both significant "
                    "after correcting for the comparisons made and at least the meaningful "
                    "minimum, and no association with quality outcomes survived the correction.")
    if top:
        f = f.head(top)
    items = []
    for _, r in f.iterrows():
        fid = html.escape(str(r["finding_id"]))
        label = f'<b id="finding-{fid}">{fid}</b>' if anchors else finding_link(str(r["finding_id"]), page=page)
        items.append(f'<li class="culture-finding">{label} {html.escape(str(r["sentence"]))}</li>')
    return HTML(f"{CSS}<ol>{''.join(items)}</ol>")


# --------------------------------------------------------------------------- strengths


def strengths_frame(bundle: Bundle, unit_id: str, *, top: int = 3) -> pd.DataFrame:
    """The released items furthest above (strengths) and below (opportunities) the
    organisation: a strength is above, an opportunity below, never both."""
    items = bundle.release.table("items")
    org = items[(items["unit_id"] == root_id(bundle)) & (items["status"] == RELEASED)].set_index("measure")
    mine = items[(items["unit_id"] == unit_id) & (items["status"] == RELEASED)].set_index("measure")
    common = mine.index.intersection(org.index)
    cols = ["", "statement", "this unit", "organisation", "difference"]
    if common.empty:
        return pd.DataFrame(columns=cols)
    diff = (mine.loc[common, "mean"] - org.loc[common, "mean"]).sort_values()
    above = [("strength", m) for m in diff[diff > 0].index[::-1][:top]]
    below = [("opportunity", m) for m in diff[diff < 0].index[:top]]
    return pd.DataFrame([{"": kind, "statement": name_of(bundle, m), "this unit": num(mine.at[m, "mean"]),
                          "organisation": num(org.at[m, "mean"]), "difference": num(diff[m], sign=True)}
                         for kind, m in above + below], columns=cols)


def strengths_section(bundle: Bundle, unit_id: str) -> HTML:
    frame = strengths_frame(bundle, unit_id)
    if frame.empty:
        return note("No statement is reported for both this unit and the organisation, so there is "
                    "nothing to compare.")
    return join(note("The statements where this unit is furthest above (strengths) and below "
                     "(opportunities) the organisation. Reverse-worded statements are scored after "
                     "reversal: a higher number is better for every row."),
                html_table(frame, numeric=("this unit", "organisation", "difference")))


# --------------------------------------------------------------------------- ISO 9001


def iso_frame(bundle: Bundle) -> pd.DataFrame:
    t = bundle.table("iso_evidence")
    return pd.DataFrame({
        "clause": t["clause_title"], "construct": t["construct_name"].map(lambda n: str(n).split(" (")[0]),
        "mean": t["mean"].map(num),
        "% favourable": t["pct_favourable"].map(lambda v: num(v, 1, suffix="%")),
        "status": t["status"], "why": t["status_reason"] if "status_reason" in t else "",
        "trend": t["trend"], "findings": t["findings"],
        **({"actions": t["actions"]} if "actions" in t and t["actions"].astype(bool).any() else {})})


def iso_section(bundle: Bundle, *, page: str = "") -> HTML:
    if not wording.has_iso_mapping(bundle) or not bundle.has("iso_evidence"):
        return note("The instrument maps none of its constructs to ISO 9001 clauses, so there is no "
                    "clause evidence table.")
    return join(note(wording.targets_sentence(bundle)),
                html_table(iso_frame(bundle), numeric=("mean", "% favourable"),
                           links={"findings": page}))


# --------------------------------------------------------------------------- quality


def linkage_frame(bundle: Bundle) -> pd.DataFrame:
    m = bundle.table("linkage_models") if bundle.has("linkage_models") else pd.DataFrame()
    if m.empty:
        return m
    m = m[m["term"].isin(bundle.table("constructs")["measure"])]
    rr = m["rate_ratio"].notna()
    return pd.DataFrame({
        "outcome": readable(bundle, m[["outcome"]])["outcome"],
        "culture measure": m["term"].map(lambda t: name_of(bundle, t)),
        "comparison": m["component"].map({"between": "between units", "within": "within a unit"}
                                         ).fillna(m["component"]),
        "effect per point": [f"rate ratio {num(r)}" if ok else num(e, sign=True)
                             for r, e, ok in zip(m["rate_ratio"], m.get("estimate", m["rate_ratio"]), rr,
                                                 strict=True)],
        "95% CI": [f"{num(lo)} to {num(hi)}" for lo, hi in zip(m["ci_low"], m["ci_high"], strict=True)],
        "p": m["p"].map(p_text), "q (FDR)": m["q"].map(p_text) if "q" in m else "",
        "verdict": m["verdict"].map(lambda v: PLAIN.get(v, v)) if "verdict" in m else "",
        "units": m["n_units"].astype(int), "unit-quarters": m["n_obs"].astype(int)}).reset_index(drop=True)


def linkage_lead(bundle: Bundle) -> HTML:
    """The forest plot of rate ratios and the sentences of the associations that survived."""
    m = bundle.table("linkage_models") if bundle.has("linkage_models") else pd.DataFrame()
    if m.empty or m["rate_ratio"].notna().sum() == 0:
        fits = bundle.table("linkage_fits") if bundle.has("linkage_fits") else pd.DataFrame()
        count = fits[fits["model"] == "count"] if not fits.empty else fits
        if not bundle.has("quality_panel") or not has_registers(bundle.table("quality_panel")):
            why = ("no quality register or production volume has been imported (culture ingest "
                   "quality, culture ingest exposure)")
        elif not count.empty:
            why = str(count["reason"].iloc[0])
        else:
            why = "no count outcome has register entries"
        return note(f"No culture–quality model was estimated this quarter: {why}."
                    + (" The site roll-up below still shows the registers."
                       if bundle.has("quality_panel") and has_registers(bundle.table("quality_panel"))
                       else ""))
    fig = plots.rate_ratio_forest(m[m["term"].isin(bundle.table("constructs")["measure"])], names(bundle))
    f = bundle.table("findings") if bundle.has("findings") else pd.DataFrame()
    links = f[f["kind"] == "linkage"] if not f.empty else f
    said = (findings_list(bundle.__class__(bundle.wave, bundle.releases,
                                           {**bundle.tables, "findings": links}, bundle.meta),
                          page=ORG_PAGE)
            if not links.empty else note("No association between a culture score and a quality "
                                         "outcome survived the correction for the terms tested "
                                         "this quarter."))
    return join(note("Rate ratios per one-point higher culture score, with 95% confidence "
                     "intervals: below 1 means fewer events. Filled markers survived the "
                     "correction for every culture term tested (Benjamini–Hochberg, q < 0.05); "
                     "hollow ones did not. These are associations, not proof of cause."),
                figure(fig, alt="Forest plot of rate ratios of quality outcomes per one-point "
                                "higher culture score"), said)


def site_rollup(bundle: Bundle, *, quarters: int = 4) -> HTML:
    """Quality outcomes per site over the last quarters: events per 1,000 units produced."""
    panel = bundle.table("quality_panel") if bundle.has("quality_panel") else pd.DataFrame()
    if not has_registers(panel) or "exposure" not in panel:
        return note("No quality register is loaded, so there is no site roll-up of quality outcomes.")
    units = bundle.release.table("units").set_index("unit_id")
    parent = units["parent_id"].to_dict()

    def site(u: str) -> str | None:
        while u in parent and not is_missing(parent.get(u)) and not is_missing(parent.get(parent[u])):
            u = parent[u]
        return u if u in parent and not is_missing(parent.get(u)) else None

    p = panel.assign(site=panel["unit_id"].map(site)).dropna(subset=["site"])
    p = p[p["quarter"].astype(str) <= bundle.wave]
    last = sorted(p["quarter"].unique())[-quarters:]
    p = p[p["quarter"].isin(last)]
    outcomes = [c for c in ("nc_customer", "nc_internal", "complaints", "audit_total") if c in p]
    if p.empty or not outcomes:
        return note("The quality registers hold no entries for the last quarters.")
    g = p.groupby("site")[[*outcomes, "exposure"]].sum()
    out = pd.DataFrame({"site": [unit_label(bundle, s) for s in g.index]})
    for o in outcomes:
        out[f"{OUTCOME_LABELS.get(o, o)} per 1,000"] = [num(v, 2) for v in (g[o] / g["exposure"] * 1000)]
    out["units produced"] = [f"{int(v):,}" for v in g["exposure"]]
    return join(note(f"Quality register events of each site's teams over {last[0]} to {last[-1]}, per "
                     "1,000 units produced (register data, not survey answers)."),
                html_table(out, numeric=tuple(out.columns[1:])))


def drivers_section(bundle: Bundle) -> HTML:
    index = wording.outcome_index(bundle)
    if not index:
        return note("The instrument declares no outcome index, so there is no driver analysis.")
    if not bundle.has("drivers"):
        return note(f"The driver analysis of {index.lower()} needs more respondents (see the caveats).")
    d = readable(bundle, bundle.table("drivers"))
    if "completely_dominates" in d:
        nm = names(bundle)
        d["completely_dominates"] = d["completely_dominates"].map(
            lambda s: "; ".join(nm.get(x.strip(), x.strip()) for x in str(s).replace(",", ";").split(";")
                                if x.strip())
            if not is_missing(s) else "")
    fig = plots.driver_weights(bundle.table("drivers"), names(bundle))
    return join(note(f"Relative weights: each construct's share of the explained variance in "
                     f"{index.lower()}, with bootstrap 95% confidence intervals."),
                figure(fig, alt=f"Relative weights of the constructs on {index.lower()}"),
                html_table(tidy(d, decimals=1, columns={
                    "construct": "construct", "rank": "rank", "rescaled_pct": "% of explained variance",
                    "rescaled_ci_low": "CI low", "rescaled_ci_high": "CI high",
                    "completely_dominates": "completely dominates"})))


def cross_lagged_section(bundle: Bundle) -> HTML:
    if not bundle.has("linkage_cross_lagged"):
        return note("The cross-lagged check was not made: it needs more units or quarters with "
                    "released scores and quality register entries.")
    c = bundle.table("linkage_cross_lagged")
    nm = names(bundle)

    def path(r) -> str:
        a, b = nm.get(str(r["construct"]), str(r["construct"])), wording_outcome(str(r["outcome"]))
        return {"culture -> outcome": f"{a} → {b} a quarter later",
                "outcome -> culture": f"{b} → {a} a quarter later",
                "outcome stability": f"{b} → itself a quarter later",
                "culture stability": f"{a} → itself a quarter later"}.get(str(r["path"]), str(r["path"]))

    out = pd.DataFrame({"path": [path(r) for _, r in c.iterrows()],
                        "standardised effect": c["estimate"].map(lambda v: num(v, 3)),
                        "95% CI": [f"{num(lo, 3)} to {num(hi, 3)}" for lo, hi in
                                   zip(c["ci_low"], c["ci_high"], strict=True)],
                        "p": c["p"].map(p_text), "units": c["n_units"].astype(int)})
    return html_table(out, numeric=("standardised effect", "p", "units"))


def wording_outcome(o: str) -> str:
    return OUTCOME_LABELS.get(o, o.replace("_", " "))


def quality_figure(bundle: Bundle, unit_id: str) -> HTML:
    """The unit's quality outcomes over time, or a sentence when the registers do not cover it."""
    panel = bundle.table("quality_panel") if bundle.has("quality_panel") else pd.DataFrame()
    if not has_registers(panel):
        return note("No quality register (nonconformities, audit findings, complaints) and no "
                    "production volume have been imported, so quality outcomes are not shown.")
    below = subtree(bundle, unit_id)
    mine = panel[panel["unit_id"].isin(below) & (panel["quarter"].astype(str) <= bundle.wave)]
    if mine.empty:
        return note("The quality registers have no entries for this unit or the units below it.")
    series = {k: wording_outcome(k) for k in ("nc_customer", "nc_internal", "complaints", "audit_total")
              if k in mine}
    summed = mine.groupby("quarter", as_index=False)[[*series, "exposure"]].sum().assign(unit_id=unit_id)
    return join(note("Quality register events of this unit and the units below it, per 1,000 units "
                     "produced (register data, not survey answers)."),
                figure(plots.quality_over_time(summed, unit_id, series),
                       alt="Quality outcomes per quarter for this unit, per 1,000 units produced"))


def has_registers(panel: pd.DataFrame) -> bool:
    """Whether any register event or exposure was imported: without them the panel holds
    zeros by construction, and a chart of zeros would read as 'no problems'."""
    if panel.empty:
        return False
    events = [c for c in ("nc_total", "audit_total", "complaints", "capa_closed") if c in panel]
    exposure = panel["exposure"] if "exposure" in panel else pd.Series(dtype=float)
    return bool(panel[events].fillna(0).to_numpy().any()) or bool(exposure.notna().any())


def subtree(bundle: Bundle, unit_id: str) -> set[str]:
    """The unit and every unit below it in the reported wave's org chart."""
    units = bundle.release.table("units")
    children: dict[str, list[str]] = {}
    for u, p in zip(units["unit_id"], units["parent_id"], strict=True):
        if not is_missing(p):
            children.setdefault(str(p), []).append(str(u))
    out, todo = set(), [unit_id]
    while todo:
        u = todo.pop()
        out.add(u)
        todo += children.get(u, [])
    return out


# --------------------------------------------------------------------------- trends page


def gaps_section(bundle: Bundle) -> HTML:
    who = wording.leader_demographic(bundle)
    if not who:
        return note("The instrument declares no demographic that tells leaders from staff, so "
                    "there is no leader–staff comparison.")
    if not bundle.has("gaps"):
        return note("No unit has both its leader and staff groups reported.")
    g = bundle.table("gaps")
    g = g[g["kind"] != "item"] if "kind" in g else g
    out = pd.DataFrame({"unit": g["unit_id"].map(lambda u: unit_label(bundle, u)),
                        "construct": g["measure"].map(lambda m: name_of(bundle, m)),
                        "leaders": g["leader_mean"].map(num), "staff": g["staff_mean"].map(num),
                        "gap": g["diff"].map(lambda d: num(d, sign=True)),
                        "verdict": g["verdict"].map(lambda v: PLAIN_GAP.get(v, v)),
                        "why": g["reason"] if "reason" in g else ""})
    real = out[g["verdict"].to_numpy() == REAL]
    return join(note(f"Where leaders and staff ({who.lower()}) in the same unit see things "
                     "differently, the triangulation an ISO 9001 auditor does by interviewing both. "
                     f"{len(real)} of {len(out)} gaps are real; the real ones are listed first."),
                html_table(pd.concat([real, out.drop(real.index)]).head(40),
                           numeric=("leaders", "staff", "gap")))


def control_section(bundle: Bundle) -> HTML:
    if not bundle.has("control_charts_signals"):
        return note("No unit signals on its control chart this quarter.")
    c = bundle.table("control_charts_signals")
    rules = {"1": "beyond 3 sigma", "2": "2 of 3 beyond 2 sigma", "3": "4 of 5 beyond 1 sigma",
             "4": "8 in a row on one side"}
    out = pd.DataFrame({"unit": c["unit_id"].map(lambda u: unit_label(bundle, u)),
                        "construct": c["measure"].map(lambda m: name_of(bundle, m)),
                        "this quarter": c["value"].map(num), "centre line": c["centre"].map(num),
                        "limits": [f"{num(lo)} to {num(hi)}" for lo, hi in zip(c["lcl"], c["ucl"], strict=True)],
                        "rules broken": c["signals"].map(lambda s: "; ".join(
                            rules.get(x.strip(), x.strip()) for x in str(s).split(",") if x.strip()))})
    return html_table(out, numeric=("this quarter", "centre line"))


def mixed_trend_section(bundle: Bundle) -> HTML:
    return table(bundle, "trend", decimals=3, empty="The trend model needs at least three waves.",
                 columns={"measure": "construct", "slope": "change per quarter", "ci_low": "CI low",
                          "ci_high": "CI high", "p": "p", "n_units": "units", "n_obs": "unit-quarters"})


def invariance_section(bundle: Bundle) -> HTML:
    return table(bundle, "invariance", decimals=3,
                 empty="Invariance across waves needs at least two waves with enough complete answers.",
                 columns={"construct": "construct", "waves": "waves", "n_obs": "responses",
                          "cfi_configural": "CFI configural", "cfi_metric": "CFI metric",
                          "delta_cfi": "change in CFI", "p_value": "p (chi-square difference)",
                          "verdict": "verdict"})


def headline_numbers(bundle: Bundle) -> HTML:
    """The organisation's headline numbers: responses, response rate, headline means, real
    changes (the top of the index page and of the organisation report)."""
    boxes = []
    part = bundle.table("participation") if bundle.has("participation") else pd.DataFrame()
    now = part[part["wave"] == bundle.wave] if not part.empty else part
    if not now.empty:
        r = now.iloc[0]
        boxes.append(("responses", f"{int(r['n']):,}"))
        if not is_missing(r["response_rate"]):
            boxes.append(("response rate", num(100 * r["response_rate"], 0, suffix="%")))
    scores = bundle.release.table("scores")
    org = scores[(scores["unit_id"] == root_id(bundle)) & (scores["status"] == RELEASED)].set_index("measure")
    c = bundle.table("constructs")
    for _, row in c[c["headline"].astype(bool)].iterrows():
        if row["measure"] in org.index:
            boxes.append((str(row["name"]), num(org.at[row["measure"], "mean"])))
    ch = bundle.table("changes") if bundle.has("changes") else pd.DataFrame()
    real = int((ch["verdict"] == REAL).sum()) if not ch.empty else 0
    boxes.append(("real changes in units this quarter", str(real)))
    body = "".join(f"<div>{html.escape(label)}<b>{html.escape(value)}</b></div>" for label, value in boxes)
    lo, hi, _, _ = wording.scale(bundle)
    return HTML(f'{CSS}<div class="culture-headline">{body}</div>'
                f'<p class="culture-note">Means on the {lo} to {hi} scale; the organisation as a whole, '
                f"{html.escape(bundle.wave)}.</p>")


def unit_count(bundle: Bundle) -> tuple[int, int]:
    u = bundle.release.table("units")
    return int((u["status"] == RELEASED).sum()), len(u)


def participation_section(bundle: Bundle) -> HTML:
    if not bundle.has("participation"):
        return note("The organisation's participation is not reported.")
    p = bundle.table("participation")
    frame = tidy(p, percent=("response_rate",),
                 columns={"wave": "wave", "n": "responses", "invited": "invited",
                          "response_rate": "response rate"}, decimals=0)
    parts = [html_table(frame, numeric=("responses", "invited", "response rate"))]
    if p["response_rate"].notna().sum() >= 2:
        parts.append(figure(plots.participation_plot(p), alt="Response rate of the organisation by wave"))
    elif p["response_rate"].isna().all():
        parts.append(note("No headcount was loaded, so response rates are not known."))
    shown, total = unit_count(bundle)
    parts.append(note(f"{shown} of {total} units are reported this wave; the others are "
                      f"{wording.withheld_why(bundle)}."))
    return join(*parts)


# --------------------------------------------------------------------------- comments


def comments_section(bundle: Bundle, unit_id: str) -> HTML:
    """Every released comment of the unit, per question (redacted, in a shuffled order)."""
    c = bundle.release.table("comments")
    c = c[c["unit_id"] == unit_id]
    k = bundle.release.thresholds.comments
    if c.empty:
        return note(f"No comments are shown for this unit: comments are shown only for groups of at "
                    f"least {k} people who wrote one, and only where the group cannot be worked out "
                    "by subtraction.")
    questions = (wording.instrument_meta(bundle).get("comment_questions") or {})
    parts = [note("Comments are shown in a shuffled order with contact details removed.")]
    for q, rows in c.groupby("question", sort=True):
        parts.append(f"<h3>{html.escape(str(questions.get(q, q)))}</h3>")
        items = "".join(f"<li>{html.escape(str(t))}</li>"
                        for t in rows.sort_values("position")["text"])
        parts.append(f"<ul>{items}</ul>")
    return join(*parts)


# --------------------------------------------------------------------------- methodology


VERDICT_GUIDE = (
    ("real change", "significant after the Benjamini–Hochberg correction across every comparison "
                    "made this quarter (q < 0.05) and at least the meaningful minimum"),
    ("small change", "significant after the correction, but smaller than the meaningful minimum"),
    ("no real change", "within normal quarter-to-quarter noise, or not significant once corrected "
                       "for the number of comparisons (the “why” column says which)"),
    ("not tested", "the group is too small for its spread to be released, so no test is possible"),
    ("association", "a culture score and a quality outcome move together beyond chance after "
                    "the correction; it does not prove that one causes the other"),
    ("not reported", "fewer respondents than the threshold, or the group could be worked out "
                     "by subtracting other published groups"),
)


def method_section(bundle: Bundle) -> HTML:
    """Provenance an auditor can check: date, versions, instrument hash, thresholds, policy,
    the audit result per wave, input files, and how to read the verdicts."""
    meta = bundle.meta
    inst = wording.instrument_meta(bundle)
    pk = meta.get("packages") or {}
    th = meta.get("thresholds") or {}
    pol = wording.policy(bundle)
    facts = pd.DataFrame([
        ("built", str(meta.get("created", ""))),
        ("wave reported", bundle.wave),
        ("instrument", f"{inst.get('title', '')} ({inst.get('id', '')} version {inst.get('version', '')})"),
        ("instrument SHA-256", str(inst.get("sha256") or "not recorded")),
        ("culture version", str(pk.get("culture", ""))),
        ("analysis packages", ", ".join(f"{k} {v}" for k, v in pk.items() if k not in ("culture",))),
        ("policy", "workspace policy file" if pol.get("source") == "policy.yaml" else "defaults"),
    ], columns=["", "value"])
    thresholds = pd.DataFrame([
        ("scores shown for groups of at least", th.get("scores")),
        ("smallest group obtainable by subtraction", th.get("complements")),
        ("spread (SD, CI) shown for groups of at least", th.get("distributions")),
        ("comments shown for groups of at least", th.get("comments")),
        ("sensitive items shown for groups of at least", th.get("sensitive")),
        ("models fitted on at least", th.get("models")),
        ("meaningful change (scale points)", pol.get("meaningful_change")),
    ], columns=["threshold", "value"])
    thresholds["value"] = thresholds["value"].map(lambda v: "" if is_missing(v) else f"{v:g}")
    audit = meta.get("audit") or {}
    audits = pd.DataFrame([{"wave": w, "independent audit": "passed" if a.get("passed") else "FAILED",
                            "release": f"#{a['release_id']}" if a.get("release_id") is not None else "",
                            "cells checked": "" if a.get("cells_checked") is None else f"{a['cells_checked']:,}",
                            "built this run": "no (published release reused)" if a.get("reused") else "yes"}
                           for w, a in sorted(audit.items())])
    if not audits.empty and (audits["cells checked"] == "").all():  # reused releases: not re-counted
        audits = audits.drop(columns="cells checked")
    inputs = pd.DataFrame([{"file": i["file"], "kind": i["kind"], "wave": i.get("wave") or "",
                            "SHA-256": str(i["sha256"])[:16] + "…"} for i in meta.get("inputs") or []])
    guide = "".join(f"<li><b>{html.escape(a)}</b>: {html.escape(b)}.</li>" for a, b in VERDICT_GUIDE)
    notes = meta.get("release_notes") or []
    return join(
        note("What this pack was built from and with, for an auditor to check: the same numbers are "
             "in manifest.json beside the pages."),
        html_table(facts), "<h2>Thresholds and targets</h2>",
        note("Confidentiality thresholds are frozen for a wave when it is first published."),
        html_table(thresholds), note(wording.targets_sentence(bundle)),
        "<h2>Audit of every wave</h2>",
        note("Every release is checked by an independent audit that rebuilds each published cell "
             "from the respondents and searches for any group of fewer than the threshold that "
             "could be worked out by subtracting published groups, across every release of the wave."),
        html_table(audits, empty="No audit recorded."),
        *([note(n) for n in notes]),
        "<h2>How to read the verdicts</h2>", f"<ul>{guide}</ul>",
        "<h2>Input files</h2>", html_table(inputs, empty="No input files recorded."))
