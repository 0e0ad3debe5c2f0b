"""FFR's generator drawing each group with its own group-lora / group-dreambooth personalization."""

from __future__ import annotations

import numpy as np
import pytest

from debias_core.cli import main
from debias_core.generate.recipes import regenerate_sample
from debias_core.store import SampleFilter

GROUPS = ["0,0", "0,1", "1,0", "1,1"]


pytestmark = pytest.mark.usefixtures("fresh_backbone_cache")


def _personalize(root, backbone, method, groups=GROUPS) -> int:
    args = ["personalize", root, "--method", method, "--backbone", backbone, "--steps", "2"]
    assert main([*args, "--groups", *groups, "--param", "samples_per_group=2"]) == 0


def _ffr(root, backbone, *params) -> int:
    args = ["generate", root, "--method", "ffr", "--backbone", backbone, "--per-group", "2"]
    return main([*args, "--steps", "2", *[a for p in params for a in ("--param", p)]])


@pytest.mark.slow  # personalizes 4 groups, then generates (about 15 s each on a quiet core)
@pytest.mark.parametrize("method", ["group-lora", "group-dreambooth"])
def test_ffr_draws_each_group_with_its_own_personalization(tiny_project, backbone_dir, method):
    store, root = tiny_project, str(tiny_project.root)
    _personalize(root, backbone_dir, method)
    job = next(j.id for j in store.list_jobs() if j.kind == "personalize")
    assert _ffr(root, backbone_dir, f"personalization={job}") == 0
    generated = store.list_samples(SampleFilter(source="generated"))
    assert len(generated) == 8
    for sample in generated:
        recipe = store.get_recipe(sample.recipe_id)
        (lora,) = recipe.adapters["artifacts"]
        assert (store.get_artifact(lora["id"]).y, store.get_artifact(lora["id"]).a) == (
            sample.y,
            sample.a,
        )
        assert recipe.negative_prompt == ""
        if method == "group-dreambooth":  # the group's identifier names the class
            (token,) = recipe.tokens["artifacts"]
            assert token["name"] == f"<v-{sample.y}-{sample.a}>" and token["name"] in recipe.prompt
    sample = generated[-1]
    assert np.array_equal(
        np.asarray(regenerate_sample(store, sample.id)), np.asarray(store.sample_image(sample.id))
    )


def test_ffr_refuses_a_personalization_missing_a_group(tiny_project, backbone_dir, capsys):
    root = str(tiny_project.root)
    _personalize(root, backbone_dir, "group-lora", groups=["0,0", "1,1"])
    job = next(j.id for j in tiny_project.list_jobs() if j.kind == "personalize")
    capsys.readouterr()
    assert _ffr(root, backbone_dir, f"personalization={job}") == 2
    assert "learned no LoRA for group(s) [(0, 1), (1, 0)]" in capsys.readouterr().err
    assert _ffr(root, backbone_dir, "personalization=999") == 2
    assert "there is no job 999" in capsys.readouterr().err
