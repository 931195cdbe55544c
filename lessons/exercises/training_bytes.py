"""Exercise training_bytes (lesson 8: IA³ vs full fine-tuning). About 10 minutes.

Besides the model's own weights (there whether they are trained or not), training holds
arrays for every trainable number: its gradient and Adam's running moments. Count those
bytes, in float32, for full fine-tuning (every weight of GPT-2 is trainable) and for IA³ (its
vectors only), from the config alone.

Inputs
    config  tinyia3.GPT2Config   vocab_size (V), n_positions, n_layer (L), n_embd (C), n_inner (F)
Returns
    full    int                  bytes of gradient + Adam state for full fine-tuning
    ia3     int                  the same for IA³

Notes
  * GPT-2's LM head is tied to wte (one matrix); GPT2Config can count the model's weights.
  * Lesson 8's section 8.1 measures the moments of both optimisers.

Check your answer:     tinyia3 check training_bytes
Stuck?                 tinyia3 check training_bytes --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check training_bytes --solution
"""


def training_bytes(config):
    """GPT2Config -> (full fine-tuning's bytes, IA³'s bytes). See the module docstring."""
    raise NotImplementedError(
        "Exercise training_bytes (lesson 8): implement the two byte counts from the config — "
        "see the docstring; check with `tinyia3 check training_bytes`"
    )
