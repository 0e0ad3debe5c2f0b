"""Snapshot and restore the mutable state of torch modules, for scoped personalization.

Attaching tokens or LoRA layers changes a model in three ways: submodules are replaced (peft
wraps a Linear, a bigger embedding table replaces the old one), flags change (requires_grad,
train mode, gradient checkpointing) and attributes appear (peft's `peft_config`, processors).
`ModuleSnapshot` records all of these by object identity, so `restore()` puts back the very
objects the model had: the original weights were never touched, only hidden behind wrappers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# Attributes that adapter libraries add to a model or its modules, restored (or removed) on exit.
EXTRA_ATTRIBUTES = (
    "peft_config",
    "_hf_peft_config_loaded",
    "processor",
    "gradient_checkpointing",
    "_gradient_checkpointing_func",
    "num_embeddings",  # transformers' resize_token_embeddings edits the old Embedding in place
    "padding_idx",
)
_MISSING = object()


@dataclass
class ModuleSnapshot:
    """Everything `restore()` needs to give a module tree back exactly as it was."""

    root: torch.nn.Module
    children: dict[int, tuple[torch.nn.Module, dict]] = field(default_factory=dict)
    attributes: dict[int, dict[str, object]] = field(default_factory=dict)
    flags: list[tuple[torch.nn.Parameter, bool]] = field(default_factory=list)
    data: list[tuple[torch.nn.Parameter, torch.Tensor]] = field(default_factory=list)
    training: list[tuple[torch.nn.Module, bool]] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @classmethod
    def take(cls, root: torch.nn.Module) -> ModuleSnapshot:
        snap = cls(root)
        for module in root.modules():
            snap.children[id(module)] = (module, dict(module._modules))
            snap.attributes[id(module)] = {
                name: module.__dict__.get(name, _MISSING) for name in EXTRA_ATTRIBUTES
            }
            snap.training.append((module, module.training))
        snap.flags = [(p, p.requires_grad) for p in root.parameters()]
        # Aliases of the current storage: code that swaps `param.data` (transformers' in-place
        # resize does) is undone by pointing the parameter back at it.
        snap.data = [(p, p.detach()) for p in root.parameters()]
        config = getattr(root, "config", None)
        if config is not None and hasattr(config, "vocab_size"):
            snap.config["vocab_size"] = config.vocab_size
        return snap

    def restore(self) -> None:
        for module, modules in self.children.values():
            module._modules.clear()
            module._modules.update(modules)
            for name, value in self.attributes[id(module)].items():
                if value is _MISSING:
                    module.__dict__.pop(name, None)
                else:
                    module.__dict__[name] = value
        for module, mode in self.training:
            module.training = mode
        for param, flag in self.flags:
            param.requires_grad_(flag)
        with torch.no_grad():
            for param, data in self.data:
                if param.data_ptr() != data.data_ptr() or param.shape != data.shape:
                    param.data = data
        for key, value in self.config.items():
            setattr(self.root.config, key, value)


def module_fingerprint(root: torch.nn.Module) -> tuple:
    """A cheap identity of a module tree: which objects it holds and which parameters train.

    Equal fingerprints mean no submodule was swapped, added or removed, no parameter was given
    new storage and no flag changed; it does not read the weights (a personalization never
    writes into the base weights).
    """
    ids = tuple(id(m) for m in root.modules())
    trainable = tuple((p.requires_grad, p.data_ptr(), tuple(p.shape)) for p in root.parameters())
    adapters = any("peft_config" in m.__dict__ for m in root.modules())
    return ids, trainable, adapters
