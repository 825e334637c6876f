"""culture.quality_link: released scores only, the wiring of the linkage and driver models.

Planted-truth recovery over several seeds lives in tests/test_link_recovery.py; the
statistical cores are checked against Stata / R output in test_linkage_reference.py
and test_drivers.py. Here: the confidentiality boundary (only released cells reach a
model), refusal below thresholds.models, validation, the tidy tables and wording.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from culture import stats as lk
from culture.analysis.drivers import DRIVER_COLUMNS, analyse_drivers
from culture.analysis.quality import (
    CROSS_COLUMNS,
    FIT_COLUMNS,
    MODEL_COLUMNS,
    NOTE_DETECTION,
    analyse_linkage,
    released_unit_scores,
)
from culture.analysis.quality import (
    default_predictors as _default_predictors,
)
from culture.boundary import RELEASED, SUPPRESSED, Release, Thresholds
from culture.boundary.release import STATS
from culture.errors import ConfigError
from culture.measure.instrument import load_default_instrument
from culture.measure.scoring import score
from culture.pipeline import synthetic_releases
from culture.stats.drivers import dominance_analysis, relative_weights

INSTRUMENT = load_default_instrument()
HEADLINE = tuple(c.id for c in INSTRUMENT.headline_constructs)


def linkage(*args, **kwargs):
    return analyse_linkage(*args, instrument=INSTRUMENT, **kwargs)


def default_predictors(outcome, available=None):
    return _default_predictors(INSTRUMENT, outcome, available)


def make_releases(org, instrument):
    """One Release per wave, as the pipeline makes them."""
    return synthetic_releases(org, instrument)


@pytest.fixture(scope="session")
def releases(demo_org, instrument):
    return make_releases(demo_org, instrument)


@pytest.fixture(scope="session")
def report(releases, demo_org):
    return linkage(releases, demo_org.quality_events, demo_org.exposure,
                           thresholds=Thresholds())


def _released_team_cells(releases) -> pd.DataFrame:
    """Long table of released team construct means straight from the releases."""
    rows = []
    for wave, rel in releases.items():
        s = rel.scores
        teams = rel.units.loc[rel.units["unit_id"].str.count("-") == 2, "unit_id"]
        s = s[s["unit_id"].isin(teams) & (s["kind"] == "construct")]
        rows.append(s.assign(quarter=wave))
    return pd.concat(rows, ignore_index=True)


def _suppress_unit(rel: Release, unit: str) -> Release:
    """The same release with every construct cell of ``unit`` marked suppressed."""
    tables = {name: rel.table(name) for name in ("units", "scores", "items", "response_rates",
                                                  "cuts", "comments")}
    s = tables["scores"]
    hit = (s["unit_id"] == unit) & (s["kind"] == "construct")
    s.loc[hit, "status"] = SUPPRESSED
    s["n"] = s["n"].astype("Int64").mask(hit)
    for col in STATS:
        s.loc[hit, col] = np.nan
    tables["scores"] = s
    return Release(wave=rel.wave, instrument_id=rel.instrument_id,
                   instrument_version=rel.instrument_version, thresholds=rel.thresholds,
                   demographic=rel.demographic, _tables=tables, notes=rel.notes)


# --------------------------------------------------------------------------------------
# released_unit_scores
# --------------------------------------------------------------------------------------

def test_released_unit_scores_are_the_released_team_means(releases, instrument):
    wide = released_unit_scores(releases)
    culture = [c.id for c in instrument.culture_constructs]
    assert list(wide.columns) == ["unit_id", "quarter", *culture]   # no outcome index
    assert (wide["unit_id"].str.count("-") == 2).all()              # deepest level: teams
    assert not wide.duplicated(["unit_id", "quarter"]).any()
    assert (wide[culture].dtypes == "float64").all()
    cells = _released_team_cells(releases)
    shown = cells[cells["status"] == RELEASED]
    long = wide.melt(id_vars=["unit_id", "quarter"], var_name="measure",
                     value_name="value").dropna(subset=["value"])
    both = shown.merge(long, on=["unit_id", "quarter", "measure"], how="outer", indicator=True)
    # every released cell is there with its released mean, and nothing else is
    assert (both["_merge"] == "both").all()
    np.testing.assert_allclose(both["value"], both["mean"], rtol=0, atol=0)
    # each row has at least one released cell: a fully suppressed unit has no row
    assert wide[culture].notna().any(axis=1).all()


def test_a_suppressed_team_contributes_no_row_for_that_quarter(releases, report):
    cells = _released_team_cells(releases)
    status = cells.groupby(["unit_id", "quarter"])["status"].agg(lambda s: (s == RELEASED).any())
    hidden = status[~status].index
    assert len(hidden) > 20   # the default organisation has many teams below k = 5
    wide = released_unit_scores(releases)
    present = pd.MultiIndex.from_frame(wide[["unit_id", "quarter"]])
    assert not present.isin(hidden).any()
    # in the panel those unit-quarters keep their register counts but no score, and the
    # next quarter has no lagged score, so no model row can use them
    panel = report.panel.set_index(["unit_id", "quarter"])
    rows = panel.index.intersection(hidden)
    assert len(rows) > 0 and panel.loc[rows, list(HEADLINE)].isna().all().all()


def test_tampering_a_cell_to_suppressed_removes_it_from_the_panel(releases, report, demo_org):
    waves = list(releases)
    panel = report.panel
    # a team released in quarter t-1 whose row at t is used by the customer-NC model
    usable = panel[panel[[f"{c}_lag1" for c in default_predictors("nc_customer")]]
                   .notna().all(axis=1) & (panel["exposure"] > 0)]
    row = usable[usable["quarter"] == waves[4]].iloc[0]
    unit, prev = row["unit_id"], waves[3]
    tampered = dict(releases)
    tampered[prev] = _suppress_unit(releases[prev], unit)

    wide = released_unit_scores(tampered)
    assert not ((wide["unit_id"] == unit) & (wide["quarter"] == prev)).any()
    before = released_unit_scores(releases)
    assert len(wide) == len(before) - 1

    after = linkage(tampered, demo_org.quality_events, demo_org.exposure,
                            thresholds=Thresholds(), kpis=(), cross_lagged_pairs=())
    p = after.panel.set_index(["unit_id", "quarter"])
    assert p.loc[(unit, prev), list(HEADLINE)].isna().all()
    assert p.loc[(unit, waves[4]), [f"{c}_lag1" for c in HEADLINE]].isna().all()
    n_before = report.fits.set_index("scope").loc["nc_customer", "n_obs"]
    n_after = after.fits.set_index("scope").loc["nc_customer", "n_obs"]
    assert n_after == n_before - 1


def test_level_selects_an_org_depth_or_a_label(releases):
    depts = released_unit_scores(releases, level=2)
    assert set(depts["unit_id"].str.count("-")) == {1}
    org = released_unit_scores(releases, level=0)
    assert set(org["unit_id"]) == {"ORG"} and len(org) == len(releases)
    # a label works when the releases carry level labels (an org chart may name them)
    labelled = {}
    for wave, rel in releases.items():
        tables = {n: rel.table(n) for n in ("units", "scores", "items", "response_rates",
                                            "cuts", "comments")}
        depth = tables["units"]["unit_id"].str.count("-").where(tables["units"]["unit_id"] != "ORG", -1)
        tables["units"]["level"] = depth.map({-1: "organisation", 0: "site", 1: "department",
                                              2: "team"})
        labelled[wave] = Release(wave=rel.wave, instrument_id=rel.instrument_id,
                                 instrument_version=rel.instrument_version,
                                 thresholds=rel.thresholds, demographic=rel.demographic,
                                 _tables=tables)
    pd.testing.assert_frame_equal(released_unit_scores(labelled, level="team"),
                                  released_unit_scores(releases))
    with pytest.raises(ConfigError, match="matches no unit's level label"):
        released_unit_scores(labelled, level="line")


def test_only_release_objects_are_accepted(demo_org):
    responses = demo_org.responses_of(demo_org.waves[0])
    with pytest.raises(ConfigError) as err:
        linkage({"2025Q1": responses, "2025Q2": "x"}, demo_org.quality_events,
                        demo_org.exposure, thresholds=Thresholds())
    msg = str(err.value)
    assert "releases['2025Q1'] must be a Release" in msg and "releases['2025Q2']" in msg
    with pytest.raises(ConfigError, match="non-empty mapping"):
        released_unit_scores(responses)
    with pytest.raises(ConfigError, match="parameter 'level'"):
        released_unit_scores({}, level=-1)


def test_release_keys_must_be_their_waves(releases):
    first, second = list(releases)[:2]
    with pytest.raises(ConfigError, match="the key must be the release's own wave"):
        released_unit_scores({first: releases[second]})


# --------------------------------------------------------------------------------------
# analyse_linkage
# --------------------------------------------------------------------------------------

def test_report_tables_are_tidy_and_complete(report):
    t = report.tables
    assert set(t) == {"models", "cross_lagged", "fits", "dropped", "notes"}
    assert list(t["models"].columns) == list(MODEL_COLUMNS)
    assert list(t["cross_lagged"].columns) == list(CROSS_COLUMNS)
    assert list(t["fits"].columns) == list(FIT_COLUMNS)
    fits = t["fits"].set_index("scope")
    outcomes = ["nc_customer", "nc_internal", "complaints", "audit_total"]
    # cross-lagged checks: every headline construct against every count outcome with events
    assert list(fits.index) == [*outcomes, "capa_days_to_close_mean", "capa_on_time_share",
                                *(f"{c} x {o}" for o in outcomes for c in HEADLINE)]
    m = t["models"]
    fitted = fits[(fits["status"] == "fitted") & (fits["model"] != "cross_lagged")]
    assert set(m["outcome"]) == set(fitted.index)
    # internally and customer-detected nonconformities are separate models
    assert {"nc_internal", "nc_customer"} <= set(m["outcome"])
    counts = m[m["model"] == "count"]
    np.testing.assert_allclose(counts["rate_ratio"], np.exp(counts["estimate"]), rtol=1e-12)
    assert (counts["ci_low"] < counts["rate_ratio"]).all()
    assert (counts["rate_ratio"] < counts["ci_high"]).all()
    assert m.loc[m["model"] == "continuous", "rate_ratio"].isna().all()
    assert (m["lag"] == 1).all() and (m["n_units"] >= Thresholds().models).all()
    assert set(m["component"]) == {"within", "between"}
    # the tables are copies: editing one does not change the report
    t["models"].loc[:, "p"] = -1.0
    assert (report.tables["models"]["p"] >= 0).all()


def test_default_predictors_are_headline_plus_the_specific_construct(report):
    assert default_predictors("nc_customer") == HEADLINE
    assert default_predictors("nc_internal") == (*HEADLINE, "speaking_up")
    assert default_predictors("audit_total") == (*HEADLINE, "compliance_risk")
    assert default_predictors("capa_days_to_close_mean") == (*HEADLINE, "continuous_improvement")
    assert default_predictors("nc_internal", ["ownership", "speaking_up"]) == \
        ("ownership", "speaking_up")
    m = report.models
    for outcome in ("nc_customer", "audit_total", "capa_days_to_close_mean"):
        assert m.loc[m["outcome"] == outcome, "term"].unique().tolist() == \
            list(default_predictors(outcome))
    # speaking up holds sensitive items, so it is released only for teams of at least the
    # sensitive threshold: too few of those in this organisation, left out with a note
    assert m.loc[m["outcome"] == "nc_internal", "term"].unique().tolist() == list(HEADLINE)
    notes = report.note_table.query("scope == 'nc_internal'")["note"]
    assert notes.str.contains("speaking_up left out: released for fewer than 30 units").any()


def test_report_equals_the_core_models_on_the_released_panel(report, releases, demo_org):
    # the wiring adds nothing to the estimates: same numbers as count_model / continuous_model
    direct = lk.count_model(report.panel, outcome="complaints", predictors=HEADLINE,
                            min_units=30)
    got = report.models[report.models["outcome"] == "complaints"].reset_index(drop=True)
    for col in ("estimate", "se", "rate_ratio", "ci_low", "ci_high", "p"):
        np.testing.assert_allclose(got[col], direct.table[col], rtol=1e-12)
    kpi = lk.continuous_model(report.panel, outcome="capa_on_time_share",
                              predictors=default_predictors("capa_on_time_share"), min_units=30)
    got = report.models[report.models["outcome"] == "capa_on_time_share"]
    np.testing.assert_allclose(got["estimate"], kpi.table["estimate"], rtol=1e-10)
    # the models threshold at its floor (20) lets this organisation's cross-lagged checks run
    low = linkage(releases, demo_org.quality_events, demo_org.exposure,
                  thresholds=Thresholds(models=20))
    fitted = low.fits.query("model == 'cross_lagged' and status == 'fitted'")["scope"].iloc[0]
    construct, outcome = fitted.split(" x ")
    cl = lk.cross_lagged(low.panel, construct=construct, outcome=outcome, min_units=20)
    got = low.cross_lagged[(low.cross_lagged["construct"] == construct)
                           & (low.cross_lagged["outcome"] == outcome)]
    np.testing.assert_allclose(got["estimate"], cl.table["estimate"], rtol=1e-12)


def test_models_below_the_threshold_are_refused_with_a_note(releases, demo_org):
    n_teams = released_unit_scores(releases)["unit_id"].nunique()
    k = n_teams + 5   # more units than the organisation has teams
    rep = linkage(releases, demo_org.quality_events, demo_org.exposure,
                          thresholds=Thresholds(models=k))
    assert (rep.fits["status"] == "refused").all()
    assert rep.models.empty and rep.cross_lagged.empty
    assert list(rep.models.columns) == list(MODEL_COLUMNS)
    assert rep.fits["reason"].str.contains(f"at least {k} units").all()
    assert any("not estimated" in n for n in rep.notes)
    assert "not estimated" in rep.summary()


def test_notes_and_wording_are_associational(report):
    text = report.summary().lower()
    assert "associated with" in text
    for claim in ("causes fewer", "leads to", "drives", "because of", "reduces"):
        assert claim not in text
    assert NOTE_DETECTION in report.notes
    assert "not automatically bad news" in NOTE_DETECTION
    assert report.note_table["scope"].iloc[0] == "all"
    assert "not evidence" in report.notes[0]
    html = report._repr_html_()
    assert "associated with" in html.lower() and html.startswith("<p>")


def test_predictor_override_by_list_and_by_outcome(releases, demo_org):
    rep = linkage(releases, demo_org.quality_events, demo_org.exposure,
                          thresholds=Thresholds(), outcomes=("nc_customer", "complaints"),
                          kpis=(), cross_lagged_pairs=(),
                          predictors={"complaints": ["ownership", "communication"]})
    terms = rep.models.groupby("outcome")["term"].unique()
    assert list(terms["complaints"]) == ["ownership", "communication"]
    assert list(terms["nc_customer"]) == list(HEADLINE)
    rep = linkage(releases, demo_org.quality_events, demo_org.exposure,
                          thresholds=Thresholds(), outcomes=("nc_customer",), kpis=(),
                          cross_lagged_pairs=(), predictors=["ownership"])
    assert rep.models["term"].unique().tolist() == ["ownership"]


def test_specification_problems_are_collected_and_raised_once(releases, demo_org):
    with pytest.raises(ConfigError) as err:
        linkage(releases, demo_org.quality_events, demo_org.exposure,
                        thresholds={"models": 30}, outcomes=("nc_customer", "defects"),
                        kpis=("capa_speed",), predictors={"nc_customer": ["morale"]},
                        cross_lagged_pairs=(("trust", "nc_customer"),), lag=0)
    msg = str(err.value)
    for part in ("'thresholds'", "'lag'", "'defects'", "'capa_speed'", "'morale'", "'trust'"):
        assert part in msg


def test_inputs_are_not_mutated(releases, demo_org):
    events, exposure = demo_org.quality_events.copy(), demo_org.exposure.copy()
    before = {w: r.scores for w, r in releases.items()}
    linkage(releases, events, exposure, thresholds=Thresholds(), kpis=(),
                    cross_lagged_pairs=(), outcomes=("complaints",))
    pd.testing.assert_frame_equal(events, demo_org.quality_events)
    pd.testing.assert_frame_equal(exposure, demo_org.exposure)
    for w, r in releases.items():
        pd.testing.assert_frame_equal(r.scores, before[w])


# --------------------------------------------------------------------------------------
# analyse_drivers
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def all_waves(demo_org, instrument):
    return demo_org.responses, score(demo_org.responses, instrument)


def test_drivers_count_each_respondent_once_and_match_the_cores(all_waves, instrument):
    responses, scored = all_waves
    rep = analyse_drivers(responses, scored, instrument=instrument, thresholds=Thresholds(),
                          n_boot=200, seed=3)
    culture = [c.id for c in instrument.culture_constructs]
    assert rep.status == "fitted"
    assert list(rep.table.columns) == list(DRIVER_COLUMNS)
    assert sorted(rep.table["construct"]) == sorted(culture)
    assert rep.table["rank"].tolist() == sorted(rep.table["rank"])
    # one row per person: the mean of their (non-duplicate) responses over the waves
    keep = ~scored.flags["duplicate"] & ~scored.excluded
    per = (scored.scores.loc[keep, [*culture, "quality_engagement"]]
           .groupby(responses.loc[keep, "respondent"]).mean())
    assert rep.n == len(per.dropna())
    assert rep.n < int(keep.sum()) / 2   # far fewer people than responses over 8 waves
    rw = relative_weights(per[culture], per["quality_engagement"], n_boot=200, seed=3)
    da = dominance_analysis(per[culture], per["quality_engagement"])
    got = rep.table.set_index("construct")
    np.testing.assert_allclose(got.loc[culture, "raw_weight"], rw.table["raw_weight"], rtol=1e-12)
    np.testing.assert_allclose(got.loc[culture, "ci_low"], rw.table["ci_low"], rtol=1e-12)
    np.testing.assert_allclose(got.loc[culture, "general_dominance"],
                               da.table["general_dominance"], rtol=1e-12)
    assert np.isclose(rep.r_squared, rw.r_squared)
    assert "associations" in rep.summary()


def test_drivers_are_refused_below_the_model_threshold(demo_org, instrument):
    wave = demo_org.responses_of(demo_org.waves[0])
    few = wave[wave["unit_id"].str.startswith("S1-D1")].reset_index(drop=True)
    scored = score(few, instrument)
    n_people = few["respondent"].nunique()
    assert 0 < n_people < 60
    rep = analyse_drivers(few, scored, instrument=instrument,
                          thresholds=Thresholds(models=max(n_people + 1, 30)), n_boot=10)
    assert rep.status == "refused" and rep.table.empty
    assert list(rep.table.columns) == list(DRIVER_COLUMNS)
    assert "not estimated" in rep.summary()


def test_driver_problems_are_collected(all_waves, instrument):
    responses, scored = all_waves
    with pytest.raises(ConfigError) as err:
        analyse_drivers(responses.iloc[:10], scored, instrument=instrument, outcome="morale",
                        thresholds=None, predictors=["ownership", "trust"], n_boot=-1)
    msg = str(err.value)
    for part in ("'thresholds'", "'n_boot'", "aligned", "'morale'", "'trust'"):
        assert part in msg
