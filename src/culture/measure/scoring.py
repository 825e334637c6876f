"""Scoring: reverse keys, the min-items rule, construct scores, favourability, quality flags.

Everything is vectorised over the whole wave (numpy on the item matrix); there
is no per-respondent Python loop, so a wave of a million respondents scores in
seconds. Flags never delete anything: exclusion is an explicit option that is
reported in :attr:`ScoredWave.notes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from culture import frames as F
from culture.errors import ScoringError
from culture.measure.instrument import Instrument

FLAG_COLUMNS = ("straightliner", "speeder", "duplicate", "partial")
EXCLUDABLE = frozenset(FLAG_COLUMNS)


@dataclass(frozen=True)
class ScoredWave:
    """Scores of one or more waves, aligned to the responses' index.

    Attributes
    ----------
    scores : float64 DataFrame, one column per construct id: mean of the answered
        (reverse-keyed) items, NaN where fewer than ``instrument.min_items(c)`` were answered.
    keyed : float64 DataFrame of item codes after reverse keying (``min + max - code``).
    favourable : float64 DataFrame per item: 1.0 when the keyed answer is a favourable code,
        0.0 when not, NaN when unanswered.
    answered : int DataFrame per construct: number of items answered.
    flags : bool DataFrame with :data:`FLAG_COLUMNS`.
    excluded : bool Series, True for responses dropped by ``exclude=`` (kept in every frame,
        scored NaN, so nothing disappears silently).
    notes : human-readable notes on what was flagged and excluded.
    """

    scores: pd.DataFrame
    keyed: pd.DataFrame
    favourable: pd.DataFrame
    answered: pd.DataFrame
    flags: pd.DataFrame
    excluded: pd.Series
    notes: tuple[str, ...] = field(default_factory=tuple)

    def construct_favourable(self, instrument: Instrument) -> pd.DataFrame:
        """Per respondent and construct: share of answered items that are favourable."""
        out = {}
        for c in instrument.constructs:
            cols = [i.id for i in instrument.items_of(c.id)]
            out[c.id] = self.favourable[cols].mean(axis=1, skipna=True)
        return pd.DataFrame(out, index=self.favourable.index).where(~self.scores.isna())


def check_codes(responses: pd.DataFrame, instrument: Instrument) -> None:
    """Raise :class:`ScoringError` if any item holds a value outside the scale.

    Validation normally catches this at ingest; scoring re-checks because it
    must never average a stray 99 into a score. The message names the columns
    and the number of bad cells, not the values.
    """
    items = list(instrument.item_ids)
    missing = [c for c in items if c not in responses.columns]
    if missing:
        raise ScoringError(f"responses lack item columns {missing}; expected every item of "
                           f"instrument {instrument.id} {instrument.version}")
    values = responses[items].to_numpy(dtype="float64", na_value=np.nan)
    lo, hi = instrument.scale.min, instrument.scale.max
    bad = ~np.isnan(values) & ((values < lo) | (values > hi) | (values != np.round(values)))
    if bad.any():
        counts = bad.sum(axis=0)
        where = ", ".join(f"{items[j]} ({counts[j]} cells)" for j in np.flatnonzero(counts))
        raise ScoringError(f"item answers outside the scale {lo}..{hi} (whole codes only) in: {where}; "
                           "fix the data or declare the code as non-substantive in the instrument")


def score(responses: pd.DataFrame, instrument: Instrument, *, min_item_share: float | None = None,
          exclude: Sequence[str] = (), speeder_ratio: float = 1 / 3,
          straightline_min_items: int = 10) -> ScoredWave:
    """Score responses against an instrument.

    Parameters
    ----------
    responses : canonical responses frame (see :mod:`culture.frames`); not modified.
    instrument : the instrument whose items and constructs define the scores.
    min_item_share : overrides the instrument's minimum share of answered items per construct.
    exclude : flags whose responses are excluded from scores (any of :data:`FLAG_COLUMNS`).
    speeder_ratio : a response faster than this share of the wave's median duration is a speeder.
    straightline_min_items : answered items needed before identical answers count as straight-lining.

    Notes
    -----
    Construct score = mean of the answered, reverse-keyed items (the "mean of available
    items" rule, as `psych::scoreItems(..., impute="none")`), withheld when fewer than
    ``ceil(share * n_items)`` items are answered.
    """
    unknown = sorted(set(exclude) - EXCLUDABLE)
    if unknown:
        raise ScoringError(f"exclude={unknown} not understood; allowed flags: {sorted(EXCLUDABLE)}")
    if min_item_share is not None and not 0 < min_item_share <= 1:
        raise ScoringError(f"min_item_share must be in (0, 1], got {min_item_share}")
    check_codes(responses, instrument)

    scale = instrument.scale
    items = list(instrument.item_ids)
    # Memory: a wave of a million people is a large matrix, so it is held once as raw codes,
    # flagged, then keyed in place; favourable is the only other matrix of its size. Both
    # are column-major, the layout a DataFrame keeps, so wrapping them copies nothing.
    raw = np.empty((len(responses), len(items)), dtype="float64", order="F")
    for j, item in enumerate(items):
        raw[:, j] = responses[item].to_numpy(dtype="float64", na_value=np.nan)
    flags = _flags(responses, raw, straightline_min_items=straightline_min_items,
                   speeder_ratio=speeder_ratio)
    reverse = np.flatnonzero([instrument.item(i).reverse for i in items])
    keyed = raw
    keyed[:, reverse] = scale.min + scale.max - keyed[:, reverse]
    favourable = np.zeros_like(keyed)
    for code in scale.favourable:
        favourable[keyed == code] = 1.0
    favourable[np.isnan(keyed)] = np.nan
    excluded = flags[list(exclude)].any(axis=1) if exclude else pd.Series(False, index=responses.index)

    position = {item: j for j, item in enumerate(items)}
    scores, answered = {}, {}
    for c in instrument.constructs:
        cols = [position[i.id] for i in instrument.items_of(c.id)]
        block = keyed[:, cols]
        n = (~np.isnan(block)).sum(axis=1)
        need = (max(1, int(np.ceil(min_item_share * len(cols)))) if min_item_share is not None
                else instrument.min_items(c.id))
        with np.errstate(invalid="ignore"):
            mean = np.nansum(block, axis=1) / np.where(n > 0, n, 1)
        scores[c.id] = np.where((n >= need) & ~excluded.to_numpy(), mean, np.nan)
        answered[c.id] = n

    index = responses.index
    notes = tuple(f"{int(flags[f].sum())} response(s) flagged {f}" for f in FLAG_COLUMNS
                  if flags[f].any())
    if exclude:
        notes += (f"{int(excluded.sum())} response(s) excluded from scores for: "
                  f"{', '.join(exclude)}",)
    return ScoredWave(
        scores=pd.DataFrame(scores, index=index),
        keyed=pd.DataFrame(keyed, index=index, columns=items, copy=False),
        favourable=pd.DataFrame(favourable, index=index, columns=items, copy=False),
        answered=pd.DataFrame(answered, index=index),
        flags=flags,
        excluded=excluded.rename("excluded"),
        notes=notes,
    )


def _flags(responses: pd.DataFrame, raw: np.ndarray, *, straightline_min_items: int,
           speeder_ratio: float) -> pd.DataFrame:
    n_answered = (~np.isnan(raw)).sum(axis=1)
    # Straight-lining: every answered item has the same raw code. Because most
    # constructs mix reverse-keyed items, identical raw codes are inconsistent.
    # fmax / fmin skip missing answers without copying the matrix
    spread = np.fmax.reduce(raw, axis=1) - np.fmin.reduce(raw, axis=1)
    straight = (n_answered >= straightline_min_items) & (spread == 0)

    speeder = np.zeros(len(responses), dtype=bool)
    if F.DURATION in responses:
        duration = responses[F.DURATION].to_numpy(dtype="float64", na_value=np.nan)
        waves = responses[F.WAVE] if F.WAVE in responses else pd.Series("", index=responses.index)
        median = pd.Series(duration, index=responses.index).groupby(waves.to_numpy()).transform("median")
        speeder = duration < speeder_ratio * median.to_numpy()

    duplicate = np.zeros(len(responses), dtype=bool)
    if F.RESPONDENT in responses:
        keys = [F.RESPONDENT] + ([F.WAVE] if F.WAVE in responses else [])
        known = responses[F.RESPONDENT].notna().to_numpy()
        # Keep the last submission of a person in a wave; flag the earlier ones.
        duplicate = responses.duplicated(subset=keys, keep="last").to_numpy() & known

    # Partial: the tool says unfinished, or fewer than half the items answered.
    partial = n_answered < raw.shape[1] / 2
    if F.FINISHED in responses:
        partial |= ~responses[F.FINISHED].fillna(False).astype(bool).to_numpy()

    return pd.DataFrame({"straightliner": straight, "speeder": speeder, "duplicate": duplicate,
                         "partial": partial}, index=responses.index)


def favourability(scored: ScoredWave, instrument: Instrument, groups: pd.Series | None = None
                  ) -> pd.DataFrame:
    """% favourable per construct, pooled over item answers (favourable answers / answers).

    With ``groups`` (aligned to the responses), one row per group.
    """
    out = {}
    valid = ~scored.excluded
    for c in instrument.constructs:
        cols = [i.id for i in instrument.items_of(c.id)]
        block = scored.favourable.loc[valid, cols]
        fav = block.sum(axis=1, min_count=1)
        n = block.notna().sum(axis=1)
        if groups is None:
            out[c.id] = pd.Series({"all": fav.sum() / n.sum() if n.sum() else np.nan})
        else:
            g = groups[valid]
            out[c.id] = fav.groupby(g).sum() / n.groupby(g).sum().replace(0, np.nan)
    return pd.DataFrame(out)
