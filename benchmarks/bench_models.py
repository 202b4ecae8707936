"""Whole-model init: ``init_module(model, preset, seed=0, measure=False)`` vs torch's own init.

For each model, torch's own init of the same model is re-run in place (every module's
``reset_parameters()`` and ``MultiheadAttention._reset_parameters()``; torchvision's ResNet
init; for GPT-2, transformers' ``_init_weights`` on every module), then varinit's int-seed
init (one portable stream per parameter, keyed by its name) with the preset that reproduces
that init. Both are timed in the same run, alternating, best of N, and the ratio printed;
nothing is asserted. Target: at most 1.5x.

    python benchmarks/bench_models.py [--repeat 5] [--profile]

``--profile`` prints where init_module's time goes (cProfile, by cumulative time), split
into planning (rules, streams, requests), drawing and measuring.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
from collections.abc import Callable

import torch
from _common import best_pair, cpu_flags
from torch import nn
from varinit.adapters.torch import init_module

# --------------------------------------------------------------------------- models


class BasicBlock(nn.Module):
    """torchvision's two-conv residual block."""

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != width:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def resnet18(num_classes: int = 1000) -> nn.Module:
    """A torchvision-shaped ResNet-18 (11.7 M parameters)."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers.append(nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width)))
        cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def encoder() -> nn.Module:
    """nn.TransformerEncoder, 12 layers of d_model 768, 12 heads, feed-forward 3072 (85 M)."""
    layer = nn.TransformerEncoderLayer(768, 12, dim_feedforward=3072, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=12, enable_nested_tensor=False)


def torchvision_init(model: nn.Module) -> None:
    """torchvision's ResNet init with ``zero_init_residual=True``: He-normal fan-out convs,
    unit BN, each block's last BN zero; the classifier keeps torch's Linear default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            m.reset_parameters()
    for m in model.modules():
        if isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)


def torch_reset(model: nn.Module) -> None:
    """torch's own init, again: what each module ran when it was constructed."""
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            m._reset_parameters()
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()


def gpt2_small() -> tuple[nn.Module, Callable[[], None]] | None:
    """transformers' GPT-2 small (124 M) and its own ``_init_weights`` re-run, if installed."""
    try:
        import transformers
    except ImportError:
        return None
    cfg = transformers.GPT2Config(bos_token_id=0, eos_token_id=0)  # 12 layers, 768, vocab 50257
    model = transformers.GPT2Model(cfg)

    def hf_init() -> None:
        for m in model.modules():
            model._init_weights(m)

    return model, hf_init


# --------------------------------------------------------------------------- timing


def profile(model: nn.Module, preset: str) -> None:
    """Where ``init_module``'s time goes: the top functions by cumulative time."""
    pr = cProfile.Profile()
    pr.enable()
    init_module(model, preset, seed=0, measure=False)
    pr.disable()
    st = pstats.Stats(pr)
    total = sum(v[3] for k, v in st.stats.items() if k[2] == "init_module")  # type: ignore[attr-defined]
    parts = {"planning (resolve)": "resolve", "planning (params_of)": "params_of", "drawing": "execute_many"}
    print(f"  profile of init_module({preset!r}): {total * 1e3:.1f} ms under cProfile")
    for label, fn in parts.items():
        t = sum(v[3] for k, v in st.stats.items() if k[2] == fn)  # type: ignore[attr-defined]
        print(f"    {label:<22}{t * 1e3:9.1f} ms")
    st.sort_stats("cumulative").print_stats(12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile init_module on each model")
    args = ap.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; flags: {cpu_flags()}"
    )
    torch.manual_seed(0)
    cases: list[tuple[str, nn.Module, Callable[[], None], str, str]] = []
    net = resnet18()
    cases.append(("ResNet-18", net, lambda n=net: torch_reset(n), "reset_parameters", "torch"))
    cases.append(("ResNet-18", net, lambda n=net: torchvision_init(n), "torchvision init", "resnet"))
    enc = encoder()
    cases.append(
        ("TransformerEncoder 12x768", enc, lambda e=enc: torch_reset(e), "reset_parameters", "torch")
    )
    gpt = gpt2_small()
    if gpt is not None:
        cases.append(("GPT-2 small (transformers)", gpt[0], gpt[1], "_init_weights", "gpt2"))
    print(f"best of {args.repeat}; ratio = init_module / torch's own init (target <= 1.5x)")
    print(
        f"  {'model':<28}{'params':>8}{'torch init':>18}{'ms':>8}{'preset':>9}{'varinit ms':>12}{'ratio':>8}"
    )
    for name, model, theirs, how, preset in cases:
        n = sum(p.numel() for p in model.parameters())
        ours = lambda m=model, p=preset: init_module(m, p, seed=0, measure=False)  # noqa: E731
        t_ref, t_ours = best_pair(theirs, ours, args.repeat)
        print(
            f"  {name:<28}{n / 1e6:7.1f}M{how:>18}{t_ref * 1e3:8.0f}{preset:>9}"
            f"{t_ours * 1e3:12.0f}{t_ours / t_ref:7.2f}x"
        )
    if args.profile:
        for _, model, _, _, preset in cases:
            profile(model, preset)


if __name__ == "__main__":
    main()
