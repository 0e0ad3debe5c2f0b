"""DiffInject: GCE, loss mining, Slerp injection, the generator end to end, no group labels."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from debias_core.bias.mining import highest_loss, lowest_loss
from debias_core.cli import main
from debias_core.generate import GENERATORS, GenerateConfig, runner
from debias_core.generate.diffinject import DiffInjectParams, SlerpInjection, mine, slerp
from debias_core.generate.recipes import regenerate_sample
from debias_core.jobs import foreground
from debias_core.models.dummy import dummy_backbone
from debias_core.store import SampleFilter, Store
from debias_core.train.gce import gce_loss


# -- pieces ---------------------------------------------------------------------------------------
def test_gce_loss_and_its_gradient_are_eq_1_and_2():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.5, 0.5]], requires_grad=True)
    y = torch.tensor([0, 0, 1])
    batch = type("B", (), {"y": y})
    q = 0.7
    loss = gce_loss(q)(logits, None, batch, None)
    p_y = torch.softmax(logits, 1)[torch.arange(3), y]
    assert float(loss.detach()) == pytest.approx(float(((1 - p_y**q) / q).mean().detach()))
    (grad,) = torch.autograd.grad(loss, logits)
    ce_grads = [
        torch.autograd.grad(F.cross_entropy(logits[i : i + 1], y[i : i + 1]), logits)[0][i]
        for i in range(3)
    ]
    for i in range(3):  # dGCE/dtheta = p_y^q * dCE/dtheta (per sample, mean over the batch)
        torch.testing.assert_close(grad[i], p_y[i].detach() ** q * ce_grads[i] / 3)


def test_loss_mining_on_hand_made_losses():
    ids = np.array([10, 11, 12, 13, 14, 15])
    losses = np.array([0.1, 2.0, 0.5, 2.0, 0.05, 1.0])
    assert highest_loss(ids, losses, 3).tolist() == [11, 13, 15]  # tie -> smaller id first
    assert lowest_loss(ids, losses, 0.5).tolist() == [14, 10, 12]
    assert lowest_loss(ids, losses, 0.01).tolist() == [14]  # at least one
    with pytest.raises(ValueError, match="fraction"):
        lowest_loss(ids, losses, 0.0)


def test_slerp_ends_keeps_norm_and_splits_the_angle():
    a = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).view(1, 1, 2, 2)
    b = torch.tensor([[0.0, 1.0, 0.0, 0.0]]).view(1, 1, 2, 2)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    mid = slerp(a, b, 0.5).flatten()
    torch.testing.assert_close(mid[:2], torch.tensor([math.sqrt(0.5)] * 2))
    third = slerp(a, b, 1 / 3).flatten()  # 30 degrees from a
    torch.testing.assert_close(third[:2], torch.tensor([math.cos(math.pi / 6), 0.5]))
    torch.testing.assert_close(slerp(a, 2 * a, 0.25), a * 1.25)  # parallel: a straight line


def test_injection_rescales_the_content_to_h_norm_and_is_active_from_t_edit():
    content = {999: torch.full((2, 4, 2, 2), 5.0), 499: torch.full((2, 4, 2, 2), -1.0)}
    edit = SlerpInjection(content, gamma=1.0, t_edit=500)
    assert edit.active(999) and edit.active(500) and not edit.active(499)
    h = torch.randn(2, 4, 2, 2, generator=torch.Generator().manual_seed(0))
    out = edit(h, 979)  # closest captured timestep: 999
    norms = h.flatten(1).norm(dim=1)
    torch.testing.assert_close(out.flatten(1).norm(dim=1), norms)
    torch.testing.assert_close(out, torch.ones_like(h) * (norms / 4).view(-1, 1, 1, 1))


def test_local_injection_leaves_h_outside_the_mask_alone():
    gen = torch.Generator().manual_seed(0)
    h, content = torch.randn(2, 4, 4, 4, generator=gen), torch.randn(2, 4, 4, 4, generator=gen)
    mask = torch.zeros(2, 1, 8, 8)  # image resolution: the edit takes it to h's 4 x 4
    mask[:, :, :4, :] = 1.0  # the top half
    edit = SlerpInjection({999: content}, gamma=1.0, t_edit=0, mask=mask)
    out = edit(h, 999)
    torch.testing.assert_close(out[..., 2:, :], h[..., 2:, :], rtol=0, atol=0)
    top_h, top_c = h[..., :2, :], content[..., :2, :]
    # gamma 1 inside: the content's region, rescaled to the norm of h's region
    scale = top_h.flatten(1).norm(dim=1) / top_c.flatten(1).norm(dim=1)
    torch.testing.assert_close(out[..., :2, :], top_c * scale.view(-1, 1, 1, 1))
    whole = SlerpInjection({999: content}, gamma=1.0, t_edit=0)(h, 999)
    assert not torch.allclose(whole[..., 2:, :], h[..., 2:, :])  # global injection edits all


def test_local_injection_end_to_end_uses_the_originals_dataset_mask(tiny_project):
    from debias_core.generate.diffinject import draw

    backbone = dummy_backbone(seed=0)
    ids = [s.id for s in tiny_project.list_samples()][:4]

    def run(**params):
        return draw(backbone, tiny_project, DiffInjectParams(**params), 4, ids[:2], ids[2:], [1, 2])

    plain, local, background = (
        run(),
        run(local="dataset"),
        run(local="dataset", local_region="background"),
    )
    assert local.shape == plain.shape
    assert not np.array_equal(local, plain) and not np.array_equal(local, background)


def test_params_are_checked():
    with pytest.raises(ValueError, match="t_boost <= t_edit"):
        DiffInjectParams(t_edit=0.1, t_boost=0.2).check_inputs()
    with pytest.raises(ValueError, match="gamma"):
        DiffInjectParams(gamma=1.5).check_inputs()
    with pytest.raises(ValueError, match="local_region"):
        DiffInjectParams(local="dataset", local_region="middle").check_inputs()


# -- end to end on the dummy backbone ------------------------------------------------------------
@pytest.fixture
def dummy(monkeypatch):
    backbone = dummy_backbone(seed=0)
    monkeypatch.setattr(runner, "cached_backbone", lambda spec, device="cpu", dtype="": backbone)
    return backbone


@pytest.fixture
def gce_run(tiny_project):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    config = TrainConfig(method="gce", epochs=2, batch_size=16, seed=0)
    return run_training(tiny_project, config).run_id


def _generate(store, run_id, **kwargs):
    params = {"run": run_id, "k": 2} | kwargs.pop("params", {})
    return foreground.build_balanced_set(
        store, "dummy", method="diffinject", per_group=2, steps=4, params=params, **kwargs
    )


def test_generates_from_top_k_content_with_its_label_and_replays_bit_exact(
    tiny_project, dummy, gce_run
):
    store = tiny_project
    ids = _generate(store, gce_run)
    mined = mine(store, DiffInjectParams(run=gce_run, k=2))
    assert len(ids) == 4 and len(mined.content_ids) == 2
    aligned = store.aligned_attrs()
    content = [store.get_sample(c) for c in mined.content_ids]
    # the biased model's hardest samples are the bias-conflicting ones (bias 0.9, 8 of 80)
    assert all(c.a != aligned[c.y] for c in content)
    for sid in ids:
        sample = store.get_sample(sid)
        recipe = store.get_recipe(sample.recipe_id)
        original, used_content = recipe.source_ids
        assert sample.parent_id == original and original in mined.pool_ids
        assert used_content in mined.content_ids
        assert sample.y == store.get_sample(used_content).y  # the content sample's label
        # bookkeeping after the method: the content sample's group, like its label
        assert sample.a == store.get_sample(used_content).a
        assert sample.meta["context_from"] == used_content
        assert recipe.method == "diffinject" and recipe.guidance == 1.0 and recipe.steps == 4
        assert recipe.params["method"]["gamma"] == 0.7
        stored = np.asarray(store.sample_image(sid))
        assert np.array_equal(np.asarray(regenerate_sample(store, sid)), stored)


def test_no_group_label_is_read(tiny_project, dummy, gce_run, tmp_path):
    """Scrambling every group label of the project changes nothing the method produces."""
    copy = Store.open(shutil.copytree(tiny_project.root, tmp_path / "scrambled"))
    rng = np.random.default_rng(0)
    n_attrs = len(copy.attr_names)
    with copy.write() as db:
        for row in list(db.query("select id from samples")):
            db.execute(
                "update samples set a = ? where id = ?", [int(rng.integers(n_attrs)), row["id"]]
            )
    before = [s.a for s in tiny_project.list_samples()]
    assert sum(a != b for a, b in zip(before, [s.a for s in copy.list_samples()], strict=True)) > 50
    config = GenerateConfig(
        method="diffinject", per_group=2, steps=3, params={"run": gce_run, "k": 3}
    )
    generator = GENERATORS.get("diffinject")
    plans = [generator.plan(s, config, []) for s in (tiny_project, copy)]
    assert plans[0] == plans[1]
    unit = plans[0][0]
    images = [generator.render(dummy, unit, config, s) for s in (tiny_project, copy)]
    for a, b in zip(*images, strict=True):
        assert np.array_equal(a.image, b.image) and a.y == b.y and a.recipe == b.recipe


def test_bad_input_says_what_to_make_before_any_job(tiny_project, dummy, capsys):
    from debias_core.train import TrainConfig
    from debias_core.train.run import run_training

    root = str(tiny_project.root)
    assert main(["generate", root, "--method", "diffinject"]) == 2
    assert "needs a biased classifier run" in capsys.readouterr().err
    assert main(["generate", root, "--method", "diffinject", "--run", "7"]) == 2
    assert "there is no run 7" in capsys.readouterr().err
    erm = run_training(tiny_project, TrainConfig(epochs=1)).run_id
    assert main(["generate", root, "--method", "diffinject", "--run", str(erm)]) == 2
    err = capsys.readouterr().err
    assert "trained with erm, not gce" in err and "--method gce" in err
    assert main(["generate", root, "--method", "diffinject", "--param", "gamma=2"]) == 2
    assert "gamma must be in [0.0, 1.0], got 2.0" in capsys.readouterr().err
    assert main(["generate", root, "--method", "txt2img", "--run", "1"]) == 2
    assert "unknown txt2img parameter(s) ['run']; valid: template" in capsys.readouterr().err
    assert main(["generate", root, "--param", "oops"]) == 2
    assert "--param needs key=value" in capsys.readouterr().err
    assert tiny_project.list_jobs() == []
    assert tiny_project.count_samples(SampleFilter(source="generated")) == 0
