#!/usr/bin/env python3
"""Write the register datasets of data/datasets/ from the pre-training corpora's splits.

    python tools/registers.py                   # once: the four corpora in ~/.cache/tinyia3/corpus
    python tools/make_register_datasets.py      # -> data/datasets/{drama_style_*,registers_heldout}.jsonl

Files (all small excerpts; the sources' licences are in data/datasets/README.md):

  drama_style_train.jsonl    {"text"}: passages of Shakespeare (a few speeches each) from the drama
                             register's TRAIN split: the style-shift fine-tune reads these
  drama_style_heldout.jsonl  {"text"}: passages from the drama HELD-OUT scenes only
  drama_style_prompts.jsonl  {"prompt", "form": "drama", "register"}: the first five words of
                             20 held-out sentences of each OTHER register (scripture, technical,
                             plain), drawn at random; a style shift counts how many greedy
                             continuations take the drama form (tinyia3/forms.py)
  registers_heldout.jsonl    {"text", "register"}: 40 held-out passages per register, for the
                             held-out loss of every register before and after a fine-tune
  support_desk_prompts.jsonl {"prompt", "form": "support"}: every third prompt of
                             support_desk_heldout.jsonl, for the support desk's style shift

Also prints how often tinyia3.forms.is_drama fires on plain held-out text of each register
(its false-positive rate), recorded in data/datasets/README.md.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyia3.forms import is_drama  # noqa: E402
from tinyia3.tokenizer import gpt2_tokenizer  # noqa: E402

CORPUS = Path("~/.cache/tinyia3/corpus").expanduser()
REGISTERS = ("scripture", "drama", "technical", "plain")
OUT = ROOT / "data" / "datasets"


def documents(register: str, split: str) -> list[str]:
    path = CORPUS / register / f"{split}.txt"
    if not path.is_file():
        sys.exit(f"No {path}: build the corpora first with `python tools/registers.py`.")
    text = path.read_text(encoding="utf-8")
    return [d for d in text.split("\n\n") if d.strip()]


def passages(blocks: list[str], tok, rng, n: int, max_tokens: int) -> list[str]:
    """n passages of consecutive blocks (speeches, paragraphs), each at most max_tokens long,
    from random places; no block is used twice."""
    used, out = set(), []
    order = rng.permutation(len(blocks))
    for start in order:
        if len(out) == n:
            break
        text, k = "", start
        while k < len(blocks) and k not in used:
            candidate = (text + "\n\n" + blocks[k]) if text else blocks[k]
            if len(tok.encode(candidate)) > max_tokens:
                break
            text, k = candidate, k + 1
        if text and len(tok.encode(text)) >= max_tokens // 3:
            used.update(range(start, k))
            out.append(text)
    if len(out) < n:
        sys.exit(f"only {len(out)} passages of <= {max_tokens} tokens found, expected {n}")
    return out


def line_windows(register: str, tok, rng, n: int, max_tokens: int) -> list[str]:
    """n non-overlapping windows of the held-out text as it is (blank lines kept), each
    starting at a line start and ending at a line end, 64 to max_tokens tokens long."""
    lines = "\n\n".join(documents(register, "heldout")).split("\n")
    used, out = np.zeros(len(lines), bool), []
    for start in rng.permutation(len(lines)):
        if len(out) == n:
            break
        if not lines[start].strip() or used[start]:
            continue
        end, text = start, lines[start]
        while end + 1 < len(lines) and not used[end + 1] and len(tok.encode(text + "\n" + lines[end + 1])) <= max_tokens:
            end += 1
            text += "\n" + lines[end]
        text = text.rstrip("\n")
        if len(tok.encode(text)) >= max_tokens // 2:
            used[start:end + 1] = True
            out.append(text)
    if len(out) < n:
        sys.exit(f"only {len(out)} windows of {max_tokens // 2}-{max_tokens} tokens found in {register}, expected {n}")
    return out


def drama_blocks(split: str) -> list[str]:
    """Speeches: 'NAME.' then its lines; stage directions and scene headings left out."""
    blocks = []
    for doc in documents("drama", split):
        for block in doc.split("\n\n"):
            first = block.split("\n", 1)[0]
            if re.fullmatch(r"[A-Z][A-Z'\- ]+\.", first.strip()) and "\n" in block:
                blocks.append(block.strip())
    return blocks


PROMPT_WORDS = 5  # a prompt is the first five words of a held-out sentence of another register
_PROMPT_LINE = re.compile(r"^([A-Z][a-z]*(?: [A-Za-z]+){%d}) [^\n]*[a-z]" % (PROMPT_WORDS - 1))


def other_register_openings(rng, per_register: int) -> list[dict]:
    """Held-out prompts that are not already drama: for each of the three other registers, the
    first PROMPT_WORDS words of per_register lines drawn at random (without replacement) from
    every held-out line that starts with a capital letter and whose first PROMPT_WORDS words are
    plain letters followed by more text. The rule is applied to every line; nothing is chosen by
    a model's output. A continuation takes the drama form only if the model leaves the prompt's
    register for the plays'."""
    prompts = []
    for r in REGISTERS:
        if r == "drama":
            continue
        lines = "\n\n".join(documents(r, "heldout")).split("\n")
        openings = sorted({m.group(1) for line in lines if (m := _PROMPT_LINE.match(line.strip()))})
        if len(openings) < per_register:
            sys.exit(f"only {len(openings)} {r} held-out lines open with {PROMPT_WORDS} plain words, expected {per_register}")
        prompts += [{"prompt": openings[i], "form": "drama", "register": r}
                    for i in sorted(rng.choice(len(openings), per_register, replace=False))]
    return prompts


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: {len(records)} records")


def false_positive_rates(tok, rng) -> dict[str, float]:
    """Share of 48-token held-out windows of each register that is_drama calls drama."""
    rates = {}
    for r in REGISTERS:
        ids = tok.encode("\n\n".join(documents(r, "heldout")))
        starts = rng.integers(0, len(ids) - 48, size=400)
        rates[r] = float(np.mean([is_drama(tok.decode(ids[s:s + 48])) for s in starts]))
    return rates


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    tok = gpt2_tokenizer()
    write_jsonl(OUT / "drama_style_train.jsonl",
                [{"text": t} for t in passages(drama_blocks("train"), tok, rng, 320, 96)])
    write_jsonl(OUT / "drama_style_heldout.jsonl",
                [{"text": t} for t in passages(drama_blocks("heldout"), tok, rng, 60, 96)])
    records = []
    for r in REGISTERS:
        records += [{"text": t, "register": r} for t in line_windows(r, tok, rng, 40, 128)]
    write_jsonl(OUT / "registers_heldout.jsonl", records)
    support = [json.loads(line) for line in open(OUT / "support_desk_heldout.jsonl", encoding="utf-8")]
    write_jsonl(OUT / "support_desk_prompts.jsonl", [{"prompt": r["prompt"], "form": "support"} for r in support[::3]])
    rates = false_positive_rates(tok, rng)
    # Their own generator, so that the files above stay as they were before the prompts changed.
    write_jsonl(OUT / "drama_style_prompts.jsonl", other_register_openings(np.random.default_rng((args.seed, 1)), 20))
    print("is_drama on 400 random 48-token held-out windows: " +
          ", ".join(f"{r} {v:.1%}" for r, v in rates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
