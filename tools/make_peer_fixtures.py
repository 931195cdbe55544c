#!/usr/bin/env python3
"""Write tinyia3's peer-reference fixtures (tests/fixtures/) with torch + transformers + peft.

DEV-ONLY. tinyia3 and its tests never import torch, transformers or peft: they only read the
files this script writes. Run it in the separate tools venv (see tools/README.md):

    . /work/tools-venv/bin/activate
    python tools/make_peer_fixtures.py

Everything is seeded, so a rerun with the same package versions rewrites byte-identical files.
What gets written (details in tests/fixtures/README.md, which this script also writes):

  tiny_hub/            config.json + model.safetensors in the *hub* layout (no key prefix,
                       h.{i}.attn.bias causal-mask buffers, no lm_head.weight), float32
  tiny_pretrained/     exactly what GPT2LMHeadModel.save_pretrained(safe_serialization=True) writes
  tiny_fp16/, tiny_bf16/  the same weights, hub layout, float16 / bfloat16
  peft_ia3_tiny/       PEFT IA3 adapter, "paper style" (q third of the c_attn vector = 1)
  peft_ia3_tiny_q/     PEFT IA3 adapter with a trained (random) q third as well
  reference.safetensors  named reference tensors (logits, padded logits, greedy tokens,
                       IA3 loss + gradients, full-parameter loss + gradients of the bare
                       model, ...) in float64 / int64
  README.md            what all of the above is
"""
from __future__ import annotations

import os as _os
import sys as _sys

# PEFT writes target_modules (a set) as a list in set-iteration order, which depends on the
# string hash seed: pin it so reruns are byte-identical. Also never touch the network.
if _os.environ.get("PYTHONHASHSEED") != "0" and __name__ == "__main__":
    _os.environ["PYTHONHASHSEED"] = "0"
    _os.execv(_sys.executable, [_sys.executable] + _sys.argv)
_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import copy
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import peft
import safetensors
import torch
import transformers
from peft import IA3Config, PeftModel, get_peft_model
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures"

SEED = 20250611
PAD = 100  # pad id = bos = eos of the tiny model

CONFIG_KW = dict(
    vocab_size=101,
    n_positions=64,
    n_embd=32,
    n_layer=2,
    n_head=4,
    n_inner=None,  # -> 4 * n_embd = 128
    activation_function="gelu_new",
    layer_norm_epsilon=1e-5,
    bos_token_id=PAD,
    eos_token_id=PAD,
)
IA3_KW = dict(
    task_type="CAUSAL_LM",
    target_modules=["c_attn", "mlp.c_proj"],
    feedforward_modules=["mlp.c_proj"],
)
ADAPTER_BASE_NAME = "tiny_hub"  # base_model_name_or_path written into adapter_config.json

F32_REL_TOL = 1e-5  # f32 vs f64 logits: max|diff| / max|ref|


def log(*a):
    print(*a, flush=True)


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.double()
    b = b.double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


# --------------------------------------------------------------------------------------------
# A. tiny random GPT-2
# --------------------------------------------------------------------------------------------

def make_config() -> GPT2Config:
    return GPT2Config(**CONFIG_KW)


def make_weights(rng: np.random.Generator, cfg: GPT2Config) -> dict[str, np.ndarray]:
    """Hub-layout (unprefixed) float32 weights, drawn in a fixed order from `rng`."""
    V, P, E, L = cfg.vocab_size, cfg.n_positions, cfg.n_embd, cfg.n_layer
    I = cfg.n_inner if cfg.n_inner is not None else 4 * E

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln(prefix):
        w[prefix + ".weight"] = (1.0 + 0.1 * rng.standard_normal(E)).astype(np.float32)
        w[prefix + ".bias"] = normal(E, 0.1)

    def conv1d(prefix, n_in, n_out):  # Conv1D layout: (in, out), y = x @ W + b
        w[prefix + ".weight"] = normal((n_in, n_out), 0.2)
        w[prefix + ".bias"] = normal(n_out, 0.1)

    w: dict[str, np.ndarray] = {}
    w["wte.weight"] = normal((V, E), 0.2)
    w["wpe.weight"] = normal((P, E), 0.2)
    for i in range(L):
        p = f"h.{i}."
        ln(p + "ln_1")
        conv1d(p + "attn.c_attn", E, 3 * E)
        conv1d(p + "attn.c_proj", E, E)
        ln(p + "ln_2")
        conv1d(p + "mlp.c_fc", E, I)
        conv1d(p + "mlp.c_proj", I, E)
    ln("ln_f")
    return w


def save_safetensors(tensors: dict, path: Path, metadata: dict) -> None:
    """safetensors.torch.save_file, then the header's __metadata__ put in sorted key order.

    The Rust side serialises the metadata from a hash map, so with more than one entry its
    order (and thus the file's bytes) changes from run to run. Only the header JSON is
    rewritten; tensor entries, data offsets and the data bytes are kept as written.
    """
    import struct
    save_file(tensors, str(path), metadata=metadata)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    new = json.dumps(header, separators=(",", ":")).encode()
    new += b" " * (-len(new) % 8)  # safetensors pads the header with spaces to 8 bytes
    assert len(new) == n, (len(new), n)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n:])
    with safe_open(str(path), "pt") as f:
        assert f.metadata() == metadata
        for k, t in tensors.items():
            assert torch.equal(f.get_tensor(k), t), k


def config_json_text(config_dict: dict) -> str:
    # transformers' own formatting (PretrainedConfig.to_json_string)
    return json.dumps(config_dict, indent=2, sort_keys=True) + "\n"


def write_hub_dir(path: Path, weights: dict[str, np.ndarray], config_dict: dict,
                  dtype: torch.dtype, n_layer: int, n_pos: int) -> None:
    """Hub layout: unprefixed keys, causal-mask buffers h.{i}.attn.bias, no lm_head.weight."""
    path.mkdir(parents=True)
    tensors = {k: torch.from_numpy(v).to(dtype).contiguous() for k, v in weights.items()}
    tril = torch.tril(torch.ones(n_pos, n_pos, dtype=torch.float32)).view(1, 1, n_pos, n_pos)
    for i in range(n_layer):
        tensors[f"h.{i}.attn.bias"] = tril.to(dtype).clone()
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    (path / "config.json").write_text(config_json_text(config_dict))


def load_model(path: Path, dtype: torch.dtype) -> GPT2LMHeadModel:
    m = GPT2LMHeadModel.from_pretrained(str(path), attn_implementation="eager", dtype=dtype)
    m.eval()
    assert m.config._attn_implementation == "eager", m.config._attn_implementation
    return m


def check_weights_equal(model: GPT2LMHeadModel, weights: dict[str, np.ndarray], what: str) -> None:
    sd = model.transformer.state_dict()
    assert set(sd) == set(weights), (what, sorted(set(sd) ^ set(weights)))
    for k, v in weights.items():
        assert torch.equal(sd[k].float(), torch.from_numpy(v)), (what, k)
    # tied LM head
    assert torch.equal(model.lm_head.weight, model.transformer.wte.weight), what


@torch.no_grad()
def logits_of(model, ids, attention_mask=None, position_ids=None) -> torch.Tensor:
    if attention_mask is None:
        attention_mask = torch.ones_like(ids)
    out = model(input_ids=ids, attention_mask=attention_mask, position_ids=position_ids,
                use_cache=False)
    return out.logits


# --------------------------------------------------------------------------------------------
# IA3 helpers
# --------------------------------------------------------------------------------------------

def wrap_ia3(base: GPT2LMHeadModel):
    base = copy.deepcopy(base)
    # a relative-free name instead of the absolute path the model was loaded from; PEFT copies
    # it into adapter_config.json and the model card (README.md) that save_pretrained writes
    base.name_or_path = ADAPTER_BASE_NAME
    base.config._name_or_path = ADAPTER_BASE_NAME
    pm = get_peft_model(base, IA3Config(**IA3_KW))
    pm.peft_config["default"].base_model_name_or_path = ADAPTER_BASE_NAME
    pm.eval()
    return pm


def ia3_params(pm, i: int):
    blk = pm.base_model.model.transformer.h[i]
    return blk.attn.c_attn.ia3_l["default"], blk.mlp.c_proj.ia3_l["default"]


def set_ia3(pm, q, k, v, ff) -> None:
    """q, k, v: (L, E); ff: (L, I) numpy float64 (f32-representable values)."""
    dtype = pm.base_model.model.transformer.wte.weight.dtype
    for i in range(q.shape[0]):
        p_attn, p_ff = ia3_params(pm, i)
        assert tuple(p_attn.shape) == (3 * q.shape[1], 1), p_attn.shape
        assert tuple(p_ff.shape) == (1, ff.shape[1]), p_ff.shape
        with torch.no_grad():
            p_attn.data = torch.from_numpy(np.concatenate([q[i], k[i], v[i]])[:, None]).to(dtype)
            p_ff.data = torch.from_numpy(ff[i][None, :]).to(dtype)
        assert p_attn.dtype == dtype and p_ff.dtype == dtype
        assert p_attn.requires_grad and p_ff.requires_grad


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """transformers' ForCausalLMLoss (num_items_in_batch=None) minus its `logits.float()`."""
    V = logits.shape[-1]
    shift_labels = torch.nn.functional.pad(labels, (0, 1), value=-100)[..., 1:].contiguous()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, V), shift_labels.view(-1),
                                             ignore_index=-100, reduction="mean")


def checked_loss_backward(model, ids, attention_mask, loss_mask, what):
    """Backpropagate causal_lm_loss with labels = where(loss_mask==1, ids, -100) in the model's
    own dtype, after checking it against transformers' labels= loss (to f32 precision, and
    bit-identical in float32) and a manual log_softmax computation (to working precision).
    Returns (loss, logits), detached."""
    labels = torch.where(loss_mask == 1, ids, torch.full_like(ids, -100))
    logits = model(input_ids=ids, attention_mask=attention_mask, use_cache=False).logits
    loss = causal_lm_loss(logits, labels)
    assert loss.dtype == logits.dtype
    loss.backward()
    loss = loss.detach()
    with torch.no_grad():
        hf_loss = model(input_ids=ids, attention_mask=attention_mask, labels=labels,
                        use_cache=False).loss
        # manual: mean over counted targets of -log p(token t | < t)
        lp = torch.log_softmax(logits[:, :-1], dim=-1)
        nll = -lp.gather(-1, ids[:, 1:, None])[..., 0]
        m = loss_mask[:, 1:].to(nll.dtype)
        manual = (nll * m).sum() / m.sum()
    tol = 1e-13 if logits.dtype == torch.float64 else 1e-6
    assert abs(float(manual) - float(loss)) <= tol * abs(float(manual)), (manual, loss)
    assert abs(float(hf_loss) - float(loss)) <= 1e-6 * abs(float(loss)), (hf_loss, loss)
    if logits.dtype == torch.float32:  # same ops, same dtype: bit-identical
        assert torch.equal(hf_loss, loss), (hf_loss, loss)
    log(f"  {what} ({logits.dtype}): ours {float(loss):.15f}  transformers' ({hf_loss.dtype}) "
        f"{float(hf_loss):.15f}  manual {float(manual):.15f}")
    return loss, logits.detach()


def ia3_loss_and_grads(pm, ids, attention_mask, loss_mask):
    """Loss = transformers' CE with labels = where(loss_mask==1, ids, -100); grads of ia3_l.

    transformers' ForCausalLMLoss does `logits.float()` first, i.e. it computes the loss of a
    float64 model in float32. So the loss that is backpropagated here is the same formula
    (shift, cross_entropy with ignore_index=-100, mean) evaluated in the model's own dtype,
    and it is checked against transformers' value (to f32 precision) and against a manual
    log_softmax computation (to working precision).
    """
    pm.zero_grad(set_to_none=True)
    loss, logits = checked_loss_backward(pm, ids, attention_mask, loss_mask, "loss")

    L = len(pm.base_model.model.transformer.h)
    E = pm.base_model.model.config.n_embd
    dq, dk, dv, dff = [], [], [], []
    for i in range(L):
        p_attn, p_ff = ia3_params(pm, i)
        g = p_attn.grad[:, 0]
        dq.append(g[0:E]); dk.append(g[E:2 * E]); dv.append(g[2 * E:3 * E])
        dff.append(p_ff.grad[0])
    st = lambda xs: torch.stack(xs).detach().double()
    return loss.detach(), logits.detach(), st(dq), st(dk), st(dv), st(dff)


def hub_param_names(model: GPT2LMHeadModel) -> list[tuple[str, torch.nn.Parameter]]:
    """(hub name, parameter) for every parameter of the bare model, the tied LM head once.

    named_parameters() deduplicates shared tensors, so the tied lm_head.weight (the same
    Parameter as transformer.wte.weight) appears once, as transformer.wte.weight, and its
    .grad is the total: embedding share + LM-head share.
    """
    assert model.lm_head.weight is model.transformer.wte.weight, "LM head is not tied"
    out = []
    for name, p in model.named_parameters():
        assert name.startswith("transformer."), name  # no separate lm_head.weight
        out.append((name[len("transformer."):], p))
    return out


def full_loss_and_grads(model: GPT2LMHeadModel, ids, attention_mask, loss_mask):
    """The IA3 loss definition on the bare model; gradients of every parameter (hub names).

    Same formula as ia3_loss_and_grads (causal_lm_loss in the model's own dtype, labels =
    where(loss_mask==1, ids, -100)), with the same checks against transformers' labels= loss
    and a manual log_softmax computation.
    """
    assert not model.training
    params = hub_param_names(model)
    for _, p in params:
        assert p.requires_grad
    model.zero_grad(set_to_none=True)
    loss, _ = checked_loss_backward(model, ids, attention_mask, loss_mask, "full loss")
    grads = {}
    for name, p in params:
        assert p.grad is not None and p.grad.shape == p.shape, name
        grads[name] = p.grad.detach().double().clone()
    model.zero_grad(set_to_none=True)
    return loss, grads


def save_adapter(pm, path: Path) -> None:
    path.mkdir(parents=True)
    # save_embedding_layers=False: otherwise PEFT looks base_model_name_or_path up on the hub
    pm.save_pretrained(str(path), save_embedding_layers=False)
    cfg = json.loads((path / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == ADAPTER_BASE_NAME, cfg
    assert cfg["peft_type"] == "IA3", cfg
    for f in path.iterdir():
        assert str(REPO) not in f.read_text(errors="replace"), f"absolute path leaked into {f}"


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

def main() -> int:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # no thread-count-dependent reduction order
    rng = np.random.default_rng(SEED)

    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }
    log("versions:", versions)

    OUT.mkdir(parents=True, exist_ok=True)
    generated = ["tiny_hub", "tiny_pretrained", "tiny_fp16", "tiny_bf16",
                 "peft_ia3_tiny", "peft_ia3_tiny_q"]
    for name in generated:
        shutil.rmtree(OUT / name, ignore_errors=True)

    # ---------------- A. the tiny model and its checkpoints -------------------------------
    cfg = make_config()
    L, E, V, P = cfg.n_layer, cfg.n_embd, cfg.vocab_size, cfg.n_positions
    I = cfg.n_inner if cfg.n_inner is not None else 4 * E
    weights = make_weights(rng, cfg)

    model0 = GPT2LMHeadModel(cfg)
    missing = model0.transformer.load_state_dict(
        {k: torch.from_numpy(v) for k, v in weights.items()}, strict=True)
    check_weights_equal(model0, weights, "model0")
    model0.eval()

    # tiny_pretrained: exactly what save_pretrained writes
    model0.save_pretrained(str(OUT / "tiny_pretrained"), safe_serialization=True)
    with safe_open(str(OUT / "tiny_pretrained" / "model.safetensors"), "pt") as f:
        pre_keys = sorted(f.keys())
        pre_meta = f.metadata()
    log("tiny_pretrained files:", sorted(p.name for p in (OUT / "tiny_pretrained").iterdir()))
    log("tiny_pretrained metadata:", pre_meta)
    log("tiny_pretrained keys:", pre_keys)
    assert pre_keys == sorted("transformer." + k for k in weights), pre_keys
    assert "lm_head.weight" not in pre_keys

    config_dict = json.loads((OUT / "tiny_pretrained" / "config.json").read_text())
    log("config.json:", json.dumps(config_dict, sort_keys=True))

    # hub layout in f32 / f16 / bf16
    write_hub_dir(OUT / "tiny_hub", weights, config_dict, torch.float32, L, P)
    for sub, dt, name in (("tiny_fp16", torch.float16, "float16"),
                          ("tiny_bf16", torch.bfloat16, "bfloat16")):
        cd = dict(config_dict)
        cd["dtype"] = name        # what transformers >= 5 writes
        cd["torch_dtype"] = name  # what transformers 4.x wrote (most hub files)
        write_hub_dir(OUT / sub, weights, cd, dt, L, P)
    with safe_open(str(OUT / "tiny_hub" / "model.safetensors"), "pt") as f:
        hub_keys = sorted(f.keys())
        assert f.metadata() == {"format": "pt"}
        for i in range(L):
            b = f.get_tensor(f"h.{i}.attn.bias")
            assert b.dtype == torch.float32 and tuple(b.shape) == (1, 1, P, P)
    log("tiny_hub keys:", hub_keys)

    # f32 / f64 models, loaded back from the hub layout (checks that transformers reads it)
    m32 = load_model(OUT / "tiny_hub", torch.float32)
    check_weights_equal(m32, weights, "tiny_hub")
    m_pre = load_model(OUT / "tiny_pretrained", torch.float32)
    check_weights_equal(m_pre, weights, "tiny_pretrained")
    del m_pre
    m64 = copy.deepcopy(m32).double().eval()
    m16 = load_model(OUT / "tiny_fp16", torch.float16)
    for k, v in weights.items():
        assert torch.equal(m16.transformer.state_dict()[k], torch.from_numpy(v).half()), k
    del m16
    mbf = load_model(OUT / "tiny_bf16", torch.bfloat16)
    for k, v in weights.items():
        assert torch.equal(mbf.transformer.state_dict()[k], torch.from_numpy(v).bfloat16()), k
    del mbf

    ref: dict[str, torch.Tensor] = {}

    # ---------------- B1. logits on random ids --------------------------------------------
    ids = torch.from_numpy(rng.integers(0, PAD, size=(3, 12))).long()
    ref["ids"] = ids
    logits64 = logits_of(m64, ids)
    logits32 = logits_of(m32, ids)
    err = rel_err(logits32, logits64)
    log(f"logits f32 vs f64 rel err: {err:.3e}")
    assert err < F32_REL_TOL, err
    # default positions == explicit arange
    assert torch.equal(logits_of(m64, ids, position_ids=torch.arange(12)[None].expand(3, -1)),
                       logits64)
    ref["logits_f64"] = logits64.double()
    ref["logits_f32"] = logits32.double()

    # ---------------- B2. left-padded batch ----------------------------------------------
    n_pads = [0, 3, 7]
    T = 12
    padded_ids = torch.full((3, T), PAD, dtype=torch.long)
    pmask = torch.zeros((3, T), dtype=torch.long)
    for r, p in enumerate(n_pads):
        padded_ids[r, p:] = ids[r, :T - p]  # real tokens = a prefix of ids[r]
        pmask[r, p:] = 1
    pos = (pmask.cumsum(-1) - 1).clamp(min=0)
    # what generate() itself would compute
    gen_pos = (pmask.cumsum(-1) - 1).masked_fill(pmask == 0, 0)
    assert torch.equal(pos, gen_pos)
    plog64 = logits_of(m64, padded_ids, pmask, pos)
    plog32 = logits_of(m32, padded_ids, pmask, pos)
    assert torch.isfinite(plog64).all() and torch.isfinite(plog32).all()
    real = pmask.bool()
    err = rel_err(plog32[real], plog64[real])
    log(f"padded logits f32 vs f64 rel err (real positions): {err:.3e}")
    assert err < F32_REL_TOL, err
    for r, p in enumerate(n_pads):  # left padding must not change the real positions' logits
        e = rel_err(plog64[r, p:], logits64[r, :T - p])
        assert e < 1e-12, (r, e)
    # without explicit position_ids the padded rows are different (positions shifted)
    noshift = logits_of(m64, padded_ids, pmask)
    log("padded rows without position_ids differ from the shifted ones by rel",
        f"{rel_err(noshift[2, 7:], plog64[2, 7:]):.3e} (row 2)")
    ref["padded_ids"] = padded_ids
    ref["padded_attention_mask"] = pmask
    ref["padded_logits_f64"] = plog64.double()
    ref["padded_logits_f32"] = plog32.double()

    # ---------------- B3. bf16 wte as upcast by torch ------------------------------------
    with safe_open(str(OUT / "tiny_bf16" / "model.safetensors"), "pt") as f:
        wte_bf16 = f.get_tensor("wte.weight")
    assert wte_bf16.dtype == torch.bfloat16
    ref["bf16_wte_as_f32"] = wte_bf16.float().double()

    # ---------------- B4. greedy decoding ------------------------------------------------
    # draw prompts until the 20 greedy tokens contain no eos (=100), so the output is 25 long
    for attempt in range(100):
        prompt = torch.from_numpy(rng.integers(0, PAD, size=(1, 5))).long()
        with torch.no_grad():
            g64 = m64.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                               max_new_tokens=20, pad_token_id=PAD)
        if g64.shape == (1, 25) and not (g64[0, 5:] == PAD).any():
            break
        log(f"greedy prompt {attempt} hit eos; drawing another")
    else:
        raise RuntimeError("no eos-free greedy continuation found")
    with torch.no_grad():
        g32 = m32.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                           max_new_tokens=20, pad_token_id=PAD)
    if not torch.equal(g32, g64):
        log("WARNING: f32 greedy tokens differ from f64:", g32.tolist(), g64.tolist())
    # greedy == argmax of a full forward, token by token
    seq = prompt
    for _ in range(20):
        nxt = logits_of(m64, seq)[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    assert torch.equal(seq, g64), (seq, g64)
    log("greedy tokens:", g64.tolist())
    ref["greedy_prompt"] = prompt
    ref["greedy_tokens"] = g64

    # ---------------- B5. IA3 with PEFT ---------------------------------------------------
    def vec(shape):  # 1 + 0.3 randn, rounded to f32 so f32 and f64 models see the same values
        return (1.0 + 0.3 * rng.standard_normal(shape)).astype(np.float32).astype(np.float64)

    l_q = np.ones((L, E))
    l_k = vec((L, E))
    l_v = vec((L, E))
    l_ff = vec((L, I))

    T2 = 16
    ia3_ids = torch.from_numpy(rng.integers(0, PAD, size=(4, T2))).long()
    lengths = [16, 16, 11, 6]
    ia3_mask = torch.zeros((4, T2), dtype=torch.long)
    for r, n in enumerate(lengths):
        ia3_mask[r, :n] = 1
        ia3_ids[r, n:] = PAD
    loss_mask = ia3_mask.clone()
    loss_mask[:, 0] = 0
    loss_mask[0, 2:6] = 0  # partial mask on a real row
    assert int(loss_mask.sum()) > 0

    results = {}
    for tag, base in (("f64", m64), ("f32", m32)):
        pm = wrap_ia3(base)
        # sanity: all-ones vectors == bare model
        e = rel_err(logits_of(pm, ia3_ids, ia3_mask), logits_of(base, ia3_ids, ia3_mask))
        assert e < (1e-14 if tag == "f64" else 1e-6), (tag, e)
        n_train = sum(p.numel() for p in pm.parameters() if p.requires_grad)
        assert n_train == L * (3 * E + I), n_train
        set_ia3(pm, l_q, l_k, l_v, l_ff)
        results[tag] = ia3_loss_and_grads(pm, ia3_ids, ia3_mask, loss_mask)
        if tag == "f64":
            # directional finite-difference check of the stored gradient
            params = [p for p in pm.parameters() if p.requires_grad]
            u = [torch.from_numpy(rng.standard_normal(tuple(p.shape))) for p in params]
            nrm = math.sqrt(sum(float((x * x).sum()) for x in u))
            u = [x / nrm for x in u]
            dd = sum(float((p.grad * x).sum()) for p, x in zip(params, u))
            labels = torch.where(loss_mask == 1, ia3_ids, torch.full_like(ia3_ids, -100))
            h = 1e-5
            fs = []
            with torch.no_grad():
                for s in (+1, -1):
                    for p, x in zip(params, u):
                        p.add_(s * h * x)
                    lg = pm(input_ids=ia3_ids, attention_mask=ia3_mask, use_cache=False).logits
                    fs.append(float(causal_lm_loss(lg, labels)))
                    for p, x in zip(params, u):
                        p.sub_(s * h * x)
            fd = (fs[0] - fs[1]) / (2 * h)
            fd_err = abs(fd - dd) / max(abs(fd) + abs(dd), 1e-300)
            log(f"IA3 grad directional FD check: autograd {dd:.10e} fd {fd:.10e} rel {fd_err:.2e}")
            assert fd_err < 1e-6, fd_err
            pm_paper_f64 = pm
        else:
            pm_paper_f32 = pm

    loss64, ia3_logits64, dq64, dk64, dv64, dff64 = results["f64"]
    loss32, _, dq32, dk32, dv32, dff32 = results["f32"]
    log(f"IA3 loss f64 {float(loss64):.12f}  f32 {float(loss32):.8f}")
    for a, b, n in ((dk32, dk64, "dk"), (dv32, dv64, "dv"), (dff32, dff64, "dff"), (dq32, dq64, "dq")):
        e = rel_err(a, b)
        log(f"IA3 {n} f32 vs f64 rel err {e:.3e}")
        assert e < 1e-4, (n, e)
    ref["ia3_ids"] = ia3_ids
    ref["ia3_attention_mask"] = ia3_mask
    ref["ia3_loss_mask"] = loss_mask
    ref["ia3_loss_f64"] = loss64.double().reshape(())
    ref["ia3_loss_f32"] = loss32.double().reshape(())
    ref["ia3_l_k"] = torch.from_numpy(l_k)
    ref["ia3_l_v"] = torch.from_numpy(l_v)
    ref["ia3_l_ff"] = torch.from_numpy(l_ff)
    ref["ia3_dl_k_f64"], ref["ia3_dl_v_f64"] = dk64, dv64
    ref["ia3_dl_ff_f64"], ref["ia3_dl_q_f64"] = dff64, dq64
    ref["ia3_dl_k_f32"], ref["ia3_dl_v_f32"] = dk32, dv32
    ref["ia3_dl_ff_f32"], ref["ia3_dl_q_f32"] = dff32, dq32
    ref["ia3_logits_f64"] = ia3_logits64.double()
    # the paper adapter on `ids` (extra, for adapter-import tests of peft_ia3_tiny/)
    ref["peft_logits_f64"] = logits_of(pm_paper_f64, ids).double()

    # save the paper-style adapter (from the f32 model: float32 vectors, as PEFT users have)
    save_adapter(pm_paper_f32, OUT / "peft_ia3_tiny")

    # ---------------- B6. adapter with a trained q third --------------------------------
    q2, k2, v2, ff2 = vec((L, E)), vec((L, E)), vec((L, E)), vec((L, I))
    pm_q32 = wrap_ia3(m32)
    set_ia3(pm_q32, q2, k2, v2, ff2)
    save_adapter(pm_q32, OUT / "peft_ia3_tiny_q")
    pm_q64 = wrap_ia3(m64)
    set_ia3(pm_q64, q2, k2, v2, ff2)
    ref["peft_q_logits_f64"] = logits_of(pm_q64, ids).double()

    # reload both saved adapters with PEFT onto the f64 model and compare
    for sub, key, qv in (("peft_ia3_tiny", "peft_logits_f64", l_q), ("peft_ia3_tiny_q", "peft_q_logits_f64", q2)):
        re = PeftModel.from_pretrained(copy.deepcopy(m64), str(OUT / sub)).eval()
        e = rel_err(logits_of(re, ids), ref[key])
        log(f"reloaded {sub}: logits rel err vs reference {e:.3e}")
        assert e < 1e-6, (sub, e)
        with safe_open(str(OUT / sub / "adapter_model.safetensors"), "pt") as f:
            for i in range(L):
                a = f.get_tensor(f"base_model.model.transformer.h.{i}.attn.c_attn.ia3_l")
                assert np.array_equal(a[:E, 0].double().numpy(), qv[i])

    # ---------------- B7. full-parameter gradients of the bare model ----------------------
    # Same inputs and loss as B5, no adapter. Drawn from its own generator (directional check
    # only), so nothing written above depends on whether this section runs.
    full = {}
    for tag, base in (("f64", m64), ("f32", m32)):
        full[tag] = full_loss_and_grads(base, ia3_ids, ia3_mask, loss_mask)
    full_loss64, full_g64 = full["f64"]
    full_loss32, full_g32 = full["f32"]
    names = sorted(full_g64)
    assert names == sorted(weights), sorted(set(names) ^ set(weights))
    assert sorted(full_g32) == names
    # the tied wte gradient is the sum of the embedding and the LM-head shares: recompute the
    # head's share alone (grad w.r.t. the logits projection) and check both parts are present
    with torch.no_grad():
        h_final = m64.transformer(input_ids=ia3_ids, attention_mask=ia3_mask,
                                  use_cache=False).last_hidden_state
    h_final = h_final.detach().requires_grad_(False)
    w_head = m64.transformer.wte.weight.detach().clone().requires_grad_(True)
    lbl = torch.where(loss_mask == 1, ia3_ids, torch.full_like(ia3_ids, -100))
    causal_lm_loss(h_final @ w_head.T, lbl).backward()
    head_share = w_head.grad.detach()
    emb_share = full_g64["wte.weight"] - head_share
    assert float(emb_share.abs().max()) > 0 and float(head_share.abs().max()) > 0
    # the embedding share is zero on rows of tokens that never occur in ia3_ids
    unused = torch.ones(V, dtype=torch.bool)
    unused[ia3_ids.unique()] = False
    assert unused.any()
    assert float(emb_share[unused].abs().max()) <= 1e-15 * float(head_share.abs().max()), \
        "wte gradient is not (embedding share + head share)"
    log(f"full grad: wte = embedding share (max {float(emb_share.abs().max()):.3e}) + "
        f"LM-head share (max {float(head_share.abs().max()):.3e})")
    # directional central-difference check of the f64 gradient (every parameter at once)
    frng = np.random.default_rng(SEED + 7)
    params64 = dict(hub_param_names(m64))
    u = {n: torch.from_numpy(frng.standard_normal(tuple(params64[n].shape))) for n in names}
    nrm = math.sqrt(sum(float((x * x).sum()) for x in u.values()))
    u = {n: x / nrm for n, x in u.items()}
    dd = sum(float((full_g64[n] * u[n]).sum()) for n in names)
    saved = {n: params64[n].detach().clone() for n in names}
    h = 1e-5
    fs = []
    with torch.no_grad():
        for s in (+1, -1):
            for n in names:
                params64[n].copy_(saved[n] + s * h * u[n])
            lg = m64(input_ids=ia3_ids, attention_mask=ia3_mask, use_cache=False).logits
            fs.append(float(causal_lm_loss(lg, lbl)))
        for n in names:
            params64[n].copy_(saved[n])
    for n in names:  # restored exactly
        assert torch.equal(params64[n], saved[n]), n
    fd = (fs[0] - fs[1]) / (2 * h)
    fd_err = abs(fd - dd) / max(abs(fd) + abs(dd), 1e-300)
    log(f"full grad directional FD check: autograd {dd:.10e} fd {fd:.10e} rel {fd_err:.2e}")
    assert fd_err < 1e-6, fd_err
    worst = max(names, key=lambda n: rel_err(full_g32[n], full_g64[n]))
    e = rel_err(full_g32[worst], full_g64[worst])
    log(f"full loss f64 {float(full_loss64):.12f}  f32 {float(full_loss32):.8f}; "
        f"grads f32 vs f64 worst rel err {e:.3e} ({worst})")
    assert e < 1e-4, (worst, e)
    ref["full_loss_f64"] = full_loss64.double().reshape(())
    ref["full_loss_f32"] = full_loss32.double().reshape(())
    for n in names:
        ref[f"full_grad.{n}_f64"] = full_g64[n]
        ref[f"full_grad.{n}_f32"] = full_g32[n]

    # ---------------- write reference.safetensors ----------------------------------------
    for k, t in ref.items():
        assert t.dtype in (torch.float64, torch.int64), (k, t.dtype)
        assert torch.isfinite(t.double()).all(), k
    meta = {
        "format_version": "1",
        "generator": "tools/make_peer_fixtures.py",
        "regenerate": "python tools/make_peer_fixtures.py",
        "torch": versions["torch"],
        "transformers": versions["transformers"],
        "peft": versions["peft"],
    }
    ref = {k: v.contiguous() for k, v in sorted(ref.items())}
    save_safetensors(ref, OUT / "reference.safetensors", meta)

    # ---------------- README + summary ---------------------------------------------------
    write_readme(cfg, config_dict, ref, meta, pre_keys, hub_keys)
    log("\nreference.safetensors:")
    for k, v in ref.items():
        log(f"  {k:24s} {str(tuple(v.shape)):16s} {str(v.dtype).replace('torch.', '')}")
    for sub in ("peft_ia3_tiny", "peft_ia3_tiny_q"):
        log(f"\n{sub}/:", sorted(p.name for p in (OUT / sub).iterdir()))
        with safe_open(str(OUT / sub / "adapter_model.safetensors"), "pt") as f:
            log("  metadata:", f.metadata())
            for k in sorted(f.keys()):
                t = f.get_tensor(k)
                log(f"  {k} {tuple(t.shape)} {t.dtype}")
        log("  adapter_config.json:", (OUT / sub / "adapter_config.json").read_text())
    total = 0
    log("\nfiles:")
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            total += p.stat().st_size
            log(f"  {p.relative_to(OUT)}  {p.stat().st_size}")
    log(f"total {total} bytes")
    assert total < 2 * 1024 * 1024, total
    return 0


def write_readme(cfg, config_dict, ref, meta, pre_keys, hub_keys) -> None:
    E = cfg.n_embd
    I = cfg.n_inner if cfg.n_inner is not None else 4 * E
    def row(k, v):
        return f"| {k} | {tuple(v.shape)} | {str(v.dtype).replace('torch.', '')} |"

    lines = []
    for k, v in ref.items():
        if k.startswith("full_grad."):  # one row per weight for both dtypes
            if k.endswith("_f64"):
                assert ref[k[:-4] + "_f32"].shape == v.shape, k
                lines.append(row(f"`{k[:-4]}_f64`, `_f32`", v))
            continue
        lines.append(row(f"`{k}`", v))
    rows = "\n".join(lines)
    cfg_lines = ", ".join(f"{k}={v!r}" for k, v in CONFIG_KW.items())
    text = f"""# tests/fixtures — peer-reference fixtures (format_version {meta['format_version']})

GENERATED by `tools/make_peer_fixtures.py`; do not edit by hand.
Regenerate with `python tools/make_peer_fixtures.py` (needs the tools venv: see
tools/README.md). The tests read these files with NumPy + safetensors only; torch,
transformers and peft are never needed by tinyia3 or its tests.

Made with torch {meta['torch']}, transformers {meta['transformers']}, peft {meta['peft']}
(also in the metadata of `reference.safetensors`).

## The tiny model

`GPT2Config({cfg_lines})` → n_inner = {I}, d_head = {E // cfg.n_head}, tied LM head (= wte).
Random weights (seeded): Conv1D weights and embeddings N(0, 0.2²), biases N(0, 0.1²),
LayerNorm weight 1 + 0.1·N(0,1), bias 0.1·N(0,1). Stored float32; the float64 references are
computed with the same float32 values upcast (`model.double()`), eager attention.

| folder | what |
|---|---|
| `tiny_hub/` | hub layout: `config.json` (as transformers {meta['transformers']} writes it) + `model.safetensors` (metadata `{{"format": "pt"}}`), keys **without** prefix, **with** causal-mask buffers `h.{{i}}.attn.bias` (1, 1, {cfg.n_positions}, {cfg.n_positions}) float32 lower-triangular ones (ignore them), **no** `lm_head.weight`. |
| `tiny_pretrained/` | exactly what `GPT2LMHeadModel.save_pretrained(..., safe_serialization=True)` writes: `config.json`, `generation_config.json`, `model.safetensors` with keys prefixed `transformer.`, no mask buffers, no `lm_head.weight`. |
| `tiny_fp16/` | hub layout, every tensor float16 (mask buffers too); config.json has `"dtype": "float16"` (transformers ≥ 5 spelling) **and** `"torch_dtype": "float16"` (4.x spelling, what most hub files have). |
| `tiny_bf16/` | same in bfloat16. `safetensors.numpy` cannot load it (NumPy has no bfloat16): read the raw bits (bf16 = upper 16 bits of an f32). `bf16_wte_as_f32` in reference.safetensors is torch's upcast of its `wte.weight`. |
| `peft_ia3_tiny/` | PEFT IA3 adapter: `adapter_model.safetensors` + `adapter_config.json` + the boilerplate model card `README.md` that `save_pretrained` writes. "Paper style": q third of each c_attn vector = 1.0 exactly, k/v thirds = `ia3_l_k`/`ia3_l_v`, mlp.c_proj vector = `ia3_l_ff`. float32. |
| `peft_ia3_tiny_q/` | PEFT IA3 adapter whose q third is also trained (random 1 + 0.3·N(0,1)); k, v, ff are other random values than above. Its logits on `ids`: `peft_q_logits_f64`. |
| `reference.safetensors` | the named reference tensors below. |

Key list, hub layout (`tiny_hub`, `tiny_fp16`, `tiny_bf16`):
{", ".join(f"`{k}`" for k in hub_keys)}

Key list, save_pretrained layout (`tiny_pretrained`):
{", ".join(f"`{k}`" for k in pre_keys)}

PEFT adapter keys: `base_model.model.transformer.h.{{i}}.attn.c_attn.ia3_l` ({3 * E}, 1) and
`base_model.model.transformer.h.{{i}}.mlp.c_proj.ia3_l` (1, {I}), i = 0..{cfg.n_layer - 1}, float32;
`adapter_config.json` has `base_model_name_or_path: "{ADAPTER_BASE_NAME}"`.

## reference.safetensors

Metadata: {json.dumps(meta)}.
Floats are float64; a `_f32` tensor holds float32 results widened to float64.
Vectors/weights are float32-representable, so the f32 and f64 runs use identical parameters.

| name | shape | dtype |
|---|---|---|
{rows}

## Conventions

- **ids / logits**: `ids` are random in [0, 100); `logits_*` = full forward, attention_mask all
  ones, positions 0..T-1.
- **Left padding** (`padded_*`): pad id 100; rows have 0, 3, 7 pads on the left; the real tokens
  of row r are `ids[r, :12 - pads]`, so `padded_logits_f64[r, pads:] == logits_f64[r, :12 - pads]`
  (checked to 1e-12). Positions are what `generate()` uses: `position_ids =
  (attention_mask.cumsum(-1) - 1).clamp(min=0)` (pads get position 0), passed explicitly.
  Values at pad positions are meaningless: compare only where `padded_attention_mask == 1`.
- **Greedy**: `greedy_tokens` = `generate(greedy_prompt, do_sample=False, max_new_tokens=20,
  pad_token_id=100)` on the f64 model (prompt + 20 new tokens; the prompt was drawn so that no
  eos = 100 appears). Equals argmax of a full forward, token by token; the f32 model gives the same tokens.
- **IA3 (PEFT)**: targets `c_attn` and `mlp.c_proj`, feed-forward `mlp.c_proj`. PEFT's c_attn
  vector (3·{E}, 1) scales the fused q|k|v output (bias included): slice `[0:{E}]` = q,
  `[{E}:{2 * E}]` = k, `[{2 * E}:{3 * E}]` = v. For `ia3_*` the q slice is exactly 1.0 (paper IA3 has no l_q);
  `ia3_l_k`, `ia3_l_v` (n_layer, {E}) are the k and v slices, `ia3_l_ff` (n_layer, {I}) the mlp.c_proj
  vector (scales the c_proj *input*, i.e. after GELU). `ia3_dl_q_*` is the gradient of the q slice
  (at q = 1), kept for later use.
- **ia3 batch**: `ia3_ids` (4, 16) with RIGHT padding (row lengths 16, 16, 11, 6; pad id 100),
  `ia3_attention_mask` 1 on real tokens, positions the default 0..15.
- **loss_mask**: `ia3_loss_mask[:, t] = 1` means the prediction of token t (from positions < t)
  counts. Column 0 is always 0, pads are 0, and row 0 also has t = 2..5 zeroed. Loss = mean over
  counted targets of next-token cross-entropy = transformers' loss with
  `labels = where(loss_mask == 1, ids, -100)` (checked against a manual log_softmax computation).
  `ia3_loss_*` are 0-d. Note: transformers' own loss casts the logits to float32 first
  (`logits.float()`), even for a float64 model, so `ia3_loss_f64` and the `_f64` gradients come
  from the same formula evaluated in float64 (it agrees with transformers' value to ~2e-8
  relative); `ia3_loss_f32` is bit-identical to transformers' loss of the f32 model.
- **ia3_logits_f64**: logits with the paper adapter applied, on `ia3_ids`/`ia3_attention_mask`.
- **peft_logits_f64** / **peft_q_logits_f64**: logits on `ids` with the adapter in
  `peft_ia3_tiny/` / `peft_ia3_tiny_q/` applied (f64 model).
- **`full_*`** (full fine-tuning): the bare `GPT2LMHeadModel` (no adapter, eval mode, eager
  attention) on the same batch as `ia3_*` (`ia3_ids`, `ia3_attention_mask`, `ia3_loss_mask`) with
  the same loss (mean over counted targets, evaluated in the model's own dtype, not transformers'
  float32 loss). `full_loss_f64` / `full_loss_f32` are 0-d; `full_grad.<name>_f64` /
  `full_grad.<name>_f32` is d loss / d `<name>` for every parameter, `<name>` in hub naming
  (no `transformer.` prefix; the same shapes and Conv1D (in, out) layout as `tiny_hub/`), one
  tensor per name of the hub key list minus the `h.{{i}}.attn.bias` buffers. The LM head is tied:
  there is no `lm_head.weight` entry; `full_grad.wte.weight_*` is the total (embedding share +
  LM-head share), as torch accumulates it on the shared parameter. Rows 16.. of
  `full_grad.wpe.weight_*` are 0 (positions the batch does not reach). The f64 gradient passes a
  directional central-difference check over all parameters at once; the f32 one agrees with
  it to < 1e-4 relative per tensor.
"""
    (OUT / "README.md").write_text(text)


# --------------------------------------------------------------------------------------------
# LoRA with PEFT (written by `--only lora` too, without rewriting the other fixtures)
# --------------------------------------------------------------------------------------------

LORA_TARGETS = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
LORA_R, LORA_ALPHA = 4, 8


def lora_pairs(pm):
    """{(layer, target): (lora_A, lora_B)} parameters of a PEFT LoRA model on GPT-2."""
    out = {}
    for i, blk in enumerate(pm.base_model.model.transformer.h):
        for t in LORA_TARGETS:
            mod = blk.get_submodule(t)
            out[(i, t)] = (mod.lora_A["default"].weight, mod.lora_B["default"].weight)
    return out


def make_lora_fixtures() -> None:
    """PEFT LoRA (r=4, alpha=8, all four linears) at random A and B (both non-zero, f32-exact):
    logits, loss and dA, dB in float64 and float32 on the IA³ batch of reference.safetensors;
    and the folder PEFT's save_pretrained writes, for the import test."""
    from peft import LoraConfig

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED + 1)
    with safe_open(str(OUT / "reference.safetensors"), "pt") as f:
        ids, mask, loss_mask = (f.get_tensor(k) for k in ("ia3_ids", "ia3_attention_mask", "ia3_loss_mask"))
    ref, values = {}, None
    for tag, dtype in (("f64", torch.float64), ("f32", torch.float32)):
        base = load_model(OUT / "tiny_hub", torch.float32).to(dtype).eval()
        base.name_or_path = base.config._name_or_path = ADAPTER_BASE_NAME
        config = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=LORA_TARGETS, lora_dropout=0.0,
                            fan_in_fan_out=True, bias="none", task_type="CAUSAL_LM")
        pm = get_peft_model(base, config)
        pm.peft_config["default"].base_model_name_or_path = ADAPTER_BASE_NAME
        pm.eval()
        pairs = lora_pairs(pm)
        if values is None:  # the same f32-representable values for both dtypes
            values = {key: tuple((0.3 * rng.standard_normal(tuple(p.shape))).astype(np.float32).astype(np.float64)
                                 for p in pair) for key, pair in pairs.items()}
        with torch.no_grad():
            for key, (a, b) in pairs.items():
                a.data, b.data = (torch.from_numpy(v).to(dtype) for v in values[key])
        pm.zero_grad(set_to_none=True)
        loss, logits = checked_loss_backward(pm, ids, mask, loss_mask, f"LoRA loss {tag}")
        ref[f"lora_loss_{tag}"] = loss.double().reshape(1)
        ref[f"lora_logits_{tag}"] = logits.double()
        for (i, t), (a, b) in pairs.items():
            # tinyia3's layout: A (in, r) = lora_A.weightᵀ, B (r, out) = lora_B.weightᵀ
            ref[f"lora_dA_{tag}.h.{i}.{t}"] = a.grad.detach().double().T.contiguous()
            ref[f"lora_dB_{tag}.h.{i}.{t}"] = b.grad.detach().double().T.contiguous()
        if tag == "f32":
            shutil.rmtree(OUT / "peft_lora_tiny", ignore_errors=True)
            (OUT / "peft_lora_tiny").mkdir()
            pm.save_pretrained(str(OUT / "peft_lora_tiny"), save_embedding_layers=False)
            (OUT / "peft_lora_tiny" / "README.md").unlink(missing_ok=True)  # PEFT's model card template
    for (i, t), (a, b) in values.items():
        ref[f"lora_A.h.{i}.{t}"] = torch.from_numpy(a.T.copy())
        ref[f"lora_B.h.{i}.{t}"] = torch.from_numpy(b.T.copy())
    save_file({k: v.contiguous() for k, v in sorted(ref.items())}, str(OUT / "lora_reference.safetensors"),
              metadata={"r": str(LORA_R), "alpha": str(LORA_ALPHA), "targets": ",".join(LORA_TARGETS),
                        "peft": peft.__version__, "torch": torch.__version__,
                        "regenerate": "python tools/make_peer_fixtures.py --only lora"})
    log(f"wrote {OUT / 'lora_reference.safetensors'} ({len(ref)} tensors) and {OUT / 'peft_lora_tiny'}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--only", "lora"]:
        make_lora_fixtures()
        sys.exit(0)
    code = main()
    make_lora_fixtures()
    sys.exit(code)
