"""Personalization: tokens and LoRA adapters learned per image, class, group or cluster.

Methods (one file each, registered in PERSONALIZERS): textual-inversion, per-image, group-lora,
group-dreambooth, cluster-lora. They all train through `personalize.loop` (many concepts in one
batch) and export diffusers-loadable files recorded in the store's artifacts table.
"""

from debias_core.personalize import (  # noqa: F401  (registers the methods)
    cluster_lora,
    group_dreambooth,
    group_lora,
    per_image,
    textual_inversion,
)
from debias_core.personalize.base import PERSONALIZERS, PersonalizeConfig

__all__ = ["PERSONALIZERS", "PersonalizeConfig"]
