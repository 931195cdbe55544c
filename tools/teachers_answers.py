"""The numbers in lessons/exercises/TEACHERS.md's answers to the lessons' end-of-lesson exercises.

    python tools/teachers_answers.py              # lessons 1-4, 7, 9, 10: seconds (embedded model)
    python tools/teachers_answers.py --training   # lesson 5's training runs: minutes

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
    print("02.3 max|v| block0:", np.abs(b0.attn.v).max(), " max|att v merged|:", np.abs(b0.attn_c_proj.x).max() if b0.attn_c_proj.x is not None else None,
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


def lesson_5_training():
    model = tinyia3.load_model("embedded"); tok = tinyia3.load_tokenizer("embedded"); c = model.config
    D = lesson.ROOT / "data" / "datasets"
    st = load_dataset(D / "support_desk_train.jsonl", tok, c.n_positions)
    sh = load_dataset(D / "support_desk_heldout.jsonl", tok, c.n_positions)
    se = Dataset(sh.kind, sh.examples[:32], sh.source)
    nt = load_dataset(D / "bible_names_train.jsonl", tok, c.n_positions)
    nh = load_dataset(D / "bible_names_heldout.jsonl", tok, c.n_positions)
    out = Path(tempfile.mkdtemp())

    def run(name, data, ev, **kw):
        t0 = time.perf_counter()
        h = train(model, data, ev, out / name, TrainConfig(save_every=kw["steps"], eval_every=max(1, kw["steps"] // 4), **kw), progress=False, overwrite=True)
        a = tinyia3.IA3.load(out / name / "adapter.safetensors", model)
        dev = max(float(np.abs(v - 1).max()) for v in a.named().values())
        print(f"{name}: {kw} before {h[0]['eval']} after {h[-1]['eval']} max|l-1| {dev:.4f} ({time.perf_counter()-t0:.0f} s)", flush=True)
        return a
    adapters = {"3e-3 x 30": run("s3e-3x1", st, se, steps=30, batch_size=8, lr=3e-3),  # 05.1
                "3e-2 x 120": run("s3e-2x4", st, se, steps=120, batch_size=8, lr=3e-2)}
    greedy_greeting(model, tok, adapters)
    names = run("names", nt, nh, steps=100, batch_size=8, lr=3e-2)  # 05.3
    print("05.3 support eval: bare", evaluate(model, None, se), "with names adapter", evaluate(model, names, se), flush=True)

def greedy_greeting(model, tok, adapters):
    """05.1: how many greedy replies to the held-out prompts that give a name start with ' Hi <name>,'."""
    import re
    rows = [json.loads(line) for line in open(ROOT / "data" / "datasets" / "support_desk_heldout.jsonl")][:32]
    for label, a in adapters.items():
        hits = named = 0
        for r in rows:
            who = re.search(r"this is (\w+)", r["prompt"])
            out = tinyia3.generate(model, tok, r["prompt"], max_new_tokens=4, temperature=0, adapter=a)
            named += bool(who)
            hits += bool(who) and out.startswith(f" Hi {who.group(1)},")
        print(f"05.1 {label}: greedy reply starts with ' Hi <name>,' on {hits} of the {named} held-out prompts "
              f"(of the first {len(rows)}) that give a name", flush=True)


def lesson_5_margins():
    """05.2: the mean margin β(' man') − β(' city') of held-out men and of cities, per T-Few term."""
    from tinyia3.data import mc_batch
    from tinyia3.losses import choice_scores
    model = tinyia3.load_model("embedded"); tok = tinyia3.load_tokenizer("embedded"); c = model.config
    D = lesson.ROOT / "data" / "datasets"
    nt = load_dataset(D / "bible_names_train.jsonl", tok, c.n_positions)
    nh = load_dataset(D / "bible_names_heldout.jsonl", tok, c.n_positions)
    batch = mc_batch(nh.examples)
    E = len(batch.labels)
    out = Path(tempfile.mkdtemp())
    for terms in (None, ("lm",), ("ln",), ("lm", "ul", "ln")):
        if terms is None:
            ia3 = None
        else:
            train(model, nt, nh, out / "_".join(terms), TrainConfig(steps=100, batch_size=8, lr=3e-2, terms=terms,
                  save_every=100, eval_every=100), progress=False, overwrite=True, log=lambda s: None)
            ia3 = tinyia3.IA3.load(out / "_".join(terms) / "adapter.safetensors", model)
        beta = choice_scores(model, ia3, batch).reshape(E, 2)
        margin = beta[:, 0] - beta[:, 1]
        men, cities = margin[batch.labels == 0], margin[batch.labels == 1]
        print(f"05.2 terms {terms}: mean margin men {men.mean():+.3f}, cities {cities.mean():+.3f}, "
              f"gap {men.mean() - cities.mean():.3f}, answered ' man' {100 * np.mean(margin > 0):.0f} %, "
              f"held-out accuracy {evaluate(model, ia3, nh)['accuracy']:.4f}", flush=True)


def lesson_8():
    s = GPT2Config()
    ia, full = tinyia3.IA3.ones(s).num_parameters, s.num_parameters()
    with tempfile.TemporaryDirectory() as d:
        size = os.path.getsize(tinyia3.IA3.ones(s).save(os.path.join(d, "a.safetensors")))
    print(f"08.3 GPT-2 small: trainable IA3 {ia:,} / full {full:,}; Adam m+v float32 {8 * ia:,} B / {8 * full:,} B "
          f"({8 * full / 2**20:.1f} MiB); stored: IA3 file {size:,} B / full float32 weights {4 * full:,} B")
    enc, dec = 24 * (2048 + 2048 + 5120), 24 * (4 * 2048 + 5120)  # T0-3B = T5-XL: d_model 2048, heads x d_kv 2048, d_ff 5120
    print(f"08.3 T0-3B IA3: encoder {enc:,} + decoder {dec:,} = {enc + dec:,} (the paper: 540K)")
    emb = GPT2Config(vocab_size=50257, n_positions=256, n_embd=192, n_layer=6, n_head=6)
    wte = emb.vocab_size * emb.n_embd
    print(f"08.1 embedded: wte {wte:,} of {emb.num_parameters():,} weights = {100 * wte / emb.num_parameters():.1f} % of "
          f"full fine-tuning's Adam memory ({8 * wte / 2**20:.1f} of {8 * emb.num_parameters() / 2**20:.1f} MiB)")


if __name__ == "__main__":
    if "--training" in sys.argv[1:]:
        lesson_5_training()
        lesson_5_margins()
    else:
        lesson_1()
        lesson_2()
        lessons_3_and_4()
        lessons_7_9_10()
        lesson_8()
