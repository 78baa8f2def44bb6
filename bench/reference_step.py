#!/usr/bin/env python3
"""reference_step.py: the training step of train_bench in eager PyTorch, as a PyTorch user
writes it: the yardstick of lica's speed figures (docs/performance.md).

The same model as lica's (CLIP4Clip seqTransf video tower, text tower with EOT or mean
pooling, learned logit scale) built from the installed torch's stock modules: each tower an
nn.Linear to D, a learned position table and an nn.TransformerEncoder of pre-LN, batch-first
nn.TransformerEncoderLayers with QuickGELU and src_key_padding_mask (whose
nn.MultiheadAttention takes F.scaled_dot_product_attention on torch >= 2). The same losses
(symmetric InfoNCE with F.cross_entropy both ways, and LICA's JS or KL intra-modal
consistency in its direct form, DESIGN section 4), torch.optim.AdamW with lica's groups
(fused on CUDA from torch 2), clip_grad_norm_ and the logit-scale clamp, on random inputs of
the same shape; one process, one device. It takes train_bench's arguments (--config, --set,
--batches, --lica, --frames, ...) and prints the same JSON line per configuration, so the two
outputs compare line by line. LICA always runs in the direct form here: --lica-forms is
accepted and only the first line per B and LICA setting is printed, with "form": "direct".

--check-step FILE runs one step from the weights and inputs `train_bench --dump-step FILE`
wrote and checks that its loss and gradients are lica's (the smoke test does), so the
yardstick is provably the same model. --flops-only prints each configuration's model FLOPs
and parameter count without torch, which the smoke test compares with train_bench's.
"""
import argparse
import gc
import json
import math
import re
import resource
import sys
import time

# The config keys that shape the step, with the defaults of src/run/config.h. Other keys
# (data, eval, checkpoint, run, dist, temperatures of terms that are off, ...) are accepted
# and ignored: train_bench, given the same arguments, validates every key strictly.
DEFAULTS = {
    "model.embed_dim": 256,
    "model.video_dim": 0,
    "model.text_dim": 0,
    "model.max_frames": 32,
    "model.max_tokens": 77,
    "model.dropout": 0.0,
    "model.init_temperature": 0.07,
    "model.video.encoder": "seqTransf",
    "model.video.pooling": "mean",
    "model.video.layers": 1,
    "model.video.heads": 4,
    "model.text.pooling": "eot",
    "model.text.layers": 0,
    "model.text.heads": 4,
    "model.fusion.layers": 0,
    "trainer.lr": 1e-3,
    "trainer.weight_decay": 0.2,
    "trainer.grad_clip": 1.0,
    "trainer.seed": 42,
    "trainer.tf32": True,
    "loss.lica.weight": 0.0,
    "loss.lica.tau_intra": 0.1,
    "loss.lica.top_k": 0,
    "loss.lica.min_affinity": -1.0,
    "loss.lica.source": "embedding",
    "loss.lica.divergence": "js",
    "loss.itc.weight": 0.0,
    "loss.ims.weight": 0.0,
    "loss.lmim.weight": 0.0,
    "loss.itm_weight": 0.0,
}

# H100 SXM dense peak TFLOPS of the matrix products, as train_bench.
H100_PEAK_TFLOPS = {"bf16": 989.0, "tf32": 495.0, "fp32": 67.0}


class InputError(Exception):
    pass


# ---- config ------------------------------------------------------------------------------


def scalar(text):
    """A YAML scalar as lica's configs write them: quoted string, bool, int, float, string."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_yaml(text):
    """{"section.key": value} of a config file: PyYAML when installed, else the subset the
    configs use (nested maps of scalars, comments)."""
    try:
        import yaml  # noqa: PLC0415
    except ImportError:
        yaml = None
    if yaml is not None:
        out = {}

        def flatten(node, prefix):
            for key, value in (node or {}).items():
                path = f"{prefix}.{key}" if prefix else str(key)
                if isinstance(value, dict):
                    flatten(value, path)
                else:
                    out[path] = value

        flatten(yaml.safe_load(text), "")
        return out
    out, stack = {}, [(-1, "")]
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        path = f"{stack[-1][1]}.{key.strip()}" if stack[-1][1] else key.strip()
        if value.strip():
            out[path] = scalar(value)
        else:
            stack.append((indent, path))
    return out


def load_config(path, overrides):
    cfg = dict(DEFAULTS)
    if path:
        with open(path, encoding="utf-8") as f:
            for key, value in parse_yaml(f.read()).items():
                if key in cfg:
                    cfg[key] = value
    for assignment in overrides:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise InputError(f"--set {assignment}: expected section.key=value")
        if key in cfg:
            cfg[key] = scalar(value)
    unsupported = [
        ("model.video.pooling", "mean"),
        ("model.text.pooling", ("eot", "mean")),
        ("model.fusion.layers", 0),
        ("loss.itc.weight", 0.0),
        ("loss.ims.weight", 0.0),
        ("loss.lmim.weight", 0.0),
        ("loss.itm_weight", 0.0),
    ]
    for key, allowed in unsupported:
        ok = cfg[key] in allowed if isinstance(allowed, tuple) else cfg[key] == allowed
        if not ok:
            raise InputError(f"reference_step: {key} = {cfg[key]!r} is not modelled here "
                             f"(expected {allowed!r})")
    for key, dim in (("model.video_dim", "video_dim"), ("model.text_dim", "text_dim")):
        if cfg[key] not in (0, None) and cfg[key] != getattr(ARGS, dim):
            raise InputError(f"{key}: {cfg[key]} differs from --{dim.replace('_', '-')} "
                             f"{getattr(ARGS, dim)}")
    for key, n, flag in (("model.max_frames", ARGS.frames, "frames"),
                         ("model.max_tokens", ARGS.tokens, "tokens")):
        if cfg[key] < n:
            raise InputError(f"{key}: {cfg[key]} is smaller than the {n} of --{flag}")
    return cfg


# ---- arithmetic shared with train_bench (keep equal to its step_flops) ----------------------


def step_flops(cfg, frames, tokens, video_dim, text_dim, batch, lica):
    """Model FLOPs of one training step on the global batch, forward and backward, from the
    matrix products only: see step_flops() in bench/train_bench.cpp for the derivation."""
    B, D = float(batch), float(cfg["model.embed_dim"])
    F, L, Dv, Dt = float(frames), float(tokens), float(video_dim), float(text_dim)

    def layer(n):
        return 72.0 * D * D * n + 12.0 * n * n * D

    per_sample = 0.0
    if video_dim != cfg["model.embed_dim"]:
        per_sample += 4.0 * Dv * D * F
    if cfg["model.video.encoder"] == "seqTransf":
        per_sample += float(cfg["model.video.layers"]) * layer(F)
    if text_dim != cfg["model.embed_dim"]:
        per_sample += 4.0 * Dt * D * L
    per_sample += float(cfg["model.text.layers"]) * layer(L)
    flops = per_sample * B + 12.0 * B * B * D
    if lica:
        flops += 6.0 * B * B * D
        flops += 2.0 * B * B * (Dv + Dt) if cfg["loss.lica.source"] == "input" else 4.0 * B * B * D
    return flops


def count_params(cfg, video_dim, text_dim):
    """Parameters of the dual encoder this script (and lica) builds."""
    D = cfg["model.embed_dim"]
    block = 12 * D * D + 13 * D  # LayerNorms, attention in/out projections, MLP, with biases
    n = 1  # logit scale
    if video_dim != D:
        n += video_dim * D + D
    if cfg["model.video.encoder"] == "seqTransf":
        n += cfg["model.max_frames"] * D + cfg["model.video.layers"] * block
    if text_dim != D:
        n += text_dim * D + D
    if cfg["model.text.layers"] > 0:
        n += cfg["model.max_tokens"] * D + cfg["model.text.layers"] * block
    return n


def neighbour_count(top_k, batch):
    others = max(batch - 1, 0)
    return others if top_k <= 0 or top_k >= others else top_k


# ---- model and losses (torch) -------------------------------------------------------------


def make_model(torch, cfg, video_dim, text_dim):
    """The dual encoder as a PyTorch user writes it, from the stock modules: each tower an
    optional nn.Linear to D, an nn.TransformerEncoder of pre-LN nn.TransformerEncoderLayers
    (batch-first, QuickGELU, src_key_padding_mask) after a learned position table, then
    pooling and L2 normalisation. nn.MultiheadAttention inside the layer takes
    F.scaled_dot_product_attention on torch >= 2."""
    nn = torch.nn
    F = nn.functional
    D = cfg["model.embed_dim"]
    dropout = float(cfg["model.dropout"])

    class QuickGELU(nn.Module):
        """CLIP's activation, x * sigmoid(1.702 x)."""

        def forward(self, x):
            return x * torch.sigmoid(1.702 * x)

    def pooled(x, mask, how):
        if how == "eot":  # the last valid position
            last = mask.sum(1) - 1
            return x[torch.arange(x.shape[0], device=x.device), last]
        m = mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1)

    class Tower(nn.Module):
        def __init__(self, in_dim, max_len, layers, heads, pooling, residual):
            super().__init__()
            self.proj = nn.Linear(in_dim, D) if in_dim != D else None
            self.pooling, self.residual = pooling, residual
            self.encoder = None
            if layers > 0:
                self.position = nn.Parameter(torch.randn(max_len, D) * 0.01)
                layer = nn.TransformerEncoderLayer(D, heads, 4 * D, dropout,
                                                   activation=QuickGELU(), batch_first=True,
                                                   norm_first=True)
                self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

        def forward(self, x, mask):  # x [B, L, in_dim]; mask [B, L] True = valid
            if self.proj is not None:
                x = self.proj(x)
            x = x * mask.unsqueeze(-1).to(x.dtype)  # padded positions are zero
            if self.encoder is not None:
                h = self.encoder(x + self.position[: x.shape[1]], src_key_padding_mask=~mask)
                x = (h + x if self.residual else h) * mask.unsqueeze(-1).to(x.dtype)
            return F.normalize(pooled(x, mask, self.pooling), dim=-1)

    class DualEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            seq = cfg["model.video.encoder"] == "seqTransf"
            # The video tower's transformer output is added to its input, as CLIP4Clip's.
            self.video = Tower(video_dim, cfg["model.max_frames"],
                               cfg["model.video.layers"] if seq else 0,
                               cfg["model.video.heads"], "mean", residual=True)
            self.text = Tower(text_dim, cfg["model.max_tokens"], cfg["model.text.layers"],
                              cfg["model.text.heads"], cfg["model.text.pooling"], residual=False)
            self.logit_scale = nn.Parameter(
                torch.tensor(math.log(1.0 / cfg["model.init_temperature"])))

        def encode_video(self, frames, mask):
            return self.video(frames, mask)

        def encode_text(self, tokens, mask):
            return self.text(tokens, mask)

    return DualEncoder()


# The names lica gives the same parameters (src/model): reference name -> lica name.
LICA_NAMES = [
    (r"^(video|text)\.proj\.", r"\1.proj."),
    (r"^video\.position$", "video.temporal.position"),
    (r"^text\.position$", "text.tokens.position"),
    (r"^video\.encoder\.layers\.(\d+)\.", r"video.temporal.transformer.block\1."),
    (r"^text\.encoder\.layers\.(\d+)\.", r"text.tokens.transformer.block\1."),
]
LICA_LAYER_NAMES = {"norm1": "ln_attn", "self_attn": "attn", "norm2": "ln_mlp",
                    "linear1": "fc", "linear2": "proj"}


def lica_name(name):
    for pattern, replacement in LICA_NAMES:
        renamed = re.sub(pattern, replacement, name)
        if renamed != name:
            if ".block" in renamed:
                head, _, tail = renamed.partition(".block")
                index, _, rest = tail.partition(".")
                part, _, leaf = rest.partition(".")
                renamed = f"{head}.block{index}.{LICA_LAYER_NAMES[part]}.{leaf}"
            return renamed
    return name


def make_adamw(torch, model, cfg, device):
    """lica's groups (src/trainer/schedule.cpp): matrices decay except position tables.
    PyTorch's default implementation (for-each on CUDA), the fused one on CUDA from torch 2."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "position" not in name else no_decay).append(p)
    fused = {"fused": True} if device.type == "cuda" and torch_major(torch) >= 2 else {}
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg["trainer.weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg["trainer.lr"], betas=(0.9, 0.98), eps=1e-6, **fused)


def torch_major(torch):
    return int(torch.__version__.split(".")[0])


def infonce(torch, v, t, s):
    """Symmetric InfoNCE of the whole batch (src/loss/infonce.cpp): the two logit matrices
    are computed separately, as there."""
    F = torch.nn.functional
    target = torch.arange(v.shape[0], device=v.device)
    v2t = F.cross_entropy(s * v @ t.t(), target, reduction="sum")
    t2v = F.cross_entropy(s * t @ v.t(), target, reduction="sum")
    return 0.5 * (v2t + t2v) / v.shape[0]


def intra_consistency(torch, log_p, affinity, cfg):
    """LICA's L_intra of one modality, direct form (src/loss/lica.cpp): neighbours by
    a stable descending sort of the affinities (ties to the smaller index), weights a softmax
    of A / tau over those kept, divergences from log-probabilities."""
    B = log_p.shape[0]
    k = neighbour_count(cfg["loss.lica.top_k"], B)
    with torch.no_grad():
        aff = affinity.detach().clone()
        rows = torch.arange(B, device=aff.device)
        aff[rows, rows] = -math.inf
        values, order = torch.sort(aff, dim=1, descending=True, stable=True)
        top, neighbour = values[:, :k], order[:, :k]
        kept = top >= cfg["loss.lica.min_affinity"]
        logits = (top / cfg["loss.lica.tau_intra"]).masked_fill(~kept, -math.inf)
        weight = torch.where(kept, logits.softmax(1), torch.zeros_like(logits))
    anchor = log_p.unsqueeze(1)                                        # [B, 1, B]
    others = log_p.index_select(0, neighbour.reshape(-1)).view(B, k, B)  # [B, k, B]

    def kl(lp, lq):
        return (lp.exp() * (lp - lq)).sum(-1)

    if cfg["loss.lica.divergence"] == "kl":
        div = kl(anchor, others)
    else:
        log_m = torch.logaddexp(anchor, others) - math.log(2.0)
        div = 0.5 * (kl(anchor, log_m) + kl(others, log_m))
    return (weight.to(log_p.dtype) * div).sum() / B


def affinity(torch, embeddings, features, mask, cfg):
    F = torch.nn.functional
    with torch.no_grad():
        if cfg["loss.lica.source"] == "input":
            m = mask.to(features.dtype).unsqueeze(-1)
            embeddings = (features * m).sum(1) / m.sum(1)
        unit = F.normalize(embeddings.detach(), dim=1)
        return unit @ unit.t()


def step_losses(torch, model, batch, cfg, lica_weight, autocast):
    """As src/trainer/step.cpp: each encoder's forward in `autocast` (bf16 or off), its
    output widened to fp32, every loss in fp32."""
    video, video_mask, text, text_mask = batch
    with autocast():
        v = model.encode_video(video, video_mask)
    with autocast():
        t = model.encode_text(text, text_mask)
    v, t = v.float(), t.float()
    s = model.logit_scale.exp()
    total = infonce(torch, v, t, s)
    if lica_weight > 0:
        logits = s * v @ t.t()  # S, videos as rows
        F = torch.nn.functional
        intra_v = intra_consistency(torch, F.log_softmax(logits, 1),
                                    affinity(torch, v, video, video_mask, cfg), cfg)
        intra_t = intra_consistency(torch, F.log_softmax(logits.t(), 1),
                                    affinity(torch, t, text, text_mask, cfg), cfg)
        total = total + lica_weight * 0.5 * (intra_v + intra_t)
    return total


def random_batch(torch, rows, frames, tokens, video_dim, text_dim, device, seed):
    """Random features, zero past each row's random length (F/2..F, L/2..L), as train_bench."""
    torch.manual_seed(seed)

    def masked(length, width):
        lengths = torch.randint(max(1, length // 2), length + 1, (rows, 1))
        mask = torch.arange(length).unsqueeze(0) < lengths
        return torch.randn(rows, length, width) * mask.unsqueeze(-1).float(), mask

    video, video_mask = masked(frames, video_dim)
    text, text_mask = masked(tokens, text_dim)
    return tuple(x.to(device) for x in (video, video_mask, text, text_mask))


def measure(torch, cfg, batch_size, lica_weight, device, precision):
    """Mean milliseconds of the step's parts over --steps steps after --warmup, split as
    train_bench splits them, and the peak memory."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    # trainer.precision bf16: the encoders' forward only (step_losses); fp32 and tf32: off.
    autocast = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16"
                else (lambda: torch.autocast(device.type, enabled=False)))
    torch.manual_seed(cfg["trainer.seed"])
    model = make_model(torch, cfg, ARGS.video_dim, ARGS.text_dim).to(device).train()
    params = sum(p.numel() for p in model.parameters())
    expected = count_params(cfg, ARGS.video_dim, ARGS.text_dim)
    if params != expected:
        raise AssertionError(f"reference model has {params} parameters, count_params says {expected}")
    optimizer = make_adamw(torch, model, cfg, device)
    batch = random_batch(torch, batch_size, ARGS.frames, ARGS.tokens, ARGS.video_dim,
                         ARGS.text_dim, device, cfg["trainer.seed"] + 1000003)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    keys = ("losses", "forward", "backward", "optimizer", "losses_without_lica",
            "backward_without_lica")
    total = dict.fromkeys(keys, 0.0)
    for i in range(ARGS.warmup + ARGS.steps):
        t = dict.fromkeys(keys, 0.0)
        # The step, then the extra passes, in train_bench's order.
        sync()
        t0 = time.perf_counter()
        loss = step_losses(torch, model, batch, cfg, lica_weight, autocast)
        sync()
        t["losses"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        sync()
        t["backward"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        if cfg["trainer.grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["trainer.grad_clip"])
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0.0, math.log(100.0))
        sync()
        t["optimizer"] = (time.perf_counter() - t0) * 1e3
        del loss
        if lica_weight > 0:
            # Without the LICA term; the next step's zero_grad() discards its gradients.
            sync()
            t0 = time.perf_counter()
            base = step_losses(torch, model, batch, cfg, 0.0, autocast)
            sync()
            t["losses_without_lica"] = (time.perf_counter() - t0) * 1e3
            t0 = time.perf_counter()
            base.backward()
            sync()
            t["backward_without_lica"] = (time.perf_counter() - t0) * 1e3
            del base
        sync()
        t0 = time.perf_counter()
        with autocast():
            model.encode_video(batch[0], batch[1])
            model.encode_text(batch[2], batch[3])
        sync()
        t["forward"] = (time.perf_counter() - t0) * 1e3
        if i >= ARGS.warmup:
            for key in keys:
                total[key] += t[key]
    ms = {key: value / ARGS.steps for key, value in total.items()}
    if device.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(device), "cuda_peak_allocated"
    else:
        peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "cpu_max_rss"
    return ms, params, peak, kind


def check_step(torch, cfg, path):
    """Runs one step's losses and backward from the weights and inputs train_bench wrote
    (--dump-step) and compares the loss and every gradient with lica's. Returns the exit
    status: 0 when each agrees within --tolerance, relative to the tensor's largest
    magnitude (fp32 rounding; the two order their sums differently), else 1."""
    saved = torch.load(path)
    video, video_mask = saved["video"], saved["video_mask"]
    text, text_mask = saved["text"], saved["text_mask"]
    model = make_model(torch, cfg, video.shape[2], text.shape[2]).train()
    names = {name: lica_name(name) for name, _ in model.named_parameters()}
    lica_params = {k[len("param."):] for k in saved if k.startswith("param.")}
    if set(names.values()) != lica_params:
        print(f"check-step: parameters differ: reference only {sorted(set(names.values()) - lica_params)}, "
              f"lica only {sorted(lica_params - set(names.values()))}", file=sys.stderr)
        return 1
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(saved["param." + names[name]])
    lica_weight = float(saved["lica_weight"])
    loss = step_losses(torch, model, (video, video_mask, text, text_mask), cfg, lica_weight,
                       lambda: torch.autocast("cpu", enabled=False))
    loss.backward()
    worst, failures = 0.0, []

    def compare(what, mine, theirs):
        nonlocal worst
        scale = max(theirs.abs().max().item(), 1e-30)
        err = (mine - theirs).abs().max().item() / scale
        worst = max(worst, err)
        if not err <= ARGS.tolerance:
            failures.append(f"{what}: relative difference {err:.3g}")

    compare("loss", loss.detach(), saved["loss"])
    for name, p in model.named_parameters():
        key = "grad." + names[name]
        if (p.grad is None) != (key not in saved):
            failures.append(f"{names[name]}: a gradient on one side only")
        elif p.grad is not None:
            compare(names[name], p.grad, saved[key])
    print(json.dumps({"check_step": path, "lica_weight": lica_weight, "loss": loss.item(),
                      "lica_loss": saved["loss"].item(), "params": len(names),
                      "worst_relative_difference": worst, "tolerance": ARGS.tolerance,
                      "ok": not failures}))
    for failure in failures:
        print(f"check-step: {failure}", file=sys.stderr)
    return 0 if not failures else 1


def is_out_of_memory(torch, error):
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(error, oom)) or isinstance(error, MemoryError) or (
        "out of memory" in str(error) or "can't allocate memory" in str(error))


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="The training step of train_bench in PyTorch eager (docs/performance.md); "
                    "one JSON line per configuration.")
    p.add_argument("--config", default="", help="YAML config (default: lica's defaults)")
    p.add_argument("--set", action="append", default=[], dest="overrides",
                   help="config override section.key=value (repeatable)")
    p.add_argument("--batches", default="256,1024,4096,16384", help="global batch sizes")
    p.add_argument("--lica", default="off,on", help="off, on or both")
    p.add_argument("--lica-forms", default="chunked,fused",
                   help="accepted for train_bench's sake; the reference is the direct form")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--video-dim", type=int, default=512)
    p.add_argument("--text-dim", type=int, default=512)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--peak-tflops", type=float, default=0.0,
                   help="peak TFLOPS for MFU; 0 = H100 SXM dense: 989 bf16, 495 tf32, 67 fp32")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--flops-only", action="store_true",
                   help="print each configuration's model FLOPs and parameters; needs no torch")
    p.add_argument("--check-step", default="", metavar="FILE",
                   help="instead of timing: compare one step's loss and gradients with those "
                        "train_bench --dump-step FILE wrote from the same weights and inputs")
    p.add_argument("--tolerance", type=float, default=1e-5,
                   help="--check-step: largest difference allowed, relative to each tensor's "
                        "largest magnitude")
    args = p.parse_args(argv)
    for name in ("frames", "tokens", "video_dim", "text_dim", "steps"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be > 0")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def int_list(text, flag):
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        raise InputError(f"--{flag}: expected positive integers, got '{text}'")
    return values


def main(argv):
    global ARGS  # noqa: PLW0603 -- the flags, read by the helpers above
    ARGS = parse_args(argv)
    try:
        cfg = load_config(ARGS.config, ARGS.overrides)
        batches = int_list(ARGS.batches, "batches")
        modes = ARGS.lica.split(",")
        if any(m not in ("off", "on") for m in modes):
            raise InputError(f"--lica: got '{ARGS.lica}', expected off and/or on")
    except (InputError, OSError) as e:
        print(f"reference_step: {e}", file=sys.stderr)
        return 2
    weight_on = cfg["loss.lica.weight"] if cfg["loss.lica.weight"] > 0 else 1.0

    def common(batch_size, mode):
        return {"bench": "reference_step", "B": batch_size, "lica": mode,
                "form": "direct" if mode == "on" else "none", "world": 1}

    def shape_fields(line):
        line.update({"embed_dim": cfg["model.embed_dim"],
                     "video_layers": cfg["model.video.layers"]
                     if cfg["model.video.encoder"] == "seqTransf" else 0,
                     "text_layers": cfg["model.text.layers"], "frames": ARGS.frames,
                     "tokens": ARGS.tokens, "video_dim": ARGS.video_dim,
                     "text_dim": ARGS.text_dim, "top_k": cfg["loss.lica.top_k"],
                     "steps": ARGS.steps, "warmup": ARGS.warmup})
        return line

    if ARGS.flops_only:
        for b in batches:
            for mode in modes:
                line = common(b, mode)
                line["flops"] = step_flops(cfg, ARGS.frames, ARGS.tokens, ARGS.video_dim,
                                           ARGS.text_dim, b, mode == "on")
                line["params"] = count_params(cfg, ARGS.video_dim, ARGS.text_dim)
                print(json.dumps(shape_fields(line)), flush=True)
        return 0

    import torch  # noqa: PLC0415 -- only the measuring needs it

    if ARGS.threads > 0:
        torch.set_num_threads(ARGS.threads)
    if ARGS.check_step:
        return check_step(torch, cfg, ARGS.check_step)
    cuda = ARGS.device == "cuda" or (ARGS.device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        print("reference_step: --device cuda: no CUDA device is visible", file=sys.stderr)
        return 2
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    if cuda:
        # As train_bench maps --precision: fp32 is trainer.tf32 off, tf32 on, bf16 the config's.
        torch.backends.cuda.matmul.allow_tf32 = {"fp32": False, "tf32": True}.get(
            ARGS.precision, bool(cfg["trainer.tf32"]))
    peak_tflops = ARGS.peak_tflops if ARGS.peak_tflops > 0 else (
        H100_PEAK_TFLOPS[ARGS.precision] if cuda else float("nan"))
    for b in batches:
        for mode in modes:
            line = common(b, mode)
            line.update({"device": device.type, "precision": ARGS.precision})
            lica_weight = weight_on if mode == "on" else 0.0
            try:
                ms, params, peak, kind = measure(torch, cfg, b, lica_weight, device, ARGS.precision)
                step = ms["losses"] + ms["backward"] + ms["optimizer"]
                flops = step_flops(cfg, ARGS.frames, ARGS.tokens, ARGS.video_dim, ARGS.text_dim,
                                   b, mode == "on")
                lica_fwd = ms["losses"] - ms["losses_without_lica"] if mode == "on" else 0.0
                lica_bwd = ms["backward"] - ms["backward_without_lica"] if mode == "on" else 0.0
                mfu = flops / (step / 1e3) / (peak_tflops * 1e12)
                line.update({
                    "samples_per_s": b / (step / 1e3), "step_ms": step, "forward_ms": ms["forward"],
                    "loss_ms": ms["losses"] - ms["forward"], "lica_ms": lica_fwd + lica_bwd,
                    "lica_fwd_ms": lica_fwd, "lica_bwd_ms": lica_bwd,
                    "lica_share": (lica_fwd + lica_bwd) / step, "backward_ms": ms["backward"],
                    "reduce_ms": 0.0, "optimizer_ms": ms["optimizer"],
                    "peak_gib": peak / 2**30, "peak_kind": kind, "flops": flops,
                    "tflops": flops / (step / 1e3) / 1e12,
                    "peak_tflops": None if math.isnan(peak_tflops) else peak_tflops,
                    "mfu": None if math.isnan(mfu) else mfu, "params": params})
            except Exception as e:  # noqa: BLE001 -- an OOM ends this configuration only
                if is_out_of_memory(torch, e):
                    line["oom"] = True
                else:
                    line["error"] = str(e)[:300]
                gc.collect()
                if cuda:
                    torch.cuda.empty_cache()
            print(json.dumps(shape_fields(line)), flush=True)
    return 0


ARGS = None

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
