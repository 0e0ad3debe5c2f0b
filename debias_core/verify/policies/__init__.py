"""Verdict policies, one file each (registered in POLICIES on import)."""

from debias_core.verify.policies import dbb, judge, segmentation

__all__ = ["dbb", "judge", "segmentation"]
