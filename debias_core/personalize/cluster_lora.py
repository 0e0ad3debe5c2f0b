"""`cluster-lora` (Clustered DreamBooth, seed 002): k-means within each group, a LoRA per cluster.

A group's images are clustered on image features (CLIP in the paper; any registered extractor
here, e.g. `run:ID`, a trained classifier's features); each cluster then trains like
`group-dreambooth`: its own identifier token and LoRA, on its own samples. k defaults to the
paper's rule k_D = min(M_gs / 20, 20) with M_gs the smallest group, rounded to the nearest integer
(its appendix A.4: Waterbirds' 56 -> 3, UTKFace's 103 -> 5, CelebA's 1387 -> 20), at least 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debias_core.params import bounded
from debias_core.personalize import targets
from debias_core.personalize.base import PERSONALIZERS
from debias_core.personalize.group_dreambooth import GroupDreamBooth, GroupDreamBoothParams

CLUSTER_CAP = 20  # the paper's k_D = min(M_gs / 20, 20)


@dataclass(frozen=True)
class ClusterLoraParams(GroupDreamBoothParams):
    features: str = "clip"  # a feature extractor spec: clip, or run:ID
    clusters: int = bounded(0, limit="groups")  # k; 0 = the paper rule (cluster_count), >= 1
    token_format: str = "<v-{y}-{a}-{k}>"

    def check_inputs(self) -> None:
        super().check_inputs()
        if self.clusters < 0:
            raise ValueError("clusters must be >= 0 (0: the paper's rule)")
        if "{k}" not in self.token_format:
            raise ValueError("token_format must contain {k} (one identifier per cluster)")


def cluster_count(smallest: int) -> int:
    """The paper's k_D: M_gs / 20 rounded half up (56 -> 3, as its A.4 gets), capped, >= 1."""
    return max(1, min(int(smallest / 20 + 0.5), CLUSTER_CAP))


def check_features(spec: str) -> None:
    """A clear error, before a job is queued, when the extractor is not registered."""
    from debias_core.analysis.features import FEATURES, parse_spec

    name, _ = parse_spec(spec)
    if name not in FEATURES:
        raise ValueError(
            f"feature extractor {name!r} is not available in this build "
            f"(registered: {FEATURES.names()}); pass features=run:ID to cluster on a trained "
            "classifier's features (python -m debias_core runs DIR lists the runs)"
        )


def cluster_ids(features: np.ndarray, ids: list[int], k: int, seed: int) -> list[list[int]]:
    """k-means labels -> the ids of each cluster (clusters ordered by their smallest id)."""
    from sklearn.cluster import KMeans

    if k == 1:
        return [sorted(ids)]
    labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(features)
    groups = [sorted(i for i, lab in zip(ids, labels, strict=True) if lab == c) for c in range(k)]
    return sorted((g for g in groups if g), key=lambda g: g[0])


class ClusterLora(GroupDreamBooth):
    params_class = ClusterLoraParams
    scope = "cluster"

    def plan(self, store, config, params):
        from debias_core.analysis.features import sample_features

        check_features(params.features)
        groups = targets.samples_by_group(store, config)
        smallest = min(len(ids) for ids in groups.values())
        k = params.clusters or cluster_count(smallest)
        concepts = []
        for (y, a), ids in sorted(groups.items()):
            targets.require_size(f"group ({y}, {a}) (k-means with {k} clusters)", ids, k)
            feats = sample_features(store, params.features, ids)
            for c, members in enumerate(cluster_ids(feats, ids, k, config.seed)):
                members = targets.subset(members, params.samples_per_group, config.seed, y, a, c)
                concepts.append(self.concept(store, y, a, members, params, cluster=c))
        return concepts


PERSONALIZERS.register("cluster-lora")(ClusterLora())
