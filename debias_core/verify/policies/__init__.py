"""Verdict policies, one file each (registered in POLICIES on import)."""

from debias_core.verify.policies import clip_top_m, dbb, judge, label_presence, segmentation

__all__ = ["clip_top_m", "dbb", "judge", "label_presence", "segmentation"]
