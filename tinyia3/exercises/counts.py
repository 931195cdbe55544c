"""Lessons 4 and 8: counting before running. How many numbers IA³ and LoRA train (lesson 4), and
how many bytes training holds for them, full fine-tuning against IA³ (lesson 8). The answers
are integers, computed by the reference from the package's own objects, checked exactly."""

from __future__ import annotations

from ..config import GPT2Config
from ..ia3 import IA3
from ..lora import LoRA
from .spec import Case, Exercise, Mistake

SMALL = GPT2Config()  # GPT-2 small: L = 12, C = 768, F = 3072, V = 50257, 1024 positions


def adapter_sizes(config, r):
    """GPT2Config, LoRA rank r -> (IA³'s trainable numbers, LoRA's on attn.c_attn at rank r)."""
    return IA3.ones(config).num_parameters, LoRA.init(config, r=r, alpha=2 * r).num_parameters


def _sizes_cases(rng):
    tiny = GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=2, n_head=2, n_inner=24)
    return [Case("GPT-2 small (L=12, C=768, F=3072), r = 4", (SMALL, 4)),
            Case("a tiny GPT-2 (L=2, C=8, F=24: F is not 4C), r = 3", (tiny, 3))]


def _sizes(config, r, q=False, blocks=None, lora_a_only=False, square=False, full_rank=False):
    """The two counts with one step changed: each change is a common mistake."""
    L, C, F = (blocks or config.n_layer), config.n_embd, config.n_inner
    ia3 = L * ((3 if q else 2) * C + F)
    n_in, n_out = C, (C if square else 3 * C)
    lora = config.n_layer * (n_in * n_out if full_rank else r * n_in if lora_a_only else r * (n_in + n_out))
    return ia3, lora


SIZES_MISTAKES = (
    Mistake("IA³ with l_q", "you counted a query vector too: the paper's IA³ scales keys, values and the FFN "
            "hidden units, not queries (PEFT's GPT-2 placement adds l_q)", lambda c, r: _sizes(c, r, q=True)),
    Mistake("IA³ for one block", "you counted one block's vectors: every block has its own l_k, l_v, l_ff",
            lambda c, r: _sizes(c, r, blocks=1)),
    Mistake("LoRA A only", "you counted A (in × r) only: LoRA trains the pair A (in × r) and B (r × out)",
            lambda c, r: _sizes(c, r, lora_a_only=True)),
    Mistake("c_attn taken as C → C", "c_attn maps C to 3C (queries, keys and values side by side): its B is "
            "r × 3C", lambda c, r: _sizes(c, r, square=True)),
    Mistake("LoRA as a full matrix", "you counted the product A B (in × out): LoRA never forms it; it trains "
            "A and B, r·(in + out) numbers", lambda c, r: _sizes(c, r, full_rank=True)),
)

# Lesson 8: what training holds for each trainable number, in float32: its gradient and Adam's two
# moments m and v (the weights themselves are there anyway, trained or not).
BYTES_PER_TRAINABLE = 3 * 4


def training_bytes(config):
    """GPT2Config -> (full fine-tuning's bytes, IA³'s bytes) of gradient + Adam m + v, float32."""
    full = config.num_parameters()  # every weight; the LM head is tied to wte, counted once
    return BYTES_PER_TRAINABLE * full, BYTES_PER_TRAINABLE * IA3.ones(config).num_parameters


def _bytes_cases(rng):
    tiny = GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=2, n_head=2)
    return [Case("GPT-2 small (L=12, C=768, F=3072, V=50257, 1024 positions)", (SMALL,)),
            Case("a tiny GPT-2 (L=2, C=8, F=32, V=20, 8 positions)", (tiny,))]


def _bytes(config, per=BYTES_PER_TRAINABLE, head=False, q=False):
    """The two byte counts with one step changed: each change is a common mistake."""
    full = config.num_parameters() + (config.vocab_size * config.n_embd if head else 0)
    ia3 = config.n_layer * ((3 if q else 2) * config.n_embd + config.n_inner)
    return per * full, per * ia3


BYTES_MISTAKES = (
    Mistake("two arrays, not three", "you counted two float32 arrays per trainable number: there are three, "
            "its gradient and Adam's two moments m and v (forgetting the gradient, or one moment, gives two)",
            lambda c: _bytes(c, per=8)),
    Mistake("float64", "you counted 8 bytes per number: training here is float32, 4 bytes",
            lambda c: _bytes(c, per=24)),
    Mistake("LM head counted", "you counted the LM head as its own V × C matrix: GPT-2 ties it to wte, one "
            "matrix (GPT2Config.num_parameters counts it once)", lambda c: _bytes(c, head=True)),
    Mistake("IA³ with l_q", "you counted a query vector in IA³: the paper scales keys, values and FFN units",
            lambda c: _bytes(c, q=True)),
)


EXERCISES = (
    Exercise(
        "adapter_sizes", 4, 10, "count IA³'s and LoRA's trainable numbers from a config alone",
        "lesson 4 (parameter counts)", adapter_sizes, ("ia3", "lora"), _sizes_cases, SIZES_MISTAKES,
        ("List what IA³ learns in ONE block (which vectors, of which lengths), then multiply by the blocks.",
         "LoRA on a linear layer x W (W: in × out) trains a pair of matrices whose product has W's shape and "
         "rank r. What are their two shapes?",
         "attn.c_attn maps C to 3C. Add both matrices of LoRA's pair, per block, for every block.",
         "Return two Python ints: n_layer, n_embd and n_inner are on the config."),
        gradient=False,
    ),
    Exercise(
        "training_bytes", 8, 10, "the memory training adds per method: gradient and Adam state, full vs IA³",
        "adapter_sizes", training_bytes, ("full", "ia3"), _bytes_cases, BYTES_MISTAKES,
        ("First count the trainable numbers of each method: for full fine-tuning every weight of the model "
         "(GPT2Config has a method for it), for IA³ its vectors.",
         "For each trainable number, training holds arrays of the same size besides the weight: which ones, "
         "and how many? (Adam keeps two moments.)",
         "Everything is float32 here: 4 bytes a number. The LM head is tied to wte: one matrix.",
         "Return two Python ints, full fine-tuning's first."),
        gradient=False,
    ),
)
