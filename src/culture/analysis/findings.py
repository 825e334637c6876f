"""Plain-language findings and the ISO 9001 evidence table.

Every sentence is generated from a row of a released analysis table and carries
the numbers behind it. Two rules are enforced here, not left to the writer of
a notebook:

* a change is only called a change when it is significant after the
  Benjamini-Hochberg correction *and* at least the meaningful minimum
  (``verdict == "significant and meaningful"`` from :func:`culture.trends.classify_change`);
* culture-quality results are worded as associations, never as causes.

Findings are ranked in tiers, then by size within a tier: real changes first
(what leaders ask about), then associations with quality outcomes and
leader-staff gaps, then control-chart signals. Reports can show "the top
findings" without any judgement in notebook cells.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from culture.analysis.verdicts import fmt_q
from culture.boundary.release import RELEASED, Release, unit_paths
from culture.frames import ASSOCIATED, OUTCOME_LABELS, PLAIN
from culture.frames import REAL as MEANINGFUL
from culture.measure.instrument import ISO9001_511_LETTERS, ISO9001_CLAUSES, Instrument

TIER = {"change": 300.0, "linkage": 200.0, "perception_gap": 200.0, "control_chart": 100.0}
FINDING_COLUMNS = ("finding_id", "kind", "unit_id", "measure", "direction", "rank_score", "sentence",
                   "numbers")


def _fmt(x: float, d: int = 1) -> str:
    return f"{x:.{d}f}".replace("-", "\u2212")


def _names(instrument: Instrument) -> dict[str, str]:
    out = {c.id: c.name.split(" (")[0] for c in instrument.constructs}
    out.update({i.id: f"\u201c{i.text}\u201d" for i in instrument.items})
    return out


def change_findings(changes: pd.DataFrame, instrument: Instrument, release: Release) -> pd.DataFrame:
    """One finding per released change that is significant after FDR *and* meaningful."""
    if changes.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    real = changes[changes["verdict"] == MEANINGFUL].copy()
    names, units = _names(instrument), unit_paths(release)
    real = real.assign(abs_diff=real["diff"].abs()).sort_values(
        ["abs_diff", "unit_id", "measure"], ascending=[False, True, True], kind="stable")
    rows = []
    top_drop = real[real["diff"] < 0].index[:1]
    top_rise = real[real["diff"] > 0].index[:1]
    for idx, r in real.iterrows():
        verb = "fell" if r["diff"] < 0 else "rose"
        where = units.get(r["unit_id"], r["unit_id"])
        sentence = (f"{names.get(r['measure'], r['measure'])} in {where} {verb} from "
                    f"{_fmt(r['mean_before'])} to {_fmt(r['mean_now'])} ({'+' if r['diff'] > 0 else ''}"
                    f"{_fmt(r['diff'])}, 95% CI {_fmt(r['ci_low'])} to {_fmt(r['ci_high'])}, "
                    f"{fmt_q(r['q'])})")
        if idx in top_drop:
            sentence += ", the largest meaningful drop this quarter"
        elif idx in top_rise:
            sentence += ", the largest meaningful rise this quarter"
        if isinstance(r.get("rule"), str) and r["rule"].startswith("re-organised"):
            sentence += f" [{r['rule']}]"
        rows.append({"kind": "change", "unit_id": r["unit_id"], "measure": r["measure"],
                     "direction": "down" if r["diff"] < 0 else "up",
                     "rank_score": TIER["change"] + float(abs(r["diff"])), "sentence": sentence + ".",
                     "numbers": {k: _num(r.get(k)) for k in ("mean_before", "mean_now", "diff",
                                                             "ci_low", "ci_high", "q")}})
    return _frame(rows, "C")


def chart_findings(charts: pd.DataFrame, instrument: Instrument, release: Release) -> pd.DataFrame:
    """Control-chart signals (Western Electric rules) in the release's own wave."""
    if charts.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    now = charts[(charts["wave"] == release.wave) & charts["signals"].fillna("").astype(str).ne("")]
    names, units = _names(instrument), unit_paths(release)
    rules = {"1": "a point beyond the 3-sigma limits", "2": "2 of 3 points beyond 2 sigma",
             "3": "4 of 5 points beyond 1 sigma", "4": "8 points in a row on one side of the centre"}
    rows = []
    for _, r in now.iterrows():
        which = [rules.get(x.strip(), f"rule {x}") for x in str(r["signals"]).split(",") if x.strip()]
        side = "below" if r["value"] < r["centre"] else "above"
        rows.append({"kind": "control_chart", "unit_id": r["unit_id"], "measure": r["measure"],
                     "direction": "down" if side == "below" else "up",
                     "rank_score": TIER["control_chart"] + float(abs(r["value"] - r["centre"])),
                     "sentence": (f"{names.get(r['measure'], r['measure'])} in "
                                  f"{units.get(r['unit_id'], r['unit_id'])} signals on its control chart "
                                  f"({'; '.join(which)}): {_fmt(r['value'], 2)} is {side} the centre line "
                                  f"{_fmt(r['centre'], 2)} (limits {_fmt(r['lcl'], 2)} to {_fmt(r['ucl'], 2)})."),
                     "numbers": {k: _num(r[k]) for k in ("value", "centre", "lcl", "ucl")}})
    return _frame(rows, "S")


def linkage_findings(models: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Associations between culture and quality outcomes that survived the correction for
    every culture term tested (``verdict`` from :func:`culture.analysis.verdicts.linkage_verdicts`:
    the same column the linkage page shows)."""
    if models.empty or "verdict" not in models:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    names = _names(instrument)
    rows = []
    for _, r in models[models["verdict"] == ASSOCIATED].iterrows():
        construct = str(r["term"])
        outcome = OUTCOME_LABELS.get(str(r["outcome"]), str(r["outcome"]).replace("_", " "))
        component = str(r.get("component", ""))
        lag = int(r["lag"]) if pd.notna(r.get("lag")) else 0
        when = " a quarter later" if lag == 1 else (f" {lag} quarters later" if lag > 1 else "")
        if pd.notna(r.get("rate_ratio")):
            pct = (r["rate_ratio"] - 1) * 100
            effect = (f"{abs(pct):.0f}% {'fewer' if pct < 0 else 'more'} {outcome}{when} "
                      f"(rate ratio {r['rate_ratio']:.2f}, 95% CI {r['ci_low']:.2f} to {r['ci_high']:.2f})")
            size = abs(np.log(r["rate_ratio"]))
        else:
            effect = (f"{_fmt(r['estimate'], 2)} {outcome}{when} "
                      f"(95% CI {_fmt(r['ci_low'], 2)} to {_fmt(r['ci_high'], 2)})")
            size = abs(r["estimate"]) / max(abs(r["ci_high"] - r["ci_low"]), 1e-9)
        name = names.get(construct, construct).lower()
        if component == "within":
            sentence = (f"When a unit's {name} score rises by one point, this is associated "
                        f"with {effect}, within the same unit")
        elif component == "between":
            sentence = f"Units with a one-point higher {name} score are associated with {effect}"
        else:
            sentence = f"A one-point higher {name} score is associated with {effect}"
        if str(r["outcome"]) == "nc_internal" and pd.notna(r.get("rate_ratio")) and r["rate_ratio"] > 1:
            sentence += ("; more internally reported problems can mean people feel safe to speak up, "
                         "not worse quality")
        sentence += (f" (n = {int(r['n_units'])} units, {int(r['n_obs'])} unit-quarters; "
                     f"{r['reason']}; an association, not proof of cause).")
        rows.append({"kind": "linkage", "unit_id": None, "measure": construct,
                     "direction": "association", "rank_score": TIER["linkage"] + float(size),
                     "sentence": sentence,
                     "numbers": {k: _num(r.get(k)) for k in ("rate_ratio", "estimate", "ci_low", "ci_high", "p",
                                                             "q")}})
    return _frame(rows, "L")


def gap_findings(gaps: pd.DataFrame, instrument: Instrument, release: Release, *,
                 min_change: float = 0.2) -> pd.DataFrame:
    """Leader-versus-staff gaps whose verdict is real: significant after the correction
    across every gap tested and at least the meaningful minimum (the ``verdict`` column the
    trends page shows)."""
    if gaps.empty or "verdict" not in gaps:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    names, units = _names(instrument), unit_paths(release)
    # Constructs only: item-level gaps belong in the trends document, not among top findings.
    construct_ids = {c.id for c in instrument.constructs}
    real = gaps[gaps["measure"].isin(construct_ids) & (gaps["verdict"] == MEANINGFUL)]
    rows = []
    for _, r in real.iterrows():
        where = units.get(r.get("unit_id"), "the organisation")
        higher = "higher" if r["diff"] > 0 else "lower"
        rows.append({"kind": "perception_gap", "unit_id": r.get("unit_id"), "measure": r["measure"],
                     "direction": "gap",
                     "rank_score": TIER["perception_gap"] + float(abs(r["diff"])),
                     "sentence": (f"In {where}, leaders rate {names.get(r['measure'], r['measure']).lower()} "
                                  f"{_fmt(abs(r['diff']), 2)} points {higher} than staff do (95% CI "
                                  f"{_fmt(r['ci_low'], 2)} to {_fmt(r['ci_high'], 2)}; {r['reason']}): worth "
                                  "checking on the floor, as an auditor would."),
                     "numbers": {k: _num(r.get(k)) for k in ("diff", "ci_low", "ci_high", "q")}})
    return _frame(rows, "G")


def _num(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return round(float(v), 4) if isinstance(v, int | float | np.number) else v


def _frame(rows: list[dict], prefix: str) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=[c for c in FINDING_COLUMNS if c != "finding_id"])
    out.insert(0, "finding_id", [f"{prefix}{i + 1:03d}" for i in range(len(out))])
    out["numbers"] = out["numbers"].map(lambda d: json.dumps(d, sort_keys=True))
    return out


def rank_findings(*parts: pd.DataFrame) -> pd.DataFrame:
    """Concatenate and rank findings (largest first; ties broken by id for stable output)."""
    frames = [p for p in parts if not p.empty]
    if not frames:
        return pd.DataFrame(columns=["rank", *FINDING_COLUMNS])
    out = pd.concat(frames, ignore_index=True).sort_values(
        ["rank_score", "finding_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def clause_label(ref: str) -> str:
    clause, _, letter = ref.partition(" ")
    title = ISO9001_CLAUSES.get(clause, "")
    if letter:
        title = f"{title}: {ISO9001_511_LETTERS.get(letter, '')}"
    return f"{ref} {title}".strip()


ISO_COLUMNS = ("clause", "clause_title", "construct", "construct_name", "mean", "pct_favourable",
               "target_mean", "target_pct_favourable", "status", "status_reason", "trend", "findings")


def iso_evidence(release: Release, instrument: Instrument, *, changes: pd.DataFrame,
                 findings: pd.DataFrame, targets: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per ISO 9001:2015 clause: constructs that evidence it, org score, trend, status, findings.

    Status against ``targets`` (the workspace policy, :mod:`culture.pipeline.policy`; keys
    ``mean``, ``favourable``, ``watch_mean``, ``watch_favourable``; defaults 3.5 / 60% /
    0.2 / 5 on a 1-5 scale): ``meets`` when both are met, ``watch`` when within the watch
    band, ``below`` otherwise, ``not reported`` when the organisation's cell is withheld.
    ``status_reason`` says which number decided it. An instrument that maps no clause gives
    an empty table.
    """
    t = {"mean": 3.5, "favourable": 60.0, "watch_mean": 0.2, "watch_favourable": 5.0, **(targets or {})}
    scores = release.table("scores")
    root = release.table("units")
    root_id = root.loc[root["parent_id"].isna(), "unit_id"].iloc[0]
    org = scores[(scores["unit_id"] == root_id)].set_index("measure")
    org_changes = changes[changes["unit_id"] == root_id].set_index("measure") if not changes.empty else None
    rows = []
    for c in instrument.constructs:
        for ref in c.clauses:
            cell = org.loc[c.id] if c.id in org.index else None
            shown = cell is not None and cell["status"] == RELEASED
            mean = float(cell["mean"]) if shown else np.nan
            fav = float(cell["pct_favourable"]) if shown else np.nan
            status, why = _status(mean, fav, t) if shown else ("not reported", "the organisation's "
                                                                 "score is withheld")
            trend = ""
            if org_changes is not None and c.id in org_changes.index:
                ch = org_changes.loc[c.id]
                trend = (f"{'+' if ch['diff'] > 0 else ''}{_fmt(ch['diff'], 2)} vs {ch['previous_wave']} "
                         f"({PLAIN.get(ch['verdict'], ch['verdict'])})")
            # The three highest-ranked findings about the construct (full list in findings.csv).
            behind = (findings[findings["measure"] == c.id]["finding_id"].head(3).tolist()
                      if not findings.empty else [])
            rows.append({"clause": ref, "clause_title": clause_label(ref), "construct": c.id,
                         "construct_name": c.name, "mean": mean, "pct_favourable": fav,
                         "target_mean": t["mean"], "target_pct_favourable": t["favourable"],
                         "status": status, "status_reason": why, "trend": trend,
                         "findings": ", ".join(behind)})
    out = pd.DataFrame(rows, columns=list(ISO_COLUMNS))
    if out.empty:
        return out
    order = {ref: i for i, ref in enumerate(ISO9001_CLAUSES)}
    out["_o"] = out["clause"].map(lambda r: (order.get(r.split(" ")[0], 99), r))
    return out.sort_values(["_o", "construct"]).drop(columns="_o").reset_index(drop=True)


def _status(mean: float, fav: float, t: Mapping[str, float]) -> tuple[str, str]:
    """meets / watch / below, compared at the precision the pack shows (2 decimals for a
    mean, 1 for a percentage), so a reader never sees "60.0%" beside "watch" at a 60% target."""
    mean, fav = round(mean, 2), round(fav, 1)
    m_ok, f_ok = mean >= t["mean"], fav >= t["favourable"]
    if m_ok and f_ok:
        return "meets", ""
    short = ([f"mean {t['mean'] - mean:.2f} below the {t['mean']:.2f} target"] if not m_ok else []) + \
        ([f"favourable {t['favourable'] - fav:.1f} points below the {t['favourable']:.0f}% target"]
         if not f_ok else [])
    if mean >= t["mean"] - t["watch_mean"] and fav >= t["favourable"] - t["watch_favourable"]:
        return "watch", "; ".join(short) + " (within the watch band)"
    return "below", "; ".join(short)
