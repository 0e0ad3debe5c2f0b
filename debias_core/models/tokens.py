"""Learned tokens: a trainable extension of the embedding table, and diffusers' file format.

Training new tokens the usual way (resize the table, train it whole, copy the old rows back after
every step) risks touching the rest of the vocabulary (weight decay, momentum). Here the base
table stays frozen and untouched; only the new rows are a parameter. Files are diffusers'
`learned_embeds.safetensors`, one token per file: `{token: tensor (1, dim)}`, which stock
`StableDiffusionPipeline.load_textual_inversion(path)` reads.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

TOKEN_FILE = "learned_embeds.safetensors"


class ExtendedEmbedding(torch.nn.Module):
    """A frozen embedding table followed by trainable rows for new token ids."""

    def __init__(
        self, base: torch.nn.Embedding, new_rows: torch.Tensor, first_id: int | None = None
    ) -> None:
        super().__init__()
        self.base = base
        self.new_rows = torch.nn.Parameter(new_rows.detach().clone().float())
        # The tokenizer numbers new tokens from its own length, which can be below the table's.
        self.num_base = base.num_embeddings if first_id is None else int(first_id)
        if not 0 < self.num_base <= base.num_embeddings:
            raise ValueError(f"new token ids must start in (0, {base.num_embeddings}]")

    @property
    def weight(self) -> torch.Tensor:
        """The whole table (base + new rows), for code that reads `get_input_embeddings()`."""
        base = self.base.weight[: self.num_base]
        return torch.cat([base, self.new_rows.to(base.dtype)])

    @property
    def num_embeddings(self) -> int:
        return self.num_base + len(self.new_rows)

    @property
    def embedding_dim(self) -> int:
        return self.base.embedding_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        base = self.base(ids.clamp(max=self.num_base - 1))
        is_new = ids >= self.num_base
        if not bool(is_new.any()):
            return base
        new = F.embedding((ids - self.num_base).clamp(min=0), self.new_rows).to(base.dtype)
        return torch.where(is_new[..., None], new, base)


def save_learned_embeds(path: Path, token: str, vector: torch.Tensor) -> Path:
    """Write one token's embedding as diffusers' textual-inversion file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensor = vector.detach().float().cpu().reshape(1, -1).contiguous()
    save_file({token: tensor}, str(path))
    return path


def load_learned_embeds(path: Path) -> dict[str, torch.Tensor]:
    """{token: (dim,) tensor} from a diffusers textual-inversion file (one or more tokens)."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    out = {}
    for token, tensor in state.items():
        if tensor.ndim == 2 and tensor.shape[0] != 1:
            raise ValueError(f"{path}: token {token!r} has {tensor.shape[0]} vectors; one is read")
        out[token] = tensor.reshape(-1)
    return out


def taken_names(tokenizer, names) -> list[str]:
    """Names that already mean something to the tokenizer: a vocabulary entry, or a word (CLIP
    stores words with a `</w>` suffix, so "dog" as a new token would hijack every "dog")."""
    vocab = tokenizer.get_vocab()
    return [n for n in names if n in vocab or f"{n}</w>" in vocab]
