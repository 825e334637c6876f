"""Instrument loading: the shipped survey is valid; every kind of mistake is reported, all at once."""

from __future__ import annotations

import copy

import pytest
import yaml

from culture.errors import InstrumentError
from culture.measure.instrument import (
    fold_label,
    load_instrument,
    parse_instrument,
)
from culture.resources import default_instrument_path


@pytest.fixture()
def doc():
    return yaml.safe_load(default_instrument_path().read_text(encoding="utf-8"))


def _problems(doc):
    with pytest.raises(InstrumentError) as err:
        parse_instrument(doc, source="test.yaml")
    return err.value.problems, str(err.value)


def test_shipped_instrument_meets_the_brief(instrument):
    culture = instrument.culture_constructs
    assert len(culture) >= 9
    required = {"leadership_commitment", "communication", "ownership", "resources", "quality_culture",
                "continuous_improvement", "compliance_risk", "leading_by_example", "speaking_up"}
    assert required <= set(instrument.construct_ids)
    assert {c.id for c in instrument.headline_constructs} == {"leadership_commitment", "communication",
                                                              "ownership"}
    for c in culture:
        assert 4 <= len(instrument.items_of(c.id)) <= 6, c.id
        assert c.clauses, c.id
    with_reverse = [c for c in culture if any(i.reverse for i in instrument.items_of(c.id))]
    assert len(with_reverse) >= len(culture) - 1
    assert any(c.kind == "outcome" for c in instrument.constructs)
    assert 1 <= len(instrument.comments) <= 2
    role = instrument.demographic("role_level")
    assert role.leader_codes and set(role.leader_codes) < set(role.codes)


def test_min_items_rounds_up(instrument):
    # 6 items at share 0.5 -> 3; 5 items -> 3 (ceil 2.5); 3 items -> 2.
    assert instrument.min_items("leadership_commitment") == 3
    assert instrument.min_items("quality_culture") == 3
    assert instrument.min_items("quality_engagement") == 2


def test_every_problem_is_reported_at_once(doc):
    bad = copy.deepcopy(doc)
    bad["colour"] = "blue"                                   # unknown top-level key
    bad["scale"]["labels"][7] = "Way too much"               # label code outside the scale
    bad["items"].append(dict(bad["items"][0]))               # duplicate item id (and text)
    bad["items"].append({"id": "ZZ1", "construct": "nowhere", "text": "Orphan item"})
    bad["constructs"][0]["clauses"].append("5.1.1 z")        # no such sub-clause
    bad["constructs"][1]["clauses"].append("five point two")  # malformed reference
    bad["constructs"][2]["clauses"].append("8.9")            # unknown clause
    bad["items"][1]["reverse"] = "yes"                       # not a boolean
    bad["constructs"].append({"id": "empty_one", "name": "Empty", "clauses": ["7.4"]})
    problems, message = _problems(bad)
    text = "\n".join(map(str, problems))
    expected = ["unknown key 'colour'", "label code outside the scale", "duplicate item id 'LC1'",
                "item is in no known construct", "has no item 'z'", "malformed ISO 9001 clause",
                "unknown ISO 9001:2015 clause '8.9'", "expected true or false",
                "construct has no items", "same text"]
    for fragment in expected:
        assert fragment in text, fragment
    assert f"{len(problems)} problem(s)" in message
    assert "test.yaml" in message


def test_problems_are_located(doc):
    bad = copy.deepcopy(doc)
    bad["items"][3]["construct"] = "missing_construct"
    problems, _ = _problems(bad)
    assert [p.where for p in problems] == ["items[LC4].construct"]


def test_missing_required_keys_and_bad_scale(doc):
    bad = copy.deepcopy(doc)
    del bad["title"]
    bad["scale"]["favourable"] = [4, 6]
    bad["scale"]["non_substantive"] = {3: "Don't know"}
    bad["min_item_share"] = 1.5
    problems, _ = _problems(bad)
    text = "\n".join(map(str, problems))
    assert "missing required key 'title'" in text
    assert "favourable code 6 outside the scale" in text
    assert "must be an integer outside 1..5" in text
    assert "min_item_share must be a number in (0, 1]" in text


def test_demographic_codebook_checks(doc):
    bad = copy.deepcopy(doc)
    bad["demographics"][1]["leader_codes"] = ["director"]
    bad["demographics"][0]["missing"] = {"code": "T1", "label": "Prefer not to say"}
    problems, _ = _problems(bad)
    text = "\n".join(map(str, problems))
    assert "leader code 'director' is not in the codebook" in text
    assert "clashes with a band code" in text


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nscale: [1, 2\n", encoding="utf-8")
    with pytest.raises(InstrumentError, match=r"broken\.yaml.*\n.*line \d+"):
        load_instrument(path)


def test_missing_file(tmp_path):
    with pytest.raises(InstrumentError, match="file not found"):
        load_instrument(tmp_path / "nope.yaml")


def test_instrument_is_frozen(instrument):
    with pytest.raises(AttributeError):
        instrument.version = "2"  # type: ignore[misc]


def test_fold_label_matches_spreadsheet_variants():
    assert fold_label("  Strongly\u00a0AGREE ") == fold_label("strongly agree")
    assert fold_label("Don\u2019t know") == fold_label("don't know")
    assert fold_label("ｓｔｒｏｎｇｌｙ agree") == "strongly agree"  # full-width (NFKC)
