#!/usr/bin/env python3
"""Build a plain-text pre-training corpus from the World English Bible.

The World English Bible (WEB) is in the public domain.  Debian ships it as the
SWORD module ``engWEB2015eb`` in the package ``sword-text-web``; this tool

1. downloads that package with ``apt-get download`` (or takes a ``--deb``),
2. unpacks it with ``dpkg-deb -x`` (or, without dpkg-deb, with the stdlib),
3. reads the SWORD zText module (``read_ztext``) into chapters of clean text,
4. writes ``train.txt`` / ``heldout.txt`` (every 20th chapter is held out)
   and ``provenance.json`` into ``--out`` (default ``~/.cache/tinyia3/corpus/web``).

Usage::

    python tools/corpus.py [--out DIR] [--deb PATH] [--no-headings]

Library use (standard library only)::

    from tools.corpus import read_ztext
    for ch in read_ztext("…/modules/texts/ztext/engWEB2015eb"):
        ch.book, ch.chapter, ch.text, ch.name      # "Gen", 1, "In the beginning…", "Genesis"

zText format, as found in this module
-------------------------------------
* ``ot.bzs`` / ``nt.bzs``: 12-byte records ``<III`` = (offset, compressed size,
  uncompressed size) of one zlib block in ``ot.bzz`` / ``nt.bzz``.
* ``ot.bzv`` / ``nt.bzv``: 10-byte records ``<IIH`` = (block index, byte offset
  in the uncompressed block, byte size), one per verse slot of the module's
  versification (here NRSVA, with heading slots for module, testament, book and
  chapter).  Empty slots have size 0.
* Entry texts are OSIS XML fragments; verse markers are stripped, chapter
  milestones ``<chapter sID="Gen.1" osisID="Gen.1"/>`` stay in the text.

Three quirks of this module that the reader handles (all seen in 426.0-1):

* The blocks are *not* a clean linear text: when osis2mod appends to a verse it
  writes the verse again, so some block bytes are stale copies that no index
  record points at (e.g. Romans 14:23 exists four times).  Reading through the
  ``.bzv`` index, not by joining blocks, avoids the duplicates.
* Several slots may point at the same bytes (linked verses); they are read once.
* The size field is 16 bits: one entry (Daniel 12:13 with the whole Greek
  Daniel appended, 125,566 bytes) wraps around to 60,030.  A size is extended
  by multiples of 65,536 when that makes it end exactly where the next indexed
  entry of its block (or the block) ends.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

PACKAGE = "sword-text-web"
MODULE = "engWEB2015eb"
MODULES_SUBDIR = "usr/share/sword/modules/texts/ztext"
CONF_SUBDIR = "usr/share/sword/mods.d"
DEFAULT_OUT = Path("~/.cache/tinyia3/corpus/web").expanduser()
# Books left out of the corpus, with the reason (recorded in provenance.json).
EXCLUDE_BOOKS = {
    "EsthGr": (
        "Esther (Greek) is damaged in this module: its index maps the Greek chapters onto a "
        "versification that lacks them, so the prayers of Mordecai and Esther are cut mid-sentence "
        "across chapters 4-6 and some of their text falls outside any chapter. The Hebrew Esther "
        "(book Esth) is complete and kept."
    ),
}
HELDOUT_EVERY = 20
HELDOUT_OFFSET = 10
SPLIT_RULE = (
    f"chapters in module reading order (SWORD index order), numbered from 0; "
    f"chapter k is held out iff k % {HELDOUT_EVERY} == {HELDOUT_OFFSET}"
)

_NOTE = "\x00"  # where a footnote was removed
_VERSE = " "  # between two verse entries


class CorpusError(RuntimeError):
    """A step failed; the message says what was expected, what was found, what to do."""


class Chapter(NamedTuple):
    book: str  # OSIS book id, e.g. "Gen", "1Macc", "Rev"
    chapter: int  # 1-based; 0 for text outside any chapter (intros, preface)
    text: str  # clean text, paragraphs / poetry lines separated by "\n"
    name: str  # display name of the book, e.g. "Genesis", "1 Maccabees"


# --------------------------------------------------------------------------- zText records


def read_bzs(path: str | os.PathLike) -> list[tuple[int, int, int]]:
    """Block index: list of (offset, compressed size, uncompressed size)."""
    return _records(Path(path), "<III")


def read_bzv(path: str | os.PathLike) -> list[tuple[int, int, int]]:
    """Verse index: list of (block index, offset in block, size)."""
    return _records(Path(path), "<IIH")


def _records(path: Path, fmt: str) -> list[tuple[int, ...]]:
    data = path.read_bytes()
    size = struct.calcsize(fmt)
    if len(data) % size:
        raise CorpusError(
            f"{path}: expected a multiple of {size} bytes ({fmt} records), found {len(data)} bytes; "
            "the module is damaged or not a SWORD zText module"
        )
    return [rec for rec in struct.iter_unpack(fmt, data)]


def read_blocks(bzs: str | os.PathLike, bzz: str | os.PathLike) -> list[bytes]:
    """Decompress every block of a .bzz file, checking the sizes the .bzs promises."""
    data = Path(bzz).read_bytes()
    blocks = []
    for i, (off, csize, usize) in enumerate(read_bzs(bzs)):
        if off + csize > len(data):
            raise CorpusError(
                f"{bzz}: block {i} expected at bytes {off}..{off + csize}, but the file has {len(data)} bytes"
            )
        try:
            raw = zlib.decompress(data[off : off + csize])
        except zlib.error as exc:
            raise CorpusError(f"{bzz}: block {i} is not a zlib stream ({exc})") from None
        if len(raw) != usize:
            raise CorpusError(
                f"{bzz}: block {i} expected {usize} bytes uncompressed, found {len(raw)}"
            )
        blocks.append(raw)
    return blocks


def iter_entries(module_dir: str | os.PathLike) -> Iterator[str]:
    """The module's entries as OSIS XML strings, in index order (OT then NT).

    Empty slots are skipped, linked slots (same bytes) are yielded once, and
    16-bit size overflows are repaired (see the module docstring).
    """
    module_dir = Path(module_dir)
    found = False
    for testament in ("ot", "nt"):
        paths = [module_dir / f"{testament}.{ext}" for ext in ("bzs", "bzz", "bzv")]
        if not any(p.exists() for p in paths):
            continue  # a module may have one testament only
        missing = [p.name for p in paths if not p.exists()]
        if missing:
            raise CorpusError(f"{module_dir}: has {testament} files but not {', '.join(missing)}")
        found = True
        blocks = read_blocks(paths[0], paths[1])
        index = read_bzv(paths[2])
        starts: dict[int, list[int]] = collections.defaultdict(list)
        for b, off, size in index:
            if size:
                starts[b].append(off)
        for b in starts:
            starts[b] = sorted(set(starts[b]))
        seen = set()
        for slot, (b, off, size) in enumerate(index):
            if not size or (b, off, size) in seen:
                continue
            seen.add((b, off, size))
            if b >= len(blocks) or off + size > len(blocks[b]):
                raise CorpusError(
                    f"{paths[2]}: slot {slot} points at block {b} bytes {off}..{off + size}, "
                    f"outside the {len(blocks)} blocks read from {paths[1].name}"
                )
            size = _repair_size(blocks[b], starts[b], off, size)
            yield blocks[b][off : off + size].decode("utf-8")
    if not found:
        raise CorpusError(
            f"{module_dir}: expected ot.bzs/ot.bzz/ot.bzv and/or nt.bzs/nt.bzz/nt.bzv, found "
            f"{sorted(p.name for p in module_dir.iterdir()) if module_dir.is_dir() else 'no such folder'}"
        )


def _repair_size(block: bytes, starts: list[int], off: int, size: int) -> int:
    later = [s for s in starts if s > off]
    end = later[0] if later else len(block)
    gap = end - (off + size)
    if gap > 0 and gap % 65536 == 0:
        return size + gap
    return size


# --------------------------------------------------------------------------- OSIS -> text

_TAG = re.compile(r"<(/?)([A-Za-z][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>")
_WORD_TAG = re.compile(r"</?w(?:\s[^>]*)?>")
_ATTR = re.compile(r"([\w.:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
# Elements dropped with their content.  <title> is kept only when canonical="true"
# (the Psalm superscriptions such as "A Psalm by David.", which are scripture text).
_SKIP = {"note", "title", "speaker"}
# Elements that start or end a line (paragraph milestones, poetry lines, list items).
_BREAK = {"p", "l", "lg", "lb", "item", "list", "div", "title", "chapter"}


def _attrs(s: str) -> dict[str, str]:
    return {m.group(1): m.group(2) if m.group(2) is not None else m.group(3) for m in _ATTR.finditer(s)}


def osis_to_chapters(entries: Iterable[str], include_intros: bool = False) -> list[Chapter]:
    """Turn a stream of OSIS entries into chapters of clean text, in stream order.

    Chapters are delimited by ``<chapter sID osisID="Book.N"/>`` milestones; text outside
    any chapter (preface, book introductions, glossary) becomes chapter 0 of the
    current book and is returned only with ``include_intros``.
    """
    out: list[tuple[str, int, list[str]]] = []
    names: dict[str, str] = {}
    last_name = ""
    book = ""  # current OSIS book id (from <div type="book">) or a front-matter label
    current: list[str] | None = None  # pieces of the open chapter
    intro: list[str] = []
    skip: list[str] = []  # stack of element names being skipped

    def close_intro():
        nonlocal intro
        if include_intros and "".join(intro).strip():
            out.append((book or last_name or "front", 0, intro))
        intro = []

    for entry in entries:
        # A few words are written <w>a</w><w>b</w> with no space between them.
        entry = re.sub(r"</w>(?=<w[\s>])", "</w> ", entry)
        entry = _WORD_TAG.sub("", entry)  # <w lemma="strong:…">: most tags, no effect on text
        pos = 0
        sink = current if current is not None else intro
        for m in _TAG.finditer(entry):
            if not skip and m.start() > pos:
                sink.append(entry[pos : m.start()])
            pos = m.end()
            end, name, attr_s, empty = m.group(1) == "/", m.group(2), m.group(3), m.group(4) == "/"
            if skip:
                if name == skip[-1]:
                    if end:
                        skip.pop()
                        if not skip and name == "note":
                            sink.append(_NOTE)
                    elif not empty:
                        skip.append(name)
                continue
            a = _attrs(attr_s) if attr_s else {}
            if not end and not empty and name in _SKIP and not (name == "title" and a.get("canonical") == "true"):
                skip.append(name)
                continue
            if name == "milestone" and a.get("type") == "x-usfm-h" and "n" in a:
                last_name = a["n"]
            elif name == "div" and a.get("type") in ("book", "front", "glossary") and "sID" in a:
                if current is None:
                    close_intro()
                    sink = intro
                book = a.get("osisID") or a.get("type", "")
            elif name == "chapter" and "sID" in a:
                osis = a.get("osisID") or a["sID"]
                bk, _, num = osis.rpartition(".")
                if current is None:
                    close_intro()
                book = bk or book
                names.setdefault(book, last_name or book)
                current = []
                out.append((book, int(num) if num.isdigit() else len(out) + 1, current))
                sink = current
                continue
            elif name == "chapter" and "eID" in a:
                current = None
                sink = intro
                continue
            if name in _BREAK and not (name == "div" and a.get("type") == "x-milestone"):
                sink.append("\n")
        if not skip and pos < len(entry):
            sink.append(entry[pos:])
        sink.append(_VERSE)
    if current is None:
        close_intro()

    chapters = []
    for bk, num, pieces in out:
        text = clean_text("".join(pieces))
        if text:
            chapters.append(Chapter(bk, num, text, names.get(bk, bk)))
    return chapters


def clean_text(s: str) -> str:
    """Unescape entities, close the gaps left by removed notes, collapse whitespace."""
    s = html.unescape(s)
    # A removed note between a word and the next word (or an opening quote) stood for a space.
    s = re.sub(r"(?<=[^\s\x00])\x00+(?=[\w“‘(\[])", " ", s)
    s = s.replace(_NOTE, "")
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in s.split("\n"))
    # Markup sometimes leaves a space before a question mark etc. ("coins ?" in Luke 12:6).
    lines = (re.sub(r"(?<=\w) (?=[?!;:,](?:\s|$))", "", line) for line in lines)
    return "\n".join(line for line in lines if line)


def read_ztext(module_dir: str | os.PathLike, include_intros: bool = False) -> list[Chapter]:
    """Read a SWORD zText module folder into a list of ``Chapter(book, chapter, text, name)``."""
    return osis_to_chapters(iter_entries(module_dir), include_intros=include_intros)


def chapter_block(ch: Chapter, n_chapters: int, heading: bool = True) -> str:
    """One chapter as written to the corpus: an optional heading line, then the text."""
    if not heading:
        return ch.text
    title = ch.name if n_chapters == 1 else f"{ch.name} {ch.chapter}"
    return f"{title}\n{ch.text}"


def split_chapters(chapters: list[Chapter]) -> tuple[list[Chapter], list[Chapter]]:
    """(train, heldout): every HELDOUT_EVERY-th chapter, from HELDOUT_OFFSET on, is held out."""
    train, held = [], []
    for k, ch in enumerate(chapters):
        (held if k % HELDOUT_EVERY == HELDOUT_OFFSET else train).append(ch)
    return train, held


# --------------------------------------------------------------------------- conf file


def parse_conf(path: str | os.PathLike) -> dict[str, str | list[str]]:
    """A SWORD .conf file: ``[Name]`` then ``Key=Value`` lines (``\\`` continues a line).

    Repeated keys give a list.  The section name is stored under ``"[section]"``.
    """
    conf: dict[str, str | list[str]] = {}
    key = None
    for raw in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.rstrip("\r")
        if key is not None:  # continuation of the previous value
            cont = line.endswith("\\")
            value = conf[key]
            addition = line[:-1] if cont else line
            if isinstance(value, list):
                value[-1] += "\n" + addition
            else:
                conf[key] = value + "\n" + addition
            key = key if cont else None
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("[") and line.rstrip().endswith("]") and "[section]" not in conf:
            conf["[section]"] = line.strip()[1:-1]
            continue
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        k = k.strip()
        cont = v.endswith("\\")
        v = v[:-1] if cont else v
        if k in conf:
            old = conf[k]
            conf[k] = (old if isinstance(old, list) else [old]) + [v]
        else:
            conf[k] = v
        key = k if cont else None
    return conf


# --------------------------------------------------------------------------- the .deb


def find_module(root: str | os.PathLike, expected: str = MODULE) -> tuple[Path, Path | None, str]:
    """Locate the zText module in an extracted package: (module dir, conf file or None, name)."""
    root = Path(root)
    base = root / MODULES_SUBDIR
    candidates = sorted(p for p in base.glob("*") if p.is_dir() and any(p.glob("*.bzv"))) if base.is_dir() else []
    if not candidates:
        found = sorted(str(p.relative_to(root)) for p in root.rglob("*.bzv"))
        raise CorpusError(
            f"expected a zText module folder {MODULES_SUBDIR}/{expected}/ (with ot.bzv/nt.bzv) in the "
            f"extracted {PACKAGE} package, found {'.bzv files at ' + ', '.join(found) if found else 'no .bzv files at all'}. "
            "The package layout changed: adjust MODULES_SUBDIR/MODULE in tools/corpus.py, "
            "or pass --module-dir to a folder that holds the .bzs/.bzz/.bzv files."
        )
    chosen = next((p for p in candidates if p.name.lower() == expected.lower()), None)
    if chosen is None:
        if len(candidates) > 1:
            raise CorpusError(
                f"expected module {expected}, found several others: {[p.name for p in candidates]}; "
                "pass --module NAME to choose one"
            )
        chosen = candidates[0]
        print(f"note: module folder is {chosen.name!r}, not {expected!r}; using it", file=sys.stderr)
    conf = None
    conf_dir = root / CONF_SUBDIR
    if conf_dir.is_dir():
        for c in sorted(conf_dir.glob("*.conf")):
            data_path = str(parse_conf(c).get("DataPath", ""))
            if data_path.rstrip("/").split("/")[-1].lower() == chosen.name.lower():
                conf = c
                break
    return chosen, conf, chosen.name


def _run(cmd: list[str], what: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    if shutil.which(cmd[0]) is None:
        raise CorpusError(
            f"{what} needs `{cmd[0]}`, which is not on PATH. This step expects a Debian/Ubuntu system; "
            f"elsewhere download {PACKAGE}_*.deb yourself and pass it with --deb PATH."
        )
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def apt_download(dest: str | os.PathLike, package: str = PACKAGE, version: str | None = None) -> Path:
    """``apt-get download`` the package into dest; runs ``apt-get update`` once if apt does not know it."""
    spec = f"{package}={version}" if version else package
    cmd = ["apt-get", "download", spec]
    r = _run(cmd, "downloading the corpus package", cwd=str(dest))
    if r.returncode != 0 and os.geteuid() == 0 and re.search(
        r"Unable to locate|Can't select|no installation candidate|not found", r.stderr
    ):
        print(f"apt-get does not know {spec}; running `apt-get update` once", file=sys.stderr)
        u = _run(["apt-get", "update"], "refreshing the package lists")
        if u.returncode != 0:
            raise CorpusError(
                f"`apt-get update` failed (exit {u.returncode}):\n{u.stderr.strip()[-2000:]}\n"
                "Check the apt sources / network to the Debian mirror, or pass --deb PATH."
            )
        r = _run(cmd, "downloading the corpus package", cwd=str(dest))
    if r.returncode != 0:
        raise CorpusError(
            f"`{' '.join(cmd)}` failed (exit {r.returncode}); expected it to fetch {package}_*.deb. "
            f"apt said:\n{r.stderr.strip()[-2000:]}\n"
            "What to do: run `apt-get update` (as root) and retry, check that the apt sources include "
            "Debian main (or Ubuntu universe), or download the .deb elsewhere and pass --deb PATH."
        )
    debs = sorted(Path(dest).glob(f"{package}_*.deb"))
    if len(debs) != 1:
        raise CorpusError(
            f"expected `apt-get download` to leave one {package}_*.deb in {dest}, found {[p.name for p in debs]}"
        )
    return debs[0]


def _ar_members(deb: Path) -> dict[str, bytes]:
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise CorpusError(f"{deb}: expected a Debian package (an ar archive), found other data")
    members, pos = {}, 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        members[name] = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
    return members


def _tar(blob: bytes, name: str, deb: Path) -> tarfile.TarFile:
    import io

    try:
        return tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")
    except tarfile.TarError as exc:
        raise CorpusError(
            f"{deb}: cannot read {name} with Python's tarfile ({exc}); install dpkg (`apt-get install dpkg`) "
            "so that `dpkg-deb -x` can be used"
        ) from None


def deb_fields(deb: str | os.PathLike) -> dict[str, str]:
    """Control fields (Package, Version, Architecture, …) of a .deb."""
    deb = Path(deb)
    if shutil.which("dpkg-deb"):
        r = _run(["dpkg-deb", "-f", str(deb)], "reading the package's control fields")
        if r.returncode != 0:
            raise CorpusError(
                f"`dpkg-deb -f {deb}` failed (exit {r.returncode}); expected a Debian package (.deb). "
                f"dpkg-deb said: {r.stderr.strip()}\nPass a {PACKAGE}_*.deb, or leave out --deb to download it."
            )
        text = r.stdout
    else:
        members = _ar_members(deb)
        name = next((n for n in members if n.startswith("control.tar")), None)
        if name is None:
            raise CorpusError(f"{deb}: expected a control.tar.* member, found {list(members)}")
        with _tar(members[name], name, deb) as tf:
            member = next(m for m in tf.getmembers() if m.name.lstrip("./") == "control")
            text = tf.extractfile(member).read().decode("utf-8", "replace")
    fields, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, v = line.split(":", 1)
            fields[key] = v.strip()
    return fields


def extract_deb(deb: str | os.PathLike, dest: str | os.PathLike) -> None:
    """``dpkg-deb -x deb dest``; with no dpkg-deb, the same with the standard library."""
    deb = Path(deb)
    if shutil.which("dpkg-deb"):
        r = _run(["dpkg-deb", "-x", str(deb), str(dest)], "unpacking the package")
        if r.returncode != 0:
            raise CorpusError(
                f"`dpkg-deb -x {deb} {dest}` failed (exit {r.returncode}); expected a valid .deb. "
                f"dpkg-deb said: {r.stderr.strip()[-2000:]}\nRe-download it (delete it and run without --deb)."
            )
        return
    members = _ar_members(deb)
    name = next((n for n in members if n.startswith("data.tar")), None)
    if name is None:
        raise CorpusError(f"{deb}: expected a data.tar.* member, found {list(members)}")
    with _tar(members[name], name, deb) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, filter="data")
        else:  # pragma: no cover - Python without tar filters
            for m in tf.getmembers():
                if m.name.startswith("/") or ".." in Path(m.name).parts:
                    raise CorpusError(f"{deb}: refusing unsafe path {m.name!r}")
            tf.extractall(dest)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the whole job


def _stats(text: str) -> dict:
    non_ascii = collections.Counter(c for c in text if ord(c) > 127)
    return {
        "bytes": len(text.encode("utf-8")),
        "chars": len(text),
        "lines": text.count("\n"),
        "markup_chars_left": sum(text.count(c) for c in "<>"),
        "non_ascii_chars": sum(non_ascii.values()),
        "non_ascii_top": {f"U+{ord(c):04X} {c}": n for c, n in non_ascii.most_common(12)},
    }


def build(out: Path, deb: Path | None = None, headings: bool = True, module: str = MODULE,
          version: str | None = None) -> dict:
    """Download (unless ``deb``), extract, parse and write the corpus; returns the provenance."""
    out = Path(out).expanduser()
    with tempfile.TemporaryDirectory(prefix="tinyia3-corpus-") as tmp:
        tmp = Path(tmp)
        if deb is None:
            deb = apt_download(tmp, version=version)
            obtained_with = "apt-get download " + (f"{PACKAGE}={version}" if version else PACKAGE)
        else:
            obtained_with = "given with --deb"
            deb = Path(deb).expanduser()
            if not deb.is_file():
                raise CorpusError(f"--deb {deb}: expected a {PACKAGE}_*.deb file, found nothing there")
        fields = deb_fields(deb)
        if fields.get("Package") != PACKAGE:
            print(f"warning: {deb.name} is package {fields.get('Package')!r}, not {PACKAGE!r}", file=sys.stderr)
        root = tmp / "root"
        root.mkdir()
        extract_deb(deb, root)
        module_dir, conf_path, module_name = find_module(root, module)
        conf = parse_conf(conf_path) if conf_path else {}
        copyright_file = root / f"usr/share/doc/{fields.get('Package', PACKAGE)}/copyright"
        debian_copyright = copyright_file.read_text("utf-8", "replace") if copyright_file.is_file() else None
        everything = read_ztext(module_dir, include_intros=True)
        deb_sha = sha256_file(deb)
        deb_name, deb_size = deb.name, deb.stat().st_size

    # Text outside chapters is a book's introduction when it comes before the book's first
    # chapter; after that it means the index put text in the wrong place.
    misplaced, started = collections.Counter(), set()
    for c in everything:
        if c.chapter:
            started.add(c.book)
        elif c.book in started:
            misplaced[c.book] += len(c.text)
    chapters = [c for c in everything if c.chapter and c.book not in EXCLUDE_BOOKS]
    excluded = {b: {"reason": why, "chapters": sum(1 for c in everything if c.book == b and c.chapter),
                    "bytes": sum(len(c.text.encode()) for c in everything if c.book == b)}
                for b, why in EXCLUDE_BOOKS.items()}
    intro_bytes = sum(len(c.text.encode()) for c in everything if not c.chapter)
    if len(chapters) < 100:
        raise CorpusError(f"expected about 1,400 chapters in {module_name}, found {len(chapters)}; parsing went wrong")
    ids = collections.Counter((c.book, c.chapter) for c in chapters)
    dups = [f"{b}.{n}" for (b, n), k in ids.items() if k > 1]
    per_book = collections.Counter(c.book for c in chapters)
    train, held = split_chapters(chapters)

    def render(chs):
        return "\n\n".join(chapter_block(c, per_book[c.book], headings) for c in chs) + "\n"

    train_text, held_text = render(train), render(held)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "train.txt", train_text)
    write_atomic(out / "heldout.txt", held_text)

    def pick(key):
        v = conf.get(key)
        return v if v is None or isinstance(v, str) else "\n".join(v)

    provenance = {
        "corpus": "World English Bible (with Deuterocanon), plain text",
        "tool": "tools/corpus.py",
        "package": {
            "name": fields.get("Package", PACKAGE),
            "version": fields.get("Version"),
            "architecture": fields.get("Architecture"),
            "file": deb_name,
            "bytes": deb_size,
            "sha256": deb_sha,
            "obtained_with": obtained_with,
        },
        "module": {
            "name": module_name,
            "path_in_package": f"{MODULES_SUBDIR}/{module_name}/",
            "conf": f"{CONF_SUBDIR}/{conf_path.name}" if conf_path else None,
            **{k: pick(k) for k in ("Description", "Version", "SwordVersionDate", "Versification", "SourceType")},
        },
        "licence": {
            "DistributionLicense": pick("DistributionLicense"),
            "Copyright": pick("Copyright"),
            "CopyrightNotes": pick("CopyrightNotes"),
            "About": pick("About"),
            "debian_copyright_file": debian_copyright,
        },
        "cleaning": (
            "read through the .bzv verse index (stale block bytes ignored, linked verses once, 16-bit sizes "
            "repaired); dropped <note>, <title> (except canonical Psalm superscriptions) and <speaker>; "
            "paragraph/line/list milestones -> line breaks; other tags stripped; entities unescaped; "
            "whitespace collapsed; no verse numbers; intros/preface/glossary (text outside chapters) and the "
            "books in excluded_books left out; "
            "text otherwise unchanged (curly quotes kept). "
            + ("Each chapter starts with a heading line 'Book N' ('Book' for one-chapter books); " if headings
               else "No heading lines; ")
            + "chapters separated by one blank line."
        ),
        "split": {
            "rule": SPLIT_RULE,
            "chapters_total": len(chapters),
            "chapters_train": len(train),
            "chapters_heldout": len(held),
            "heldout_fraction_bytes": round(len(held_text.encode()) / len(train_text.encode() + held_text.encode()), 4),
            "heldout_chapters": [f"{c.book}.{c.chapter}" for c in held],
        },
        "books": [{"osis": b, "name": next(c.name for c in chapters if c.book == b), "chapters": n}
                  for b, n in per_book.items()],
        "excluded_books": excluded,
        "left_out_intro_bytes": intro_bytes,
        "misplaced_text_chars": dict(misplaced),
        "duplicate_chapter_ids": dups,
        "files": {
            "train.txt": {**_stats(train_text), "sha256": hashlib.sha256(train_text.encode()).hexdigest()},
            "heldout.txt": {**_stats(held_text), "sha256": hashlib.sha256(held_text.encode()).hexdigest()},
        },
    }
    write_atomic(out / "provenance.json", json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
    return provenance


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--deb", type=Path, help=f"use this {PACKAGE}_*.deb instead of downloading one")
    p.add_argument("--version", dest="pkg_version", help=f"apt version of {PACKAGE} to download (e.g. 426.0-1)")
    p.add_argument("--module", default=MODULE, help=f"SWORD module name (default {MODULE})")
    p.add_argument("--no-headings", action="store_true", help="omit the 'Book N' line before each chapter")
    args = p.parse_args(argv)
    try:
        prov = build(args.out, deb=args.deb, headings=not args.no_headings, module=args.module,
                     version=args.pkg_version)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = args.out.expanduser()
    f = prov["files"]
    print(f"{prov['package']['name']} {prov['package']['version']} (sha256 {prov['package']['sha256'][:12]}…), "
          f"module {prov['module']['name']}: {prov['split']['chapters_total']} chapters")
    for name in ("train.txt", "heldout.txt"):
        print(f"  {out / name}: {f[name]['bytes']:,} bytes, {f[name]['lines']:,} lines")
    print(f"  {out / 'provenance.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
