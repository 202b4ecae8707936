"""The μP coordinate check, and the figure of docs/mup.md.

    python docs/make_mup_figure.py

An MLP (16 -> w -> w -> w -> 8, ReLU) is initialized at widths 64...1024 by
``varinit.models.mup`` against its width-64 base (μP) or as its own base with a
non-zero readout (the standard parametrization, SP: std 1/sqrt(fan_in), one learning
rate), trained a few steps on a fixed batch with the report's ``lr_mult``/``out_mult``
applied, and measured: the mean |activation| of the last hidden layer and of the output,
and how far each moved from its value at init. Under μP these are flat in width; under SP
the updates grow with width. tests/test_mup.py asserts the slopes. Needs torch (and
matplotlib for the figure). Fixed seeds: the figure is reproducible.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from varinit.adapters.torch import init_module

from varinit.models.mup import base_shapes, mup

FIGURES = Path(__file__).resolve().parent / "figures"
WIDTHS = (64, 128, 256, 512, 1024)
D_IN, D_OUT, BATCH = 16, 8, 32
#: the tuned learning rate at the base width, per optimizer
LR = {"sgd": 0.02, "adam": 1e-3, "u-mup": 1e-2}
MEASURES = ("hidden", "output", "hidden_update", "output_update")


class MLP(torch.nn.Module):
    """Three hidden ReLU layers and a readout ``head``; ``mult[layer]`` scales a layer's
    matmul (μP: the readout's ``out_mult``; u-μP: every layer's)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(D_IN, width)
        self.fc2 = torch.nn.Linear(width, width)
        self.fc3 = torch.nn.Linear(width, width)
        self.head = torch.nn.Linear(width, D_OUT)
        self.mult = {"fc1": 1.0, "fc2": 1.0, "fc3": 1.0, "head": 1.0}

    def _lin(self, name: str, x: torch.Tensor) -> torch.Tensor:
        layer = getattr(self, name)
        return torch.nn.functional.linear(x, layer.weight) * self.mult[name] + layer.bias

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self._lin("fc1", x))
        h = torch.relu(self._lin("fc2", h))
        h = torch.relu(self._lin("fc3", h))
        return h, self._lin("head", h)


def train(width: int, param: str, optimizer: str, steps: int) -> dict[str, float]:
    """One width: init (``param`` "mup", "sp", "u-mup", or "mup_init_only": μP's init with
    the report's multipliers ignored), ``steps`` steps, the four measures."""
    model = MLP(width)
    if param in ("mup", "mup_init_only"):
        rules = mup(base_shapes(MLP(WIDTHS[0])), optimizer=optimizer)
    elif param == "u-mup":
        rules = mup(variant="u-mup", optimizer=optimizer)
    else:  # SP: the model is its own base (multipliers 1), readout drawn like the rest
        rules = mup(optimizer=optimizer, readout_zero=False)
    report = init_module(model, rules, seed=0, measure=False)
    mults = report.multipliers() if param != "mup_init_only" else {}
    for layer in model.mult:
        model.mult[layer] = mults.get(f"{layer}.weight", {}).get("output", 1.0)
    lr = LR["u-mup" if param == "u-mup" else optimizer]
    groups: list[dict[str, Any]] = [
        {"params": [p], "lr": lr * mults.get(n, {}).get("lr", 1.0)} for n, p in model.named_parameters()
    ]
    opt = torch.optim.Adam(groups) if optimizer == "adam" else torch.optim.SGD(groups)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(BATCH, D_IN, generator=g), torch.randn(BATCH, D_OUT, generator=g)
    with torch.no_grad():
        h0, out0 = model(x)
    for _ in range(steps):
        opt.zero_grad()
        _, out = model(x)
        ((out - y) ** 2).mean().backward()
        opt.step()
    with torch.no_grad():
        h, out = model(x)
    return {
        "hidden": float(h.abs().mean()),
        "output": float(out.abs().mean()),
        "hidden_update": float((h - h0).abs().mean()),
        "output_update": float((out - out0).abs().mean()),
    }


def coord_check(param: str, optimizer: str, steps: int = 3) -> dict[str, list[float]]:
    """``{measure: [value per width]}`` over ``WIDTHS`` (one torch thread: cheap, repeatable)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [train(w, param, optimizer, steps) for w in WIDTHS]
    finally:
        torch.set_num_threads(threads)
    return {k: [r[k] for r in runs] for k in MEASURES}


def slope(values: list[float]) -> float:
    """The least-squares slope of log(value) against log(width)."""
    xs = [math.log(w) for w in WIDTHS]
    ys = [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True)) / sum((a - mx) ** 2 for a in xs)


STYLE = {"mup": ("μP", "C0", "o", "-"), "sp": ("SP", "C3", "s", "--"), "u-mup": ("u-μP", "C2", "^", ":")}


def table(steps: int = 3) -> str:
    """The slopes as the Markdown table of docs/mup.md."""
    cols = [(o, p) for o in ("sgd", "adam") for p in ("mup", "sp", "mup_init_only", "u-mup")]
    cols = [(o, p) for o, p in cols if not (p == "u-mup" and o == "sgd")]
    names = {"mup": "μP", "sp": "SP", "mup_init_only": "μP init only", "u-mup": "u-μP"}
    got = {(o, p): coord_check(p, o, steps) for o, p in cols}
    rows = ["| measure | " + " | ".join(f"{o.upper()} {names[p]}" for o, p in cols) + " |"]
    rows.append("|---" * (len(cols) + 1) + "|")
    for m in MEASURES:
        vals = " | ".join(f"{slope(got[c][m]):+.2f}".replace("-", "−") for c in cols)
        rows.append(f"| {m} | {vals} |")
    return "\n".join(rows)


def run(path: Path | None = None, steps: int = 3) -> Path:
    """Write the figure: one panel per (optimizer, measure), μP against SP, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = path or FIGURES / "mup_coord_check.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = ("hidden", "output", "hidden_update", "output_update")
    titles = {
        "hidden": "last hidden |h|",
        "output": "output |f(x)|",
        "hidden_update": "|h_t - h_0|",
        "output_update": "|f_t(x) - f_0(x)|",
    }
    fig, axes = plt.subplots(2, len(shown), figsize=(3.2 * len(shown), 6), squeeze=False)
    for row, optimizer in enumerate(("sgd", "adam")):
        params = ("mup", "sp", "u-mup") if optimizer == "adam" else ("mup", "sp")
        data = {p: coord_check(p, optimizer, steps) for p in params}
        for col, m in enumerate(shown):
            ax = axes[row][col]
            for p in params:
                name, color, marker, line = STYLE[p]
                label = f"{name} (slope {slope(data[p][m]):+.2f})"
                ax.plot(WIDTHS, data[p][m], label=label, color=color, marker=marker, linestyle=line)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(WIDTHS, [str(w) for w in WIDTHS])
            lo = min(min(data[p][m]) for p in data)
            hi = max(max(data[p][m]) for p in data)
            pad = max(1.0, math.sqrt(30 * lo / hi))  # span at least 30x, centred
            ax.set_ylim(lo / pad, hi * pad)
            ax.set_title(f"{optimizer.upper()}: {titles[m]}", fontsize=9)
            ax.set_xlabel("width")
            ax.legend(fontsize=7)
    fig.suptitle(f"μP coordinate check: mean |activation| after {steps} steps, 16-w-w-w-8 ReLU MLP")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(run())
    print(table())
