"""Verification: scorers write scores, verdict policies turn them into accept / reject /
needs-review decisions (recorded as 'policy:<name>', outranked by people), and the agreement
report compares policies with people. Importing this package registers every scorer and policy.
"""

from debias_core.verify import policies, scorers  # noqa: F401  (fill the registries)
from debias_core.verify.base import POLICIES, SCORERS

__all__ = ["POLICIES", "SCORERS"]
