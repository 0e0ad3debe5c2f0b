"""Generation methods (one file each, registered in GENERATORS) and the generation job."""

from debias_core.generate import (  # noqa: F401  (each registers its method)
    clustered_dreambooth,
    dbb,
    decouplegen,
    decouplegen_multi,
    diffinject,
    ffr,
    txt2img,
)
from debias_core.generate.base import GENERATORS, GenerateConfig

__all__ = ["GENERATORS", "GenerateConfig"]
