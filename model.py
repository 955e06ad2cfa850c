"""The GPT, its KV-cache sampler, and checkpoint save/load.

A decoder-only transformer in the nanoGPT mould, with the choices that matter for this lab:
- pre-LN blocks, no biases, tied input/output embeddings;
- rotary position embeddings (RoPE, Su et al. 2021) instead of learned positions: the prototype
  generalised much better to inputs longer than training's with them;
- `forward(idx, targets, loss_reduction=...)` where targets of -1 carry no loss;
- `sample(...)`: batched generation with a key/value cache. Prompts of different lengths are
  left-padded; each row keeps its own positions and key mask, stops at EOS, and finished rows are
  dropped from the batch as they accumulate. Sampling noise is drawn for the full batch from a
  seeded `torch.Generator` at every step, so a row's tokens depend only on the seed and its own
  logits: the cached and uncached (re-encoding) paths give the same samples.

This module knows nothing of the task world: the vocabulary size comes from the config.
"""
import math
import os
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 64
    block_size: int = 256   # longest sequence (the RoPE table's length)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or made for another model or tokenizer."""


class DeviceError(ValueError):
    """A device that does not exist or is not available here."""


def rope_tables(head_dim, length, base=10000.0):
    """Each position's rotations as complex numbers cos + i sin, (length, head_dim // 2)."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
    angles = torch.outer(torch.arange(length).float(), inv_freq)
    return torch.complex(angles.cos(), angles.sin())


def apply_rope(x, rotation):
    """Rotate each pair (x1, x2) of the last dimension by its position's angle: as a complex number
    x1 + i x2 times cos + i sin, which is (x1 cos - x2 sin, x1 sin + x2 cos), the same arithmetic
    as rotating the pairs one by one, done in one multiply. rotation broadcasts to (..., D // 2)."""
    return torch.view_as_real(torch.view_as_complex(x.unflatten(-1, (-1, 2))) * rotation).flatten(-2)


class KVCache:
    """Keys and values of every layer for a batch, preallocated to `max_len` positions.

    `length` counts the positions filled so far, the same for every row (prompts are left-padded).
    It is a Python int, or with `static=True` a 0-d tensor advanced in place: then a decode step
    reads no value from Python, so one recorded step (a CUDA graph, a compiled graph) can be
    replayed at every position."""

    def __init__(self, n_layer, batch, n_head, max_len, head_dim, device, dtype, static=False):
        shape = (n_layer, batch, n_head, max_len, head_dim)
        self.k = torch.empty(shape, device=device, dtype=dtype)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self.length = torch.zeros((), dtype=torch.long, device=device) if static else 0

    def keep_rows(self, rows):
        """Drop finished rows: copy only the filled part of the kept rows."""
        self.k = self.k[:, rows].contiguous()
        self.v = self.v[:, rows].contiguous()


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(self, x, rotation, layer, cache=None, attn_mask=None):
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head)
        # queries and keys rotated together, read in the projection's layout (measured: rotating
        # them apart, each into a fresh copy, cost a tenth of a CPU training step). Complex numbers
        # need fp32: under bf16 autocast on a GPU they rotate in fp32 and come back to bf16
        q, k = apply_rope(qkv[:, :, :2].float(), rotation).to(qkv.dtype).permute(2, 0, 3, 1, 4)
        v = qkv[:, :, 2].transpose(1, 2)
        if cache is not None:
            start = cache.length
            if torch.is_tensor(start):  # a static cache: write where the tensor says
                where = start + torch.arange(T, device=start.device)
                cache.k[layer].index_copy_(2, where, k.to(cache.k.dtype))
                cache.v[layer].index_copy_(2, where, v.to(cache.v.dtype))
            else:
                cache.k[layer, :, :, start:start + T] = k
                cache.v[layer, :, :, start:start + T] = v
            # the mask's width says how many cached positions to read: the ones filled so far, or
            # (fixed-shape decoding) the whole cache, with the positions not yet filled masked
            keys = start + T if attn_mask is None else attn_mask.size(-1)
            k, v = cache.k[layer, :, :, :keys], cache.v[layer, :, :, :keys]
        if attn_mask is None:  # training: plain causal attention, the fast fused path
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif cache is not None and cache.k.dtype != x.dtype:  # another precision (sample's cache_dtype):
            # fused attention in the cache's precision, the result back in the queries'
            y = F.scaled_dot_product_attention(q.to(k.dtype), k, v, attn_mask=attn_mask.to(k.dtype)).to(q.dtype)
        elif T == 1:  # one new token per row: reading the cache is the cost, and two plain
            # matmuls read it faster than the fused kernel does on CPU (measured in bench.py)
            scores = (q @ k.transpose(-2, -1)) * (k.size(-1) ** -0.5) + attn_mask
            y = scores.softmax(dim=-1) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.up = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.down = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd, bias=False)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd, bias=False)
        self.mlp = MLP(config)

    def forward(self, x, rotation, layer, cache=None, attn_mask=None):
        x = x + self.attn(self.ln1(x), rotation, layer, cache, attn_mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=False)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied embeddings
        self.register_buffer("rope", rope_tables(config.n_embd // config.n_head, config.block_size),
                             persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("proj.weight") or name.endswith("down.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, targets=None, loss_reduction="mean", positions=None, cache=None,
                attn_mask=None):
        """idx: (B, T) token ids. Returns (logits (B, T, vocab), loss).

        attn_mask: additive bias (B, 1, T, keys), 0 where a query may attend and -inf elsewhere.
        loss_reduction: "mean" over tokens whose target is not -1, "sum" of their losses, or
        "none": the (B, T) per-token losses, 0 where the target is -1 (RL weights each token).
        positions: (B, T) per-row positions for left-padded sampling; default 0..T-1 (+ cache).
        """
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if positions is None:
            if start + T > self.config.block_size:
                raise ValueError(f"sequence of {start + T} tokens exceeds block_size "
                                 f"{self.config.block_size}")
            rotation = self.rope[start:start + T, None, None]      # (T, 1, 1, D/2)
        else:
            rotation = self.rope[positions][:, :, None, None]     # (B, T, 1, 1, D/2)
        x = self.wte(idx)
        for layer, block in enumerate(self.blocks):
            x = block(x, rotation, layer, cache, attn_mask)
        if cache is not None:
            cache.length += T
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1),
                               ignore_index=-1, reduction="none" if loss_reduction == "none" else loss_reduction)
        return logits, loss.view(B, T) if loss_reduction == "none" else loss

    def new_cache(self, batch, max_len, static=False, dtype=None):
        c = self.config
        dtype = dtype or next(self.parameters()).dtype
        return KVCache(c.n_layer, batch, c.n_head, max_len, c.n_embd // c.n_head,
                       self.rope.device, dtype, static)


# ---------------------------------------------------------------- sampling

@dataclass
class Samples:
    completions: list   # token ids per row, up to and without EOS
    finished: list      # True where the row ended with EOS (False: truncated at max_new_tokens)


def attention_bias(allowed, dtype):
    """Boolean "may attend" mask -> additive bias (0 or -inf), built once and shared by layers."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill_(~allowed, float("-inf"))


@torch.inference_mode()
def sample(model, prompts, max_new_tokens, eos_id, pad_id, temperature=1.0, generator=None,
           use_cache=True, fixed_shape=False, cache_dtype=None):
    """Generate a completion for each prompt (a list of token-id lists), in one batch.

    max_new_tokens: one budget for every row, or a list with each row's own: a row stops at its
    budget (truncated, finished False) whatever the others' are, so a short problem sampled beside
    a long one is cut where it would be cut alone. temperature 0 is greedy decoding. With the
    cache, rows that share a prompt (a problem's samples, an RL group) share its prefill.
    use_cache=False re-encodes the whole sequence every step (the naive baseline of the benchmark,
    and the reference the tests compare against). fixed_shape=True gives every decode step the
    same tensor shapes and no value from Python, which CUDA graphs need to replay a step: no row
    is dropped, attention reads the whole cache with the positions not yet written masked, and
    the cache's write position is a tensor advanced in place. Same tokens, more work per step
    (`bench.py` measures what that costs). cache_dtype: the decode steps' cache in another
    precision (torch.bfloat16: half the memory read per step, fused attention in bf16; other
    tokens than fp32's where rounding tips a draw; default the model's own).
    """
    if fixed_shape and not use_cache:
        raise ValueError("fixed_shape decoding reads the KV cache: it needs use_cache=True")
    model.eval()
    device = model.rope.device
    B, P = len(prompts), max(len(p) for p in prompts)
    budget = torch.as_tensor(max_new_tokens, device=device).expand(B)  # (B,) per-row budgets
    max_new_tokens = int(budget.max())
    # each row needs its own prompt and budget to fit (positions are per row); the padded width
    # P + max_new_tokens only sizes the cache, which may be longer than the context
    need = torch.tensor([len(p) for p in prompts], device=device) + budget
    if int(need.max()) > model.config.block_size:
        r = int(need.argmax())
        raise ValueError(f"prompt ({len(prompts[r])}) + max_new_tokens ({int(budget[r])}) exceeds "
                         f"block_size {model.config.block_size}")
    pad = torch.tensor([P - len(p) for p in prompts], device=device)
    idx = torch.full((B, P), pad_id, dtype=torch.long, device=device)
    for r, p in enumerate(prompts):
        idx[r, P - len(p):] = torch.tensor(p, dtype=torch.long)
    dtype = model.wte.weight.dtype
    arange = torch.arange(P + max_new_tokens, device=device)
    positions = (arange[None, :P] - pad[:, None]).clamp(min=0)                     # (B, P)
    key_valid = arange[None] >= pad[:, None]               # (B, P + max_new_tokens): not a pad
    key_bias = attention_bias(key_valid, dtype)[:, None, None]  # built once, sliced at each step
    key_valid = key_valid[:, :P]
    causal = torch.tril(torch.ones(P, P, dtype=torch.bool, device=device))
    # a pad query attends to itself only, so no attention row is empty (an empty row gives NaN)
    prefill_mask = (causal & key_valid[:, None, :]) | torch.eye(P, dtype=torch.bool, device=device)
    rows = torch.arange(B, device=device)       # original index of each row still in the batch
    row_budget = budget                         # the budget of each row still in the batch
    running = torch.ones(B, dtype=torch.bool, device=device)  # rows in the batch not yet stopped
    # every row writes its token at every step it is in the batch, also after it stopped: a row's
    # completion is read at the end, up to its first EOS or its budget (fewer operations per step)
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    seq = idx  # used by the uncached path only

    cache = model.new_cache(B, P + max_new_tokens, static=fixed_shape, dtype=cache_dtype) if use_cache else None
    if fixed_shape:  # positions not yet written are read (with weight 0): they must not be NaN
        cache.k.zero_(), cache.v.zero_()
    if use_cache:
        # rows with the same prompt (a problem's samples, an RL group) share its prefill: the prompt
        # is run through the model once, and its keys, values and last logits are copied to each row
        _, copy_of = torch.unique(idx, dim=0, return_inverse=True)  # each row's prompt among the distinct
        distinct = torch.empty(int(copy_of.max()) + 1, dtype=torch.long, device=device)
        distinct.scatter_(0, copy_of, torch.arange(B, device=device))  # a row that has each prompt
        prefill = model.new_cache(len(distinct), P)
        logits, _ = model(idx[distinct], positions=positions[distinct], cache=prefill,
                          attn_mask=attention_bias(prefill_mask[distinct, None], dtype))
        logits = logits[copy_of, -1]
        cache.k[:, :, :, :P] = prefill.k[:, copy_of]
        cache.v[:, :, :, :P] = prefill.v[:, copy_of]
        cache.length += P
    else:
        logits, _ = model(idx, positions=positions, attn_mask=attention_bias(prefill_mask[:, None], dtype))
        logits = logits[:, -1]
    next_pos = positions[:, -1] + 1
    for t in range(max_new_tokens):
        if temperature > 0:
            # Gumbel-max sampling with noise for the full batch: a row's draws never depend on
            # which other rows are still running. -log(-log(u)), in place
            gumbel = torch.rand((B, logits.size(-1)), generator=generator, device=device)
            gumbel.clamp_(1e-20, 1.0 - 1e-7).log_().neg_().log_().neg_()
            token = (logits.float() / temperature + (gumbel if len(rows) == B else gumbel[rows])).argmax(-1)
        else:
            token = logits.argmax(-1)
        out[rows, t] = token
        running &= (token != eos_id) & (row_budget > t + 1)  # a row at its own budget stops, unfinished
        still = int(running.sum())
        if still == 0 or t == max_new_tokens - 1:
            break
        # Stopped rows stay in the batch (their tokens are ignored) until a quarter of it is
        # done: copying the cache to drop rows costs more than a few wasted rows
        if still <= 0.75 * len(rows) and not fixed_shape:
            keep = running
            rows, token, next_pos, key_bias = rows[keep], token[keep], next_pos[keep], key_bias[keep]
            row_budget, running = row_budget[keep], running[keep]
            if use_cache:
                cache.keep_rows(keep)
            else:
                seq = seq[keep]
        if fixed_shape:  # no value from Python: the step reads the write position from the cache
            logits, _ = model(token[:, None], positions=next_pos[:, None], cache=cache,
                              attn_mask=key_bias.masked_fill(arange > cache.length, float("-inf")))
        elif use_cache:
            logits, _ = model(token[:, None], positions=next_pos[:, None], cache=cache,
                              attn_mask=key_bias[..., :P + t + 1])
        else:  # naive: re-encode everything generated so far
            seq = torch.cat([seq, token[:, None]], 1)
            T = seq.size(1)
            full_pos = torch.cat([positions[rows], next_pos[:, None] - torch.arange(T - P - 1, -1, -1, device=device)], 1)
            causal_t = torch.tril(torch.ones(T, T, dtype=torch.bool, device=device))
            mask = (causal_t & (key_bias[:, 0, 0, :T] == 0)[:, None, :]) | torch.eye(T, dtype=torch.bool, device=device)
            logits, _ = model(seq, positions=full_pos, attn_mask=attention_bias(mask[:, None], dtype))
        logits = logits[:, -1]
        next_pos = next_pos + 1
    completions, finished = [], []
    for ids, n in zip(out.tolist(), budget.tolist()):
        ids = ids[:n]  # a row ran until its first EOS or its budget, whichever came first
        ended = eos_id in ids
        completions.append(ids[:ids.index(eos_id)] if ended else ids)
        finished.append(ended)
    return Samples(completions, finished)


# ---------------------------------------------------------------- devices and precision

def pick_device(name="auto"):
    """cuda, then mps, then cpu; or the one asked for, with a clear error if it is absent."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if name == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if available[d])
    if name not in available:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    if not available[name]:
        raise DeviceError(f"device {name!r} is not available on this machine; use --device cpu")
    return name


def autocast(device):
    """bf16 autocast on GPU; full precision elsewhere (CPU bf16 matmuls are slow on most CPUs)."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else nullcontext()


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(path, payload):
    """Write atomically: a temp file in the same directory, flushed, then renamed over `path`.
    A crash mid-save leaves the previous checkpoint untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".pt")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path, tokenizer_spec=None):
    """The checkpoint's payload dict; CheckpointError with what to do on any problem."""
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a directory; pass the checkpoint file in it: "
                              f"{os.path.join(path, 'ckpt.pt')}")
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist; check the path, or train one first "
                              "with pretrain.py")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, not a torch file, ...
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}); it may be "
                              "truncated or not a tinyreason checkpoint: retrain it") from None
    if not isinstance(payload, dict) or not {"model", "model_config"} <= payload.keys():
        raise CheckpointError(f"{path} is not a tinyreason checkpoint (no model or model_config)")
    if tokenizer_spec is not None and payload.get("tokenizer") != tokenizer_spec:
        raise CheckpointError(f"checkpoint {path} was made with another tokenizer; retrain it "
                              "with this version of the lab")
    return payload


def model_from_checkpoint(payload, device="cpu", source="the checkpoint"):
    """The GPT a checkpoint payload describes, its weights loaded; `source` names it in an error."""
    try:
        model = GPT(GPTConfig(**payload["model_config"]))
        model.load_state_dict(payload["model"])
    except (TypeError, RuntimeError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = next((line for line in lines if "mismatch" in line or "Missing" in line), lines[0] if lines else "")
        raise CheckpointError(f"{source}: its weights do not fit its model config ({detail[:140]}); "
                              "the file is damaged or from another version: retrain it") from None
    return model.to(device)

