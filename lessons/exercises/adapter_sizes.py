"""Exercise adapter_sizes (lesson 4: IA³ parameter counts). About 10 minutes.

Before training anything, count what each method trains, from the model's config alone:

  * IA³ as in the paper (Liu et al. 2022): its vectors l_k, l_v, l_ff in every block;
  * LoRA (Hu et al. 2021) of rank r on attn.c_attn, the layer that computes q | k | v from the
    C-dimensional residual stream, in every block.

Inputs
    config  tinyia3.GPT2Config   n_layer (L), n_embd (C), n_inner (F; not always 4C)
    r       int                  LoRA's rank
Returns
    ia3     int                  IA³'s trainable numbers
    lora    int                  LoRA's trainable numbers (c_attn only, rank r)

Notes
  * Lesson 4 counts both for GPT-2 small; the checker also tries a config where F is not 4C.

Check your answer:     tinyia3 check adapter_sizes
Stuck?                 tinyia3 check adapter_sizes --hint      (4 tiers: --hint 2, --hint 3, ...)
See a passing run:     tinyia3 check adapter_sizes --solution
"""


def adapter_sizes(config, r):
    """GPT2Config, rank r -> (IA³'s trainable numbers, LoRA's on c_attn). See the module docstring."""
    raise NotImplementedError(
        "Exercise adapter_sizes (lesson 4): implement the two counts from the config — "
        "see the docstring; check with `tinyia3 check adapter_sizes`"
    )
