"""Jobs a generator needs first (here a personalization) run inside the generation job, once."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from live_app import save_dummy_backbone

from debias_core.generate import GenerateConfig
from debias_core.generate.base import GENERATORS, Prerequisite, method_params
from debias_core.generate.txt2img import TextToImage
from debias_core.jobs.foreground import run_generation
from debias_core.models.cache import clear_backbone_cache


@dataclass(frozen=True)
class NeedsTokenParams:
    template: str = "vanilla"
    personalization: int = 0  # a personalize job id; 0 = run or reuse the default one
    target_class: int = 0

    def check_inputs(self) -> None:
        if self.personalization < 0:
            raise ValueError("personalization must be a job id")


class NeedsTokens(TextToImage):
    """txt2img that first needs a textual-inversion job (a stand-in for dbb / decouplegen)."""

    def __init__(self, backbone: str) -> None:
        super().__init__("vanilla")
        self.default_params = NeedsTokenParams()
        self.backbone = backbone
        self.rendered_with: list[int] = []

    def prerequisites(self, store, config: GenerateConfig) -> list[Prerequisite]:
        params = method_params(self, config)
        if params.personalization:
            return []
        job = {
            "method": "textual-inversion",
            "backbone": self.backbone,
            "steps": 2,
            "chunk_steps": 1,
            "classes": [params.target_class],
        }
        return [Prerequisite("personalize", job, "personalization")]

    def render(self, backbone, unit, config, store):
        self.rendered_with.append(method_params(self, config).personalization)
        return super().render(backbone, unit, replace(config, params={}), store)


@pytest.fixture
def needs_tokens(tmp_path, monkeypatch):
    backbone = str(save_dummy_backbone(tmp_path / "backbone"))
    generator = NeedsTokens(backbone)
    monkeypatch.setitem(GENERATORS._items, "needs-tokens", generator)
    clear_backbone_cache()
    yield generator
    clear_backbone_cache()


def _config(generator, seed=0, **params):
    return GenerateConfig(
        method="needs-tokens",
        backbone=generator.backbone,
        groups=((0, 1),),
        per_group=1,
        steps=2,
        seed=seed,
        params=params,
    )


def test_generation_runs_its_personalization_once_and_reuses_it(tiny_project, needs_tokens):
    run_generation(tiny_project, _config(needs_tokens))
    personalize = [j for j in tiny_project.list_jobs() if j.kind == "personalize"]
    assert [j.status for j in personalize] == ["done"]
    assert needs_tokens.rendered_with == [personalize[0].id]  # the id reached the method
    run_generation(tiny_project, _config(needs_tokens, seed=1))
    again = [j for j in tiny_project.list_jobs() if j.kind == "personalize"]
    assert [j.id for j in again] == [personalize[0].id]  # reused, not retrained
    assert needs_tokens.rendered_with == [personalize[0].id] * 2


def test_a_given_personalization_job_is_used_as_it_is(tiny_project, needs_tokens):
    run_generation(tiny_project, _config(needs_tokens))
    job_id = next(j.id for j in tiny_project.list_jobs() if j.kind == "personalize")
    run_generation(tiny_project, _config(needs_tokens, seed=2, personalization=job_id))
    assert needs_tokens.rendered_with[-1] == job_id


def test_a_bad_prerequisite_is_refused_before_any_job(tiny_project, needs_tokens):
    with pytest.raises(ValueError, match="needs-tokens needs a personalize job first"):
        run_generation(tiny_project, _config(needs_tokens, target_class=99))
    assert tiny_project.list_jobs() == []
