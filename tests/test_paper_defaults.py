"""Paper values become the defaults on Stable Diffusion backbones; the demo's stay elsewhere."""

from __future__ import annotations

from debias_core.generate.clustered_dreambooth import ClusteredDreamBoothParams
from debias_core.limits import JobLimits
from debias_core.paper_defaults import backbone_family, family_defaults, paper_values
from debias_core.personalize.per_image import PerImageParams
from debias_core.personalize.runner import canonical_personalize_params


def test_backbone_families():
    assert [backbone_family(s) for s in ("sd2", "sd2-1", "sd2-inpainting")] == ["sd"] * 3
    assert backbone_family("stabilityai/stable-diffusion-2-base") == "sd"
    assert backbone_family("embedded") == backbone_family("/tmp/my-model") == "embedded"


def test_only_paper_values_of_the_fields_type_apply():
    # DecoupleGen's SD-2 learning rates (the rank has no paper value there: it is LoRA's own)
    assert paper_values(PerImageParams) == {
        "lr_tokens": 1e-4,
        "phase2_lr_tokens": 1e-4,
        "lr_lora": 1e-6,
        "attention_weight": 1e-2,
    }
    # the LoRAs at full weight and the paper's borrowing rule on SD; the demo's from the sweep
    assert family_defaults(ClusteredDreamBoothParams, "sd2") == {
        "rank": 16,
        "emphasis": True,
        "borrowed_lora_scale": 1.0,
        "own_lora_scale": 1.0,
        "borrow_from": "auto",
    }
    assert family_defaults(ClusteredDreamBoothParams, "embedded") == {}
    from debias_core.generate.dbb import DbbParams

    assert "k" not in paper_values(DbbParams)  # a description, listed by `methods` only


def test_a_personalization_on_sd2_defaults_to_the_papers_recipe(tiny_project, tmp_path):
    # A local SD-2 folder (its name says so): the job's backbone is checked before queuing, and
    # no SD-2 checkpoint is on a test machine. Only its model_index.json is read here.
    sd2 = tmp_path / "stable-diffusion-2-base"
    sd2.mkdir()
    (sd2 / "model_index.json").write_text("{}")

    def canonical(backbone, **params):
        job = {"method": "group-lora", "backbone": backbone, "groups": [[0, 0]], "params": params}
        return canonical_personalize_params(tiny_project, job, JobLimits())["params"]

    assert canonical(str(sd2))["rank"] == 16  # Clustered DreamBooth's r = alpha = 16
    assert canonical(str(sd2), rank=8)["rank"] == 8  # a value the user gives wins
    # the demo's dataclass default, written out: a job made before a default changed is not
    # reused for one made after it
    assert canonical("embedded")["rank"] == 4


def test_a_generation_job_writes_out_its_method_defaults(tiny_project):
    """Equal work gives equal params, and a default changed in the code makes new work: the job
    made before the change (its params without the field) is not reused after it."""
    from debias_core.generate.runner import canonical_generate_params

    def canonical(**params):
        job = {"method": "txt2img", "groups": [[0, 1]], "per_group": 1, "params": params}
        return canonical_generate_params(tiny_project, job, JobLimits())["params"]

    assert canonical() == canonical(template="vanilla") == {"template": "vanilla"}
