"""Does a generated text take a target form? Checks a reader can apply by eye.

A style-shift demo counts how many greedy generations, from held-out prompts, take the form a
fine-tune taught: before the adapter and after. The checks are deliberately simple and written
out here, so that a student can read each count off the printed generations.

    drama    a speaker line as the plays print them ("HAMLET." alone on a line), or at least
             two different early-modern words (thou, thee, thy, hath, doth, 'tis, call'd, …)
    support  Lumen Notes' house shape: the reply opens with the greeting "Hi" (a name may
             follow) and a comma, and has numbered steps (a line starting "1.")
    signed   the full house style: "Hi <name>," with a name, the steps, and the signature
             "— Sam at Lumen Support"

How often each check fires on plain held-out text of every register (its false-positive rate)
is measured by tools/make_register_datasets.py and reported in data/datasets/README.md.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import ArgumentError

EARLY_MODERN = frozenset(
    "thou thee thy thine hath doth dost hast 'tis 'twas nay prithee sirrah wherefore ere methinks "
    "anon hither thither whither forsooth canst shalt didst wouldst couldst shouldst mayst o'er "
    "e'en ne'er".split())  # not art, marry, wilt: modern words too
# A speaker line: one to four capitalised words in capitals (HAMLET., FIRST CITIZEN., LADY MACBETH.).
SPEAKER_LINE = re.compile(r"^\s*[A-Z][A-Z'\-]+(?: [A-Z][A-Z'\-]+){0,3}\.\s*$", re.MULTILINE)
_WORD = re.compile(r"[a-z']+")
# Elided verb endings as the plays print them: call'd, lov'st, combin'd (not modern I'd, you'd).
_ELISION = re.compile(r"^[a-z]{2,}'(?:d|st)$")
_MODERN_ELISIONS = frozenset("you'd he'd she'd we'd they'd it'd that'd who'd there'd".split())


def early_modern_words(text: str) -> set[str]:
    """The distinct early-modern words in text, lower-cased: the list above and elisions."""
    words = {w.strip("'") if w.endswith("'") else w for w in _WORD.findall(text.lower())}
    return {w for w in words if w in EARLY_MODERN or (_ELISION.match(w) and w not in _MODERN_ELISIONS)}


def is_drama(text: str) -> bool:
    """A speaker line, or two different early-modern words."""
    return bool(SPEAKER_LINE.search(text)) or len(early_modern_words(text)) >= 2


def is_support(text: str) -> bool:
    """Opens with the greeting 'Hi' (a name may follow) and a comma, and has a step '1.'."""
    return bool(re.match(r"^\s*Hi( [A-Z][a-z]+)?,", text)) and bool(re.search(r"^\s*1\. ", text, re.MULTILINE))


def is_signed(text: str, name: str | None = None) -> bool:
    """The full house style: 'Hi <name>,' (the given name, or any), steps, and the signature."""
    opening = rf"^\s*Hi {re.escape(name)}," if name else r"^\s*Hi [A-Z][a-z]+,"
    return bool(re.match(opening, text)) and is_support(text) and "— Sam at Lumen Support" in text


FORMS = {"drama": is_drama, "support": is_support, "signed": is_signed}


def check(form: str, text: str) -> bool:
    """Whether text takes the named form (a key of FORMS)."""
    if form not in FORMS:
        raise ArgumentError(f"Unknown form {form!r}: expected one of {', '.join(FORMS)}.")
    return FORMS[form](text)


# -- before and after an adapter ------------------------------------------------------------------


class Shift(NamedTuple):
    """One prompt's greedy continuations without and with the adapter, and whether each takes the form."""

    prompt: str
    before: str
    after: str
    before_ok: bool
    after_ok: bool


def style_shift(model, tokenizer, adapter, prompts: list[str], form: str, max_new_tokens: int = 48) -> list[Shift]:
    """Greedy continuations of every prompt by the base model and by the model with the adapter."""
    from .generate import generate

    rows = []
    for prompt in prompts:
        before, after = (generate(model, tokenizer, prompt, max_new_tokens, temperature=0.0, adapter=a)
                         for a in (None, adapter))
        rows.append(Shift(prompt, before, after, check(form, before), check(form, after)))
    return rows


def read_prompts(path) -> tuple[list[str], str]:
    """The prompts of a {"prompt", "form"} file and its one form."""
    from .data import DatasetError, read_jsonl

    records = read_jsonl(path)
    forms = {r.get("form") for _, r in records}
    for number, r in records:
        if not isinstance(r.get("prompt"), str) or not isinstance(r.get("form"), str):
            raise DatasetError(f"{path}:{number}: expected {{\"prompt\": str, \"form\": str}}, found fields {sorted(r)}.")
    if len(forms) != 1 or next(iter(forms)) not in FORMS:
        raise DatasetError(f"{path}: expected one form for all prompts, one of {', '.join(FORMS)}; found {sorted(forms)}.")
    return [r["prompt"] for _, r in records], forms.pop()
