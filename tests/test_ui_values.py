"""The value checks behind the app's endpoints, on their own (no server): exact messages."""

from __future__ import annotations

import math

import gradio as gr
import pytest

from ui.common import as_bool, as_float, as_int, checked, parse_optional_int
from ui.launch import check_exposure, is_loopback


@pytest.mark.parametrize(
    "value, expected",
    [(3, 3), ("7", 7), (" 7 ", 7), (2.0, 2), (0, 0)],
)
def test_as_int_accepts_whole_numbers(value, expected):
    assert as_int(value, "seed") == expected


@pytest.mark.parametrize(
    "value", ["abc", "NaN", None, True, False, 1.5, math.nan, math.inf, [1], {"a": 1}, "1.5"]
)
def test_as_int_refuses_everything_else(value):
    with pytest.raises(ValueError, match=r"^seed must be a whole number, got "):
        as_int(value, "seed")


def test_ranges_and_ids():
    with pytest.raises(ValueError, match="seed must be <= 9, got 10"):
        as_int(10, "seed", 0, 9)
    with pytest.raises(ValueError, match="sample id must be <= 9223372036854775807"):
        parse_optional_int(10**30, "sample id")
    assert parse_optional_int("any", "job") is None and parse_optional_int(" ", "job") is None
    assert parse_optional_int(None, "job") is None and parse_optional_int("12", "job") == 12
    assert as_float(2, "guidance") == 2.0
    for bad in ("2", math.nan, -math.inf, True, None):
        with pytest.raises(ValueError, match="guidance must be a finite number"):
            as_float(bad, "guidance")
    assert as_bool(True, "x") is True
    with pytest.raises(ValueError, match="the confirmation must be true or false, got 'abc'"):
        as_bool("abc", "the confirmation")


def test_checked_widgets_answer_with_the_field_name():
    with gr.Blocks():
        steps = checked(gr.Slider(1, 100, step=1, precision=0, label="Steps"))
        page = checked(gr.Number(1, label="Page", precision=0, minimum=1))
        groups = checked(gr.CheckboxGroup(["0,0", "0,1"], label="Target groups"))
    assert steps.preprocess(20) == 20 and page.preprocess(None) is None
    assert groups.preprocess(["0,1"]) == ["0,1"] and groups.preprocess(None) == []
    for widget, value, message in [
        (steps, "abc", "Steps must be a whole number, got 'abc'"),
        (steps, 1.5, "Steps must be a whole number, got 1.5"),
        (steps, 101, "Steps must be <= 100, got 101"),
        (page, 0, "Page must be >= 1, got 0"),
        (page, [1], "Page must be a whole number, got [1]"),
        (groups, 5, "Target groups must be a list of choices, got 5"),
    ]:
        with pytest.raises(gr.Error, match=message.replace("[", r"\[").replace("]", r"\]")):
            widget.preprocess(value)
    assert steps.get_block_name() == "slider"  # the built-in front-end widget


@pytest.mark.parametrize(
    "host, loopback",
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("192.168.1.5", False), ("::", False),
     ("example.org", False)],
)  # fmt: skip
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_exposure_needs_auth_or_an_explicit_insecure_flag():
    assert check_exposure("127.0.0.1", None) is None
    assert check_exposure("0.0.0.0", ("ann", "pw")) is None
    with pytest.raises(ValueError, match="--host 0.0.0.0 .* --auth user:password .* "
                       "--insecure-no-auth"):  # fmt: skip
        check_exposure("0.0.0.0", None)
    warning = check_exposure("0.0.0.0", None, insecure_no_auth=True)
    assert warning.startswith("warning: serving on 0.0.0.0 without a login")
