"""Segmenters: dataset masks, GroundingDINO + SAM from local folders (tiny random), masks job."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generated_samples import add_generated, train_ids

from debias_core.cli import main
from debias_core.models.dummy import tiny_grounded_sam
from debias_core.models.segmenters import SEGMENTERS
from debias_core.models.segmenters.grounded_sam import (
    GroundedSamParams,
    detector_text,
    weights_hash,
)
from debias_core.store import SampleFilter


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    return tiny_grounded_sam(tmp_path_factory.mktemp("gsam"))


@pytest.fixture
def empty_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("DEBIAS_CHECKPOINTS", str(tmp_path / "checkpoints"))


def _param_args(detector, sam, threshold=0.0) -> list[str]:
    return [
        "--param", f"detector={detector}",
        "--param", f"sam={sam}",
        "--param", f"box_threshold={threshold}",
        "--param", f"text_threshold={threshold}",
    ]  # fmt: skip


def test_dataset_segmenter_returns_the_exact_masks(tiny_project):
    segmenter = SEGMENTERS.get("dataset").load(SEGMENTERS.get("dataset").default_params)
    sample = tiny_project.list_samples(SampleFilter(source="real"))[0]
    (found,) = segmenter.segment(tiny_project, [sample.id], ["anything"])
    row = tiny_project.find_mask(sample.id, segmenter="dataset")
    assert row["prompt"] == "foreground" and row["model_hash"] is None
    assert np.array_equal(found.mask, tiny_project.mask_pixels(row["id"])) and found.score == 1.0
    assert 0.05 < found.mask.mean() < 0.6  # a digit's strokes, not the whole image


def test_detector_text_is_a_lower_case_phrase_with_a_period():
    assert detector_text("Digit 3") == "digit 3." and detector_text("a bird.") == "a bird."


@pytest.mark.slow
def test_grounded_sam_masks_job_stores_masks_with_their_source(tiny_project, tiny_folders, capsys):
    detector, sam = tiny_folders
    root = str(tiny_project.root)
    args = ["masks", root, "--segmenter", "grounded-sam", "--split", "test"]
    assert main([*args, *_param_args(detector, sam)]) == 0
    n_test = tiny_project.count_samples(SampleFilter(source="real", split="test"))
    assert f"{n_test} masks made" in capsys.readouterr().out
    sample = tiny_project.list_samples(SampleFilter(source="real", split="test"))[0]
    row = tiny_project.find_mask(sample.id, segmenter="grounded-sam")
    assert row["prompt"] == tiny_project.class_names[sample.y]  # '{class}' -> 'digit 0'
    assert row["model_hash"] == weights_hash(detector, sam) and row["kind"] == "text-prompted"
    assert json.loads(row["params"])["score"] > 0
    assert tiny_project.mask_pixels(row["id"]).shape == (32, 32)
    # the same segmenter, prompt and weights again: nothing new
    assert main([*args, *_param_args(detector, sam)]) == 0
    assert "0 masks made" in capsys.readouterr().out


def test_grounded_sam_finds_nothing_above_a_high_threshold(tiny_project, tiny_folders):
    detector, sam = tiny_folders
    params = GroundedSamParams(str(detector), str(sam), box_threshold=1.0, text_threshold=1.0)
    segmenter = SEGMENTERS.get("grounded-sam").load(params)
    ids = tiny_project.sample_ids(SampleFilter(source="real", split="test"))[:2]
    assert segmenter.segment(tiny_project, ids, ["digit 0"] * 2) == [None, None]


def test_segmentation_policy_verifies_generated_samples(tiny_project, tiny_folders):
    detector, sam = tiny_folders
    source = train_ids(tiny_project, 0, 0)[0]
    (sid,) = add_generated(tiny_project, [(source, source, 0, 0)])
    nested = json.dumps({"detector": str(detector), "sam": str(sam), "box_threshold": 0.0})
    assert main(["verify", str(tiny_project.root), "--policy", "segmentation",
                 "--param", f"segmenter_params={nested}", "--param", "reject_below=0",
                 "--param", "accept_at=0"]) == 0  # fmt: skip
    assert tiny_project.decisions_for(sid)[-1]["decision"] == "accept"
    assert tiny_project.find_mask(sid, segmenter="grounded-sam")["prompt"] == "digit 0"
    score = tiny_project.latest_scores([sid], "segmentation-check")[sid]
    assert score["details"]["found"] and score["value"] > 0


def test_missing_checkpoints_are_named_before_any_job(tiny_project, empty_hub, capsys):
    assert main(["masks", str(tiny_project.root)]) == 2
    err = capsys.readouterr().err
    assert "IDEA-Research/grounding-dino-tiny" in err and "hf download" in err
    assert "Searched" in err and tiny_project.list_jobs() == []
