"""Exercise find_duplicates (lesson 11: data quality). About 20 minutes.

A training set with repeated examples over-weights them, and a held-out example that is also in
the training set measures memory instead of generalisation. Find both, in plain text records:

  exact    (i, j) for each training record j that equals an earlier record exactly; i is the
           FIRST record with that text. Each duplicate j appears once.
  near     (i, j) for each training record j that is not an exact duplicate but equals an
           earlier record once both are normalised: case ignored and every run of whitespace
           made one space ("Refunds  take" and "refunds take" are near duplicates; "9." and
           "9 ." are not). i is the first record with that normalised text.
  overlap  the indices of the held-out records whose normalised text is the normalised text of
           some training record (leaks), in increasing order.

Pairs are listed in the order of j.

Inputs
    train    list of str      the training records
    heldout  list of str      the held-out records
Returns
    exact    (n, 2) int64     pairs (i, j); shape (0, 2) when there are none
    near     (m, 2) int64     pairs (i, j); shape (0, 2) when there are none
    overlap  (k,)   int64     held-out indices

Check your answer:     tinyia3 check find_duplicates
Stuck?                 tinyia3 check find_duplicates --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check find_duplicates --solution
"""

import numpy as np


def find_duplicates(train, heldout):
    """train, heldout: lists of str -> exact (n, 2), near (m, 2), overlap (k,). See the module docstring."""
    raise NotImplementedError(
        "Exercise find_duplicates (lesson 11): implement the exact and near duplicates and the overlap — "
        "see the docstring; check with `tinyia3 check find_duplicates`"
    )
