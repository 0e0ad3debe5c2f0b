"""Clustered DreamBooth's plan as work units: which cluster each image of a group takes, and the
lazy sequences of batches (one cluster's images per batch, or batches across clusters and groups
for per-sample adapters). Split from `clustered_dreambooth.py`, which builds the units' contents.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from debias_core.generate.base import LazyUnits, WorkUnit


# -- cluster assignment and the lazy plan -------------------------------------------------------
def cluster_order(seed: int, y: int, a: int, k: int) -> list[int]:
    """Which cluster (by position in the pool) image i takes: order[i % k]."""
    rng = np.random.default_rng([int(seed), int(y), int(a), 7])
    return [int(c) for c in rng.permutation(k)]


def images_of(position: int, k: int, per_group: int) -> range:
    """Indices i < per_group with i % k == position."""
    return range(position, per_group, k)


@dataclass(frozen=True)
class Segment:
    """The images of one (group, cluster): made in ceil(len(indices) / batch) units."""

    y: int
    a: int
    cluster: int  # position in the source group's pool
    indices: range
    units: int


class ClusterBatches(LazyUnits):
    """The plan as a lazy Sequence of units: batches of one cluster's images per group."""

    def __init__(self, segments: list[Segment], batch_size: int, make) -> None:
        self.segments, self.batch_size, self.make = segments, batch_size, make
        self.starts = list(np.cumsum([0] + [s.units for s in segments]))

    def __len__(self) -> int:
        return int(self.starts[-1])

    def unit(self, index: int) -> WorkUnit:
        k = bisect.bisect_right(self.starts, index) - 1
        segment, batch = self.segments[k], index - int(self.starts[k])
        start = batch * self.batch_size
        return self.make(segment, segment.indices[start : start + self.batch_size])

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class MixedBatches(LazyUnits):
    """The same images as `ClusterBatches`, in batches that run across clusters and groups;
    `make` gets the unit's index and its pieces [(segment, indices)]."""

    def __init__(self, segments: list[Segment], batch_size: int, make) -> None:
        self.segments, self.batch_size, self.make = segments, batch_size, make
        self.starts = [int(v) for v in np.cumsum([0] + [len(s.indices) for s in segments])]

    def __len__(self) -> int:
        return -(-self.starts[-1] // self.batch_size)

    def unit(self, index: int) -> WorkUnit:
        at = index * self.batch_size
        last = min(at + self.batch_size, self.starts[-1])
        pieces = []
        while at < last:
            k = bisect.bisect_right(self.starts, at) - 1
            offset = at - self.starts[k]
            stop = min(len(self.segments[k].indices), offset + last - at)
            pieces.append((self.segments[k], self.segments[k].indices[offset:stop]))
            at += stop - offset
        return self.make(index, pieces)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]
