"""The summary a leader reads in one minute, at the top of every unit brief.

Who answered; the strongest and weakest constructs against the organisation and the
parent unit; what changed for real (or that nothing did); and up to N focus areas by
one stated rule: constructs below the target mean, or at least the meaningful change
below the organisation, ranked by the shortfall (the larger of the two gaps) times the
construct's weight in the outcome index (its share of explained variance), or by the
shortfall alone when the instrument has no outcome index.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd
from IPython.display import HTML

from culture.boundary.bundle import Bundle
from culture.boundary.release import RELEASED
from culture.frames import REAL
from culture.report import wording
from culture.report.views import CSS, is_missing, name_of, num, parent_of, root_id, unit_label


@dataclass(frozen=True)
class Focus:
    measure: str
    name: str
    mean: float
    gap: float
    weight: float | None
    score: float


def released_means(bundle: Bundle, unit_id: str | None) -> pd.Series:
    """Released construct means of a unit (culture constructs only), by measure."""
    if unit_id is None:
        return pd.Series(dtype=float)
    s = bundle.release.table("scores")
    c = bundle.table("constructs")
    culture = set(c.loc[c["kind"] == "culture", "measure"])
    mine = s[(s["unit_id"] == unit_id) & (s["status"] == RELEASED) & s["measure"].isin(culture)]
    return mine.set_index("measure")["mean"].astype(float)


def focus_areas(bundle: Bundle, unit_id: str, *, limit: int | None = None) -> list[Focus]:
    """Focus areas by the stated rule (module doc)."""
    limit = int(wording.policy(bundle).get("focus_areas", 3)) if limit is None else limit
    mine = released_means(bundle, unit_id)
    root = root_id(bundle)
    target = float(wording.policy(bundle).get("targets", {}).get("mean", 0))
    below_org = released_means(bundle, root).reindex(mine.index) - mine
    below_org = below_org.where(below_org >= wording.meaningful_change(bundle), 0).fillna(0)
    gaps = pd.concat([target - mine, below_org], axis=1).max(axis=1)
    weights = {}
    if bundle.has("drivers"):
        d = bundle.table("drivers")
        weights = dict(zip(d["construct"], d["rescaled_pct"].astype(float) / 100, strict=True))
    out = []
    for m, gap in gaps.dropna().items():
        if gap <= 0:
            continue
        w = weights.get(m) if weights else None
        out.append(Focus(m, name_of(bundle, m), float(mine[m]), float(gap), w,
                         float(gap) * (w if w is not None else 1.0)))
    return sorted(out, key=lambda f: (-f.score, f.measure))[:limit]


def focus_rule(bundle: Bundle, unit_id: str) -> str:
    index = wording.outcome_index(bundle)
    t = wording.policy(bundle).get("targets", {})
    weight = (f" times the construct's weight in {index.lower()} (its share of explained variance)"
              if index and bundle.has("drivers") else "")
    n = int(wording.policy(bundle).get("focus_areas", 3))
    org = ("" if unit_id == root_id(bundle) else
           f" or at least {wording.meaningful_change(bundle):.2f} points below the organisation")
    return (f"Rule: the constructs below the target mean of {float(t.get('mean', 0)):.2f}{org}, "
            f"ranked by the shortfall{weight}; at most {n}.")


def _compare(bundle: Bundle, unit_id: str) -> list[tuple[str, float, float, float | None]]:
    """(name, unit mean, difference from the organisation, parent mean) per construct."""
    mine = released_means(bundle, unit_id)
    org = released_means(bundle, root_id(bundle))
    parent = parent_of(bundle, unit_id)
    par = released_means(bundle, parent)
    rows = []
    for m, v in mine.items():
        if m in org.index:
            rows.append((m, float(v), float(v - org[m]), float(par[m]) if m in par.index else None))
    return rows


def _response_line(bundle: Bundle, unit_id: str) -> str:
    rates = bundle.release.table("response_rates")
    r = rates[rates["unit_id"] == unit_id]
    if r.empty or r["status"].iloc[0] != RELEASED:
        return f"The response count is {wording.withheld_why(bundle)}."
    n, invited, rate = r["n"].iloc[0], r["invited"].iloc[0], r["response_rate"].iloc[0]
    if is_missing(invited) or is_missing(rate):
        return f"{int(n)} people answered (n = {int(n)}); no headcount was loaded, so the response rate is not known."
    return f"{int(n)} of {int(invited)} invited people answered: a response rate of {100 * rate:.0f}% (n = {int(n)})."


def _changes_line(bundle: Bundle, unit_id: str) -> list[str]:
    ch = bundle.table("changes") if bundle.has("changes") else pd.DataFrame()
    mine = ch[ch["unit_id"] == unit_id] if not ch.empty else ch
    if len(bundle.waves) < 2:
        return ["This is the first wave: changes are reported from the next wave on."]
    if mine.empty:
        return ["No comparison with the previous wave: this unit was not reported in both waves."]
    real = mine[mine["verdict"] == REAL]
    if unit_id == root_id(bundle) and real.empty:
        n = int((ch["verdict"] == REAL).sum())
        return ["For the organisation as a whole, nothing changed beyond normal quarter-to-quarter "
                f"noise; {n} real change(s) in units are listed in the change-over-time document."]
    if not real.empty:
        return [f"{name_of(bundle, r['measure'])} {'rose' if r['diff'] > 0 else 'fell'} from "
                f"{num(r['mean_before'])} to {num(r['mean_now'])} ({num(r['diff'], sign=True)}; "
                f"{r['reason']})." for _, r in real.sort_values("diff").iterrows()]
    if (mine["verdict"] == "not tested").all():
        return [f"Changes could not be tested for this unit: {mine['reason'].iloc[0]}."]
    return ["Nothing changed beyond normal quarter-to-quarter noise."]


def summary_html(bundle: Bundle, unit_id: str) -> HTML:
    """The one-minute summary (see module doc) as one block of HTML."""
    parts = [f"<h3>Who answered</h3><p>{html.escape(_response_line(bundle, unit_id))}</p>"]
    rows = _compare(bundle, unit_id)
    parent = parent_of(bundle, unit_id)
    parent_name = unit_label(bundle, parent) if parent and parent != root_id(bundle) else None
    if unit_id == root_id(bundle):
        pass
    elif not rows:
        parts.append(f"<p>This unit's construct scores are {html.escape(wording.withheld_why(bundle))}.</p>")
    else:
        def line(r) -> str:
            m, v, d, p = r
            said = f"{name_of(bundle, m)} {num(v)} ({num(d, sign=True)} against the organisation"
            if parent_name and p is not None:
                said += f"; {parent_name} {num(p)}"
            return said + ")"
        up = sorted((r for r in rows if r[2] > 0), key=lambda r: -r[2])[:3]
        down = sorted((r for r in rows if r[2] < 0), key=lambda r: r[2])[:3]
        parts.append("<h3>Strongest against the organisation</h3>" + (
            "<ul>" + "".join(f"<li>{html.escape(line(r))}</li>" for r in up) + "</ul>" if up
            else "<p>No construct is above the organisation.</p>"))
        parts.append("<h3>Weakest against the organisation</h3>" + (
            "<ul>" + "".join(f"<li>{html.escape(line(r))}</li>" for r in down) + "</ul>" if down
            else "<p>No construct is below the organisation.</p>"))
    changes = _changes_line(bundle, unit_id)
    prev = bundle.waves[-2] if len(bundle.waves) > 1 else ""
    parts.append(f"<h3>What changed for real{' since ' + html.escape(prev) if prev else ''}</h3><ul>"
                 + "".join(f"<li>{html.escape(c)}</li>" for c in changes) + "</ul>")
    focus = focus_areas(bundle, unit_id)
    if focus:
        items = "".join(
            f"<li>{html.escape(f.name)}: {num(f.mean)}, a shortfall of {num(f.gap)}"
            + (f"; {100 * f.weight:.0f}% of what explains {html.escape(wording.outcome_index(bundle).lower())}"
               if f.weight is not None and wording.outcome_index(bundle) else "") + "</li>"
            for f in focus)
        body = f"<ol>{items}</ol>"
    else:
        body = ("<p>No construct is below the target or clearly below the organisation, so no focus "
                "area is proposed.</p>" if rows or unit_id == root_id(bundle)
                else "<p>No focus area: the scores are not reported.</p>")
    parts.append(f"<h3>Focus areas</h3>{body}<p class='culture-note'>{html.escape(focus_rule(bundle, unit_id))} "
                 "Differences from the organisation are descriptive.</p>")
    return HTML(f'{CSS}<div class="culture-summary"><h2>Summary</h2>{"".join(parts)}</div>')
