"""Improvement actions for people: a brief's actions and suggestions, the organisation's summary.

Reads the bundle tables ``actions`` (the register with each closed action's verdict)
and ``action_follow_up`` (the measured follow-up, :mod:`culture.analysis.actions`).
Actions are workspace data (the QMS's corrective and improvement actions), not answers:
a brief lists its own unit's actions only, so a recipient sees the actions of their
scope and no other. A focus area of the brief without an open action on it gets a
suggestion line, and :func:`suggestions` gives the same lines for
``actions_suggested.csv``.
"""

from __future__ import annotations

import html

import pandas as pd
from IPython.display import HTML

from culture.boundary.bundle import Bundle
from culture.report.brief import focus_areas
from culture.report.views import CSS, html_table, join, name_of, note, unit_label

IMPROVED = "improved beyond noise"
SUGGESTION_COLUMNS = ("unit_id", "unit", "construct", "construct_name", "suggested_clause", "text")


def _actions(bundle: Bundle) -> pd.DataFrame:
    return bundle.table("actions") if bundle.has("actions") else pd.DataFrame()


def _status(row: pd.Series) -> str:
    if row["status"] == "closed":
        return f"closed {row['closed']}" if row.get("closed") else "closed"
    if row["status"] == "open" and bool(row.get("overdue")):
        return f"open, overdue (due {row['due']})"
    return f"open, due {row['due']}" if row["status"] == "open" else str(row["status"])


def _follow_up(row: pd.Series) -> str:
    if row["status"] != "closed" or not row.get("verdict"):
        return ""
    return f"{row['verdict']}: {row['reason']}" if row.get("reason") else str(row["verdict"])


def suggestions(bundle: Bundle, unit_id: str) -> pd.DataFrame:
    """One line per focus area of the unit's brief with no open action on that construct:
    ISO 9001 clause 10.2 (corrective) when the construct is below the target, else 10.3."""
    acts = _actions(bundle)
    live = set() if acts.empty else set(
        acts.loc[(acts["unit_id"] == unit_id) & (acts["status"] == "open"), "construct"])
    target = float((bundle.meta.get("policy") or {}).get("targets", {}).get("mean", 0))
    rows = []
    for f in focus_areas(bundle, unit_id):
        if f.measure in live:
            continue
        clause = "10.2" if f.mean < target else "10.3"
        kind = "corrective action" if clause == "10.2" else "improvement action"
        rows.append({"unit_id": unit_id, "unit": unit_label(bundle, unit_id), "construct": f.measure,
                     "construct_name": f.name, "suggested_clause": clause,
                     "text": f"Agree a {kind} on {f.name.lower()} with the team and record it in "
                             f"the quality system (ISO 9001 clause {clause})."})
    return pd.DataFrame(rows, columns=list(SUGGESTION_COLUMNS))


def unit_actions_html(bundle: Bundle, unit_id: str) -> HTML:
    """The unit's open and closed actions with their measured follow-up, then suggestions."""
    acts = _actions(bundle)
    mine = acts[acts["unit_id"] == unit_id] if not acts.empty else acts
    parts = []
    if mine.empty:
        parts.append(note("No improvement action is recorded for this unit."))
    else:
        table = pd.DataFrame({
            "action": mine["action_id"].astype(str),
            "on": [name_of(bundle, c) for c in mine["construct"]],
            "owner": mine["owner"].fillna("").astype(str),
            "ISO clause": mine["clause"].fillna("").astype(str),
            "status": [_status(r) for _, r in mine.iterrows()],
            "measured next quarter": [_follow_up(r) for _, r in mine.iterrows()]})
        parts.append(html_table(table).data)
        parts.append(note("A closed action is measured by the change of its construct in this unit "
                          "from the survey before it was opened to the first survey after it "
                          "closed, against units without such an action. 'Improved beyond noise' "
                          "is an association with the action, not proof that it caused the rise."))
    ideas = suggestions(bundle, unit_id)
    if not ideas.empty:
        items = "".join(f"<li>{html.escape(t)}</li>" for t in ideas["text"])
        parts.append(f"<p><b>Suggested</b> (focus areas without an open action):</p><ul>{items}</ul>")
    return HTML(CSS + join(*parts).data)


def summary(bundle: Bundle) -> dict:
    """Open, overdue, closed, measured and improved actions across the organisation."""
    acts = _actions(bundle)
    if acts.empty:
        return {}
    closed = int((acts["status"] == "closed").sum())
    improved = int((acts["verdict"] == IMPROVED).sum())
    return {"open": int((acts["status"] == "open").sum()),
            "overdue": int(((acts["status"] == "open") & acts["overdue"].fillna(False).astype(bool)).sum()),
            "closed": closed, "improved": improved,
            "share_improved": improved / closed if closed else None}


def summary_html(bundle: Bundle) -> HTML:
    """The organisation report's action summary (evidence for ISO 9001 10.2, 10.3, 5.1.1)."""
    s = summary(bundle)
    if not s:
        return note("No improvement actions are recorded in this workspace (culture ingest "
                    "actions, culture actions add).")
    share = ("" if s["share_improved"] is None else
             f" ({100 * s['share_improved']:.0f}% of the closed ones)")
    table = pd.DataFrame({"": ["open", "of which overdue", "closed", "closed and improved beyond noise"],
                          "actions": [s["open"], s["overdue"], s["closed"], s["improved"]]})
    return join(html_table(table),
                note(f"{s['improved']} closed action(s) were followed by a measured improvement{share}. "
                     "Actions are the organisation's evidence for ISO 9001 clauses 10.2 (corrective "
                     "action), 10.3 (continual improvement) and 5.1.1 (top management's commitment)."))

