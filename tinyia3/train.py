"""Fine-tuning: batches, AdamW steps, evaluation, checkpoints, resume, for every method.

The recipe is the paper's (Liu et al. 2022: Adafactor/Adam at lr 3e-3, linear decay after a
warm-up of 6 % of the steps) scaled down to a laptop. By default only the IA³ vectors train and
the model is frozen; LoRA, BitFit and full fine-tuning run in the same loop (config.method).
Everything is seeded: the same command gives the same adapter.

A run folder holds:
    state.safetensors     adapter + optimiser moments + step + history + fingerprints: the run
    adapter.safetensors   the latest good adapter, IA³ or LoRA (tinyia3.load_adapter reads it)
    model/                instead, for bitfit and full: the fine-tuned model, merged
    history.jsonl         one line per step: loss, learning rate, gradient norm, evaluations
    .lock                 while a run writes (tinyia3/run_folder.py)
Files are replaced atomically, so an interrupted run never leaves a half-written one; the
adapter and history.jsonl are rewritten from the state, so they never disagree after --resume.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .checkpoint import read_safetensors, write_atomic
from .data import Dataset, lm_batch, mc_batch
from .bitfit import BitFit
from .errors import (ArgumentError, MissingFileError, RunFolderError, TrainingInterrupted,  # noqa: F401
                     TrainingStopped)  # TrainingStopped is also importable from here, as before
from .errors import ArgumentTypeError, is_int as _is_int, is_number as _is_number, require, require_path, require_seed
from .full import FullFineTune
from .ia3 import IA3
from .lora import LoRA
from .losses import TFEW_TERMS, check_terms, loss, loss_and_grad, predict, tfew_loss_and_grad, tfew_loss_and_scores
from .model import GPT2, require_model
from .optim import AdamW, clip_by_global_norm, warmup_linear_lr
from .run_folder import RunFolder, fingerprint, fingerprint_changes


@dataclass
class TrainConfig:
    steps: int = 200
    batch_size: int = 8
    lr: float = 3e-3
    warmup: int | None = None  # None: 6 % of the steps, as in T-Few
    clip: float | None = 1.0
    eval_every: int | None = None  # None: every 50 steps, or only at the end of a shorter run
    save_every: int | None = None  # None: likewise; the last step always saves
    seed: int = 0
    terms: tuple = TFEW_TERMS  # multiple choice only: which T-Few losses to add up
    method: str = "ia3"  # "ia3", "lora", "bitfit" or "full" (every weight, for comparison)
    rank: int = 8  # LoRA only
    alpha: float = 16.0  # LoRA only: scaling = alpha / rank
    targets: tuple = ("attn.c_attn",)  # LoRA only
    queries: bool = False  # IA³ only: also scale the queries (l_q), PEFT's placement on GPT-2's c_attn

    def __post_init__(self):
        """Every setting checked where it enters: one line saying what was expected and found."""
        for name in ("steps", "batch_size", "rank"):
            _require(_is_int(getattr(self, name)) and getattr(self, name) >= 1, name, "a positive integer", getattr(self, name))
        for name in ("eval_every", "save_every"):
            if getattr(self, name) is None:
                setattr(self, name, min(50, self.steps))
            value = getattr(self, name)
            _require(_is_int(value) and 1 <= value <= self.steps, name,
                     f"an integer from 1 to steps = {self.steps} (the last step always {name[:4]}s)", value)
        _require(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0", self.seed)
        _require(_is_number(self.lr) and self.lr > 0, "lr", "a positive finite number (e.g. 3e-3)", self.lr)
        _require(_is_number(self.alpha) and self.alpha > 0, "alpha", "a positive finite number", self.alpha)
        _require(self.clip is None or (_is_number(self.clip) and self.clip > 0), "clip",
                 "a positive finite number, or None for no clipping", self.clip)
        _require(self.warmup is None or (_is_int(self.warmup) and 0 <= self.warmup < self.steps), "warmup",
                 f"an integer from 0 to steps - 1 = {self.steps - 1} (or None: 6 % of the steps)", self.warmup)
        _require(self.method in METHODS, "method", f"one of {', '.join(METHODS)}", self.method)
        _require(isinstance(self.queries, bool), "queries", "True or False", self.queries)
        _require(not self.queries or self.method == "ia3", "queries", f"False for --method {self.method} "
                 "(only IA³ scales the queries)", self.queries)
        unknown = set(self.terms) - set(TFEW_TERMS)
        _require(bool(self.terms) and not unknown, "terms", f"a non-empty subset of {', '.join(TFEW_TERMS)}", self.terms)

    def make_adapter(self, model):
        """A fresh parameter set for this method (a private copy of the weights for bitfit, full)."""
        if self.method not in METHODS:
            raise ArgumentError(f"method must be one of {', '.join(METHODS)}, found {self.method!r}.")
        if self.method == "lora":
            return LoRA.init(model, self.rank, self.alpha, self.targets, seed=self.seed)
        if self.method == "ia3":
            return IA3.ones(model, queries=self.queries)
        return {"bitfit": BitFit.of, "full": FullFineTune.of}[self.method](model)

    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else max(1, round(0.06 * self.steps))


METHODS = ("ia3", "lora", "bitfit", "full")
ADAPTER_FILES = ("ia3", "lora")  # saved as an adapter file; bitfit and full as a merged model folder


def _comparable(settings: dict) -> dict:
    """A run's settings as resume compares them: JSON types, runs saved before `method`
    existed read as their method, and LoRA's options only for LoRA."""
    settings = json.loads(json.dumps(settings))  # tuples become lists, as in the saved copy
    if "trainable" in settings:  # saved by tinyia3 before 0.2: trainable "ia3" or "all"
        settings["method"] = {"all": "full"}.get(settings.pop("trainable"), "ia3")
    if settings.get("method", "ia3") != "lora":
        for key in ("rank", "alpha", "targets"):
            settings.pop(key, None)
    if not settings.get("queries", False):
        settings.pop("queries", None)  # runs saved before the option existed scaled no queries
    for key in ("eval_every", "save_every"):  # saved before they were bounded by steps: the same run
        if key in settings and "steps" in settings:
            settings[key] = min(settings[key], settings["steps"])
    return settings


def _require(ok: bool, name: str, expected: str, found) -> None:
    """A setting's check, naming it as the command's option does (batch_size -> batch-size)."""
    require(ok, name.replace("_", "-"), expected, found)


def batch_indices(n: int, step: int, batch_size: int, seed: int) -> np.ndarray:
    """The examples of a step: epochs of seeded permutations, read batch_size at a time.

    A function of the step alone, so a resumed run draws exactly the batches it would have.
    """
    for name, value, least in (("n", n, 1), ("step", step, 0), ("batch_size", batch_size, 1)):
        require(_is_int(value) and value >= least, f"batch_indices: {name}", f"an integer >= {least}", value)
    require_seed(seed, "batch_indices: seed")
    start = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        order = np.random.default_rng([seed, epoch]).permutation(n)
        out.extend(order[offset:offset + batch_size - len(out)])
    return np.array(out)


def step_loss_and_grad(model: GPT2, adapter, dataset: Dataset, index, terms=TFEW_TERMS):
    """Loss and the adapter's gradients (a dict of named arrays) on dataset.examples[index]."""
    examples = [dataset.examples[i] for i in index]
    if dataset.kind == "lm":
        ids, attention_mask, loss_mask = lm_batch(examples)
        total, grads = loss_and_grad(model, adapter, ids, loss_mask, attention_mask)
    else:
        total, grads, _, _ = tfew_loss_and_grad(model, adapter, mc_batch(examples), terms)
    return total, grads.named()


def evaluate(model: GPT2, adapter, dataset: Dataset, batch_size=16, terms=TFEW_TERMS) -> dict:
    """Held-out numbers. LM: mean loss per scored token (and perplexity).
    Multiple choice: rank-classification accuracy and the mean T-Few loss per example."""
    require_model(model, "evaluate")
    _require_dataset(dataset, "evaluate: dataset")
    check_terms(terms, "evaluate")
    _require(_is_int(batch_size) and batch_size >= 1, "batch_size", "a positive integer", batch_size)
    if len(dataset) == 0:
        raise ArgumentError(f"{dataset.source} holds no examples: there is nothing to evaluate.")
    results = {}
    if dataset.kind == "lm":
        total, count = 0.0, 0
        for start in range(0, len(dataset), batch_size):
            ids, attention_mask, loss_mask = lm_batch(dataset.examples[start:start + batch_size])
            n = int((loss_mask[:, 1:] * attention_mask[:, 1:]).sum())
            total += loss(model, adapter, ids, loss_mask, attention_mask) * n
            count += n
        results["loss"] = total / count
        results["perplexity"] = math.exp(results["loss"])
        return results
    correct, total = 0, 0.0
    for start in range(0, len(dataset), batch_size):
        examples = dataset.examples[start:start + batch_size]
        batch = mc_batch(examples)
        batch_loss, scores = tfew_loss_and_scores(model, adapter, batch, terms)  # one forward for both
        correct += int((predict(scores, batch) == batch.labels).sum())
        total += batch_loss * len(examples)
    results["accuracy"] = correct / len(dataset)
    results["loss"] = total / len(dataset)
    return results


def _save_state(path: Path, params: dict, opt: AdamW, step: int, config: TrainConfig,
                history: list[dict], fingerprint: dict) -> None:
    """The run's one source of truth: parameters, optimiser, step, history and fingerprints in a
    single atomically replaced file. adapter.safetensors and history.jsonl are copies of it."""
    from safetensors.numpy import save_file

    tensors = {f"param.{k}": v for k, v in params.items()}
    tensors.update({f"opt.{k}": v for k, v in opt.state_dict().items()})
    metadata = {"step": str(step), "config": json.dumps(asdict(config)), "history": json.dumps(history),
                "fingerprint": json.dumps(fingerprint)}
    write_atomic(path, lambda p: save_file(tensors, str(p), metadata=metadata))


def _write_history(path: Path, history: list[dict]) -> None:
    text = "".join(json.dumps(h) + "\n" for h in history)
    write_atomic(path, lambda p: p.write_text(text))


def _restore(state_path: Path, history_path: Path, params: dict, opt: AdamW, config: TrainConfig,
             fingerprint: dict, sources: dict) -> tuple[int, list[dict]]:
    """Load the saved run into params and opt, refusing one made with other settings or inputs."""
    if not state_path.is_file():
        raise MissingFileError(f"--resume: no checkpoint {state_path}. Train without --resume to start, "
                               "or pass the --out folder of the run to continue.")
    tensors, metadata = read_safetensors(state_path)
    saved, now = _comparable(json.loads(metadata["config"])), _comparable(asdict(config))
    changes = [f"{k} was {saved.get(k)!r}, now {v!r}" for k, v in now.items() if saved.get(k) != v]
    if "fingerprint" in metadata:  # runs saved before tinyia3 0.3 carry none
        changes += fingerprint_changes(json.loads(metadata["fingerprint"]), fingerprint, sources)
    if changes:
        raise RunFolderError(f"--resume of {state_path.parent}, but " + "; ".join(changes)
                             + ". Resume with the same model, data and settings, or start a new --out "
                             "(or --overwrite this one).")
    for name, value in params.items():
        value[...] = tensors[f"param.{name}"]
    opt.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("opt.")})
    step = int(metadata["step"])
    if "history" in metadata:
        history = json.loads(metadata["history"])
    else:  # older runs kept the history only in history.jsonl
        history = [json.loads(line) for line in open(history_path)][: step + 1] if history_path.exists() else []
    return step, history


def _require_dataset(dataset, where: str) -> None:
    require(isinstance(dataset, Dataset), where, "a tinyia3 Dataset", dataset,
            "Load one with tinyia3.data.load_dataset(path, tokenizer, model.config.n_positions).", ArgumentTypeError)


def _check_inputs(model: GPT2, train_set: Dataset, eval_set: Dataset | None, config: TrainConfig) -> None:
    require_model(model, "train")
    _require_dataset(train_set, "train: train_set")
    if eval_set is not None:
        _require_dataset(eval_set, "train: eval_set")
    require(isinstance(config, TrainConfig), "train: config", "a TrainConfig", config,
            "Make one: TrainConfig(steps=200, lr=3e-3, ...).", ArgumentTypeError)
    if len(train_set) == 0:
        raise ArgumentError(f"{train_set.source} holds no examples; a training set needs at least one.")
    if config.batch_size > len(train_set):
        raise ArgumentError(f"--batch-size {config.batch_size} is larger than the {len(train_set)} training "
                            f"examples of {train_set.source}; pass at most {len(train_set)}.")
    if eval_set is not None and eval_set.kind != train_set.kind:
        raise ArgumentError(f"the held-out set {eval_set.source} is a {eval_set.kind!r} dataset but the training "
                            f"set {train_set.source} is {train_set.kind!r}: pass held-out data of the same task.")


def train(model: GPT2, train_set: Dataset, eval_set: Dataset | None, out, config: TrainConfig,
          resume=False, progress=True, log=print, overwrite=False, log_every=None) -> list[dict]:
    """Fine-tune on train_set (IA³ vectors by default); returns the history (also in out/history.jsonl).

    progress: a bar on a terminal; elsewhere (a log, CI) a line through `log` every `log_every`
    steps (default: about 20 lines a run, at most one every 10 steps; tinyia3.progress).

    config.method picks what trains: "ia3" (default) and "lora" write out/adapter.safetensors;
    "bitfit" (biases) and "full" (every weight) train a private copy and write it merged to
    out/model/ (the caller's model is never changed).

    `out` is locked for the run (tinyia3.run_folder). A folder holding another run needs
    resume=True (continue it: same model, data and settings, checked) or overwrite=True.
    state.safetensors holds everything; the adapter and history.jsonl are rewritten from it, so
    a kill at any instant leaves complete files and --resume continues bit-exactly.
    Ctrl-C raises TrainingInterrupted, naming the last saved step.
    """
    _check_inputs(model, train_set, eval_set, config)
    require_path(out, "train: out")
    for name, flag in (("resume", resume), ("overwrite", overwrite), ("progress", progress)):
        require(isinstance(flag, bool), f"train: {name}", "True or False", flag, error=ArgumentTypeError)
    require(callable(log), "train: log", "a function of one string (e.g. print)", log, error=ArgumentTypeError)
    if resume and overwrite:
        raise ArgumentError("--resume continues the run in --out and --overwrite replaces it: pass one of them.")
    if log_every is not None:
        _require(_is_int(log_every) and log_every >= 1, "log_every", "a positive integer (or None)", log_every)
    with RunFolder(out) as folder:
        if not resume and folder.used():
            if not overwrite:
                raise RunFolderError(f"--out {folder.path} already holds a run ({', '.join(folder.used())}). "
                                     "Continue it with --resume, replace it with --overwrite, or pass a new --out.")
            folder.clear()
        return _train_in(folder.path, model, train_set, eval_set, config, resume, progress, log, log_every)


def _train_in(out: Path, model, train_set, eval_set, config, resume, progress, log, log_every) -> list[dict]:
    from .checkpoint import save_model
    from .progress import Progress

    state_path, adapter_path, history_path = out / "state.safetensors", out / "adapter.safetensors", out / "history.jsonl"
    adapter = config.make_adapter(model)
    params = adapter.named()  # views: the optimiser updates the adapter's own arrays
    as_file = config.method in ADAPTER_FILES
    fp = fingerprint(model, train_set, eval_set)
    opt = AdamW(params, lr=config.lr)  # plain Adam: decay would pull IA³ scales toward 0, not 1

    def save(step: int) -> None:  # state first: the adapter and the history are copies of it
        _save_state(state_path, params, opt, step, config, history, fp)
        if as_file:
            adapter.save(adapter_path, base_sha256=fp["model"])  # hashed once, in the fingerprint
        else:
            save_model(adapter.merge_into(model), out / "model")
        _write_history(history_path, history)

    if resume:
        sources = {"train_data": train_set.source, "eval_data": eval_set.source if eval_set else None}
        start, history = _restore(state_path, history_path, params, opt, config, fp, sources)
        save(start)  # repairs an adapter or history a kill left behind the state
        log(f"resumed from {state_path} at step {start}")
    else:
        start, history = 0, []
        if eval_set is not None:
            history.append({"step": 0, "eval": evaluate(model, adapter, eval_set, terms=config.terms)})
        if as_file:
            save(0)  # small, and proves before any training that the folder is writable
        else:  # a whole model (and its Adam moments) is not worth writing before step 1
            _write_history(history_path, history)
    saved = start
    warmup = config.warmup_steps()
    desc = {"ia3": "IA³", "lora": "LoRA", "bitfit": "BitFit", "full": "full"}[config.method] + " fine-tuning"
    bar = Progress(start, config.steps, desc, enabled=progress, every=log_every, log=log)
    step = start
    try:
        for step in range(start, config.steps):
            index = batch_indices(len(train_set), step, config.batch_size, config.seed)
            loss_value, grads = step_loss_and_grad(model, adapter, train_set, index, config.terms)
            if not math.isfinite(loss_value) or not all(np.isfinite(g).all() for g in grads.values()):
                save(step)  # the parameters before this step: finite, checked after every step
                raise TrainingStopped(
                    f"Step {step + 1}: the loss is {loss_value} (or a gradient is not finite). Training "
                    f"stopped; the last good {'adapter' if as_file else 'model'} (step {step}) is in {out}. "
                    "Try a lower --lr, or check the data and the model's weights.")
            norm = clip_by_global_norm(grads, config.clip)
            lr = warmup_linear_lr(step, config.steps, config.lr, warmup)
            opt.step(grads, lr)
            if not all(np.isfinite(v).all() for v in params.values()):
                raise TrainingStopped(
                    f"Step {step + 1} made a parameter non-finite; nothing of it was saved. The last good "
                    f"{'adapter' if as_file else 'model'} (step {saved}) is in {out}. Try a lower --lr.")
            record = {"step": step + 1, "loss": loss_value, "lr": lr, "grad_norm": norm}
            bar.update(step + 1, loss=loss_value, lr=lr)
            last = step + 1 == config.steps
            if eval_set is not None and ((step + 1) % config.eval_every == 0 or last):
                record["eval"] = evaluate(model, adapter, eval_set, terms=config.terms)
                bar.write(f"step {step + 1}: held-out " + ", ".join(f"{k} {v:.4f}" for k, v in record["eval"].items()))
            history.append(record)
            if (step + 1) % config.save_every == 0 or last:
                save(step + 1)
                saved = step + 1
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"interrupted at step {step + 1} of {config.steps}; the last saved step is "
                                  f"{saved}, in {out}. Continue with --resume.") from None
    finally:
        bar.close()
    return history
