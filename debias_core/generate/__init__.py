"""Generation methods (one file each, registered in GENERATORS) and the generation job."""

from debias_core.generate import txt2img  # noqa: F401  (registers txt2img and ffr)
from debias_core.generate.base import GENERATORS, GenerateConfig

__all__ = ["GENERATORS", "GenerateConfig"]
