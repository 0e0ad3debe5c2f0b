"""Method parameters: text -> typed values by the dataclass's annotations; the `methods` listing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from debias_core.cli import main
from debias_core.params import build_params, describe, form_fields, parse_pairs


@dataclass(frozen=True)
class Example:
    run: int | None = None
    gamma: float = 0.7
    steps: int = 10
    strict: bool = True
    prompt: str = ""
    nested: dict[str, Any] = field(default_factory=dict, metadata={"help": "inner params"})

    def check_inputs(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be >= 1")


def test_text_values_are_coerced_by_annotation():
    raw = parse_pairs(["run=3", "gamma=0.5", "strict=no", "prompt=a b", 'nested={"k": 1}'])
    params = build_params(Example(), raw)
    assert params == Example(run=3, gamma=0.5, strict=False, prompt="a b", nested={"k": 1})
    assert build_params(Example(run=2), {"run": "none"}).run is None
    assert build_params(Example(), {"steps": 4.0}).steps == 4  # JSON numbers from job params


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"bogus": "1"}, r"unknown method parameter\(s\) \['bogus'\]; valid: run, gamma"),
        ({"steps": "x"}, "parameter steps must be int"),
        ({"steps": 2.5}, "must be a whole number"),
        ({"strict": "maybe"}, "must be true or false"),
        ({"nested": "[1]"}, "must be a JSON object"),
        ({"steps": "0"}, "steps must be >= 1"),  # the dataclass's own check
    ],
)
def test_bad_values_are_short_errors(raw, message):
    with pytest.raises(ValueError, match=message):
        build_params(Example(), raw)


def test_pairs_need_an_equals_sign():
    with pytest.raises(ValueError, match="key=value"):
        parse_pairs(["gamma"])


def test_describe_lists_fields_with_defaults_and_help():
    rows = {r["name"]: r for r in describe(Example())}
    assert rows["gamma"]["default"] == 0.7 and rows["nested"]["help"] == "inner params"


def test_methods_command_lists_every_registry(capsys):
    assert main(["methods", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    diffinject = {f["name"]: f["default"] for f in table["generators"]["diffinject"]}
    assert diffinject["gamma"] == 0.7 and diffinject["t_edit"] == 0.5 and diffinject["k"] == 10
    # at least these (other methods register more)
    assert {"dbb", "judge", "segmentation", "clip-top-m"} <= set(table["policies"])
    scorers = {"softmax-shift", "ig-in-mask", "judge", "segmentation-check"}
    assert scorers | {"clip-label", "clip-centroid"} <= set(table["scorers"])
    assert set(table["segmenters"]) == {"dataset", "grounded-sam"}
    # the paper's value beside a demo default (DecoupleGen's SD-2 learning rates)
    per_image = {f["name"]: f for f in table["personalizers"]["per-image"]}
    assert per_image["lr_lora"]["default"] == 1e-3 and per_image["lr_lora"]["paper"] == 1e-6
    assert per_image["lr_tokens"]["paper"] == 1e-4 and "paper" not in per_image["masks"]
    assert {f["name"]: f.get("paper") for f in table["personalizers"]["group-lora"]}["rank"] == 16
    dbb_policy = {f["name"]: f.get("paper") for f in table["policies"]["dbb"]}
    assert dbb_policy["ig_output"] == "logit"


@dataclass(frozen=True)
class Choices:
    mode: Literal["soft", "hard"] = "soft"
    template: str = field(default="vanilla", metadata={"choices": ("vanilla", "ffr")})
    base_run: int | None = field(default=None, metadata={"runs": "gce", "help": "a GCE run"})
    steps: int = 10
    gamma: float = 0.5
    strict: bool = True
    prompt: str | None = None
    nested: dict[str, Any] = field(default_factory=dict)


def test_literal_and_choice_fields_accept_only_their_values():
    assert build_params(Choices(), {"mode": "hard", "template": "ffr"}).mode == "hard"
    with pytest.raises(ValueError, match=r"parameter mode must be one of \['soft', 'hard'\]"):
        build_params(Choices(), {"mode": "medium"})
    with pytest.raises(ValueError, match=r"parameter template must be one of \['vanilla', 'ffr'\]"):
        build_params(Choices(), {"template": "poem"})


def test_form_fields_say_which_widget_shows_each_field():
    specs = {f.name: f for f in form_fields(Choices())}
    assert {name: f.widget for name, f in specs.items()} == {
        "mode": "choice",
        "template": "choice",
        "base_run": "run",
        "steps": "integer",
        "gamma": "number",
        "strict": "bool",
        "prompt": "text",
        "nested": "json",
    }
    assert specs["mode"].choices == ("soft", "hard")
    assert specs["template"].choices == ("vanilla", "ffr")
    assert specs["base_run"].runs == ("gce",) and specs["base_run"].optional
    assert specs["base_run"].help == "a GCE run" and not specs["steps"].optional
    assert specs["prompt"].optional and specs["gamma"].default == 0.5
