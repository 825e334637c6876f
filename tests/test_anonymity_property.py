"""Property tests: over random org trees, group sizes, non-response and demographic
cuts, the independent audit (culture.audit, exact linear-algebra check included)
finds no derivable group of 1..k-1 people in what build_release publishes, and
the suppression pattern depends on counts only, never on answers.

The "known truth" here is the definition itself: a group is derivable iff its
indicator vector is a linear combination of the shown cells' indicator vectors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from culture.boundary import Thresholds, build_release, comments_long
from culture.boundary.aggregate import aggregate_wave
from culture.boundary.audit import audit_release
from test_anonymity import SMALL_INSTRUMENT, audit_frame, make_wave, score_inline

BANDS = ("staff", "lead", "manager", "X")


@st.composite
def waves(draw):
    n_units = draw(st.integers(1, 8))
    parents = [None] + [f"u{draw(st.integers(0, i - 1))}" for i in range(1, n_units)]
    tree = {}
    for i, parent in enumerate(parents):
        sizes = draw(st.lists(st.integers(0, 7), min_size=len(BANDS), max_size=len(BANDS)))
        # most units have few bands, which is where cuts leak
        sizes = [s if draw(st.booleans()) else 0 for s in sizes]
        tree[f"u{i}"] = (parent, dict(zip(BANDS, sizes, strict=True)))
    scores = draw(st.integers(3, 6))
    th = Thresholds(scores=scores, complements=draw(st.integers(3, 6)),
                    distributions=draw(st.integers(max(5, scores), 9)),
                    comments=draw(st.integers(5, 7)), sensitive=draw(st.integers(scores, 8)))
    by = draw(st.sampled_from([(), ("role_level",)]))
    skip = draw(st.floats(0.0, 0.4))
    seed = draw(st.integers(0, 10_000))
    return tree, th, by, skip, seed


def _build(tree, th, by, skip, seed):
    org, resp = make_wave(tree, seed=seed, comment_share=0.7)
    if len(resp):
        rng = np.random.default_rng(seed + 1)
        resp.loc[rng.random(len(resp)) < skip, "L1"] = np.nan  # item non-response changes item cells
    agg = aggregate_wave(resp, score_inline(resp), org, instrument=SMALL_INSTRUMENT, by=by)
    rel = build_release(agg, thresholds=th, comments=comments_long(resp, ["C1"]))
    return rel, org, resp


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(waves())
def test_audit_finds_no_derivable_small_group(case):
    tree, th, by, skip, seed = case
    org, resp = make_wave(tree, seed=seed)
    if resp.empty:
        return
    rel, org, resp = _build(tree, th, by, skip, seed)
    result = audit_release(audit_frame(resp), org, rel, exact=True)
    assert result.passed, result.breaches.to_string()


def _pattern(rel) -> pd.DataFrame:
    frames = [rel.table(t)[["unit_id", "status"]].assign(t=t, key=rel.table(t).get("measure", "-"))
              for t in ("scores", "items", "response_rates", "cuts")]
    spread = [rel.table(t)["sd"].notna().rename("sd_shown").to_frame() for t in ("scores", "items", "cuts")]
    return pd.concat(frames + spread, axis=1).reset_index(drop=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(waves(), st.integers(0, 1000))
def test_permuting_answers_within_cells_never_changes_the_pattern(case, perm_seed):
    tree, th, by, skip, seed = case
    org, resp = make_wave(tree, seed=seed)
    if resp.empty:
        return
    rel, org, resp = _build(tree, th, by, skip, seed)
    # shuffle the answer vectors (whole rows of items, so non-response moves with them) among
    # the people of each unit x band cell: every count stays the same, the answers move.
    rng = np.random.default_rng(perm_seed)
    items = list(SMALL_INSTRUMENT.item_ids) + ["C1"]
    shuffled = resp.copy()
    for _, idx in resp.groupby(["unit_id", "role_level"]).groups.items():
        shuffled.loc[idx, items] = resp.loc[rng.permutation(idx), items].to_numpy()
    # and replace the answers themselves by fresh random ones where answered
    fresh = rng.integers(1, 6, (len(resp), len(items) - 1)).astype(float)
    answered = shuffled[items[:-1]].notna().to_numpy()
    shuffled[items[:-1]] = np.where(answered, fresh, np.nan)
    agg = aggregate_wave(shuffled, score_inline(shuffled), org, instrument=SMALL_INSTRUMENT, by=by)
    other = build_release(agg, thresholds=th, comments=comments_long(shuffled, ["C1"]))
    pd.testing.assert_frame_equal(_pattern(rel), _pattern(other))
    assert set(rel.comments["unit_id"]) == set(other.comments["unit_id"])
