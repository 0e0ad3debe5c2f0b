"""Clustered DreamBooth's CLIP filter: CLIP-Label, CLIP-Centroid and the top-m policy (Eq. 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from clip_helpers import tiny_random_clip_folder
from generated_samples import add_generated, train_ids
from PIL import Image

from debias_core.jobs.foreground import run_verify
from debias_core.models.checkpoints import CheckpointMissing
from debias_core.store import SampleFilter
from debias_core.store.records import Sample
from debias_core.verify import POLICIES, SCORERS
from debias_core.verify.policies.clip_top_m import ClipTopMParams, clip_score
from debias_core.verify.runner import check_verify
from debias_core.verify.scorers.clip_centroid import ClipCentroidParams
from debias_core.verify.scorers.clip_label import ClipLabelParams


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    corpus = ["a photo of digit 0", "a photo of digit 1", "white stroke, on a red background"]
    return str(tiny_random_clip_folder(tmp_path_factory.mktemp("clip") / "tiny-clip", corpus))


@torch.no_grad()
def direct_embeddings(folder, images=None, texts=None) -> np.ndarray:
    """CLIP embeddings computed straight from transformers' classes, normalised by hand."""
    from transformers import CLIPImageProcessorPil, CLIPModel, CLIPTokenizer

    model = CLIPModel.from_pretrained(folder, local_files_only=True).eval()
    if texts is not None:
        tokenizer = CLIPTokenizer.from_pretrained(folder, local_files_only=True)
        tokens = tokenizer(texts, padding="max_length", max_length=16, return_tensors="pt")
        out = model.get_text_features(**tokens).pooler_output
    else:
        processor = CLIPImageProcessorPil.from_pretrained(folder, local_files_only=True)
        small = [im.resize((16, 16), Image.BILINEAR) for im in images]
        pixels = processor(images=small, return_tensors="pt").pixel_values
        out = model.get_image_features(pixel_values=pixels).pooler_output
    return (out / out.norm(dim=-1, keepdim=True)).numpy()


def test_clip_label_is_the_cosine_to_the_class_prompt(tiny_project, clip_dir):
    store = tiny_project
    src = train_ids(store, 0, 0)[:2] + train_ids(store, 1, 0)[:1]
    ids = add_generated(store, [(src[0], None, 0, 0), (src[1], None, 0, 1), (src[2], None, 1, 0)])
    samples = store.list_samples(SampleFilter(ids=ids))
    batch = SCORERS.get("clip-label").score(store, samples, ClipLabelParams(clip=clip_dir))
    images = direct_embeddings(clip_dir, [store.sample_image(i) for i in ids])
    texts = direct_embeddings(clip_dir, texts=["a photo of digit 0", "a photo of digit 1"])
    expected = [images[0] @ texts[0], images[1] @ texts[0], images[2] @ texts[1]]
    np.testing.assert_allclose([batch.values[i] for i in ids], expected, rtol=1e-5, atol=1e-6)
    assert batch.details[ids[2]]["prompt"] == "a photo of digit 1"
    with_context = ClipLabelParams(clip=clip_dir, prompt="a photo of {cls}, {ctx}")
    batch = SCORERS.get("clip-label").score(store, samples[:1], with_context)
    wanted = "a photo of digit 0, white stroke, on a red background"
    assert batch.details[ids[0]]["prompt"] == wanted


def test_clip_centroid_is_the_cosine_to_the_mean_real_train_embedding(tiny_project, clip_dir):
    store = tiny_project
    members = train_ids(store, 0, 0)
    small = train_ids(store, 0, 1)  # 4 real train images: under min_samples=5, not scored
    assert len(members) > 5 and len(small) == 4
    ids = add_generated(store, [(members[0], None, 0, 0), (small[0], None, 0, 1)])
    samples = store.list_samples(SampleFilter(ids=ids))
    batch = SCORERS.get("clip-centroid").score(store, samples, ClipCentroidParams(clip=clip_dir))
    real = direct_embeddings(clip_dir, [store.sample_image(i) for i in members])
    centroid = real.mean(0)
    image = direct_embeddings(clip_dir, [store.sample_image(ids[0])])[0]
    expected = image @ centroid / np.linalg.norm(centroid)
    assert set(batch.values) == {ids[0]}
    assert batch.values[ids[0]] == pytest.approx(float(expected), rel=1e-5)
    assert batch.details[ids[0]]["group_size"] == len(members)
    lower = ClipCentroidParams(clip=clip_dir, min_samples=4)
    assert set(SCORERS.get("clip-centroid").score(store, samples, lower).values) == set(ids)


def _sample(sid: int, y: int, a: int) -> Sample:
    return Sample(id=sid, path="", sha256="", y=y, a=a, split="", source="generated")


def _scores(label, centroid):
    return {
        "clip-label": None if label is None else {"value": label},
        "clip-centroid": None if centroid is None else {"value": centroid},
    }


def test_top_m_ranks_eq_1_within_each_group():
    policy = POLICIES.get("clip-top-m")
    assert clip_score(0.2, 0.8, 0.5) == pytest.approx(0.5)
    assert clip_score(0.2, None, 0.5) == 0.2
    samples = [_sample(i, 0, 0) for i in (1, 2, 3)] + [_sample(i, 1, 1) for i in (4, 5, 6, 7)]
    scores = {
        1: _scores(0.9, 0.0),  # 0.45
        2: _scores(0.1, 0.9),  # 0.50
        3: _scores(0.3, 0.5),  # 0.40
        4: _scores(0.2, None),  # no centroid: label alone
        5: _scores(0.4, None),
        6: _scores(0.4, None),  # tie with 5: the older sample first
        7: _scores(None, 0.9),  # not scored by clip-label
    }
    verdicts = policy.decide_all(samples, scores, ClipTopMParams(alpha=0.5, m=2))
    decisions = {sid: v.decision for sid, v in verdicts.items()}
    assert decisions == {
        1: "accept",
        2: "accept",
        3: "reject",
        4: "reject",
        5: "accept",
        6: "accept",
        7: "needs-review",
    }
    assert "rank 1 of 3" in verdicts[2].reason and "no centroid: alpha 1" in verdicts[5].reason
    label_only = policy.decide_all(samples[:3], scores, ClipTopMParams(alpha=1.0, m=1))
    assert [sid for sid, v in label_only.items() if v.decision == "accept"] == [1]
    share = policy.decide_all(samples[:3], scores, ClipTopMParams(keep=0.5))  # ceil(1.5) = 2
    assert sorted(sid for sid, v in share.items() if v.decision == "accept") == [1, 2]


def test_params_and_missing_clip_are_refused(tiny_project, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="alpha must be in"):
        ClipTopMParams(alpha=1.5).check_inputs()
    with pytest.raises(ValueError, match="prompt must contain"):
        ClipTopMParams(prompt="a photo").check_inputs()
    add_generated(tiny_project, [(train_ids(tiny_project, 0, 0)[0], None, 0, 0)])
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("DEBIAS_CHECKPOINTS", str(tmp_path / "ckpt"))
    params = {"policy": "clip-top-m", "params": {"clip": "vit-b-32"}}
    with pytest.raises(CheckpointMissing, match="openai/clip-vit-base-patch32"):
        check_verify(tiny_project, params)
    assert tiny_project.list_jobs() == []


def test_verify_job_accepts_the_top_m_of_each_group(tiny_project, clip_dir):
    store = tiny_project
    pairs = [(i, None, 0, 0) for i in train_ids(store, 0, 0)[:3]]
    pairs += [(i, None, 1, 0) for i in train_ids(store, 1, 0)[:3]]
    ids = add_generated(store, pairs)
    result = run_verify(store, policy="clip-top-m", params={"clip": clip_dir, "m": 2})
    assert result["counts"] == {"accept": 4, "reject": 2, "needs-review": 0}
    accepted = store.sample_ids(SampleFilter(source="generated", status="accepted"))
    assert len(accepted) == 4 and set(accepted) <= set(ids)
    for group in ((0, 0), (1, 0)):
        members = [s for s in store.list_samples(SampleFilter(ids=ids)) if (s.y, s.a) == group]
        label = store.latest_scores([s.id for s in members], "clip-label")
        centroid = store.latest_scores([s.id for s in members], "clip-centroid")
        total = {
            s.id: label[s.id]["value"] + centroid.get(s.id, label[s.id])["value"] for s in members
        }
        ranked = sorted(members, key=lambda s: -total[s.id])
        assert [s.id in accepted for s in ranked] == [True, True, False]
