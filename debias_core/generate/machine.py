"""The machine kind a recipe was drawn on, and whether a replay here can be bit-exact.

Float kernels differ between CPU models, instruction sets (AVX2, AVX-512), thread counts and
torch builds, and those differences can move a pixel. A replay is promised bit-exact only on the
same machine kind; elsewhere it is compared with the stored image and the largest pixel
difference is reported (measured bound: `CROSS_MACHINE_BOUND`).
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# Largest per-channel difference (0-255) seen when replaying recipes on another instruction set
# or thread count (bench: tests/fixtures/txt2img_replay replayed under ATEN_CPU_CAPABILITY =
# default / avx2 with 1 and 2 threads; see README "Bit-exact replay"). A replay beyond it on
# another machine is worth a look; on the same machine kind any difference is a bug.
CROSS_MACHINE_BOUND = 8

# The fields that must match for a bit-exact promise ("recorded" is informational).
KIND_FIELDS = ("device", "processor", "isa", "torch", "threads")


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere what `platform` knows)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def machine_kind(device="cpu") -> dict[str, object]:
    """What decides the float kernels a generation runs: device type, the processor (CPU model,
    or GPU name on CUDA), torch's CPU instruction set, torch version and CPU threads."""
    import torch  # here: importing the core loads no torch for commands that need none

    device = torch.device(device)
    processor = cpu_model()
    if device.type == "cuda" and torch.cuda.is_available():
        processor = torch.cuda.get_device_name(device)
    return {
        "device": device.type,
        "processor": processor,
        "isa": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def differences(recorded: dict, here: dict) -> list[str]:
    """The kind fields that differ ("field: recorded -> here"); all of them for an old recipe
    that recorded none (it cannot be known to match)."""
    return [
        f"{name}: {recorded.get(name, 'not recorded')} -> {here.get(name)}"
        for name in KIND_FIELDS
        if recorded.get(name) != here.get(name)
    ]


def describe(kind: dict) -> str:
    if not kind:
        return "an unrecorded machine"
    return (
        f"{kind.get('device')} {kind.get('processor')} ({kind.get('isa')}, torch "
        f"{kind.get('torch')}, {kind.get('threads')} threads)"
    )
