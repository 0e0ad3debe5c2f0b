"""The dataset seed cannot leak: task-pool digits are never ones the embedded models learned."""

from __future__ import annotations

import json

import pytest

from debias_core.data.colored_digits import ColoredDigitsConfig, load_pools, render_dataset
from debias_core.data.world_split import CARDS, card_seed, leak_warning, world_seed


def test_shipped_models_share_one_world_seed_read_from_their_cards():
    seeds = {card_seed(card) for card in CARDS}
    assert seeds == {world_seed()}  # backbone (with its judge) and CLIP: one world pool


@pytest.mark.parametrize("seed", [0, 1, 5, 42])
def test_no_task_digit_of_any_dataset_seed_is_in_the_models_world_pool(seed):
    """Old behaviour: `load_pools(seed)` moved the boundary, so ~30% overlapped for seed != 0."""
    world, _ = load_pools(world_seed())
    config = ColoredDigitsConfig(seed=seed, classes=(3, 5, 8), train_per_class=30)
    used = {s.source_index for s in render_dataset(config)}
    assert used and not used & set(world.source_index.tolist())


def test_the_dataset_seed_still_redraws_the_split():
    def split_of(seed: int) -> dict[int, str]:
        config = ColoredDigitsConfig(seed=seed, classes=(3, 5), train_per_class=20)
        return {s.source_index: s.split for s in render_dataset(config) if s.split != "train"}

    assert split_of(0) != split_of(1)


def test_a_rebuilt_model_carries_its_own_world_seed(tmp_path):
    def card(name: str, seed: int):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"config": {"seed": seed}}))
        return path

    assert world_seed([card("sd", 3), card("clip", 3)]) == 3
    assert world_seed([tmp_path / "missing.json"]) == 0  # no embedded models: the default
    with pytest.raises(ValueError, match="different world pools"):
        world_seed([card("sd", 3), card("clip", 4)])


def test_world_fraction_below_the_builds_is_refused():
    with pytest.raises(ValueError, match="world_fraction must be in"):
        ColoredDigitsConfig(world_fraction=0.2)


def test_projects_drawn_before_the_fix_are_flagged(tmp_path):
    def meta(**params):
        return {"dataset": "colored-digits", "dataset_params": params}

    assert leak_warning(meta(seed=0)) is None  # the old rule drew exactly today's split
    assert "may be optimistic" in leak_warning(meta(seed=3))  # old project, seed 3
    assert leak_warning(meta(seed=3, world_seed=world_seed())) is None  # made after the fix
    assert "world seed 7" in leak_warning(meta(seed=3, world_seed=7))  # models rebuilt since
    assert leak_warning({"dataset": "waterbirds", "dataset_params": {"seed": 3}}) is None


def test_stats_warns_when_an_old_project_is_opened(tmp_path, capsys):
    from debias_core.cli import main
    from debias_core.store import Store

    opts = json.dumps({"classes": [0, 1], "palette": ["red", "green"], "train_per_class": 10})
    project = tmp_path / "p"
    assert main(["init", str(project), "--seed", "3", "--options", opts]) == 0
    assert main(["stats", str(project)]) == 0
    assert "warning" not in capsys.readouterr().err  # drawn by today's rule: nothing to say
    store = Store.open(project)
    params = store.meta()["dataset_params"]
    store.set_meta(dataset_params={k: v for k, v in params.items() if k != "world_seed"})
    assert main(["stats", str(project)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: ") and "may be optimistic" in err
