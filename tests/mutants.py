"""Switch off one paper mechanic at a time in a copy of the repo and check a test catches it.

    .venv/bin/python tests/mutants.py            # every mutation (2 to 6 minutes on 2 cores)
    .venv/bin/python tests/mutants.py dbb-blend  # one of them

Each mutation replaces one exact piece of source text (the script stops if the text moved, so the
list stays honest) in a temporary copy of the tracked and untracked files, then runs the tests
that should catch it. A mutation that leaves them green is reported and the exit status is 1.
The list is in tests/README.md too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = "tests/test_mechanics_off.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: str  # a pytest -k expression within TESTS


MUTATIONS = (
    Mutation(
        "per-image-plain-loss",
        "debias_core/personalize/per_image.py",
        '{"attention_weight": params.attention_weight, "masked": True}',
        '{"attention_weight": 0.0, "masked": False}',
        "per_image",
    ),
    Mutation(
        "per-image-unmasked",
        "debias_core/personalize/per_image.py",
        '{"attention_weight": params.attention_weight, "masked": True}',
        '{"attention_weight": params.attention_weight, "masked": False}',
        "learn_from_their_masks",
    ),
    Mutation(
        "per-image-no-attention",
        "debias_core/personalize/per_image.py",
        '{"attention_weight": params.attention_weight, "masked": True}',
        '{"attention_weight": 0.0, "masked": True}',
        "cross_attention_loss",
    ),
    Mutation(
        "diffinject-no-injection",
        "debias_core/generate/diffinject.py",
        "hooks=LoopHooks(h_space=edit),",
        "hooks=LoopHooks(),",
        "diffinject",
    ),
    Mutation(
        "cluster-lora-round-robin",
        "debias_core/personalize/cluster_lora.py",
        "labels = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(features)",
        "labels = np.arange(len(ids)) % k",
        "cluster_lora",
    ),
    Mutation(
        "dbb-no-blend",
        "debias_core/generate/dbb_inpaint.py",
        "hooks=LoopHooks(blend=blend),",
        "hooks=LoopHooks(),",
        "dbb",
    ),
)


def repo_files() -> list[str]:
    """Tracked files and untracked ones git does not ignore."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [f for f in out.stdout.splitlines() if (ROOT / f).is_file()]


def apply(copy: Path, mutation: Mutation) -> None:
    target = copy / mutation.path
    text = target.read_text()
    if text.count(mutation.old) != 1:
        raise SystemExit(f"{mutation.name}: the text to mutate is not in {mutation.path} once")
    target.write_text(text.replace(mutation.old, mutation.new))


def run(mutation: Mutation) -> tuple[bool, str]:
    """(caught, the tail of pytest's output) for one mutation."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        copy = Path(tmp)
        for name in repo_files():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
        apply(copy, mutation)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS]
        done = subprocess.run(
            [*command, "-k", mutation.tests], cwd=copy, capture_output=True, text=True
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode != 0, "\n".join(lines[-6:])


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    if names and len(chosen) != len(names):
        raise SystemExit(f"unknown mutation; valid: {[m.name for m in MUTATIONS]}")
    missed = []
    for mutation in chosen:
        caught, tail = run(mutation)
        print(f"== {mutation.name}: {'caught' if caught else 'NOT CAUGHT'}\n{tail}\n")
        if not caught:
            missed.append(mutation.name)
    if missed:
        print(f"mutations no test caught: {missed}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
