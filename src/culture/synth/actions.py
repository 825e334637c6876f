"""Planted improvement actions of a synthetic organisation, with known effect.

Derived from the organisation's planted change events (``org.truth.events``) without
touching how answers are generated: an *effective* action is one whose unit and
construct really shift, a *null* action one whose do not.

* one effective action per planted positive event: on the event's unit and construct,
  opened on the 15th of the quarter before the event's wave and closed (and due) on that
  quarter's last day, just before the wave in which the shift appears;
* null actions with the same dates: on the largest units of the same org level whose
  subtree no event of that construct touches (``n_null`` of them, at most half of those
  units, so that the rest stay as comparison units without an action), and one on the
  effective action's own unit for a construct no event touches.

With waves dated at their quarter's first day (:func:`culture.analysis.actions.wave_date`)
each action's follow-up compares the quarter before the event with the event's wave.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from culture import frames as F

PLANTED_COLUMNS = (*F.ACTION_COLUMNS, "effective", "planted_shift")


def planted_actions(org: Any, *, n_null: int = 2) -> pd.DataFrame:
    """Effective and null actions of ``org`` (a :class:`~culture.synth.SyntheticOrganisation`).

    Columns :data:`culture.frames.ACTION_COLUMNS` plus ``effective`` (bool) and
    ``planted_shift`` (the event's expected change of the unit's mean score; 0 for null
    actions). Empty when no positive event has a quarter before it among the waves.
    """
    events = org.truth.events
    culture = [c.id for c in org.instrument.culture_constructs]
    untouched = [c for c in culture if c not in {e.construct for e in events}]
    rows: list[dict[str, Any]] = []
    for event in (e for e in events if e.latent_shift > 0):
        if F.wave_index(event.wave) <= F.wave_index(org.waves[0]):
            continue
        dates = _dates(event.wave)
        units = org.org_of(event.wave)
        size = _subtree_sizes(units, org.people[org.people[F.WAVE] == event.wave])
        rows.append(_action(f"SYN-E{len(rows) + 1}", event.unit_id, event.construct, dates,
                            effective=True, shift=event.expected_score_shift))
        level = units.set_index(F.UNIT).at[event.unit_id, "level"]
        peers = units.loc[units["level"] == level, F.UNIT]
        touched = {e.unit_id for e in events if e.construct == event.construct}
        clear = [u for u in peers if not any(_related(u, t, units) for t in touched)]
        largest = sorted(clear, key=lambda u: (-size.get(u, 0), u))
        for unit in largest[:min(n_null, len(clear) // 2)]:
            rows.append(_action(f"SYN-N{len(rows) + 1}", unit, event.construct, dates))
        if untouched:
            rows.append(_action(f"SYN-N{len(rows) + 1}", event.unit_id, untouched[0], dates))
    return pd.DataFrame(rows, columns=list(PLANTED_COLUMNS))


def _dates(wave: str) -> dict[str, pd.Timestamp]:
    """Opened mid-month in the quarter before ``wave``, closed and due on its last day."""
    year, quarter = divmod(F.wave_index(wave) - 1, 4)
    start = pd.Timestamp(year=year, month=3 * quarter + 1, day=15)
    end = pd.Timestamp(year=year, month=3 * quarter + 3, day=1) + pd.offsets.MonthEnd(0)
    return {"opened": start, "due": end, "closed": end}


def _action(action_id: str, unit: str, construct: str, dates: dict[str, pd.Timestamp], *,
            effective: bool = False, shift: float = 0.0) -> dict[str, Any]:
    return {"action_id": action_id, "unit_id": unit, "construct": construct,
            "finding_id": None, "clause": "10.3", "owner": "Synthetic owner", **dates,
            "status": "closed", "effective": effective, "planted_shift": shift}


def _parents(units: pd.DataFrame) -> dict[str, str | None]:
    return dict(zip(units[F.UNIT], units[F.PARENT], strict=True))


def _ancestors(unit: str, parent: dict[str, str | None]) -> list[str]:
    out = []
    while unit is not None and unit not in out:
        out.append(unit)
        unit = parent.get(unit)
    return out


def _related(a: str, b: str, units: pd.DataFrame) -> bool:
    """One unit lies in the other's subtree (or they are the same unit)."""
    parent = _parents(units)
    return a in _ancestors(b, parent) or b in _ancestors(a, parent)


def _subtree_sizes(units: pd.DataFrame, people: pd.DataFrame) -> dict[str, int]:
    """People in each unit's subtree (its own people and everyone below it)."""
    parent = _parents(units)
    out: dict[str, int] = {}
    for unit, count in people[F.UNIT].value_counts().items():
        for u in _ancestors(unit, parent):
            out[u] = out.get(u, 0) + int(count)
    return out
