"""Build a CLIP-layout byte-level BPE tokenizer from a small corpus, offline.

The layout follows CLIP's own files: the 256 byte symbols, the same symbols with the `</w>`
end-of-word suffix, one token per learned merge, then `<|startoftext|>` and `<|endoftext|>`.
Every byte symbol is in the vocabulary, so any text tokenizes (unknown words fall back to
smaller pieces) and `CLIPTokenizer.add_tokens` works as with the real CLIP tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
SUFFIX = "</w>"
# CLIP's pre-tokenizer: specials, English contractions, letter runs, single digits, punctuation.
CLIP_SPLIT = (
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d"""
    r"""|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
)


def _bpe_trainer_tokenizer() -> Tokenizer:
    """A tokenizers BPE model that normalizes and pre-tokenizes the way CLIPTokenizer does."""
    tok = Tokenizer(models.BPE(end_of_word_suffix=SUFFIX))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    return tok


def train_clip_bpe(corpus: Iterable[str], max_merges: int = 2000) -> tuple[dict[str, int], list]:
    """Learn merges on `corpus`; return a CLIP-layout (vocab, merges as (left, right) pairs)."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tok = _bpe_trainer_tokenizer()
    # The trainer counts the alphabet and its `</w>` forms in vocab_size; ask for enough room.
    trainer = trainers.BpeTrainer(
        vocab_size=2 * len(alphabet) + max_merges,
        initial_alphabet=alphabet,
        end_of_word_suffix=SUFFIX,
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer)
    merges = [tuple(pair) for pair in json.loads(tok.to_str())["model"]["merges"]]
    return clip_vocab(merges), merges


def _byte_symbols() -> list[str]:
    """The 256 byte symbols in CLIP's `bytes_to_unicode` order (printable bytes first)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    # The other bytes map, in increasing order, onto code points from 256 up.
    n_other = 256 - len(printable)
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(n_other)]


def clip_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """Token -> id in CLIP's order: bytes, bytes + `</w>`, merge results, specials."""
    base = _byte_symbols()
    tokens = base + [s + SUFFIX for s in base] + ["".join(pair) for pair in merges] + [BOS, EOS]
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return vocab


def write_clip_tokenizer(
    vocab: dict[str, int], merges: list[tuple[str, str]], out_dir: Path, max_length: int
) -> Path:
    """Write vocab.json, merges.txt and the configs that `CLIPTokenizer.from_pretrained` reads."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (out_dir / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": max_length,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
        "do_lower_case": True,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    specials = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
    return out_dir


def clip_tokenizer_in_memory(corpus: Iterable[str], max_length: int):
    """A `CLIPTokenizer` trained on `corpus`, built without touching the disk (for tests)."""
    from transformers import CLIPTokenizer

    vocab, merges = train_clip_bpe(corpus)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
