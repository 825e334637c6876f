"""The workspace policy: targets on the instrument's own scale, every problem listed at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from culture.cli import main
from culture.measure.instrument import load_instrument
from culture.pipeline.policy import POLICY_NAME, PolicyError, default_policy, load_policy

SEVEN_POINT = Path(__file__).parent / "fixtures" / "instruments" / "plant-pulse.yaml"


def test_defaults_follow_the_scale(instrument):
    # docs/policy.md: target = midpoint + range/8, watch and meaningful change = 5% of range.
    five = default_policy(instrument)
    assert (five.targets.mean, five.targets.watch_mean, five.meaningful_change) == (3.5, 0.2, 0.2)
    seven = default_policy(load_instrument(SEVEN_POINT))
    assert (seven.targets.mean, seven.targets.watch_mean, seven.meaningful_change) == (4.75, 0.3, 0.3)


def test_file_overrides_only_what_it_names(tmp_path, instrument):
    (tmp_path / POLICY_NAME).write_text("targets:\n  mean: 3.8\nthresholds:\n  comments: 12\n")
    policy = load_policy(tmp_path, instrument)
    assert policy.targets.mean == 3.8 and policy.targets.favourable == 60.0
    assert policy.thresholds.comments == 12 and policy.thresholds.scores == 5
    assert policy.source == POLICY_NAME


def test_every_problem_is_listed_with_its_key(tmp_path, instrument):
    (tmp_path / POLICY_NAME).write_text(yaml.safe_dump({
        "targets": {"mean": 6, "favorable": 60}, "focus_areas": -1,
        "thresholds": {"comments": 2}, "colour": "red"}))
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path, instrument)
    text = str(caught.value)
    for key in ("targets: mean", "targets: favorable", "focus_areas", "thresholds", "colour"):
        assert key in text, key
    assert len(caught.value.problems) == 5


def test_init_writes_a_template_that_reads_as_the_defaults(tmp_path, instrument):
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "init"]) == 0
    template = (ws / POLICY_NAME).read_text()
    assert "docs/policy.md" in template
    loaded, defaults = load_policy(ws, instrument), default_policy(instrument)
    assert (loaded.targets, loaded.meaningful_change, loaded.thresholds) == \
        (defaults.targets, defaults.meaningful_change, defaults.thresholds)
    (ws / POLICY_NAME).write_text(template.replace("#   mean: 3.5", "    mean: 3.5")
                                  .replace("# targets:", "targets:"))
    assert load_policy(ws, instrument).targets.mean == 3.5


def test_a_broken_policy_stops_a_command_with_a_config_error(tmp_path, capsys):
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "init"]) == 0
    (ws / POLICY_NAME).write_text("targets: [1, 2]\n")
    code = main(["--workspace", str(ws), "scores", "--wave", "2026Q1"])
    assert code != 0
    assert "internal error" not in capsys.readouterr().err
