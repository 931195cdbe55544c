"""The numbers in lessons/exercises/TEACHERS.md's answers to the lessons' end-of-lesson exercises.

    python tools/teachers_answers.py                  # lessons 1-4, 7, 9, 10 and 8.3: seconds (embedded model)
    python tools/teachers_answers.py --lessons 5,6,8  # the training runs of lessons 5, 6, 8: about 20 minutes
                                                      # on one core (any subset: --lessons 6)

The training answers use the lessons' own setup: their data files, rates, step counts and
seed 0, tinyia3.train.train and evaluate, and lesson 5's drama-form count
(tinyia3.forms.style_shift). One run per setting: no spread.
Each line starts with the exercise it answers (01.2 = lesson 1, exercise 2). Everything is
float64 or float32 as the line says, on the embedded model, with fixed seeds. Developer-only,
like everything in tools/: nothing here is part of the package.
"""

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import tinyia3
from tinyia3 import exercises, gradcheck, lesson, ops, quantized
from tinyia3.config import GPT2Config
from tinyia3.data import Dataset, load_dataset
from tinyia3.gradcheck import rel_error
from tinyia3.ia3_arithmetic import compose
from tinyia3.lora import TARGETS, LoRA
from tinyia3.train import TrainConfig, evaluate, train

ROOT = Path(__file__).resolve().parent.parent


def lesson_1():
    tok = tinyia3.load_tokenizer("embedded")
    # 01.1
    cands_long = ["information", "understanding", "international", "government", "development", "everything",
                  "relationship", "performance", "experience", "technology", "particular", "especially", "themselves",
                  "management", "environment", "conference", "individual", "throughout", "opportunity", "Constitution"]
    for w in cands_long:
        ids = tok.encode(" " + w)
        if len(ids) == 1: print("long single:", repr(" " + w), ids)
    cands_short = ["gazed", "quirky", "fjord", "sylph", "wyvern", "kvetch", "zephyr", "glyph", "nymph", "crwth", "phlox", "qoph", "axolotl", "psyche", "rhythm", "squawk", "knack", "eschew", "jinx", "myrrh", "oxbow", "quaff", "zydeco", "kudzu"]
    for w in cands_short:
        ids = tok.encode(" " + w)
        if len(ids) >= 3 and len(w) <= 6: print("short 3:", repr(" " + w), ids, [tok.decode([i]) for i in ids])
    # 01.2
    for s in ["Hello", " Hello", "hello", "HELLO", " hello", "The answer is ", "The answer is", " 42"]:
        ids = tok.encode(s); print(repr(s), ids, [tok.decode([i]) for i in ids])
    # 01.3
    model = tinyia3.load_model("embedded")
    sentence = "In the beginning, God created the heavens and the earth."
    ids = np.array(tok.encode(sentence))[None, :]
    T = ids.shape[1]; pos = np.arange(T)[None, :]
    rng = np.random.default_rng(0)
    dx = rng.standard_normal((1, T, model.config.n_embd))
    wte = model.params["wte.weight"]; wpe = model.params["wpe.weight"]
    dwte, dwpe = ops.embedding_backward_weights(dx, ids, pos, wte.shape, wpe.shape)
    the = tok.encode(" the")[0]
    where = np.flatnonzero(ids[0] == the)
    print("the at", where.tolist(), "max diff", np.abs(dwte[the] - dx[0, where].sum(axis=0)).max())
    unused = np.setdiff1d(np.arange(wte.shape[0]), ids[0])
    print("unused rows", unused.size, "all zero:", not np.any(dwte[unused]), "vocab", wte.shape)


def lesson_2():
    tok = tinyia3.load_tokenizer("embedded")
    model = tinyia3.load_model("embedded")
    c = model.config
    print(c)
    sentence = "In the beginning, God created the heavens and the earth. God saw the light, and God said"
    ids = np.array(tok.encode(sentence))[None, :]
    T = ids.shape[1]
    _, fc, _ = model.forward(ids, None, cache=True)
    best = []
    for L, bc in enumerate(fc.blocks):
        att = bc.attn.att[0]  # (H, T, T)
        prev = np.array([att[h, np.arange(1, T), np.arange(T - 1)].mean() for h in range(att.shape[0])])
        print(f"block {L}: mean att[h, t, t-1] per head:", np.round(prev, 3).tolist())
        best += [(p, L, h) for h, p in enumerate(prev)]
    best.sort(reverse=True); print("top:", [(round(p, 3), L, h) for p, L, h in best[:3]], "T", T)
    # 02.2 q·(l⊙k) = (l⊙q)·k
    bc = fc.blocks[0]
    q, k, v, att = bc.attn
    rng = np.random.default_rng(0)
    D = q.shape[-1]
    l = 1.0 + 0.3 * rng.standard_normal(D)
    allowed = ops.attention_mask(None, T, T)
    y1 = ops.attention_forward(q, k * l, v, allowed, cache=False)[0]
    y2 = ops.attention_forward(q * l, k, v, allowed, cache=False)[0]
    print("02.2 rel_error(y with l⊙k, y with l⊙q) =", rel_error(y1, y2))
    # 02.3 l_v of block 0 = 0
    ia3 = tinyia3.IA3.ones(model)
    ia3.l_v[0][:] = 0.0
    _, fc0, _ = model.forward(ids, ia3, cache=True)
    b0 = fc0.blocks[0]
    v_scaled = b0.sites["l_v"].x * b0.sites["l_v"].l  # the record keeps v before l_v only (model.py rebuilds it)
    print("02.3 max|l_v ⊙ v| block0:", np.abs(v_scaled).max(), " max|att v|:", np.abs(b0.attn.att @ ops.split_heads(v_scaled, model.config.n_head)).max(),
          " max|q|:", np.abs(b0.attn.q).max(), " att row sums ok:", np.allclose(b0.attn.att.sum(-1), 1))
    base = model.logits(ids); zl = model.logits(ids, ia3)
    print("02.3 top-1 next-token agreement:", float((base.argmax(-1) == zl.argmax(-1)).mean()), "logits rel change", rel_error(zl, base))
    print("02.3 greedy, base:      ", repr(tinyia3.generate(model, tok, "In the beginning", max_new_tokens=12, temperature=0.0)))
    print("02.3 greedy, l_v[0] = 0:", repr(tinyia3.generate(model, tok, "In the beginning", max_new_tokens=12, temperature=0.0, adapter=ia3)))
    print("02.1 uniform-attention baseline of mean att[h, t, t-1]:", float(np.mean(1.0 / np.arange(2, T + 1))))


def lessons_3_and_4():
    # 03.1
    ex = exercises.get("gelu_backward")
    case = ex.cases(np.random.default_rng(0))[0]
    ref = ex.reference(*case.args)
    m = next(mm for mm in ex.mistakes if mm.tag == "du/dx without the cubic")
    print("03.1 rel error (checker case, seed 0):", rel_error(m.fn(*case.args), ref))
    x = np.linspace(-6, 6, 120001); _, (xx, t) = ops.gelu_forward(x)
    k, c = math.sqrt(2 / math.pi), 0.044715
    dmg = np.abs(0.5 * x * (1 - t * t) * k * 3 * c * x * x)
    print("03.1 damage |Δ gelu'| max at x =", x[np.argmax(dmg)], "value", dmg.max(), "at x=0.5:", dmg[np.argmin(abs(x-0.5))], "at x=6:", dmg[-1])
    # 03.2
    rng = np.random.default_rng(0)
    C = 8; xin = 0.5 + 2 * rng.standard_normal((4, C)); g = np.ones(C); b = 0.1 * rng.standard_normal(C)
    out, cache = ops.layer_norm_forward(xin, g, b, 1e-5)
    dout = np.ones_like(out)
    dx = ops.layer_norm_backward(dout, cache)
    xf = xin.copy()
    num = gradcheck.numerical_vjp(lambda: ops.layer_norm_forward(xf, g, b, 1e-5, cache=False)[0], xf, dout)
    print("03.2 max|dx| analytic", np.abs(dx).max(), "numerical", np.abs(num).max(), "sum xhat per row max", np.abs(cache[0].sum(-1)).max())
    # 03.3 forward differences on lesson 3's point (embedded, float64, seed 0, T=12)
    model = tinyia3.load_model("embedded", dtype=np.float64)
    tok = tinyia3.load_tokenizer("embedded")
    text = "In the beginning, God created the heavens and the earth. The earth was formless and empty."
    ids = np.array(tok.encode(text))[None, :12]
    ia3 = tinyia3.IA3.random(model, std=0.3, seed=0)
    loss0, grads = tinyia3.loss_and_grad(model, ia3, ids)
    i = int(np.argmax(np.abs(grads.l_ff[0]))); exact = grads.l_ff[0, i]
    vec = ia3.l_ff[0]
    steps = 10.0 ** -np.arange(1, 13)
    fwd, cen = [], []
    for h in steps:
        v0 = vec[i]
        vec[i] = v0 + h; fp = tinyia3.loss(model, ia3, ids)
        vec[i] = v0 - h; fm = tinyia3.loss(model, ia3, ids)
        vec[i] = v0
        f0 = tinyia3.loss(model, ia3, ids)
        fwd.append(abs((fp - f0) / h - exact) / abs(exact)); cen.append(abs((fp - fm) / (2 * h) - exact) / abs(exact))
    print("03.3 dl_ff[0,%d] = %.3e" % (i, exact))
    print("03.3 h       ", " ".join(f"{h:.0e}" for h in steps))
    print("03.3 forward ", " ".join(f"{e:.0e}" for e in fwd))
    print("03.3 central ", " ".join(f"{e:.0e}" for e in cen))
    fwd = np.array(fwd); print("03.3 forward best h", steps[fwd.argmin()], "err", fwd.min(), " slope 1e-1->1e-3:", np.log10(fwd[0]/fwd[2])/2)
    cen = np.array(cen); print("03.3 central best h", steps[cen.argmin()], "err", cen.min())
    # 04.1
    for name, cfg in {"small": GPT2Config(), "medium": GPT2Config(n_embd=1024, n_layer=24, n_head=16),
                      "large": GPT2Config(n_embd=1280, n_layer=36, n_head=20), "xl": GPT2Config(n_embd=1600, n_layer=48, n_head=25)}.items():
        ia = tinyia3.IA3.ones(cfg).num_parameters
        per_r = LoRA.init(cfg, r=1, alpha=2).num_parameters
        print(f"04.1 {name}: IA3 {ia:,}; LoRA c_attn per rank {per_r:,}; r = {ia / per_r}")
    # 04.2
    s = GPT2Config(); full = s.num_parameters(); wte = s.vocab_size * s.n_embd
    print(f"04.2 full {full:,} wte {wte:,} share {wte/full:.4f}; Adam m+v float32 full {8*full/2**20:.1f} MiB, without wte {8*(full-wte)/2**20:.1f} MiB; grad+m+v {12*full/2**20:.1f} vs {12*(full-wte)/2**20:.1f} MiB; IA3 {tinyia3.IA3.ones(s).num_parameters:,} -> share of non-wte {tinyia3.IA3.ones(s).num_parameters/(full-wte):.5f}")
    # 04.3 float16 adapter
    emb = tinyia3.load_model("embedded")
    for std in (0.0, 0.1):
        a = tinyia3.IA3.random(emb, std=std, seed=0) if std else tinyia3.IA3.ones(emb)
        with tempfile.TemporaryDirectory() as d:
            p32 = a.save(os.path.join(d, "a32.safetensors")); p16 = a.astype(np.float16).save(os.path.join(d, "a16.safetensors"))
            back = tinyia3.IA3.load(p16)
            err = max(np.abs(back.named()[n].astype(np.float64) - a.named()[n]).max() for n in a.named())
            print(f"04.3 std {std}: float32 file {os.path.getsize(p32):,} B, float16 file {os.path.getsize(p16):,} B, max |error| {err:.2e}, loaded dtype {back.dtype}")


def lessons_7_9_10():
    tok = tinyia3.load_tokenizer("embedded")
    model = tinyia3.load_model("embedded")  # float32
    ids = np.array(tok.encode("In the beginning, God created the heavens and the earth. God saw the light."))[None, :]
    a = tinyia3.IA3.random(model, std=0.1, seed=1); b = tinyia3.IA3.random(model, std=0.1, seed=2)
    # 07.1 unmerge
    merged = tinyia3.merge(model, a)
    C = model.config.n_embd
    errs = []
    for i in range(model.config.n_layer):
        s = np.concatenate([np.ones(C, np.float32), a.l_k[i], a.l_v[i]])
        for part in ("weight", "bias"):
            k = f"h.{i}.attn.c_attn.{part}"; errs.append(rel_error(merged.params[k] / s, model.params[k]))
        k = f"h.{i}.mlp.c_proj.weight"; errs.append(rel_error(merged.params[k] / a.l_ff[i][:, None], model.params[k]))
    print("07.1 float32 merge+unmerge max rel error over weights:", max(errs), "min |scale|", min(np.abs(v).min() for v in a.named().values()))
    z = a.copy(); z.l_ff[0][3] = 0.0
    m0 = tinyia3.merge(model, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        back = m0.params["h.0.mlp.c_proj.weight"] / z.l_ff[0][:, None]
    print("07.1 with l_ff[0][3] = 0: row 3 after unmerge finite?", bool(np.isfinite(back[3]).all()), "values", back[3][:3])
    # 07.2 float16 merge
    ref = model.logits(ids, a)
    m16 = tinyia3.GPT2(model.config, {k: v.astype(np.float16).astype(np.float32) for k, v in merged.params.items()}, name=model.name)
    base16 = tinyia3.GPT2(model.config, {k: v.astype(np.float16).astype(np.float32) for k, v in model.params.items()}, name=model.name)
    print("07.2 logits rel error: merged-in-fp16 vs model+adapter fp32:", rel_error(m16.logits(ids), ref),
          "; merged fp32:", rel_error(merged.logits(ids), ref), "; base cast to fp16 + adapter vs base+adapter:", rel_error(base16.logits(ids, a), ref))
    print("07.2 top-1 agreement fp16-merged vs fp32 adapter:", float((m16.logits(ids).argmax(-1) == ref.argmax(-1)).mean()))
    # 07.3
    ab = compose(a, b)
    twice = tinyia3.merge(tinyia3.merge(model, a), b)
    once = tinyia3.merge(model, ab)
    print("07.3 max weight rel error twice vs once:", max(rel_error(twice.params[k], once.params[k]) for k in once.params),
          "logits:", rel_error(twice.logits(ids), once.logits(ids)))
    # 09.3
    s = GPT2Config(); full = s.num_parameters()
    ia = tinyia3.IA3.ones(s).num_parameters
    lo = LoRA.init(s, r=4, alpha=8, targets=TARGETS).num_parameters
    print(f"09.3 targets {TARGETS}: IA3 {ia:,} = {100*ia/full:.4f} %; LoRA r4 all four {lo:,} = {100*lo/full:.4f} %; formula r*L*(8C+2F) = {4*12*(8*768+2*3072):,}")
    # 09.4
    d = json.load(open(ROOT / "data" / "measured" / "methods.json"))
    print("09.4 variant trainable file_bytes peak_rss_mb(median) drama quality review quality")
    for name, v in d["summary"].items():
        print(f"   {name:<18} {v['trainable']:>8,} {v['file_bytes']:>9,} {v['peak_rss_mb']['median']:>7.1f} "
              f"{v.get('drama_style', {}).get('quality', {}).get('median', float('nan')):.3f} {v.get('review_sentiment', {}).get('quality', {}).get('median', float('nan')):.3f}")
    # 10.1
    q_col = tinyia3.quantize(model, per={"mlp.c_proj": "column"})
    q_def = tinyia3.quantize(model)
    try:
        tinyia3.merge(q_col, a); print("10.1 merged?!")
    except Exception as err:
        print("10.1 refused:", type(err).__name__, str(err)[:400])
    fl = model.logits(ids)
    print("10.1 logits rel error vs float: default layout", rel_error(q_def.logits(ids), fl), "; c_proj per column", rel_error(q_col.logits(ids), fl))
    print("10.1 with adapter (unmerged) vs float+adapter: default", rel_error(q_def.logits(ids, a), ref), "; per column", rel_error(q_col.logits(ids, a), ref))
    print("10.1 merged default-layout quantized vs its unmerged:", rel_error(tinyia3.merge(q_def, a).logits(ids), q_def.logits(ids, a)))
    # 10.2
    print("10.2 float32 weight bytes", quantized.weight_bytes(model))
    for bs in (32, 64, 192):
        q4 = tinyia3.quantize(model, bits=4, block_size=bs)
        print(f"10.2 4-bit block {bs}: weight bytes {quantized.weight_bytes(q4):,}, logits rel error vs float {rel_error(q4.logits(ids), fl):.4f}, top-1 agreement {float((q4.logits(ids).argmax(-1) == fl.argmax(-1)).mean()):.3f}")
    print("10.2 int8 per channel: bytes", f"{quantized.weight_bytes(q_def):,}", "err", rel_error(q_def.logits(ids), fl))


def _setup():
    model = tinyia3.load_model("embedded"); tok = tinyia3.load_tokenizer("embedded")
    return model, tok, lesson.ROOT / "data" / "datasets"


def _train(model, name, data, ev, out, **kw):
    """One run of tinyia3.train.train (the lessons' loop); returns (history, adapter or None, seconds)."""
    t0 = time.perf_counter()
    steps = kw["steps"]
    cfg = TrainConfig(save_every=steps, eval_every=kw.pop("eval_every", steps), **kw)
    h = train(model, data, ev, out / name, cfg, progress=False, overwrite=True, log=lambda s: None)
    a = tinyia3.IA3.load(out / name / "adapter.safetensors", model) if cfg.method == "ia3" else None
    return h, a, time.perf_counter() - t0


def _max_dev(a):
    return max(float(np.abs(v - 1).max()) for v in a.named().values())


def _negative(a):
    return sum(int((v < 0).sum()) for v in a.named().values())


def _lr_sum(steps, lr):
    """The total of the learning rates of train's schedule: Adam's bound on how far one scale moves."""
    from tinyia3.optim import warmup_linear_lr
    w = TrainConfig(steps=steps, lr=lr).warmup_steps()
    return sum(warmup_linear_lr(s, steps, lr, w) for s in range(steps))


def lesson_5():
    """05.1-05.3 on the drama task, as lesson 5 sets it up (300 steps, batch 8, seed 0, 60 held-out passages)."""
    from tinyia3.data import mc_batch
    from tinyia3.forms import check, read_prompts, style_shift
    from tinyia3.losses import choice_scores
    model, tok, D = _setup(); c = model.config
    dt = load_dataset(D / "drama_style_train.jsonl", tok, c.n_positions)
    dh = load_dataset(D / "drama_style_heldout.jsonl", tok, c.n_positions)
    de = Dataset(dh.kind, dh.examples[:60], dh.source)  # the lesson's drama_eval (full mode: all 60)
    prompts, form = read_prompts(D / "drama_style_prompts.jsonl")
    out = Path(tempfile.mkdtemp())
    # 05.1: the lesson's run at the paper's rate and at 3e-2 (lesson: 1e-1)
    before_ok = None
    for lr in (3e-3, 3e-2):
        h, a, sec = _train(model, f"drama_{lr:g}", dt, de, out, steps=300, batch_size=8, lr=lr, seed=0)
        t0 = time.perf_counter()
        if before_ok is None:  # lesson 5's own count: style_shift (greedy, 48 new tokens, forms.is_drama)
            rows = style_shift(model, tok, a, prompts, form, max_new_tokens=48)
            before_ok = sum(r.before_ok for r in rows)
            after_ok = sum(r.after_ok for r in rows)
        else:  # the same two calls style_shift makes for its "after" column (the base model's is done)
            after_ok = sum(check(form, tinyia3.generate(model, tok, p, 48, temperature=0.0, adapter=a)) for p in prompts)
        print(f"05.1 drama lr {lr:g} x 300 steps (batch 8, seed 0): held-out loss (60 passages) "
              f"{h[0]['eval']['loss']:.3f} -> {h[-1]['eval']['loss']:.3f}; drama form before {before_ok}/{len(prompts)}, "
              f"after {after_ok}/{len(prompts)}; max|l-1| {_max_dev(a):.3f}, bound sum(lr) = {_lr_sum(300, lr):.3f} "
              f"(eta*N/2 = {lr * 300 / 2:.3f}); scales below 0: {_negative(a)} of {a.num_parameters:,} "
              f"(train {sec:.0f} s, generation {time.perf_counter() - t0:.0f} s)", flush=True)
    # 05.2: bible_names one T-Few term at a time (the lesson's 100 steps at lr 1e-1), then review_sentiment
    def margins(data, ia3):
        batch = mc_batch(data.examples); E = len(batch.labels)
        beta = choice_scores(model, ia3, batch).reshape(E, 2)
        m = beta[:, 0] - beta[:, 1]
        return m[batch.labels == 0], m[batch.labels == 1], m
    for task, first, second in (("bible_names", "men", "cities"), ("review_sentiment", "good", "bad")):
        tr = load_dataset(D / f"{task}_train.jsonl", tok, c.n_positions)
        ho = load_dataset(D / f"{task}_heldout.jsonl", tok, c.n_positions)
        variants = [None, ("lm",), ("ln",), ("lm", "ul", "ln")] if task == "bible_names" else [None, ("lm", "ul", "ln")]
        for terms in variants:
            if terms is None:
                ia3 = None
            else:
                _, ia3, _ = _train(model, f"{task}_{'_'.join(terms)}", tr, ho, out, steps=100, batch_size=8, lr=1e-1,
                                   seed=0, terms=terms)
            a_, b_, m = margins(ho, ia3)
            print(f"05.2 {task} terms {terms}: mean margin {first} {a_.mean():+.3f}, {second} {b_.mean():+.3f}, "
                  f"gap {a_.mean() - b_.mean():.3f}, spread (std) {first} {a_.std():.3f} {second} {b_.std():.3f}, "
                  f"answered first choice {100 * np.mean(m > 0):.0f} %, held-out accuracy "
                  f"{evaluate(model, ia3, ho)['accuracy']:.4f}", flush=True)
            if task == "bible_names" and terms == ("lm", "ul", "ln"):
                names_ia3 = ia3
    # 05.3: the bible_names adapter (the lesson's: all three terms, 100 steps, lr 1e-1) on drama
    bare, hurt = evaluate(model, None, de)["loss"], evaluate(model, names_ia3, de)["loss"]
    print(f"05.3 drama held-out loss (60 passages): bare {bare:.3f}, with the bible_names adapter {hurt:.3f} "
          f"({hurt - bare:+.3f}); max|l-1| of that adapter {_max_dev(names_ia3):.3f}", flush=True)
    rows = style_shift(model, tok, names_ia3, prompts[:60:12], form, max_new_tokens=48)
    for r in rows:
        print(f"05.3 prompt {r.prompt!r}\n   bare   {r.before_ok} {r.before[:100]!r}\n   names  {r.after_ok} {r.after[:100]!r}")
    print(f"05.3 drama form with the names adapter on {len(rows)} prompts: before {sum(r.before_ok for r in rows)}, "
          f"after {sum(r.after_ok for r in rows)}", flush=True)
    text = tok.decode(dh.examples[0].ids[:24])
    for lab, a in (("bare", None), ("names", names_ia3)):
        print(f"05.3 drama passage start {text!r} ->{lab}: {tinyia3.generate(model, tok, text, 40, temperature=0.0, adapter=a)!r}")


def _lens_and_ablation(model, ia3, ids, attention_mask, real, layer, n_each=2):
    """Lesson 6.6's logit-lens table and ablation check, for the FFN units of any `layer`: the
    first-order prediction (lens term + the term along x-hat of ln_f) against the measured mean
    change of the logits when the unit is switched off (l_ff = 0). Returns [(unit, l_ff, s, r_full, r_lens)]."""
    c = model.config
    _, base_record, _ = model.forward(ids, tinyia3.IA3.ones(model), attention_mask, cache=True)
    hidden_ia3, rec, _ = model.forward(ids, ia3, attention_mask, cache=True)
    W2 = model.params[f"h.{layer}.mlp.c_proj.weight"]; g = model.params["ln_f.weight"]; wte = model.params["wte.weight"]
    l_ff = ia3.l_ff[layer]
    push = (l_ff - 1) * base_record.blocks[layer].sites["l_ff"].x[real].mean(axis=0)
    by_push = np.argsort(push)
    chosen = list(by_push[::-1][:n_each]) + list(by_push[:n_each])
    xhat, rstd, _ = rec.ln_f
    rstd = rstd[..., 0]
    out = []
    for i in chosen:
        off = ia3.copy(); off.l_ff[layer, i] = 0.0
        hidden_off, _, _ = model.forward(ids, off, attention_mask)
        measured = wte @ (hidden_off - hidden_ia3)[real].mean(axis=0)
        h_i = rec.blocks[layer].sites["l_ff"].x[..., i] * l_ff[i]
        w = W2[i] - W2[i].mean()
        lens_term = -(wte @ (g * w)) * (h_i * rstd)[real].mean()
        along = ((h_i * rstd * (xhat @ w) / c.n_embd)[..., None] * xhat)[real].mean(axis=0)
        predicted = lens_term + wte @ (g * along)
        out.append((int(i), float(l_ff[i]), float(push[i]), float(np.corrcoef(measured, predicted)[0, 1]),
                    float(np.corrcoef(measured, lens_term)[0, 1]), float(np.linalg.norm(measured))))
    return out


def _register_log_odds(model, tok, ia3, groups, texts, rank_by="s", K=100, n_top=20):
    """Lesson 6.7's table (a copy of its log_odds: top-20 whole-word lens tokens of the K units most
    amplified / inhibited in effect, median log-odds register vs the rest). rank_by "s" (the
    lesson's (l_ff - 1) x mean activation) or "l_ff" (the scale alone)."""
    import re
    from tinyia3.data import lm_batch
    c = model.config; L = c.n_layer - 1
    ids, attention_mask, _ = lm_batch(texts); real = attention_mask.astype(bool)
    _, base_record, _ = model.forward(ids, tinyia3.IA3.ones(model), attention_mask, cache=True)
    W2 = model.params[f"h.{L}.mlp.c_proj.weight"]; g = model.params["ln_f.weight"]; wte = model.params["wte.weight"]
    l_ff = ia3.l_ff[L]
    key = (l_ff - 1) * base_record.blocks[L].sites["l_ff"].x[real].mean(axis=0) if rank_by == "s" else l_ff
    order = np.argsort(key)
    vocab_words = np.array([bool(re.fullmatch(r" [A-Za-z]{2,}", tok.decode([t]))) for t in range(c.vocab_size)])
    counts = {name: np.bincount(np.concatenate([e.ids for e in grp.examples]), minlength=c.vocab_size)
              for name, grp in groups.items()}
    lens_all = (W2 - W2.mean(axis=1, keepdims=True)) * g @ wte.T
    total = sum(counts.values())

    def log_odds(units):
        o = np.zeros((len(units), len(counts)))
        for row, i in enumerate(units):
            top = np.argsort(np.where(vocab_words, lens_all[i], -np.inf))[::-1][:n_top]
            for col, name in enumerate(counts):
                inside, rest = counts[name][top].sum(), total[top].sum() - counts[name][top].sum()
                n_in, n_rest = counts[name].sum(), total.sum() - counts[name].sum()
                o[row, col] = np.log((inside + 0.5) / (n_in - inside + 0.5)) - np.log((rest + 0.5) / (n_rest - rest + 0.5))
        return o
    med = {lab: np.median(log_odds(u), axis=0) for lab, u in (("amplified", order[::-1][:K]), ("inhibited", order[:K]))}
    return list(counts), med


def lesson_6_slow(model, dt, ev, out, ia3):
    """06.2: 4x the steps (400) at 1/4 of the rate (2.5e-2), against lesson 6's 100 x 1e-1 adapter."""
    _, slow, sec = _train(model, "l6_slow", dt, ev, out, steps=400, batch_size=8, lr=2.5e-2, seed=0)
    print(f"06.2 400 steps at 2.5e-2: {sec:.0f} s; bound sum(lr) 100 x 1e-1 {_lr_sum(100, 1e-1):.3f}, 400 x 2.5e-2 {_lr_sum(400, 2.5e-2):.3f}")
    for lab, a in (("100 x 1e-1", ia3), ("400 x 2.5e-2", slow)):
        d = np.concatenate([(v - 1).ravel() for v in a.named().values()])
        edge = np.abs(d) > 0.9 * np.abs(d).max()
        q = np.percentile(np.abs(d), [50, 90, 99])
        print(f"06.2 {lab}: max|l-1| {np.abs(d).max():.3f}, |l-1| percentiles 50/90/99 {q[0]:.3f}/{q[1]:.3f}/{q[2]:.3f}, "
              f"share within 10 % of the largest |l-1| {100 * edge.mean():.1f} %, below 0: {_negative(a)}, "
              f"inhibited/amplified (tol 0.01) {int((d < -0.01).sum())}/{int((d > 0.01).sum())}", flush=True)
    for name in ("l_k", "l_v", "l_ff"):
        a1, a2 = (ia3.named()[name] - 1).ravel(), (slow.named()[name] - 1).ravel()
        top1, top2 = set(np.argsort(-np.abs(a1))[:100]), set(np.argsort(-np.abs(a2))[:100])
        print(f"06.2 {name}: corr(l-1 fast, l-1 slow) {np.corrcoef(a1, a2)[0, 1]:.3f}, same sign {100 * np.mean(np.sign(a1) == np.sign(a2)):.1f} %, "
              f"overlap of the 100 furthest-moved {len(top1 & top2)}/100", flush=True)


def lesson_6():
    """06.1-06.4 on lesson 6's adapter (drama, 100 steps, batch 8, lr 1e-1, seed 0) and longer runs."""
    from tinyia3.data import lm_batch, load_groups
    model, tok, D = _setup(); c = model.config
    dt = load_dataset(D / "drama_style_train.jsonl", tok, c.n_positions)
    dh = load_dataset(D / "drama_style_heldout.jsonl", tok, c.n_positions)
    ev = Dataset(dh.kind, dh.examples[:8], dh.source)  # the lesson's eval_set
    out = Path(tempfile.mkdtemp())
    h, ia3, sec = _train(model, "l6", dt, ev, out, steps=100, batch_size=8, lr=1e-1, seed=0)
    print(f"06 lesson adapter: held-out (8) {h[0]['eval']['loss']:.3f} -> {h[-1]['eval']['loss']:.3f}, {sec:.0f} s", flush=True)
    texts = dh.examples[8:16]  # the lesson's texts for 6.4-6.7
    ids, attention_mask, _ = lm_batch(texts); real = attention_mask.astype(bool)
    # 06.1
    for layer in (c.n_layer - 1, c.n_layer - 2):
        for i, l, s_, r_full, r_lens, norm in _lens_and_ablation(model, ia3, ids, attention_mask, real, layer):
            print(f"06.1 layer {layer} unit {i:>3}: l_ff {l:+.3f} s {s_:+.3f}: measured vs first order r = {r_full:.4f}, "
                  f"vs lens term alone r = {r_lens:+.3f}, |measured mean change of logits| {norm:.3f}", flush=True)
    lesson_6_slow(model, dt, ev, out, ia3)
    # 06.3: a hand-built inhibitor for one token
    W2 = model.params[f"h.{c.n_layer - 1}.mlp.c_proj.weight"]; g = model.params["ln_f.weight"]; wte = model.params["wte.weight"]
    for word in (" thou", " Lord"):
        t = tok.encode(word)[0]
        lens_t = (W2 - W2.mean(axis=1, keepdims=True)) @ (g * wte[t])  # (F,): each unit's lens value for t
        unit = int(np.argmax(lens_t))
        hand = tinyia3.IA3.ones(model); hand.l_ff[c.n_layer - 1][unit] = 0.2
        ho = dh.examples[:16]
        p = {}
        for lab, a in (("without", None), ("with", hand)):
            probs, at_t = [], []
            for e in ho:
                z = model.logits(np.array(e.ids)[None, :], a)[0].astype(np.float64)
                z -= z.max(-1, keepdims=True); lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
                probs.append(np.exp(lp[:, t])); at_t.append(lp[:-1][np.array(e.ids[1:]) == t, t])
            p[lab] = (np.concatenate(probs).mean(), np.concatenate(at_t))
        n_t = p["with"][1].size
        print(f"06.3 token {word!r} ({t}): unit {unit} of layer {c.n_layer - 1} (lens {lens_t[unit]:.2f}, next largest "
              f"{np.sort(lens_t)[-2]:.2f}); mean p over every position of 16 held-out passages: {p['without'][0]:.5f} -> "
              f"{p['with'][0]:.5f} ({100 * (p['with'][0] / p['without'][0] - 1):+.1f} %); mean log p where it is the next "
              f"token ({n_t} places): {p['without'][1].mean():.3f} -> {p['with'][1].mean():.3f}", flush=True)
    # 06.4: 6.7's table for 100 (the lesson's) and 300 steps, ranked by s and by l_ff
    groups = load_groups(D / "registers_heldout.jsonl", tok, c.n_positions)
    _, long, sec = _train(model, "l6_300", dt, ev, out, steps=300, batch_size=8, lr=1e-1, seed=0)
    print(f"06.4 300-step run {sec:.0f} s")
    for lab, a in (("100 steps", ia3), ("300 steps", long)):
        for rank_by in ("s", "l_ff"):
            names, med = _register_log_odds(model, tok, a, groups, texts, rank_by)
            diff = med["amplified"] - med["inhibited"]
            print(f"06.4 {lab}, ranked by {rank_by}: registers {names}; amplified {np.round(med['amplified'], 2).tolist()}, "
                  f"inhibited {np.round(med['inhibited'], 2).tolist()}, difference {np.round(diff, 2).tolist()}", flush=True)


def lesson_8_long(model, st, se, out, steps):
    """08.2: IA³ and full fine-tuning on Spanish for `steps` steps (seed 0), held-out every steps/8."""
    drop = {}
    for name, method, lr in (("IA3", "ia3", 1e-1), ("full", "full", 3e-4)):
        h, _, sec = _train(model, f"es{steps}_{method}", st, se, out, steps=steps, batch_size=8, lr=lr, seed=0,
                           method=method, eval_every=steps // 8)
        ev = [(r["step"], r["eval"]["loss"]) for r in h if "eval" in r]
        tr = [r["loss"] for r in h if "loss" in r]
        k = steps // 8
        trk = [float(np.mean(tr[i:i + k])) for i in range(0, len(tr), k)]
        drop[name] = ev[0][1] - ev[-1][1]
        print(f"08.2 spanish {steps} steps {name} ({sec:.0f} s): held-out {' '.join(f'{s}:{v:.3f}' for s, v in ev)}; "
              f"training loss, mean per {k} steps {' '.join(f'{v:.3f}' for v in trk)}", flush=True)
    print(f"08.2 IA3 share of full's Spanish drop after {steps} steps: {drop['IA3'] / drop['full']:.2f}", flush=True)


def lesson_8_training():
    """08.1, 08.2: lesson 8's runs (lr 1e-1 IA³, 3e-4 full, batch 8, 60 held-out passages), seed 0."""
    from tinyia3.full import FullFineTune
    from tinyia3.optim import AdamW, clip_by_global_norm, warmup_linear_lr
    from tinyia3.train import batch_indices, step_loss_and_grad
    model, tok, D = _setup(); c = model.config
    sets = {n: (load_dataset(D / f"{n}_train.jsonl", tok, c.n_positions), load_dataset(D / f"{n}_heldout.jsonl", tok, c.n_positions))
            for n in ("drama_style", "spanish_quotes")}
    st, sh = sets["spanish_quotes"]; se = Dataset(sh.kind, sh.examples[:60], sh.source)
    out = Path(tempfile.mkdtemp())

    def frozen_wte_run(steps, lr, seed=0, freeze=True):
        """train's loop (same batches, clipping, schedule) on a private copy of every weight; with
        freeze, Adam holds no moments for wte and its gradient is dropped (wte is also the LM head)."""
        full = FullFineTune.of(model)
        params = {k: v for k, v in full.named().items() if not (freeze and k == "wte.weight")}
        opt = AdamW(params, lr=lr); w = TrainConfig(steps=steps, lr=lr).warmup_steps()
        before = evaluate(model, full, se)["loss"]
        for step in range(steps):
            index = batch_indices(len(st), step, 8, seed)
            _, grads = step_loss_and_grad(model, full, st, index)
            if freeze:
                grads["wte.weight"][...] = 0.0  # the exercise's recipe: no contribution to the clipping norm either
            clip_by_global_norm(grads, 1.0)
            opt.step(grads, warmup_linear_lr(step, steps, lr, w))
        return before, evaluate(model, full, se)["loss"], full, opt
    # the loop is train's: 2 steps unfrozen give train's weights
    h2, _, _ = _train(model, "check", st, Dataset(sh.kind, sh.examples[:2], sh.source), out, steps=2, batch_size=8, lr=3e-4, seed=0, method="full")
    _, _, f2, _ = frozen_wte_run(2, 3e-4, freeze=False)
    m2 = tinyia3.load_model(str(out / "check" / "model"))
    print("08.1 own loop = train (2 steps, full): max |weight difference|",
          max(float(np.abs(m2.params[k] - f2.params[k]).max()) for k in f2.params), flush=True)
    # 08.1 memory
    full_n = model.num_parameters(); wte_n = c.vocab_size * c.n_embd
    print(f"08.1 Adam m+v: full {8 * full_n / 2**20:.1f} MiB, wte frozen {8 * (full_n - wte_n) / 2**20:.1f} MiB "
          f"(wte {wte_n:,} of {full_n:,} = {100 * wte_n / full_n:.1f} % of the weights); the gradient of wte is still formed by the backward pass "
          f"({4 * wte_n / 2**20:.1f} MiB)")
    # 08.1 Spanish drop, 40 steps, seed 0
    t0 = time.perf_counter()
    res = {}
    for name, method, lr in (("IA3", "ia3", 1e-1), ("full", "full", 3e-4)):
        h, _, sec = _train(model, f"es_{method}", st, se, out, steps=40, batch_size=8, lr=lr, seed=0, method=method)
        res[name] = h[0]["eval"]["loss"] - h[-1]["eval"]["loss"]
        print(f"08.1 spanish 40 steps {name}: {h[0]['eval']['loss']:.3f} -> {h[-1]['eval']['loss']:.3f} (drop {res[name]:.3f}) {sec:.0f} s", flush=True)
    b, a, _, _ = frozen_wte_run(40, 3e-4)
    res["full, wte frozen"] = b - a
    print(f"08.1 spanish 40 steps full with wte frozen: {b:.3f} -> {a:.3f} (drop {b - a:.3f}); share of full's drop "
          f"{(b - a) / res['full']:.2f}; IA3's share {res['IA3'] / res['full']:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    # 08.1 step time, interleaved as lesson 8.3 (drama batch 8), 5 timed repeats each after one warm-up
    dtr = sets["drama_style"][0]
    runners = {}
    for name, freeze in (("full", False), ("full, wte frozen", True)):
        full = FullFineTune.of(model)
        runners[name] = (full, AdamW({k: v for k, v in full.named().items() if not (freeze and k == "wte.weight")}, lr=3e-4), freeze)
    times = {n: [] for n in runners}
    for rep in range(6):
        index = batch_indices(len(dtr), rep, 8, 0)
        for name, (full, opt, freeze) in runners.items():
            t0 = time.perf_counter()
            _, grads = step_loss_and_grad(model, full, dtr, index)
            if freeze:
                grads["wte.weight"][...] = 0.0
            clip_by_global_norm(grads, 1.0); opt.step(grads)
            if rep:
                times[name].append(time.perf_counter() - t0)
    for n, t in times.items():
        print(f"08.1 step time {n}: median {np.median(t):.3f} s [{min(t):.3f}-{max(t):.3f}] over 5 (busy shared machine, nice 19)")
    r = np.array(times["full, wte frozen"]) / np.array(times["full"])
    print(f"08.1 frozen / full per interleaved pair: median {np.median(r):.2f} [{r.min():.2f}-{r.max():.2f}]", flush=True)
    for steps in (160, 400):  # 4x and 10x lesson 8's 40 steps
        lesson_8_long(model, st, se, out, steps)



def lesson_8():
    s = GPT2Config()
    ia, full = tinyia3.IA3.ones(s).num_parameters, s.num_parameters()
    with tempfile.TemporaryDirectory() as d:
        size = os.path.getsize(tinyia3.IA3.ones(s).save(os.path.join(d, "a.safetensors")))
    print(f"08.3 GPT-2 small: trainable IA3 {ia:,} / full {full:,}; Adam m+v float32 {8 * ia:,} B / {8 * full:,} B "
          f"({8 * full / 2**20:.1f} MiB); stored: IA3 file {size:,} B / full float32 weights {4 * full:,} B")
    enc, dec = 24 * (2048 + 2048 + 5120), 24 * (4 * 2048 + 5120)  # T0-3B = T5-XL: d_model 2048, heads x d_kv 2048, d_ff 5120
    print(f"08.3 T0-3B IA3: encoder {enc:,} + decoder {dec:,} = {enc + dec:,} (the paper: 540K)")


if __name__ == "__main__":
    if "--lessons" in sys.argv[1:]:
        wanted = sys.argv[sys.argv.index("--lessons") + 1].split(",")
        runs = {"5": lesson_5, "6": lambda: lesson_6(), "8": lambda: lesson_8_training()}
        for n in wanted:
            t0 = time.perf_counter()
            runs[n]()
            print(f"lesson {n}: {time.perf_counter() - t0:.0f} s", flush=True)
    else:
        lesson_1()
        lesson_2()
        lessons_3_and_4()
        lessons_7_9_10()
        lesson_8()
