"""Lesson 11's exercise: exact and near duplicates in a training set, and training examples that
leak into the held-out set. Self-contained: the reference is written here, on plain strings."""

from __future__ import annotations

import numpy as np

from .spec import Case, Exercise, Mistake


def normalised(text: str, lower: bool = True) -> str:
    """The text as a near-duplicate test sees it: case ignored, every run of whitespace one space."""
    return " ".join((text.lower() if lower else text).split())


def find_duplicates(train, heldout):
    """train, heldout: lists of str -> exact (n, 2), near (m, 2), overlap (k,), all int64.

    exact: (i, j) for each record j that equals an earlier record exactly; i its first occurrence.
    near:  (i, j) for each record j that is no exact duplicate but equals an earlier record once
           normalised (case and whitespace ignored); i the first record with that normalised text.
    overlap: the indices of the held-out records whose normalised text is that of a training record.
    Pairs are in the order of j, overlap in increasing order.
    """
    return _duplicates(train, heldout)


def _pairs(pairs):
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def _duplicates(train, heldout, exact_by_key=False, all_pairs=False, overlap_exact=False, near_with_exact=False,
                lower=True):
    """The reference, with switches: each switch is a common mistake."""
    def key(text):
        return normalised(text, lower)

    exact, near, first_text, first_key = [], [], {}, {}
    for j, text in enumerate(train):
        same_text = [i for i in range(j) if (key(train[i]) == key(text) if exact_by_key else train[i] == text)]
        same_key = [i for i in range(j) if key(train[i]) == key(text)]
        if same_text:
            exact.extend((i, j) for i in (same_text if all_pairs else same_text[:1]))
        if same_key and (near_with_exact or not same_text):
            near.extend((i, j) for i in (same_key if all_pairs else same_key[:1]))
        first_text.setdefault(text, j)
        first_key.setdefault(key(text), j)
    seen = first_text if overlap_exact else first_key
    overlap = [h for h, text in enumerate(heldout) if (text if overlap_exact else key(text)) in seen]
    return _pairs(exact), _pairs(near), np.array(overlap, dtype=np.int64)


TRAIN = ["Reset your password from the login page.",
         "Refunds take 5 to 7 working days.",
         "Reset your password from the login page.",  # exact duplicate of 0
         "refunds take 5 to 7  working days.",  # near duplicate of 1: case and a double space
         "Reset your password from the login page.",  # a third copy: exact duplicate of 0 (not of 2)
         "Our office opens at 9.",
         "REFUNDS TAKE 5 TO 7 WORKING DAYS.",  # near duplicate of 1 again
         "Our office opens at 9 .",  # not a duplicate: a space before the full stop is a different text
         "Call us on weekdays."]
HELDOUT = ["Shipping is free above 50 euros.",
           "our office opens at 9.",  # leaks training record 5 (case)
           "Call us on weekdays.",  # leaks training record 8 exactly
           "Reset your  password from the login page. ",  # leaks record 0 (whitespace)
           "Call us on weekends."]


def _cases(rng):
    pool = ["The parcel left the depot.", "Your order has shipped.", "We are closed on Sunday.",
            "Thanks for your patience.", "Please send a photo of the damage.", "The invoice is attached."]

    def variant(text):  # the same text with other case or spacing, or itself
        kind = rng.integers(3)
        return text if kind == 0 else text.upper() if kind == 1 else text.replace(" ", "  ", 1) + " "

    train = [variant(pool[i]) for i in rng.integers(0, len(pool), 14)]
    heldout = [variant(pool[i]) for i in rng.integers(0, len(pool), 5)] + ["A sentence seen nowhere else."]
    return [Case(f"{len(TRAIN)} support replies with exact, near (case, spacing) and triple copies; "
                 f"{len(HELDOUT)} held-out replies, 3 of them leaked", (list(TRAIN), list(HELDOUT))),
            Case(f"{len(train)} random copies and variants of {len(pool)} replies; {len(heldout)} held-out",
                 (train, heldout))]


MISTAKES = (
    Mistake("normalised before the exact test", "your exact duplicates include near ones: the exact test "
            "compares the texts as they are; only the near test ignores case and spacing",
            lambda t, h: _duplicates(t, h, exact_by_key=True)),
    Mistake("every earlier copy paired", "a record seen three times gives (0, 1), (0, 2), (1, 2): pair each "
            "duplicate with the FIRST occurrence only, so that each duplicate is counted once",
            lambda t, h: _duplicates(t, h, all_pairs=True)),
    Mistake("overlap compared exactly", "the overlap test compares raw texts: a leaked example with other case "
            "or spacing is still a leak; compare normalised texts", lambda t, h: _duplicates(t, h, overlap_exact=True)),
    Mistake("near includes exact", "your near duplicates repeat the exact ones: a record that is an exact "
            "duplicate is reported as exact only", lambda t, h: _duplicates(t, h, near_with_exact=True)),
    Mistake("case not ignored", "the normalisation keeps case: 'REFUNDS' and 'Refunds' are near duplicates",
            lambda t, h: _duplicates(t, h, lower=False)),
)

EXERCISES = (
    Exercise(
        "find_duplicates", 11, 20, "data quality: exact and near duplicates, and train/held-out overlap",
        "lesson 11 (data quality)", find_duplicates, ("exact", "near", "overlap"), _cases, MISTAKES,
        ("Walk through train once, remembering for each text (and each normalised text) the first index where "
         "it appeared: a dict does it.",
         "normalised(text): lower-case, then ' '.join(text.split()) collapses every run of whitespace. An exact "
         "duplicate is decided first; only a record that is not one can be a near duplicate.",
         "Overlap: a held-out record is leaked if its normalised text is the normalised text of any training "
         "record.",
         "Return int64 arrays even when empty: np.array(pairs, dtype=np.int64).reshape(-1, 2) has shape (0, 2) "
         "for no pairs."),
        gradient=False,
    ),
)
