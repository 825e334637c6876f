"""The workspace policy: targets and thresholds a team sets once, shown in every pack.

``<workspace>/policy.yaml`` (every key optional; ``culture init`` writes a commented
one)::

    targets:
      mean: 3.5                 # organisation mean at or above: "meets"
      favourable: 60            # % favourable at or above: "meets"
      watch_mean: 0.2           # within this many points below the target: "watch"
      watch_favourable: 5       # within this many percentage points below: "watch"
    meaningful_change: 0.2      # smallest change (scale points) called real
    focus_areas: 3              # focus areas a brief proposes at most
    thresholds:                 # for waves not yet published (a published wave keeps its own)
      scores: 5
      complements: 5
      distributions: 10
      comments: 10
      models: 30
      sensitive: 10

Defaults follow the instrument's scale, so a 7-point instrument gets targets on its
own scale: the target mean sits one eighth of the range above the midpoint (3.5 on
1-5, 4.75 on 1-7), the watch band and the meaningful change are 5% of the range.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from culture.boundary.release import Thresholds
from culture.errors import ConfigError, Problem, ProblemsError
from culture.measure.instrument import Instrument

POLICY_NAME = "policy.yaml"


class PolicyError(ProblemsError):
    headline = "invalid policy"


@dataclass(frozen=True)
class Targets:
    mean: float
    favourable: float
    watch_mean: float
    watch_favourable: float = 5.0


@dataclass(frozen=True)
class Policy:
    targets: Targets
    meaningful_change: float
    focus_areas: int = 3
    thresholds: Thresholds = field(default_factory=Thresholds)
    source: str = "defaults"

    def as_dict(self) -> dict[str, Any]:
        return {"targets": asdict(self.targets), "meaningful_change": self.meaningful_change,
                "focus_areas": self.focus_areas, "thresholds": self.thresholds.as_dict(),
                "source": self.source}


def default_policy(instrument: Instrument) -> Policy:
    lo, hi = instrument.scale.min, instrument.scale.max
    span = hi - lo
    return Policy(Targets(mean=round(lo + span / 2 + span / 8, 2), favourable=60.0,
                          watch_mean=round(0.05 * span, 2)),
                  meaningful_change=round(0.05 * span, 2))


def load_policy(workspace_root: str | Path, instrument: Instrument) -> Policy:
    """The workspace's policy file over the instrument's defaults (no file: the defaults).

    Raises :class:`PolicyError` listing every problem (file, key, what is allowed)."""
    path = Path(workspace_root) / POLICY_NAME
    base = default_policy(instrument)
    if not path.exists():
        return base
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not readable YAML ({type(exc).__name__}); see the policy "
                          "schema in docs/policy.md") from None
    problems: list[Problem] = []
    where = str(path)
    if not isinstance(doc, dict):
        raise PolicyError([Problem(where, "must be a mapping of targets, meaningful_change, "
                                          "focus_areas, thresholds")], source=where)
    _unknown(doc, {"targets", "meaningful_change", "focus_areas", "thresholds"}, where, problems)
    lo, hi = instrument.scale.min, instrument.scale.max
    t = doc.get("targets") or {}
    if not isinstance(t, dict):
        problems.append(Problem(f"{where}: targets", "must be a mapping"))
        t = {}
    _unknown(t, {"mean", "favourable", "watch_mean", "watch_favourable"}, f"{where}: targets",
             problems)
    span = hi - lo
    targets = Targets(
        mean=_number(t, "mean", base.targets.mean, lo, hi, f"{where}: targets", problems),
        favourable=_number(t, "favourable", base.targets.favourable, 0, 100,
                           f"{where}: targets", problems),
        watch_mean=_number(t, "watch_mean", base.targets.watch_mean, 0, span,
                           f"{where}: targets", problems),
        watch_favourable=_number(t, "watch_favourable", base.targets.watch_favourable, 0, 100,
                                 f"{where}: targets", problems))
    change = _number(doc, "meaningful_change", base.meaningful_change, 0, span, where, problems)
    focus = doc.get("focus_areas", base.focus_areas)
    if isinstance(focus, bool) or not isinstance(focus, int) or not 0 <= focus <= 10:
        problems.append(Problem(f"{where}: focus_areas", f"must be a whole number 0-10, got {focus!r}"))
        focus = base.focus_areas
    thresholds = base.thresholds
    raw = doc.get("thresholds") or {}
    if not isinstance(raw, dict):
        problems.append(Problem(f"{where}: thresholds", "must be a mapping"))
    else:
        _unknown(raw, set(Thresholds.FLOORS), f"{where}: thresholds", problems)
        try:
            thresholds = Thresholds(**{k: v for k, v in raw.items() if k in Thresholds.FLOORS})
        except ConfigError as exc:
            problems.append(Problem(f"{where}: thresholds", str(exc)))
    if problems:
        raise PolicyError(problems, source=where)
    return Policy(targets, change, focus, thresholds, source=POLICY_NAME)


def _unknown(doc: dict, allowed: set[str], where: str, problems: list[Problem]) -> None:
    for key in sorted(set(map(str, doc)) - allowed):
        problems.append(Problem(f"{where}: {key}", f"unknown key; allowed: {', '.join(sorted(allowed))}"))


def _number(doc: dict, key: str, default: float, lo: float, hi: float, where: str,
            problems: list[Problem]) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        problems.append(Problem(f"{where}: {key}", f"must be a number from {lo} to {hi}, got {value!r}"))
        return default
    return float(value)


TEMPLATE = """\
# Targets and thresholds of this workspace, shown on every pack's methodology page.
# Every key is optional; remove the leading '#' to change a value. Schema: docs/policy.md
# targets:
#   mean: {mean}              # organisation mean at or above: "meets" (scale {lo} to {hi})
#   favourable: 60        # % favourable at or above: "meets"
#   watch_mean: {watch}        # within this many points below the target: "watch"
#   watch_favourable: 5   # within this many percentage points below: "watch"
# meaningful_change: {change}  # smallest change (scale points) called real
# focus_areas: 3          # focus areas a brief proposes at most
# thresholds:             # for waves not yet published; a published wave keeps its own
#   scores: 5             # smallest group whose scores are shown
#   complements: 5        # smallest group that may be obtainable by subtraction
#   distributions: 10     # smallest group whose spread (SD, CI) is shown
#   comments: 10          # smallest group whose comments are shown
#   models: 30            # fewest units or respondents a model is fitted on
#   sensitive: 10         # smallest group for items marked sensitive
"""


def policy_template(instrument: Instrument) -> str:
    p = default_policy(instrument)
    return TEMPLATE.format(mean=p.targets.mean, lo=instrument.scale.min, hi=instrument.scale.max,
                           watch=p.targets.watch_mean, change=p.meaningful_change)
