"""tinyia3 data check: each finding at its file:line, clean files pass, held-out overlap, bad bytes,
the warning `tinyia3 train` prints (and --skip-data-check), and one-line refusals."""

import json

import numpy as np
import pytest

from tinyia3.cli import main
from tinyia3.data_check import NEAR, check_data, jaccard, near_pairs, shingles, write_cleaned
from tinyia3.errors import ArgumentError, MissingFileError
from tinyia3.paths import DATASETS_DIR

GOOD = [" good", " bad"]


def mc(prompt, label=0, choices=GOOD):
    return json.dumps({"prompt": prompt, "choices": choices, "label": label})


def lm(text=None, **fields):
    return json.dumps({"text": text} if text is not None else fields)


REVIEWS = ["Review: The soup was hot and the bread was fresh.\nSentiment:",
           "Review: The waiter was rude and the fish was cold.\nSentiment:",
           "Review: We loved the quiet garden, the kind staff who brought us tea, the sweet cake and the warm "
           "bread, and we will come back with all our friends next summer.\nSentiment:",
           "Review: The room smelled of smoke all night long.\nSentiment:"]
CLEAN_MC = [mc(REVIEWS[0], 0), mc(REVIEWS[1], 1), mc(REVIEWS[2], 0), mc(REVIEWS[3], 1)]


def write(path, lines):
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return path


def findings(path, heldout=None, **kw):
    """(line, kind, message) of every finding, with the file:line prefix each prints with checked."""
    report = check_data(path, heldout, model=None, **kw)
    for f in report.findings:
        assert str(f).startswith(f"{f.path}:{f.line}: ")
    return [(f.line, f.kind) for f in report.findings], report


# -- each kind on a small crafted file --------------------------------------------------------------


CASES = {
    "duplicate": ([*CLEAN_MC, mc(REVIEWS[1], 1)], [(5, "duplicate")], "the same example as line 2"),
    "conflicting-labels": ([*CLEAN_MC, mc(REVIEWS[0], 1)], [(5, "conflicting-labels")], "label 1 there 0"),
    "near-duplicate": ([*CLEAN_MC, mc(REVIEWS[2].replace("next summer", "next spring"), 0)], [(5, "near-duplicate")],
                       "near line 3"),
    "near, by normalised text": ([*CLEAN_MC, mc(REVIEWS[3].upper().replace(".", "!!"), 1)], [(5, "near-duplicate")],
                                 "Jaccard 1.00"),
    "empty completion": ([lm(prompt="Q: hi\nA:", completion=" hello"), lm(prompt="Q: yo\nA:", completion="  \n ")],
                         [(2, "empty")], "the completion is only whitespace"),
    "empty text": ([lm("some text here"), lm("")], [(2, "empty")], "the text is empty"),
    "empty choice": ([*CLEAN_MC[:3], mc(REVIEWS[3], 1, [" good", " "])], [(4, "empty")], "choice 1 is only whitespace"),
    "duplicate choices": ([*CLEAN_MC[:3], mc(REVIEWS[3], 1, [" good", "good ", " bad"])],
                          [(4, "duplicate-choices")], "choices 0 and 1 are the same text 'good'"),
    "mixed kinds": ([*CLEAN_MC, lm("a text record")], [(5, "mixed-kinds")], "a language-modelling record in a file"),
    "unknown kind": ([*CLEAN_MC, json.dumps({"question": "x"})], [(5, "unknown-kind")], "fields ['question']"),
    "malformed": ([*CLEAN_MC, mc("Review: odd.\nSentiment:", 5)], [(5, "malformed")], "label 5 is not an index"),
    "not json": ([*CLEAN_MC[:2], "{not json", *CLEAN_MC[2:]], [(3, "not-json")], "not valid JSON"),
    "not utf-8": ([*CLEAN_MC[:2], b'{"text": "caf\xe9"}', *CLEAN_MC[2:]], [(3, "not-utf8")],
                  "byte 0xe9 at column 14 is not UTF-8"),
    "label imbalance": ([mc(REVIEWS[0], 0), mc(REVIEWS[1], 0), mc(REVIEWS[2], 0), mc(REVIEWS[3], 1),
                         mc("Review: Fine tea.\nSentiment:", 0), mc("Review: Stale rolls.\nSentiment:", 0)],
                        [(1, "label-imbalance")], "label 0: 5, label 1: 1; most/least = 5.00 > 1.5"),
    "a label never used": ([mc(p, 0) for p in REVIEWS], [(1, "label-imbalance")], "a label is never used"),
}


@pytest.mark.parametrize("name", CASES)
def test_each_finding_is_reported_at_its_line(name, tmp_path):
    lines, expected, words = CASES[name]
    path = write(tmp_path / "set.jsonl", lines)
    found, report = findings(path)
    assert found == expected, report.text()
    assert words in report.findings[0].message
    assert report.text().splitlines()[0].startswith(f"{path}:{expected[0][0]}: ")


def test_a_record_longer_than_the_context_is_reported_with_its_token_count(tmp_path):
    from tinyia3 import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    long_prompt = "Review: " + "the soup was hot " * 10 + "\nSentiment:"
    path = write(tmp_path / "set.jsonl", [*CLEAN_MC, mc(long_prompt, 1)])
    n = len(tokenizer.encode(long_prompt)) + max(len(tokenizer.encode(c)) for c in GOOD)
    found, report = findings(path, tokenizer=tokenizer, n_positions=n - 1)
    assert found == [(5, "too-long")]
    assert f"prompt + longest choice is {n} tokens, longer than the model's context of {n - 1}" in report.text()
    assert findings(path, tokenizer=tokenizer, n_positions=n)[0] == []  # exactly the context: fits


def test_the_default_model_sets_the_context_for_the_length_check(tmp_path):
    text = "word " * 300  # 300 tokens; the embedded model's context is 256
    report = check_data(write(tmp_path / "lm.jsonl", [lm("a short one here"), lm(text)]))
    assert [(f.line, f.kind) for f in report.findings] == [(2, "too-long")]
    assert "context of 256" in report.findings[0].message


def test_a_clean_file_passes_with_exit_0_and_one_summary_line(tmp_path, capsys):
    path = write(tmp_path / "clean.jsonl", CLEAN_MC)
    assert main(["data", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"0 findings in {path}: 4 records (mc)"]


def test_findings_exit_1_with_a_summary_of_counts(tmp_path, capsys):
    path = write(tmp_path / "bad.jsonl", [*CLEAN_MC, mc(REVIEWS[0], 0), mc(REVIEWS[0], 1), lm("x y z")])
    assert main(["data", "check", str(path), "--no-length"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [f"{path}:5: the same example as line 1 [duplicate]",
                       f"{path}:6: the same prompt and choices as line 1, but label 1 there 0 [conflicting-labels]",
                       f"{path}:7: a language-modelling record in a file of multiple-choice records (line 1); "
                       "one file holds one task [mixed-kinds]"]
    assert out[3] == f"3 findings (1 mixed-kinds, 1 duplicate, 1 conflicting-labels) in {path}: 6 records (mc)"


def test_non_utf8_lines_are_reported_and_the_rest_still_checked(tmp_path):
    path = write(tmp_path / "set.jsonl", [CLEAN_MC[0], b"\xff\xfe junk", CLEAN_MC[1], CLEAN_MC[0], CLEAN_MC[2],
                                          CLEAN_MC[3]])
    found, report = findings(path)
    assert found == [(2, "not-utf8"), (4, "duplicate")]
    assert report.files[str(path)] == (5, "mc")


# -- held-out overlap --------------------------------------------------------------------------------


def test_train_heldout_overlap_exact_and_near(tmp_path):
    tea = ("Review: The tea was weak and the cups were chipped, the waiter forgot our order twice, and the "
           "bill was wrong when it came.\nSentiment:")
    held = write(tmp_path / "held.jsonl", [mc(tea, 1),
                                           mc("Review: A bright clean kitchen with friendly cooks.\nSentiment:", 0)])
    train = write(tmp_path / "train.jsonl", [
        *CLEAN_MC,
        mc("Review: A bright clean kitchen with friendly cooks.\nSentiment:", 0),  # 5: exact
        mc(tea.replace("weak and", "WEAK, and").replace(".", "!"), 1),  # 6: near (normalised equal)
        mc(tea.replace("forgot our order", "forgot all our order"), 1),  # 7: near (Jaccard 0.82)
    ])
    found, report = findings(train, held)
    assert found == [(5, "heldout-exact"), (6, "heldout-near"), (7, "near-duplicate"), (7, "heldout-near")], \
        report.text()
    messages = [f.message for f in report.findings]
    assert messages[0] == f"also in the held-out set, {held}:2"
    assert f"{held}:1" in messages[1] and "near line 6" in messages[2] and f"{held}:1" in messages[3]
    assert findings(train)[0] == [(7, "near-duplicate")]  # without --heldout: only the file's own
    assert report.lines_to_drop(train) == [5, 6, 7]


def test_cli_heldout_and_write_cleaned(tmp_path, capsys):
    held = write(tmp_path / "held.jsonl", [CLEAN_MC[3]])
    train = write(tmp_path / "train.jsonl", [*CLEAN_MC[:3], CLEAN_MC[0], CLEAN_MC[3], mc("Review: ok.\nSentiment:", 1)])
    out = tmp_path / "cleaned.jsonl"
    assert main(["data", "check", str(train), "--heldout", str(held), "--write-cleaned", str(out), "--no-length"]) == 1
    text = capsys.readouterr().out
    assert f"{train}:4: the same example as line 1 [duplicate]" in text
    assert f"{train}:5: also in the held-out set, {held}:1 [heldout-exact]" in text
    assert out.read_text().splitlines() == [*CLEAN_MC[:3], mc("Review: ok.\nSentiment:", 1)]
    assert main(["data", "check", str(out), "--heldout", str(held), "--no-length"]) == 0


def test_write_cleaned_keeps_every_other_line_byte_for_byte(tmp_path):
    lines = [CLEAN_MC[0], b'{"text": "caf\xe9"}', CLEAN_MC[1], CLEAN_MC[0]]
    path = write(tmp_path / "set.jsonl", lines)
    report = check_data(path, model=None)
    assert write_cleaned(path, report, tmp_path / "out.jsonl") == 1  # the duplicate; bad bytes are left to fix
    assert (tmp_path / "out.jsonl").read_bytes() == b"\n".join(
        line if isinstance(line, bytes) else line.encode() for line in lines[:3]) + b"\n"


# -- the near-duplicate search -----------------------------------------------------------------------


def test_near_pairs_finds_what_all_pairs_would_and_only_that():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    texts = [" ".join(rng.choice(words, 40)) for _ in range(300)]
    for i in range(40):  # plant near copies: 1, 2 or 3 of 40 words changed, Jaccard on both sides of NEAR
        changed = texts[i].split()
        for k in rng.choice(40, 1 + i % 3, replace=False):
            changed[k] = "zzz"
        texts.append(" ".join(changed))
    sets = [shingles(t) for t in texts]
    brute = {}
    for j in range(len(texts)):
        for i in range(j):
            if jaccard(sets[i], sets[j]) >= NEAR:
                brute[j] = (i, jaccard(sets[i], sets[j]))
                break
    assert 10 <= len(brute) < 40  # some planted pairs are above the threshold, some below
    assert near_pairs(texts) == brute


# -- tinyia3 train runs the check first -------------------------------------------------------------


def _train(data, tmp_path, *extra):
    return main(["train", "--model", "embedded", "--data", str(data), "--out", str(tmp_path / "run"), "--steps", "1",
                 "--batch-size", "2", "--overwrite", *extra])


def test_train_warns_in_one_short_block_and_goes_on(tmp_path, capsys):
    data = write(tmp_path / "d.jsonl", [lm(f"In the beginning {i} and the end") for i in range(3)] * 4)
    assert _train(data, tmp_path) == 0
    captured = capsys.readouterr()
    block = [line for line in captured.err.splitlines() if line.strip()]
    assert block[0] == f"data check: 9 findings (9 duplicate) in {data}: 12 records (lm)"
    assert block[1] == f"  {data}:4: the same example as line 1 [duplicate]"
    assert len(block) == 6 and "6 more" in block[4] and "--skip-data-check" in block[5]
    assert "adapter:" in captured.out  # it trained


def test_train_skip_data_check_skips_it(tmp_path, capsys):
    data = write(tmp_path / "d.jsonl", [lm(f"In the beginning {i} and the end") for i in range(3)] * 4)
    assert _train(data, tmp_path, "--skip-data-check") == 0
    captured = capsys.readouterr()
    assert "data check" not in captured.err and "adapter:" in captured.out


def test_train_on_a_clean_set_prints_no_warning(tmp_path, capsys):
    data = write(tmp_path / "d.jsonl", [lm(f"In the beginning {w} and the end") for w in ("sky", "sea", "earth")])
    assert _train(data, tmp_path, "--eval-data", str(data)) == 0
    err = capsys.readouterr().err
    assert "heldout-exact" in err  # evaluating on the training set is itself a finding
    clean_eval = write(tmp_path / "e.jsonl", [lm("Far away across the water there lived a king")])
    assert _train(data, tmp_path, "--eval-data", str(clean_eval)) == 0
    assert "data check" not in capsys.readouterr().err


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, words", [
    (["data", "check", "no_such_set"], "dataset 'no_such_set' does not exist"),
    (["data", "check", "DIR"], "DIR is a folder, not a file; expected a .jsonl dataset"),
    (["data", "check", "review_sentiment_train", "--heldout", "missing.jsonl"], "does not exist"),
])
def test_cli_refuses_bad_files_in_one_line(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "DIR").mkdir()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyia3 data: error: ") and words in err and len(err.strip().splitlines()) == 1


def test_cli_without_a_subcommand_or_file_is_an_argparse_error(capsys):
    for argv in (["data"], ["data", "check"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert "required" in capsys.readouterr().err


def test_api_refuses_bad_arguments():
    with pytest.raises(MissingFileError, match="check_data: train: /nonexistent/x.jsonl does not exist"):
        check_data("/nonexistent/x.jsonl", model=None)
    with pytest.raises(ArgumentError, match="tokenizer and n_positions must be both given or both None"):
        check_data(DATASETS_DIR / "review_sentiment_train.jsonl", tokenizer=object())


# -- the shipped datasets ----------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["bible_names", "drama_style", "review_sentiment", "support_desk"])
def test_shipped_datasets_have_only_their_known_findings(task):
    train, held = DATASETS_DIR / f"{task}_train.jsonl", DATASETS_DIR / f"{task}_heldout.jsonl"
    report = check_data(train, held)
    known = {"support_desk": [(45, "near-duplicate"), (178, "near-duplicate"), (276, "near-duplicate"),
                              (292, "near-duplicate")]}  # one reply template, two customers: see the README
    assert [(f.line, f.kind) for f in report.findings] == known.get(task, []), report.text()
    assert all(f.path == str(train) for f in report.findings)
    assert check_data(DATASETS_DIR / "registers_heldout.jsonl").findings == []
