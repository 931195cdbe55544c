"""The `tinyia3` command. Each subcommand is a thin layer over the public API.

Errors a user can fix (a bad option, a wrong path, a damaged file: tinyia3.errors.TinyIA3Error,
and the operating system's own file errors) are printed as one line and exit with status 2; a
traceback would only hide the sentence that says what to do. Any other exception is a bug and
keeps its traceback. Every option is checked by argparse before any work (the types below), so
a bad value costs nothing.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import numpy as np

from .errors import ArgumentError, TinyIA3Error, TrainingInterrupted, TrainingStopped

MODEL_HELP = ("model to use: 'embedded' (ships with tinyia3, works offline), a hub name such as "
              "'gpt2' (needs the Hugging Face cache or a network), or a local folder with "
              "config.json + model.safetensors")


def _number_type(convert, ok, expected: str):
    """An argparse type: convert the text, then check it; the error names what was expected."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text!r}")
        return value
    return parse


positive_int = _number_type(int, lambda v: v >= 1, "a positive integer")
natural_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number_type(float, lambda v: math.isfinite(v) and v > 0, "a positive finite number")
natural_float = _number_type(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
unit_float = _number_type(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
tolerance = _number_type(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _add_model(parser):
    parser.add_argument("--model", default="embedded", help=MODEL_HELP + " (default: embedded)")


def _plots():
    """tinyia3.plots, set to draw into files: the command line is a figure's entry point."""
    from . import plots

    plots.files_only()
    return plots


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
    from . import load_adapter, load_model, load_tokenizer
    from .generate import generate

    model = load_model(args.model)
    tokenizer = load_tokenizer(args.model)
    adapter = load_adapter(args.adapter, model) if args.adapter else None
    text = generate(model, tokenizer, args.prompt, max_new_tokens=args.max_new_tokens,
                    temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed, adapter=adapter)
    print(args.prompt + text)
    return 0


# -- gradcheck -----------------------------------------------------------------------------------


GRADCHECK_TEXT = (
    "In the beginning, God created the heavens and the earth. The earth was formless and empty.",
    "Hi Maria, thanks for writing. Open Settings, then Sync, and switch it off and on again.",
)


def cmd_gradcheck(args) -> int:
    from . import IA3, load_model, load_tokenizer
    from .gradcheck import check_ia3_gradients

    model = load_model(args.model, dtype=np.float64)
    c = model.config
    rng = np.random.default_rng(args.seed)
    if args.tokens > c.n_positions:
        raise ArgumentError(f"--tokens {args.tokens} is longer than the model's context of {c.n_positions} tokens; "
                            f"pass at most {c.n_positions}.")
    B, T = 2, args.tokens
    try:  # real text where the model has a tokenizer: attention is then as peaked as in use
        tokenizer = load_tokenizer(args.model)
    except FileNotFoundError:  # a model folder without tokenizer files: random ids still check the maths
        ids, what = rng.integers(0, c.vocab_size, (B, T)), "random token ids"
    else:  # each text repeated until it has T tokens, so every --tokens gets English
        rows = [tokenizer.encode(" ".join([text] * (1 + T // len(tokenizer.encode(text)))))[:T]
                for text in GRADCHECK_TEXT]
        ids, what = np.array(rows), "two English sentences"
    attention_mask = np.ones((B, T), dtype=np.int64)
    attention_mask[1, T - T // 3:] = 0  # a right-padded row
    loss_mask = attention_mask.copy()
    loss_mask[0, : T // 2] = 0  # count only the second half of row 0, as a prompt/completion split
    ia3 = IA3.random(model, std=0.3, seed=args.seed)  # away from ones, where bugs hide
    print(f"Gradient check of d loss / d (l_k, l_v, l_ff) on {model.source}")
    print(f"float64; {what}, batch {B}×{T}, one row right-padded, a partial loss mask; IA³ = 1 + 0.3·N(0,1); "
          f"{args.coords} random coordinates per vector and layer; 5-point central differences, h=1e-3\n")
    report = check_ia3_gradients(model, ia3, ids, loss_mask, attention_mask,
                                 coords_per_vector=args.coords, seed=args.seed)
    print(report.table())
    print("\nPASSED" if report.passed else "\nFAILED: a gradient disagrees with finite differences")
    return 0 if report.passed else 1


# -- train / eval / inspect -------------------------------------------------------------------------


def _fmt(results: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in results.items())


def cmd_train(args) -> int:
    from . import load_model, load_tokenizer
    from .data import load_dataset
    from .paths import dataset_path
    from .train import ADAPTER_FILES, TrainConfig, train

    terms = tuple(t.strip() for t in args.terms.split(",") if t.strip())
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                         clip=args.clip, eval_every=args.eval_every, save_every=args.save_every,
                         seed=args.seed, terms=terms, method=args.method, rank=args.rank, alpha=args.alpha,
                         targets=targets, queries=args.queries)  # the options' relations, before any loading
    model = load_model(args.model)
    tokenizer = load_tokenizer(args.model)
    if not args.skip_data_check:
        _warn_about_data(args, tokenizer, model.config.n_positions)
    train_set = load_dataset(dataset_path(args.data), tokenizer, model.config.n_positions)
    eval_set = load_dataset(dataset_path(args.eval_data), tokenizer, model.config.n_positions) if args.eval_data else None
    kind = "language modelling" if train_set.kind == "lm" else f"multiple choice (T-Few: {' + '.join(terms)})"
    adapter = config.make_adapter(model)  # checks the method's options before any work
    print(f"{adapter!r} on {model.source}: {adapter.num_parameters:,} trainable numbers, "
          f"{100 * adapter.num_parameters / model.num_parameters():.3g} % of the model")
    del adapter  # train() makes its own: for --method full a second copy of every weight would stay alive
    print(f"task: {kind}; {len(train_set)} training examples" +
          (f", {len(eval_set)} held-out" if eval_set else ", no held-out set (pass --eval-data)"))
    try:
        history = train(model, train_set, eval_set, args.out, config, resume=args.resume, overwrite=args.overwrite,
                        log_every=args.log_every)
    except TrainingStopped as err:
        print(f"tinyia3 train: stopped: {err}", file=sys.stderr)
        return 3
    except TrainingInterrupted as err:
        print(f"tinyia3 train: {err}", file=sys.stderr)
        return 130
    evals = [h for h in history if "eval" in h]
    if len(evals) >= 2:
        print(f"held-out before: {_fmt(evals[0]['eval'])}")
        print(f"held-out after:  {_fmt(evals[-1]['eval'])}")
    as_file = args.method in ADAPTER_FILES
    result = Path(args.out) / ("adapter.safetensors" if as_file else "model")
    print(f"{'adapter' if as_file else 'model'}: {result}  (history: {Path(args.out) / 'history.jsonl'})")
    if args.png:
        print(f"curves: {_plots().plot_run(history, args.png, f'training run {args.out}', Path(args.out).name)}")
    return 0


def _warn_about_data(args, tokenizer, n_positions: int) -> None:
    """`tinyia3 data check` on the training (and held-out) set: a short warning block, then on."""
    from .data_check import check_data
    from .paths import dataset_path

    heldout = dataset_path(args.eval_data) if args.eval_data else None
    report = check_data(dataset_path(args.data), heldout, tokenizer=tokenizer, n_positions=n_positions)
    if report.findings:
        print(report.warning() + "\n  training goes on; --skip-data-check skips this check", file=sys.stderr)


# -- data check ------------------------------------------------------------------------------------


def cmd_data_check(args) -> int:
    from .data_check import check_data, write_cleaned
    from .paths import dataset_path

    train = dataset_path(args.train)
    report = check_data(train, dataset_path(args.heldout) if args.heldout else None,
                        model=None if args.no_length else args.model)
    print(report.text())
    if args.write_cleaned:
        dropped = write_cleaned(train, report, args.write_cleaned)
        print(f"wrote {args.write_cleaned}: {train} without the {dropped} lines flagged as duplicates, conflicting "
              "labels or held-out overlap (every other finding is left for you to fix)")
    return 1 if report.findings else 0


def _add_data_parser(sub) -> None:
    from .data_check import NEAR

    data = sub.add_parser("data", help="dataset tools: `tinyia3 data check TRAIN [--heldout HELD]`")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    p = data_sub.add_parser(
        "check", help="find duplicates, held-out overlap, empty fields, imbalance, too-long lines ...",
        description="Check a JSONL dataset for what training would learn from without complaint: exact and near "
                    f"duplicates (word-3-shingle Jaccard >= {NEAR:g}), train/held-out overlap, empty or blank "
                    "fields, duplicate choices, label imbalance, examples longer than the model's context, mixed "
                    "record kinds, lines that are not UTF-8 or not JSON (tinyia3/data_check.py). One `file:line: "
                    "what` per finding and a summary line; exit status 1 when anything is found, 0 when clean.")
    _add_model(p)
    p.add_argument("train", metavar="TRAIN", help="the training set, .jsonl, or the name of a shipped one")
    p.add_argument("--heldout", metavar="HELD", help="a held-out set: checked too, and for overlap with TRAIN")
    p.add_argument("--no-length", action="store_true", help="skip the context-length check (no model needed)")
    p.add_argument("--write-cleaned", metavar="OUT", help="write TRAIN without its duplicate, conflicting-label "
                                                          "and held-out-overlap lines to OUT")
    p.set_defaults(run=cmd_data_check)


def cmd_eval(args) -> int:
    from . import load_adapter, load_model, load_tokenizer
    from .data import load_dataset
    from .paths import dataset_path
    from .train import evaluate

    model = load_model(args.model)
    dataset = load_dataset(dataset_path(args.data), load_tokenizer(args.model), model.config.n_positions)
    adapter = load_adapter(args.adapter, model) if args.adapter else None
    print(f"{args.data} ({len(dataset)} examples) on {args.model}"
          f"{' + ' + args.adapter if args.adapter else ' (no adapter)'}: {_fmt(evaluate(model, adapter, dataset))}")
    return 0


def cmd_inspect(args) -> int:
    from . import IA3, load_adapter

    ia3 = load_adapter(args.adapter)
    print(f"{args.adapter}: {ia3!r}, base model {ia3.base_model!r}")
    if not isinstance(ia3, IA3):
        return _inspect_lora(ia3, args)
    print(f"channels inhibited (scale < {1 - args.tol:g}) and amplified (> {1 + args.tol:g}):")
    print(f"{'vector':<6} {'layer':>5} {'channels':>8} {'inhibited':>9} {'of them <0':>10} {'amplified':>9} "
          f"{'min':>7} {'mean':>7} {'max':>7}")
    rows = ia3.summary(args.tol)
    for r in rows:
        print(f"{r['vector']:<6} {r['layer']:>5} {r['channels']:>8} {r['inhibited']:>9} {r['negative']:>10} "
              f"{r['amplified']:>9} {r['min']:>7.3f} {r['mean']:>7.3f} {r['max']:>7.3f}")
    negative = sum(r["negative"] for r in rows)
    if negative:
        print(f"{negative} scale{'s are' if negative > 1 else ' is'} negative: those channels are sign-flipped, "
              "not just damped. A lower learning rate (or fewer steps) keeps IA³ scales positive, as in the paper.")
    if args.png:
        plots, png = _plots(), Path(args.png)
        heat = plots.plot_ia3_heatmaps(ia3, png)
        counts = plots.plot_ia3_counts(ia3, png.with_name(png.stem + "_counts" + png.suffix), args.tol)
        print(f"figures: {heat}, {counts}")
    return 0


def _inspect_lora(lora, args) -> int:
    if args.png:
        raise ArgumentError("--png draws IA³ scale heatmaps; a LoRA adapter has no per-channel scales to draw.")
    print("the update ΔW = (alpha / r) · A B of each target and layer: its Frobenius norm, its largest "
          "singular value, and that direction's share of ΔW's energy")
    print(f"{'target':<12} {'layer':>5} {'r':>3} {'|ΔW|':>9} {'top σ':>9} {'top share':>9}")
    for r in lora.summary():
        print(f"{r['target']:<12} {r['layer']:>5} {r['r']:>3} {r['norm']:>9.4f} {r['top']:>9.4f} {r['top_share']:>9.1%}")
    return 0


def _one_line(text: str, width: int) -> str:
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= width else text[:width - 1] + "…"


def cmd_compare(args) -> int:
    from . import load_adapter, load_model, load_tokenizer
    from .data import load_groups
    from .forms import read_prompts, style_shift
    from .paths import dataset_path
    from .train import evaluate

    model, tokenizer = load_model(args.model), load_tokenizer(args.model)
    adapter = load_adapter(args.adapter, model)
    prompts, form = read_prompts(dataset_path(args.prompts))
    rows = style_shift(model, tokenizer, adapter, prompts, form, args.max_new_tokens)
    print(f"greedy continuations ({args.max_new_tokens} tokens) of {len(rows)} prompts from {args.prompts}; "
          f"✓ = takes the form {form!r} (tinyia3/forms.py)")
    for r in rows[:args.show]:
        print(f"\n{r.prompt!r}\n  before {'✓' if r.before_ok else '·'} {_one_line(r.before, 100)}"
              f"\n  after  {'✓' if r.after_ok else '·'} {_one_line(r.after, 100)}")
    before, after = sum(r.before_ok for r in rows), sum(r.after_ok for r in rows)
    print(f"\nform {form!r}: before {before}/{len(rows)} ({before / len(rows):.0%}), "
          f"after {after}/{len(rows)} ({after / len(rows):.0%})")
    if args.by_register:
        print(f"\nheld-out loss per register ({args.by_register}), nats per token:")
        print(f"{'register':<12} {'before':>7} {'after':>7} {'change':>7}")
        for name, group in load_groups(dataset_path(args.by_register), tokenizer, model.config.n_positions).items():
            b, a = evaluate(model, None, group)["loss"], evaluate(model, adapter, group)["loss"]
            print(f"{name:<12} {b:>7.3f} {a:>7.3f} {a - b:>+7.3f}")
    return 0


# -- check (exercises) ----------------------------------------------------------------------------


def cmd_check(args) -> int:
    from . import exercises

    if args.list:
        print(exercises.list_text())
        return 0
    if args.all is not None:
        if args.name or args.file or args.solution or args.hint:
            raise ArgumentError("--all DIR checks every exercise of every student in DIR: give no exercise name, "
                                "--file, --solution or --hint with it.")
        result = exercises.check_all(args.all, seed=args.seed)
        print(result.text())
        return 0 if result.all_passed else 1
    if not args.name:
        raise ArgumentError("name the exercise to check, e.g. `tinyia3 check layer_norm_backward`. "
                         f"The exercises are: {', '.join(exercises.EXERCISES)} (`tinyia3 check --list`).")
    if args.hint:
        print(exercises.hint_text(args.name, args.hint))
        return 0
    if args.solution and args.file:
        raise ArgumentError("--solution checks the package's own function and --file checks your file: "
                         "use one of them.")
    path = args.file or (None if args.solution else exercises.locate(args.name))  # ./NAME.py, ./exercises/NAME.py
    report = exercises.check(args.name, path=path, solution=args.solution, seed=args.seed)
    print(report.text())
    return 0 if report.passed else 1


# -- lessons, merge, export, plot -------------------------------------------------------------------


def cmd_lessons(args) -> int:
    from .lesson import copy_lessons

    copied, kept = copy_lessons(args.dir)
    lessons = [p for p in copied if p.parent == Path(args.dir)]
    print(f"copied {len(lessons)} lessons and {len(copied) - len(lessons)} exercise stubs into {args.dir}")
    if kept:
        print(f"kept {len(kept)} files that were there already (never overwritten): "
              + ", ".join(str(p.relative_to(args.dir)) for p in kept))
    print(f"next: cd {args.dir}; run a lesson with `python 01_tokens_and_embeddings.py --quick` (or open it as a "
          "notebook); edit exercises/NAME.py and check it with `tinyia3 check NAME` (`tinyia3 check --list`)")
    return 0


def _refuse_to_replace(folder: Path, files, overwrite: bool, option: str) -> None:
    there = [name for name in files if (folder / name).exists()]
    if there and not overwrite:
        raise ArgumentError(f"{option} {folder} already holds {', '.join(there)}: pass a new {option}, "
                            "or --overwrite to replace those files.")


def cmd_merge(args) -> int:
    from . import load_adapter, load_model, merge
    from .checkpoint import save_model, write_atomic
    from .hub import TOKENIZER_NAMES, WEIGHTS_NAME, resolve

    out = Path(args.out)
    _refuse_to_replace(out, ("config.json", WEIGHTS_NAME), args.overwrite, "--out")
    model = load_model(args.model, dtype=np.float64)  # folded exactly, rounded once when saved
    adapter = load_adapter(args.adapter, model)
    save_model(merge(model, adapter), out, dtype=np.float32)
    source = resolve(args.model).folder
    for name in TOKENIZER_NAMES:  # the tokenizer travels with the weights, when the model has its own
        if (source / name).is_file():
            write_atomic(out / name, lambda tmp: tmp.write_bytes((source / name).read_bytes()))
    print(f"merged {args.adapter} ({adapter!r}) into {args.model}: wrote {out} (config.json, {WEIGHTS_NAME}, float32)")
    print(f"load it as a model with no adapter: `tinyia3 generate --model {out} ...`, or "
          f"GPT2LMHeadModel.from_pretrained({str(out)!r})")
    return 0


def cmd_export(args) -> int:
    from . import load_adapter
    from .adapter_files import PEFT_CONFIG, PEFT_WEIGHTS

    folder = Path(args.peft)
    _refuse_to_replace(folder, (PEFT_CONFIG, PEFT_WEIGHTS), args.overwrite, "--peft")
    adapter = load_adapter(args.adapter)
    adapter.save_peft(folder, base_model_name_or_path=args.base_model)
    print(f"{args.adapter} ({adapter!r}) written as a PEFT folder: {folder} ({PEFT_CONFIG}, {PEFT_WEIGHTS})")
    print(f"load it with peft.PeftModel.from_pretrained(GPT2LMHeadModel.from_pretrained(BASE), {str(folder)!r})")
    return 0


def cmd_plot(args) -> int:
    from .run_folder import read_history

    history = read_history(args.folder)
    png = Path(args.png) if args.png else Path(args.folder) / "curves.png"
    path = _plots().plot_run(history, png, title=f"training run {args.folder}", label=Path(args.folder).name)
    steps = sum("loss" in h for h in history)
    print(f"{path}: {steps} training steps, {sum('eval' in h for h in history)} evaluations")
    return 0


# -- the parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .train import METHODS

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
    p.add_argument("--max-new-tokens", type=positive_int, default=40, help="tokens to add (default 40)")
    p.add_argument("--temperature", type=natural_float, default=0.8,
                   help="sampling temperature; 0 = greedy, always the likeliest token (default 0.8)")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample only among the k likeliest tokens")
    p.add_argument("--top-p", type=unit_float, default=None,
                   help="sample only among the likeliest tokens whose probabilities add up to p")
    p.add_argument("--seed", type=natural_int, default=None, help="random seed, for repeatable samples")
    p.add_argument("--adapter", help="an IA³ or LoRA adapter to apply: a .safetensors file from "
                                     "`tinyia3 train` or a PEFT folder")
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("gradcheck", help="check the IA³ gradients against finite differences",
                       description="Compare tinyia3's hand-written IA³ gradients with central finite "
                                   "differences in float64. Exits with status 1 if any check fails.")
    _add_model(p)
    p.add_argument("--coords", type=positive_int, default=4, help="coordinates checked per vector and layer (default 4)")
    p.add_argument("--tokens", type=_number_type(int, lambda v: v >= 3, "an integer >= 3"), default=16, help="tokens per sequence (default 16)")
    p.add_argument("--seed", type=natural_int, default=0, help="random seed (default 0)")
    p.set_defaults(run=cmd_gradcheck)

    p = sub.add_parser(
        "train", help="fine-tune IA³ vectors on a JSONL dataset",
        description="Fine-tune the IA³ vectors (l_k, l_v, l_ff) of a frozen model on a JSON Lines dataset: "
                    '{"text"} or {"prompt","completion"} lines (language modelling, loss on the completion), '
                    'or {"prompt","choices","label"} lines (multiple choice, T-Few loss). Writes '
                    "OUT/adapter.safetensors, OUT/state.safetensors (for --resume) and OUT/history.jsonl.",
    )
    _add_model(p)
    p.add_argument("--data", required=True, help="training set, .jsonl, or the name of a shipped one such as "
                                                 "support_desk_train (see data/datasets/README.md)")
    p.add_argument("--eval-data", help="held-out set, .jsonl or a shipped name: evaluated before training and every "
                                       "--eval-every steps")
    p.add_argument("--out", required=True, help="run folder for the adapter, checkpoints and history")
    p.add_argument("--steps", type=positive_int, default=200, help="optimiser steps (default 200)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="examples per step (default 8)")
    p.add_argument("--lr", type=positive_float, default=3e-3, help="peak learning rate of Adam (default 3e-3, the paper's)")
    p.add_argument("--warmup", type=natural_int, default=None, help="warm-up steps (default 6%% of --steps)")
    p.add_argument("--clip", type=positive_float, default=1.0, help="clip the gradients' global norm to this (default 1.0)")
    p.add_argument("--eval-every", type=positive_int, default=None,
                   help="evaluate every N steps, N <= --steps (default 50, or only at the end of a shorter run)")
    p.add_argument("--save-every", type=positive_int, default=None,
                   help="checkpoint every N steps, N <= --steps (default 50, or only at the end); the last step always saves")
    p.add_argument("--terms", default="lm,ul,ln",
                   help="multiple choice: T-Few losses to add up, from lm (likelihood of the right "
                        "answer), ul (unlikelihood of wrong ones), ln (length-normalised ranking); default all")
    p.add_argument("--seed", type=natural_int, default=0, help="random seed for the batch order (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in an --out folder that holds another run (its files are replaced)")
    p.add_argument("--method", choices=METHODS, default="ia3",
                   help="what trains: IA³ vectors (default), LoRA pairs, BitFit biases, or every weight")
    p.add_argument("--queries", action="store_true",
                   help="IA³: also scale the queries (l_q), as PEFT's IA³ does on GPT-2's fused c_attn")
    p.add_argument("--rank", type=positive_int, default=8, help="LoRA rank r (default 8)")
    p.add_argument("--alpha", type=positive_float, default=16.0, help="LoRA alpha; the update is scaled by alpha / r (default 16)")
    p.add_argument("--png", help="after training, draw the run's loss (and accuracy) curves to this PNG")
    p.add_argument("--log-every", type=positive_int, default=None,
                   help="off a terminal (a log, CI), print a progress line every N steps (default: about 20 "
                        "lines a run, at most one every 10 steps); a terminal shows a bar")
    p.add_argument("--targets", default="attn.c_attn",
                   help="LoRA: comma-separated linears from attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj "
                        "(default attn.c_attn)")
    p.add_argument("--skip-data-check", action="store_true",
                   help="do not run `tinyia3 data check` on --data and --eval-data first (it only warns)")
    p.set_defaults(run=cmd_train)
    _add_data_parser(sub)

    p = sub.add_parser("eval", help="held-out loss (and accuracy for multiple choice)",
                       description="Evaluate a model, with or without an adapter, on a JSONL dataset: "
                                   "loss and perplexity, or rank-classification accuracy for multiple choice.")
    _add_model(p)
    p.add_argument("--data", required=True, help="dataset, .jsonl")
    p.add_argument("--adapter", help="an IA³ or LoRA adapter (.safetensors file or PEFT folder); default: none")
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("inspect", help="how many channels an adapter inhibits or amplifies",
                       description="Summarise an IA³ adapter per vector and layer: channels inhibited "
                                   "(scale below 1) and amplified (above 1), with an optional PNG.")
    p.add_argument("adapter", help="adapter .safetensors file or PEFT folder")
    p.add_argument("--tol", type=tolerance, default=0.01, help="a channel counts as changed beyond 1 ± tol (default 0.01)")
    p.add_argument("--png", help="also write heatmaps to this PNG (and a _counts.png bar chart)")
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser("compare", help="greedy generations before and after an adapter, and their form",
                       description="Continue every prompt of a {\"prompt\", \"form\"} file greedily, without "
                                   "and with the adapter, side by side; count how many take the form "
                                   "(tinyia3/forms.py); optionally the held-out loss per register.")
    _add_model(p)
    p.add_argument("adapter", help="adapter .safetensors file or PEFT folder")
    p.add_argument("--prompts", required=True, help='prompts, .jsonl of {"prompt", "form"} lines')
    p.add_argument("--max-new-tokens", type=positive_int, default=48, help="tokens per continuation (default 48)")
    p.add_argument("--show", type=natural_int, default=6, help="how many prompts to print side by side (default 6)")
    p.add_argument("--by-register", help='held-out loss before/after per group of a {"text", "register"} .jsonl')
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser("check", help="check an exercise: tinyia3 check NAME (--list shows them, --all DIR a class)",
                       description="Check your solution of an exercise (./NAME.py or ./exercises/NAME.py, else "
                                   "--file, else the shipped stub in lessons/exercises/): shapes, "
                                   "float64 finite differences and the package's own function, naming the "
                                   "mistake when it is a common one. Exits with status 0 when it passes and 1 "
                                   "when it does not.")
    p.add_argument("name", nargs="?", help="the exercise, e.g. layer_norm_backward (see --list)")
    p.add_argument("--list", action="store_true", help="list the exercises with their lesson, minutes and goal")
    p.add_argument("--solution", action="store_true",
                   help="check the package's own function instead, to see what passing looks like")
    p.add_argument("--file", help="check this file (default: ./NAME.py, else ./exercises/NAME.py as "
                                  "`tinyia3 lessons` copies it, else the shipped stub)")
    p.add_argument("--hint", type=positive_int, nargs="?", const=1, metavar="N",
                   help="show hint N of the exercise (default 1; `--list` says how many each has) instead of checking")
    p.add_argument("--all", metavar="DIR",
                   help="check every exercise of every student: DIR/<student>/NAME.py or "
                        "DIR/<student>/exercises/NAME.py (or DIR is one student's folder); prints a class table. "
                        "Exit status 0 when every cell passes, 1 otherwise, 2 when DIR holds no exercise")
    p.add_argument("--seed", type=natural_int, default=0, help="random seed for the test inputs (default 0)")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("lessons", help="copy the lessons and the exercise stubs into a folder of your own",
                       description="Copy the lessons (NN_*.py, scripts and notebooks in one) and the exercise stubs "
                                   "(exercises/NAME.py) into DIR. A file already in DIR is never overwritten.")
    p.add_argument("dir", help="the folder to copy into (created if needed)")
    p.set_defaults(run=cmd_lessons)

    p = sub.add_parser("merge", help="fold an adapter into a model and write the merged model folder",
                       description="Fold an IA³ or LoRA adapter into the model's weights and write a model folder "
                                   "(config.json + model.safetensors, float32, the hub's layout) that tinyia3 "
                                   "and transformers' GPT2LMHeadModel.from_pretrained load with no adapter.")
    _add_model(p)
    p.add_argument("--adapter", required=True, help="adapter .safetensors file or PEFT folder")
    p.add_argument("--out", required=True, help="folder for the merged model")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    p.set_defaults(run=cmd_merge)

    p = sub.add_parser("export", help="write an adapter as a Hugging Face PEFT folder",
                       description="Write an IA³ or LoRA adapter file from `tinyia3 train` as a PEFT folder "
                                   "(adapter_config.json + adapter_model.safetensors) for peft.PeftModel.")
    p.add_argument("--adapter", required=True, help="adapter .safetensors file (or a PEFT folder)")
    p.add_argument("--peft", required=True, help="the PEFT folder to write")
    p.add_argument("--base-model", help="base_model_name_or_path to record (default: the adapter's own, else gpt2)")
    p.add_argument("--overwrite", action="store_true", help="replace an adapter already in --peft")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("plot", help="draw a run's loss (and accuracy) curves to a PNG",
                       description="Draw the training and held-out loss of a run folder's history.jsonl, and "
                                   "the held-out accuracy of a multiple-choice run, to a PNG.")
    p.add_argument("folder", metavar="RUN", help="run folder (the --out of `tinyia3 train`)")
    p.add_argument("--png", help="the PNG to write (default: RUN/curves.png)")
    p.set_defaults(run=cmd_plot)
    return parser


_NEGATIVE_NUMBER = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _join_negative_values(argv: list[str]) -> list[str]:
    """['--lr', '-1e-2'] -> ['--lr=-1e-2']: argparse takes '-1e-2' for an option and would say
    only "expected one argument"; joined, the value reaches its check and is refused by name."""
    out = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_NUMBER.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def main(argv=None) -> int:
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TinyIA3Error as err:  # a bad option, file or folder: the message says what to do
        print(f"tinyia3 {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the system's own: permission denied, disk full, ... (names the file)
        print(f"tinyia3 {args.command}: error: {err.strerror or err}"
              + (f": {err.filename}" if err.filename else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tinyia3 {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
