"""tools/corpus.py on a synthetic SWORD zText module built in the test (no .deb, no network)."""
import io
import struct
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import corpus  # noqa: E402


def write_module(folder: Path, testament: str, blocks: list[list[str]], extra: dict[int, bytes] | None = None,
                 links: dict[int, int] | None = None) -> None:
    """Write <testament>.bzs/.bzz/.bzv: each block is a list of entries (one index slot each).

    extra[b] is appended to block b without an index slot (a stale copy, as osis2mod leaves);
    links[slot] = other slot makes a slot point at the bytes of an earlier slot.
    """
    bzz, bzs, bzv = bytearray(), bytearray(), bytearray()
    bzv += struct.pack("<IIH", 0, 0, 0)  # slot 0: empty, as in real modules
    slots = []
    for b, entries in enumerate(blocks):
        raw = bytearray()
        for e in entries:
            data = e.encode("utf-8")
            slots.append((b, len(raw), len(data) % 65536))  # the size field is 16 bits
            raw += data
        raw += (extra or {}).get(b, b"")
        comp = zlib.compress(bytes(raw))
        bzs += struct.pack("<III", len(bzz), len(comp), len(raw))
        bzz += comp
    for i, rec in enumerate(slots):
        if links and i in links:
            rec = slots[links[i]]
        bzv += struct.pack("<IIH", *rec)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{testament}.bzs").write_bytes(bytes(bzs))
    (folder / f"{testament}.bzz").write_bytes(bytes(bzz))
    (folder / f"{testament}.bzv").write_bytes(bytes(bzv))


BOOK_INTRO = ('<div canonical="true" osisID="Gen" sID="g1" type="book"/> <milestone n="Genesis" type="x-usfm-h"/>'
              '<title level="1" type="main">THE FIRST BOOK OF MOSES</title> <div sID="g2" type="x-p"/>An intro.'
              '<div eID="g2" type="x-p"/>')
GEN1 = [
    '<chapter n="1" osisID="Gen.1" sID="Gen.1"/>',
    '<div sID="p1" type="x-p"/><w lemma="strong:H1">In</w> <w lemma="strong:H2">the</w> beginning, '
    'God<note placement="foot"><reference type="annotateRef">1:1 </reference>A <note>nested</note> note.</note>'
    '<w lemma="strong:H3">created</w> it.',
    '<title>Section heading</title>It was <w>good</w><w>and</w> fine &amp; well<note>n</note>.<div eID="p1" type="x-p"/>',
    '<div sID="p2" type="x-p"/>Here is <q who="Jesus">a quote</q>.<chapter eID="Gen.1"/>',
]
GEN2 = [
    '<chapter n="2" osisID="Gen.2" sID="Gen.2"/><title canonical="true" type="psalm">A Psalm.</title>',
    '<lg sID="a"/><l level="1" sID="l1"/>Line one,<l eID="l1" level="1"/> <l level="2" sID="l2"/>line two.'
    '<l eID="l2" level="2"/><l sID="s" type="selah"/>Selah.<l eID="s" type="selah"/><lg eID="a"/>',
    '<speaker>Beloved</speaker>Last   words ?<lb type="x-p"/>Really last.<chapter eID="Gen.2"/>',
]


def test_records_round_trip(tmp_path):
    write_module(tmp_path, "ot", [["<milestone/>"], GEN1])
    bzs = corpus.read_bzs(tmp_path / "ot.bzs")
    assert len(bzs) == 2 and all(len(r) == 3 for r in bzs)
    blocks = corpus.read_blocks(tmp_path / "ot.bzs", tmp_path / "ot.bzz")
    assert [len(b) for b in blocks] == [r[2] for r in bzs]
    bzv = corpus.read_bzv(tmp_path / "ot.bzv")
    assert bzv[0] == (0, 0, 0) and bzv[2] == (1, 0, len(GEN1[0].encode()))
    (tmp_path / "bad.bzv").write_bytes(b"\0" * 11)
    with pytest.raises(corpus.CorpusError, match="multiple of 10"):
        corpus.read_bzv(tmp_path / "bad.bzv")


def test_read_ztext_chapters(tmp_path):
    # Block 1 carries a stale copy after its indexed entries; the last slot links to the one before.
    write_module(tmp_path, "ot", [[BOOK_INTRO], GEN1, GEN2 + ["x"]],
                 extra={1: "STALE COPY".encode()}, links={8: 7})
    chapters = corpus.read_ztext(tmp_path)
    assert [(c.book, c.chapter, c.name) for c in chapters] == [("Gen", 1, "Genesis"), ("Gen", 2, "Genesis")]
    assert chapters[0].text == (
        "In the beginning, God created it. It was good and fine & well.\nHere is a quote."
    )
    assert chapters[1].text == "A Psalm.\nLine one,\nline two.\nSelah.\nLast words?\nReally last."
    for c in chapters:
        assert "STALE" not in c.text and "<" not in c.text and "note" not in c.text
    with_intros = corpus.read_ztext(tmp_path, include_intros=True)
    assert with_intros[0] == corpus.Chapter("Gen", 0, "An intro.", "Genesis")


def test_size_field_overflow_is_repaired(tmp_path):
    long_verse = "word " * 14000  # 70,000 bytes: stored as 70,000 % 65,536
    write_module(tmp_path, "nt", [["<chapter osisID=\"Matt.1\" sID=\"Matt.1\"/>", long_verse + "END"]])
    (chapter,) = corpus.read_ztext(tmp_path)
    assert chapter.text.endswith("word END") and len(chapter.text) == len(long_verse) + 3


def test_split_is_deterministic_and_disjoint():
    chapters = [corpus.Chapter("B", i + 1, f"text {i}", "B") for i in range(100)]
    train, held = corpus.split_chapters(chapters)
    assert [c.chapter for c in held] == [11, 31, 51, 71, 91]
    assert len(train) + len(held) == 100 and not set(train) & set(held)
    assert corpus.split_chapters(chapters) == (train, held)


def test_conf_and_module_lookup(tmp_path):
    root = tmp_path / "root"
    mod = root / corpus.MODULES_SUBDIR / "engWEB2015eb"
    write_module(mod, "ot", [GEN1])
    conf_dir = root / corpus.CONF_SUBDIR
    conf_dir.mkdir(parents=True)
    (conf_dir / "engweb2015eb.conf").write_text(
        "[engWEB2015eb]\nDataPath=./modules/texts/ztext/engWEB2015eb/\n# comment\n"
        "About=first line\\\nsecond line\nDistributionLicense=Public Domain\nObsoletes=a\nObsoletes=b\n"
    )
    found, conf_path, name = corpus.find_module(root)
    assert found == mod and name == "engWEB2015eb" and conf_path.name == "engweb2015eb.conf"
    conf = corpus.parse_conf(conf_path)
    assert conf["[section]"] == "engWEB2015eb"
    assert conf["About"] == "first line\nsecond line"
    assert conf["DistributionLicense"] == "Public Domain" and conf["Obsoletes"] == ["a", "b"]
    with pytest.raises(corpus.CorpusError, match="expected a zText module folder"):
        corpus.find_module(tmp_path / "empty")


def test_extract_without_dpkg(tmp_path, monkeypatch):
    """The stdlib fallback reads an ar archive with control.tar.gz and data.tar.xz."""
    def tar_bytes(mode, files):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as tf:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    members = {
        "debian-binary": b"2.0\n",
        "control.tar.gz": tar_bytes("w:gz", {"./control": b"Package: sword-text-web\nVersion: 1.0-1\n"}),
        "data.tar.xz": tar_bytes("w:xz", {"./usr/share/doc/x/copyright": b"public domain\n"}),
    }
    ar = bytearray(b"!<arch>\n")
    for name, data in members.items():
        ar += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
        ar += data + (b"\n" if len(data) % 2 else b"")
    deb = tmp_path / "p.deb"
    deb.write_bytes(bytes(ar))
    monkeypatch.setattr(corpus.shutil, "which", lambda name: None)
    assert corpus.deb_fields(deb) == {"Package": "sword-text-web", "Version": "1.0-1"}
    corpus.extract_deb(deb, tmp_path / "x")
    assert (tmp_path / "x/usr/share/doc/x/copyright").read_text() == "public domain\n"
