#!/usr/bin/env python3
"""Fetch a register the embedded model never read, Spanish, and cut the small dataset lesson 8 uses.

The embedded model was pre-trained on four registers of English (tools/registers.py). Lesson 8
compares IA³ with full fine-tuning on a task whose register is absent from that pre-training:
Spanish sayings and quotations from Debian's `fortunes-es`.

    python tools/spanish_corpus.py          # -> ~/.cache/tinyia3/corpus/spanish/ and data/datasets/spanish_quotes_*.jsonl
    python tools/spanish_corpus.py --downloads DIR   # reuse a fortunes-es_*.deb already downloaded

Licence (the package's copyright file, kept whole in provenance.json): "All fortunes' text and
quotes are presumed to be in the public domain"; the package's programs are GPL-2+ (none is
used). The files in the package's `off/` folder (offensive fortunes) are left out. The corpus is
never committed; the two dataset files are small excerpts of it (provenance in
data/datasets/README.md).

Documents are 10 consecutive fortunes (the attribution lines "-- Author" dropped), in the order
of the sorted file names; document k is held out when k % 20 == 10 (the rule of
tools/registers.py), so the held-out quotations never occur in training.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus as web  # noqa: E402  (the .deb helpers)
import registers  # noqa: E402  (fetch_deb, source_record, write_register: the same corpus layout)
from make_register_datasets import OUT, passages, write_jsonl  # noqa: E402

from tinyia3.tokenizer import gpt2_tokenizer  # noqa: E402

PACKAGE = "fortunes-es"
PER_DOCUMENT = 10


def fortunes(root: Path) -> list[str]:
    """Every fortune of the package outside off/, attribution lines dropped, whitespace tidied."""
    folder = root / "usr" / "share" / "games" / "fortunes" / "es"
    files = sorted(p for p in folder.glob("*.fortunes") if p.is_file())
    if not files:
        raise web.CorpusError(f"no *.fortunes files in {folder}; expected the layout of Debian's {PACKAGE}.")
    out = []
    for path in files:
        for entry in path.read_text(encoding="utf-8").split("\n%\n"):
            lines = [line.strip() for line in entry.strip("%\n").split("\n")]
            text = " ".join(line for line in lines if line and not line.startswith("--"))
            if len(text) >= 20:
                out.append(text)
    return out


def build(out: Path, downloads: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="tinyia3-spanish-") as tmp:
        tmp = Path(tmp)
        deb = registers.fetch_deb(PACKAGE, downloads, tmp)
        web.extract_deb(deb, tmp / "root")
        fields = web.deb_fields(deb)
        quotes = fortunes(tmp / "root")
        copyright_text = (tmp / "root" / "usr" / "share" / "doc" / PACKAGE / "copyright").read_text(encoding="utf-8")
        docs = ["\n".join(quotes[i:i + PER_DOCUMENT]) for i in range(0, len(quotes), PER_DOCUMENT)]
        source = {"tool": "tools/spanish_corpus.py",
                  "corpus": f"Spanish sayings and quotations of Debian's {PACKAGE} (not off/), {PER_DOCUMENT} a document",
                  "package": registers.source_record(deb, "apt-get download " + PACKAGE, name=fields.get("Package"),
                                                     version=fields.get("Version")),
                  "licence": {"summary": "the fortunes are presumed to be in the public domain (the package's words); "
                                         "the package's programs are GPL-2+ and not used",
                              "debian_copyright_file": copyright_text}}
        return registers.write_register("spanish", docs, out, source)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=registers.CACHE / "spanish", help="the corpus folder")
    p.add_argument("--downloads", type=Path, help="a folder with a fortunes-es_*.deb already downloaded")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        prov = build(args.out, args.downloads)
    except web.CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"spanish: {prov['split']['documents']} documents -> {args.out}")
    tok, rng = gpt2_tokenizer(), np.random.default_rng(args.seed)
    for split, n in (("train", 320), ("heldout", 60)):
        text = (args.out / f"{split}.txt").read_text(encoding="utf-8")
        lines = [line for line in text.split("\n") if line.strip()]
        write_jsonl(OUT / f"spanish_quotes_{split}.jsonl", [{"text": t} for t in passages(lines, tok, rng, n, 96)])
    print(json.dumps(prov["files"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
