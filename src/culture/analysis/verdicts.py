"""Verdicts and their reasons, in plain words: the one source every page reads.

A change, a leader-staff gap or a culture-quality association is called real in one
place (here), and the reason for each verdict is written beside it, so findings,
trend tables, briefs and caveats cannot disagree and no page says "not significant"
or "not tested" without saying why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from culture.frames import ASSOCIATED, NOISE, NOT_ASSOCIATED, PLAIN, PLAIN_GAP, REAL, SMALL
from culture.stats.change import benjamini_hochberg

__all__ = ["PLAIN", "PLAIN_GAP", "explain_changes", "explain_gaps", "linkage_verdicts"]


def fmt_q(q: float) -> str:
    return "q < 0.001" if q < 0.001 else f"q = {q:.3f}"


def fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _reasons(frame: pd.DataFrame, *, what: str, min_size: float, k_spread: int) -> list[str]:
    """Reason for each row's ``verdict`` (rows with diff, ci_low, ci_high, q)."""
    n_tests = int(np.isfinite(pd.to_numeric(frame["q"], errors="coerce")).sum())
    out = []
    for v, q, lo, hi in zip(frame["verdict"], frame["q"], frame["ci_low"], frame["ci_high"],
                            strict=True):
        if v == REAL:
            out.append(f"{fmt_q(q)} after correcting for the {n_tests} comparisons made this "
                       f"quarter, and at least the meaningful minimum of {min_size:.2f} points")
        elif v == SMALL:
            out.append(f"beyond noise ({fmt_q(q)}) but smaller than the meaningful minimum of "
                       f"{min_size:.2f} points")
        elif v == NOISE and (lo > 0 or hi < 0):
            out.append(f"the 95% CI excludes zero, but the {what} did not survive the "
                       f"correction for the {n_tests} comparisons made this quarter ({fmt_q(q)})")
        elif v == NOISE:
            out.append("within normal quarter-to-quarter noise (the 95% CI includes zero)"
                       if what == "change" else "within chance (the 95% CI includes zero)")
        else:
            out.append(f"not enough respondents to test: the spread of scores is released only "
                       f"for groups of at least {k_spread}")
    return out


def explain_changes(changes: pd.DataFrame, *, min_change: float, k_spread: int) -> pd.DataFrame:
    """The changes table with ``reason`` beside ``verdict``."""
    if changes.empty:
        return changes.assign(reason=pd.Series(dtype=str))
    return changes.assign(reason=_reasons(changes, what="change", min_size=min_change,
                                          k_spread=k_spread))


def explain_gaps(gaps: pd.DataFrame, *, min_gap: float, k_spread: int) -> pd.DataFrame:
    """The leader-staff gaps table with ``reason`` beside ``verdict``."""
    if gaps.empty or "verdict" not in gaps:
        return gaps.assign(reason=pd.Series(dtype=str))
    return gaps.assign(reason=_reasons(gaps, what="gap", min_size=min_gap, k_spread=k_spread))


def linkage_verdicts(models: pd.DataFrame, construct_ids, *, alpha: float = 0.05) -> pd.DataFrame:
    """``q`` (Benjamini-Hochberg across every culture term of the quarter's models),
    ``verdict`` and ``reason``: an association is reported only when it survives the
    correction, and is always worded as an association."""
    if models.empty:
        return models.assign(q=pd.Series(dtype=float), verdict=pd.Series(dtype=str),
                             reason=pd.Series(dtype=str))
    culture = models["term"].astype(str).isin(set(construct_ids)).to_numpy()
    p = pd.to_numeric(models["p"], errors="coerce").to_numpy(dtype=float)
    q = np.full(len(models), np.nan)
    tested = culture & np.isfinite(p)
    if tested.any():
        q[tested] = benjamini_hochberg(p[tested])
    n = int(tested.sum())
    verdicts, reasons = [], []
    for pi, qi, ok in zip(p, q, tested, strict=True):
        if not ok:
            verdicts.append("")
            reasons.append("")
        elif qi < alpha:
            verdicts.append(ASSOCIATED)
            reasons.append(f"{fmt_q(qi)} after correcting for the {n} culture terms tested")
        elif pi < alpha:
            verdicts.append(NOT_ASSOCIATED)
            reasons.append(f"{fmt_p(pi)} on its own, but not after correcting for the {n} "
                           f"culture terms tested ({fmt_q(qi)})")
        else:
            verdicts.append(NOT_ASSOCIATED)
            reasons.append(f"within chance ({fmt_p(pi)})")
    return models.assign(q=q, verdict=verdicts, reason=reasons)
