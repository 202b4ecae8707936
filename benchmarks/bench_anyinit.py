"""varinit's ``rules="auto"`` against AnyInit 0.4, side by side, on four torch models.

Needs the benchmark extra: ``pip install -e '.[bench]'`` (AnyInit is not a runtime
dependency). Models: a ResNet-like convnet (BatchNorm, residual adds), a small ViT (written
here: timm needs torchvision), ``nn.TransformerEncoder`` (packed ``in_proj_weight``, GELU) and
a GELU MLP of depth 50. Per tool and model:

- covered: the weights (tensors of rank >= 2) the tool initialized, of all of them;
- pred/meas: each tool's own per-layer prediction against its own measurement, as the median
  and the worst ``|log(measured / predicted)|`` turned back into a factor (1.00 = exact);
- last/first: the std of the last measured layer's output over the first's, measured the same
  way for both (forward hooks on every Linear/Conv, one batch, same input);
- time: the wall time of the init and one checked forward pass (``init_module`` +
  ``report.verify``; ``anyinit.initialize`` with ``input_spec``, which runs its validation
  pass), best of ``--repeat``; peak: the peak Python heap that allocated (tracemalloc;
  AnyInit draws on the host in NumPy, torch allocations outside the Python heap are not
  seen, so this understates torch-side work for both).

Run: ``python benchmarks/bench_anyinit.py`` (``--markdown`` for the docs table).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(x + self.bn2(self.conv2(y)))


def resnet() -> nn.Module:
    """A ResNet-like convnet: stem, 6 residual blocks of width 32, pooling, a linear head."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        *[_Block(32) for _ in range(6)],
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip


class _Attn(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class _ViTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.attn, self.norm2 = nn.LayerNorm(d), _Attn(d, heads), nn.LayerNorm(d)
        self.fc1, self.act, self.fc2 = nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """A small ViT: 4x4 patches of a 32x32 image, width 64, 6 blocks, a class token."""

    def __init__(self, d: int = 64, depth: int = 6, heads: int = 4) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, d, 4, 4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 65, d))
        self.blocks = nn.Sequential(*[_ViTBlock(d, heads) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def encoder() -> nn.Module:
    """``nn.TransformerEncoder``: 4 layers of width 64, GELU feed-forward of width 256."""
    layer = nn.TransformerEncoderLayer(64, 4, 256, dropout=0.0, activation="gelu", batch_first=True)
    return nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)


def gelu_mlp(depth: int = 50, width: int = 256) -> nn.Module:
    """A plain GELU MLP of depth 50 (no norms, no residuals)."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.GELU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]] = {
    "ResNet-like convnet": (resnet, lambda: torch.randn(16, 3, 32, 32, generator=_gen())),
    "small ViT": (ViT, lambda: torch.randn(16, 3, 32, 32, generator=_gen())),
    "nn.TransformerEncoder": (encoder, lambda: torch.randn(16, 32, 64, generator=_gen())),
    "GELU MLP, depth 50": (gelu_mlp, lambda: torch.randn(256, 256, generator=_gen())),
}


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(1)


def _weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.dim() >= 2}


def layer_stds(model: nn.Module, x: torch.Tensor) -> list[tuple[str, float]]:
    """The output std of every Linear/Conv that runs, in order (the same hooks for both tools)."""
    got: list[tuple[str, float]] = []
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear | nn.Conv2d) and not name.endswith("out_proj"):
            hooks.append(
                m.register_forward_hook(
                    lambda mod, i, o, name=name: got.append((name, float(o.detach().double().std())))
                )
            )
    try:
        with torch.enable_grad():  # keeps torch's fused encoder path (which skips hooks) off
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return got


def _fit(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Median and worst factor between predicted and measured (1.0 = exact)."""
    errs = [abs(math.log(m / p)) for p, m in pairs if p and m and p > 0 and m > 0]
    if not errs:
        return math.nan, math.nan
    return math.exp(statistics.median(errs)), math.exp(max(errs))


def run_varinit(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    from varinit.adapters.torch import init_module

    before = {n: p.detach().clone() for n, p in _weights(model).items()}
    tracemalloc.start()
    t0 = time.perf_counter()
    report = init_module(model, "auto", seed=0)
    health = report.verify(model, x)  # AnyInit's call runs its validation pass too
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    covered = sum(not torch.equal(before[n], p.detach()) for n, p in _weights(model).items())
    return {
        "covered": covered,
        "fit": _fit([(h.predicted, h.measured) for h in health.layers]),
        "time": dt,
        "peak": peak,
        "notes": [r.name for r in report.rows if r.why.startswith("could not be resolved")],
    }


def run_anyinit(model: nn.Module, x: torch.Tensor) -> dict[str, Any]:
    import anyinit

    before = {n: p.detach().clone() for n, p in _weights(model).items()}
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = anyinit.initialize(model, input_spec=x, seed=0)
    except Exception as e:  # AnyInit's failures are part of the comparison
        tracemalloc.stop()
        return {
            "covered": 0,
            "fit": (math.nan, math.nan),
            "time": math.nan,
            "peak": 0,
            "error": repr(e)[:120],
        }
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    covered = sum(not torch.equal(before[n], p.detach()) for n, p in _weights(model).items())
    pairs = [
        (r.predicted, r.measured) for r in rep.layers if r.predicted is not None and r.measured is not None
    ]
    # AnyInit reports variances (second moments): compare as stds
    fit = _fit([(math.sqrt(p), math.sqrt(m)) for p, m in pairs])
    return {"covered": covered, "fit": fit, "time": dt, "peak": peak, "unscaled": list(rep.unscaled)}


def bench(repeat: int = 1) -> list[dict[str, Any]]:
    rows = []
    for label, (make, inp) in MODELS.items():
        for tool, fn in (("varinit auto", run_varinit), ("AnyInit 0.4", run_anyinit)):
            best: dict[str, Any] | None = None
            for _ in range(repeat):
                torch.manual_seed(0)
                model = make()
                x = inp()
                got = fn(model, x)
                if best is None or got["time"] < best["time"]:
                    best = got
            assert best is not None
            stds = layer_stds(model, x)
            best["ratio"] = stds[-1][1] / stds[0][1] if len(stds) >= 2 else math.nan
            best["total"] = len(_weights(model))
            best["model"], best["tool"] = label, tool
            best["params"] = sum(p.numel() for p in model.parameters())
            rows.append(best)
    return rows


def table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    head = ["model", "tool", "covered", "pred/meas median", "pred/meas worst", "last/first", "time", "peak"]
    body = []
    for r in rows:
        med, worst = r["fit"]
        body.append(
            [
                r["model"],
                r["tool"],
                f"{r['covered']}/{r['total']}",
                "-" if math.isnan(med) else f"{med:.3f}x",
                "-" if math.isnan(worst) else f"{worst:.3f}x",
                "-" if math.isnan(r["ratio"]) else f"{r['ratio']:.3g}",
                "failed" if math.isnan(r["time"]) else f"{r['time'] * 1e3:.0f} ms",
                f"{r['peak'] / 2**20:.1f} MiB",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *body]]
    notes = [f"{r['tool']} on {r['model']}: {r['error']}" for r in rows if r.get("error")]
    notes += [
        f"{r['tool']} on {r['model']}: left unscaled {', '.join(n for n, _ in r['unscaled'])}"
        for r in rows
        if r.get("unscaled")
    ]
    notes += [
        f"{r['tool']} on {r['model']}: stated defaults for {', '.join(r['notes'])}"
        for r in rows
        if r.get("notes")
    ]
    return "\n".join([*lines, "", *notes])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="time the init this many times, keep the best")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(table(bench(args.repeat), args.markdown))


if __name__ == "__main__":
    main()
