"""The `tinyia3` command. Each subcommand is a thin layer over the public API.

Errors a user can fix (a wrong path, a bad argument) are printed as one clear message and exit
with status 2; a traceback would only hide the sentence that says what to do.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

MODEL_HELP = ("model to use: 'embedded' (ships with tinyia3, works offline), a hub name such as "
              "'gpt2' (needs the Hugging Face cache or a network), or a local folder with "
              "config.json + model.safetensors")


def _add_model(parser):
    parser.add_argument("--model", default="embedded", help=MODEL_HELP + " (default: embedded)")


# -- info ----------------------------------------------------------------------------------------


def cmd_info(args) -> int:
    from . import IA3, load_model, load_tokenizer

    model = load_model(args.model)
    c = model.config
    ia3 = IA3.ones(model)
    n = model.num_parameters()
    tokenizer = load_tokenizer(args.model)
    print(f"model      {args.model}")
    print(f"source     {model.source}")
    print(f"config     n_layer={c.n_layer} n_head={c.n_head} n_embd={c.n_embd} n_inner={c.n_inner} "
          f"n_positions={c.n_positions} vocab_size={c.vocab_size} eps={c.layer_norm_epsilon}")
    print(f"weights    {n:,} parameters (LM head tied to wte, counted once)")
    print(f"           of which wte {c.vocab_size * c.n_embd:,}, wpe {c.n_positions * c.n_embd:,}, "
          f"blocks {n - (c.vocab_size + c.n_positions) * c.n_embd - 2 * c.n_embd:,}")
    print(f"IA³        {ia3.num_parameters:,} trainable = {c.n_layer} layers × "
          f"(l_k {c.n_embd} + l_v {c.n_embd} + l_ff {c.n_inner}), "
          f"{100 * ia3.num_parameters / n:.3f} % of the model")
    print(f"tokenizer  {tokenizer.source} ({tokenizer.vocab_size:,} ids)")
    return 0


# -- generate ------------------------------------------------------------------------------------


def cmd_generate(args) -> int:
    from . import load_model, load_tokenizer
    from .generate import generate

    model = load_model(args.model)
    tokenizer = load_tokenizer(args.model)
    text = generate(model, tokenizer, args.prompt, max_new_tokens=args.max_new_tokens,
                    temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed)
    print(args.prompt + text)
    return 0


# -- gradcheck -----------------------------------------------------------------------------------


def cmd_gradcheck(args) -> int:
    from . import IA3, load_model
    from .gradcheck import check_ia3_gradients

    model = load_model(args.model, dtype=np.float64)
    c = model.config
    rng = np.random.default_rng(args.seed)
    B, T = 2, min(args.tokens, c.n_positions)
    ids = rng.integers(0, c.vocab_size, (B, T))
    attention_mask = np.ones((B, T), dtype=np.int64)
    attention_mask[1, T - T // 3:] = 0  # a right-padded row
    loss_mask = attention_mask.copy()
    loss_mask[0, : T // 2] = 0  # count only the second half of row 0, as a prompt/completion split
    ia3 = IA3.random(model, std=0.3, seed=args.seed)  # away from ones, where bugs hide
    print(f"Gradient check of d loss / d (l_k, l_v, l_ff) on {model.source}")
    print(f"float64, batch {B}×{T} with padding and a partial loss mask, IA³ = 1 + 0.3·N(0,1), "
          f"{args.coords} random coordinates per vector and layer, central differences h=1e-5\n")
    report = check_ia3_gradients(model, ia3, ids, loss_mask, attention_mask,
                                 coords_per_vector=args.coords, seed=args.seed)
    print(report.table())
    print("\nPASSED" if report.passed else "\nFAILED: a gradient disagrees with finite differences")
    return 0 if report.passed else 1


# -- the parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyia3",
        description="GPT-2 with IA³ fine-tuning, written by hand in NumPy. "
                    "Run `tinyia3 COMMAND --help` for the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="show a model's shapes, parameter counts and where it came from")
    _add_model(p)
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("generate", help="continue a prompt",
                       description="Continue PROMPT with the model (KV-cached sampling).")
    _add_model(p)
    p.add_argument("prompt", help="the text to continue, in quotes")
    p.add_argument("--max-new-tokens", type=int, default=40, help="tokens to add (default 40)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature; 0 = greedy, always the likeliest token (default 0.8)")
    p.add_argument("--top-k", type=int, default=None, help="sample only among the k likeliest tokens")
    p.add_argument("--top-p", type=float, default=None,
                   help="sample only among the likeliest tokens whose probabilities add up to p")
    p.add_argument("--seed", type=int, default=None, help="random seed, for repeatable samples")
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("gradcheck", help="check the IA³ gradients against finite differences",
                       description="Compare tinyia3's hand-written IA³ gradients with central finite "
                                   "differences in float64. Exits with status 1 if any check fails.")
    _add_model(p)
    p.add_argument("--coords", type=int, default=4, help="coordinates checked per vector and layer (default 4)")
    p.add_argument("--tokens", type=int, default=12, help="tokens per sequence (default 12)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=cmd_gradcheck)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, NotADirectoryError) as err:
        print(f"tinyia3 {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
