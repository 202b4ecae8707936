"""Every whole-model preset against the reference implementation's own init, on real models.

- ``gpt2``: transformers' ``GPT2Model``/``GPT2LMHeadModel`` as built (``_init_weights``);
- ``vit``: timm's ``VisionTransformer(weight_init="jax")``;
- ``resnet``: a torchvision-style ResNet-18 and a Bottleneck ResNet, with torchvision's
  ``zero_init_residual=True`` written out below as the reference;
- ``llama``: a torchtitan-style Llama with torchtitan's ``init_weights`` (``depth_init=True``)
  written out below as the reference;
- ``torch``: torch's layers as constructed (their own ``reset_parameters``).

How parameters are compared (``_mismatches``): where the reference is constant (zeros, ones)
ours must be equal element for element; elsewhere both must be non-constant and pass, at
significance ``ALPHA`` (1e-5) per check, a two-sample Kolmogorov-Smirnov test (the same law) and
a two-sample z-test on the mean square (the variance about the laws' zero mean; its standard
error from each sample's own fourth moment). Where the law's std is a stated number (GPT-2's
residual scaling, torchtitan's depth scaling, He fan-out convolutions), ours is also tested
against it with the exact chi-square bound. Every seed is fixed, so each test is
deterministic; ``test_the_comparison_catches_a_wrong_preset`` shows the checks fail on a
preset that is wrong.

This module imports transformers, and with it (where Triton is on the path) a second LLVM: it
is in ``conftest.ISOLATED``, so the suite runs it in a pytest process without TensorFlow.
"""

from __future__ import annotations

import enum
import importlib.util
import math
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")
nn = torch.nn

from varinit.adapters._torch_model import params_of  # noqa: E402
from varinit.adapters.torch import init_module  # noqa: E402

pytestmark = pytest.mark.torch

#: significance of each statistical check (two-sided); this file makes about 430 (two per
#: random parameter compared, plus the one-sample ones), so by Bonferroni correct presets
#: fail any of them with probability below 0.5%
ALPHA = 1e-5
Z = float(stats.norm.isf(ALPHA / 2))


# --------------------------------------------------------------------------- the comparison


def _flat(t: Any) -> np.ndarray:
    return t.detach().to(torch.float64).reshape(-1).numpy()


def _constant(x: np.ndarray) -> bool:
    return bool(x.size) and bool(x.min() == x.max())


def _mean_square_z(x: np.ndarray, y: np.ndarray) -> float:
    """z of the difference of the two samples' mean squares (asymptotically standard normal)."""
    x2, y2 = x * x, y * y
    se = math.sqrt(x2.var(ddof=1) / x2.size + y2.var(ddof=1) / y2.size)
    return float((x2.mean() - y2.mean()) / se)


def _mismatches(reference: Any, ours: Any) -> list[str]:
    """The parameters where ``ours`` does not match ``reference`` (same names), with why."""
    mine = dict(ours.named_parameters())
    theirs = dict(reference.named_parameters())
    assert mine.keys() == theirs.keys()
    bad = []
    for name, t in theirs.items():
        r, o = _flat(t), _flat(mine[name])
        if _constant(r):
            if not np.array_equal(r, o):
                bad.append(f"{name}: the reference is all {r[0]}, ours is not")
            continue
        if _constant(o):
            bad.append(f"{name}: ours is constant ({o[0]}), the reference is random")
            continue
        p = float(stats.ks_2samp(r, o).pvalue)
        z = _mean_square_z(o, r)
        if p < ALPHA or abs(z) > Z:
            ratio = math.sqrt((o * o).mean() / (r * r).mean())
            bad.append(f"{name}: KS p = {p:.2e}, mean-square z = {z:.1f} (rms ratio {ratio:.4f})")
    return bad


def _normal_std_ok(t: Any, std: float) -> bool:
    """Whether ``t`` is consistent with N(0, std^2): sum(x^2)/std^2 ~ chi2(n), two-sided ALPHA."""
    x = _flat(t)
    s = float((x * x).sum() / std**2)
    lo, hi = stats.chi2.ppf(ALPHA / 2, x.size), stats.chi2.isf(ALPHA / 2, x.size)
    return bool(lo <= s <= hi)


def _params(module: Any) -> dict[str, Any]:
    return {n: t.detach() for n, t in module.named_parameters()}


def _rules(report: Any) -> dict[str, str]:
    return {row.name: row.rule for row in report.rows}


def _roles(module: Any, role: str) -> set[str]:
    return {p.name for p, _ in params_of(module) if role in p.roles}


# --------------------------------------------------------------------------- gpt2 (transformers)


def _gpt2(cls_name: str, seed: int) -> Any:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(
        n_layer=3, n_embd=64, n_head=4, vocab_size=500, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    torch.manual_seed(seed)
    return getattr(transformers, cls_name)(cfg)


@pytest.mark.parametrize("cls_name", ["GPT2Model", "GPT2LMHeadModel"])
def test_gpt2_matches_transformers_init_weights(cls_name: str) -> None:
    reference = _gpt2(cls_name, seed=1)  # transformers' own _init_weights, at construction
    ours = _gpt2(cls_name, seed=2)
    report = init_module(ours, "gpt2", seed=0)
    assert _mismatches(reference, ours) == []
    n_layer = 3
    proj = [n for n, _ in ours.named_parameters() if n.endswith("c_proj.weight")]
    assert len(proj) == 2 * n_layer  # attn.c_proj and mlp.c_proj in every block
    named = _params(ours)
    for name in proj:
        assert _normal_std_ok(named[name], 0.02 / math.sqrt(2 * n_layer)), name
        assert not _normal_std_ok(named[name], 0.02), name  # the check can tell the two apart
    rules = _rules(report)
    assert {n for n, r in rules.items() if r == "'residual_out'"} == set(proj)
    assert _roles(ours, "residual_out") == set(proj)  # not attn.c_attn, not mlp.c_fc
    for name in named:
        if name.endswith(("c_attn.weight", "c_fc.weight")):
            assert rules[name] == "'weight'" and _normal_std_ok(named[name], 0.02), name
    if cls_name == "GPT2LMHeadModel":  # the head is tied to wte: one parameter, one row
        assert ours.lm_head.weight is ours.transformer.wte.weight
        assert rules["transformer.wte.weight"] == "'embedding'"


def test_the_comparison_catches_a_wrong_preset() -> None:
    reference = _gpt2("GPT2Model", seed=1)
    ours = _gpt2("GPT2Model", seed=2)
    init_module(ours, ["gpt2", {"residual_out": ("normal", {"std": 0.02})}], seed=0)
    bad = _mismatches(reference, ours)
    assert {b.split(":")[0] for b in bad} == {
        f"h.{i}.{m}.c_proj.weight" for i in range(3) for m in ("attn", "mlp")
    }
    ours = _gpt2("GPT2Model", seed=2)
    init_module(ours, ["gpt2", {"norm_bias": "ones"}], seed=0)
    assert len(_mismatches(reference, ours)) == 7  # ln_1, ln_2 of 3 blocks and ln_f


# --------------------------------------------------------------------------- vit (timm)


class _Absent:
    """Stands in for a torchvision class that timm names at import; using it is an error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("torchvision is not installed; this test stubs it for timm's import only")


def _torchvision_stub() -> dict[str, types.ModuleType]:
    """The torchvision attributes ``import timm`` touches (timm 1.0), as placeholders."""

    class InterpolationMode(enum.Enum):
        NEAREST = "nearest"
        NEAREST_EXACT = "nearest-exact"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"
        BOX = "box"
        HAMMING = "hamming"
        LANCZOS = "lanczos"

    def module(name: str, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__path__ = []  # a package, so its submodules import
        m.__dict__.update(attrs)
        return m

    def absent(name: str) -> type:
        return type(name, (_Absent,), {})

    functional = module("torchvision.transforms.functional", InterpolationMode=InterpolationMode)
    transforms = module(
        "torchvision.transforms",
        functional=functional,
        InterpolationMode=InterpolationMode,
        ToTensor=absent("ToTensor"),
    )
    misc = module("torchvision.ops.misc", FrozenBatchNorm2d=absent("FrozenBatchNorm2d"))
    ops = module("torchvision.ops", misc=misc)
    datasets = module(
        "torchvision.datasets",
        **{n: absent(n) for n in ("CIFAR100", "CIFAR10", "MNIST", "KMNIST", "FashionMNIST", "ImageFolder")},
    )
    root = module("torchvision", transforms=transforms, ops=ops, datasets=datasets)
    return {m.__name__: m for m in (root, transforms, functional, ops, misc, datasets)}


@pytest.fixture(scope="module")
def vision_transformer() -> Iterator[type]:
    """timm's ``VisionTransformer``; a torchvision stub is in ``sys.modules`` only for the import."""
    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm is not installed")
    stub = {} if importlib.util.find_spec("torchvision") is not None else _torchvision_stub()
    added = [name for name in stub if name not in sys.modules]
    sys.modules.update({name: stub[name] for name in added})
    try:
        from timm.models.vision_transformer import VisionTransformer
    finally:
        for name in added:
            del sys.modules[name]
    yield VisionTransformer


def _vit(cls: type, seed: int) -> Any:
    torch.manual_seed(seed)
    return cls(
        img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, num_classes=10, weight_init="jax"
    )


def test_vit_matches_timm_jax_init(vision_transformer: type) -> None:
    reference = _vit(vision_transformer, seed=1)
    ours = _vit(vision_transformer, seed=2)
    report = init_module(ours, "vit", seed=0)
    assert _mismatches(reference, ours) == []
    p = _params(ours)
    assert torch.equal(p["head.weight"], torch.zeros(10, 64)) and torch.equal(p["head.bias"], torch.zeros(10))
    for name in ("blocks.0.mlp.fc1.bias", "blocks.1.mlp.fc2.bias", "cls_token"):
        assert _normal_std_ok(p[name], 1e-6), name
    for name in ("blocks.0.attn.qkv.bias", "blocks.0.attn.proj.bias", "patch_embed.proj.bias"):
        assert torch.equal(p[name], torch.zeros_like(p[name])), name
    qkv = p["blocks.0.attn.qkv.weight"]  # Glorot-uniform over the fused (3 * 64, 64) matrix
    bound = math.sqrt(6 / (64 + 3 * 64))
    assert float(qkv.abs().max()) <= np.float32(bound)
    assert stats.kstest(_flat(qkv), "uniform", args=(-bound, 2 * bound)).pvalue > ALPHA
    # patch embedding: LeCun normal truncated at 2 sigma, sigma corrected (timm's lecun_normal_)
    w = p["patch_embed.proj.weight"]
    scale = math.sqrt(1 / (3 * 8 * 8)) / 0.87962566103423978
    assert float(w.abs().max()) <= 2 * scale
    assert stats.kstest(_flat(w), "truncnorm", args=(-2, 2, 0, scale)).pvalue > ALPHA
    assert _rules(report)["patch_embed.proj.weight"] == "'conv'"


# --------------------------------------------------------------------------- resnet (torchvision-style)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> Any:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> Any:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):  # type: ignore[misc]
    """torchvision's two-conv residual block."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: Any = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x: Any) -> Any:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):  # type: ignore[misc]
    """torchvision's 1x1-3x3-1x1 residual block (stride on the 3x3)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: Any = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(cin, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, width * 4)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Any) -> Any:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):  # type: ignore[misc]
    """torchvision's ResNet; ``zero_init_residual=True`` is the reference init, written out."""

    def __init__(self, block: type, layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.cin = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(block, 64, layers[0])
        self.layer2 = self._stage(block, 128, layers[1], stride=2)
        self.layer3 = self._stage(block, 256, layers[2], stride=2)
        self.layer4 = self._stage(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)  # type: ignore[attr-defined]

    def _stage(self, block: Any, width: int, blocks: int, stride: int = 1) -> Any:
        down = None
        if stride != 1 or self.cin != width * block.expansion:
            down = nn.Sequential(
                _conv1x1(self.cin, width * block.expansion, stride), nn.BatchNorm2d(width * block.expansion)
            )
        out = [block(self.cin, width, stride, down)]
        self.cin = width * block.expansion
        out += [block(self.cin, width) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def reference_init(self) -> None:
        """torchvision: He-normal fan-out convs, unit BN, then the last BN of each block zero."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.constant_(m.bn3.weight, 0)
            elif isinstance(m, BasicBlock):
                nn.init.constant_(m.bn2.weight, 0)

    def forward(self, x: Any) -> Any:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _resnet(block: type, layers: list[int], seed: int, reference: bool) -> Any:
    torch.manual_seed(seed)
    net = ResNet(block, layers)
    if reference:
        net.reference_init()
    return net


@pytest.mark.parametrize(
    ("block", "layers", "last"), [(BasicBlock, [2, 2, 2, 2], "bn2"), (Bottleneck, [1, 1, 1, 1], "bn3")]
)
def test_resnet_matches_torchvision_zero_init_residual(block: type, layers: list[int], last: str) -> None:
    reference = _resnet(block, layers, seed=1, reference=True)
    ours = _resnet(block, layers, seed=2, reference=False)
    report = init_module(ours, "resnet", seed=0)
    assert _mismatches(reference, ours) == []
    blocks = [m for m in ours.modules() if isinstance(m, block)]
    assert len(blocks) == sum(layers)
    zeroed = {n for n, t in _params(ours).items() if n.endswith(".weight") and t.dim() == 1 and not t.any()}
    want = {f"layer{s + 1}.{i}.{last}.weight" for s, n in enumerate(layers) for i in range(n)}
    assert zeroed == want  # every block's last BN, and nothing else (not bn2 of a Bottleneck)
    assert {n for n, r in _rules(report).items() if r == "'residual_norm'"} == want
    for name, t in _params(ours).items():
        if t.dim() == 4:  # He normal, fan_out = out_channels * kh * kw, untruncated
            assert _normal_std_ok(t, math.sqrt(2 / (t.shape[0] * t.shape[2] * t.shape[3]))), name
        elif name.endswith(".weight") and t.dim() == 1 and name not in want:
            assert torch.equal(t, torch.ones_like(t)), name
        elif name.endswith(".bias") and t.dim() == 1 and not name.startswith("fc."):
            assert torch.equal(t, torch.zeros_like(t)), name
    bound = 1 / math.sqrt(512 * block.expansion)  # type: ignore[attr-defined]
    for t in (ours.fc.weight.detach(), ours.fc.bias.detach()):  # torch's Linear default
        assert float(t.abs().max()) <= np.float32(bound)
        assert stats.kstest(_flat(t), "uniform", args=(-bound, 2 * bound)).pvalue > ALPHA


# --------------------------------------------------------------------------- llama (torchtitan-style)


class Attention(nn.Module):  # type: ignore[misc]
    """torchtitan llama3 attention's parameters (wq, wk, wv, wo; no biases)."""

    def __init__(self, dim: int, n_heads: int, n_kv_heads: int) -> None:
        super().__init__()
        head = dim // n_heads
        self.wq = nn.Linear(dim, n_heads * head, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * head, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * head, bias=False)
        self.wo = nn.Linear(n_heads * head, dim, bias=False)

    def init_weights(self, init_std: float) -> None:
        for lin in (self.wq, self.wk, self.wv):
            nn.init.trunc_normal_(lin.weight, mean=0.0, std=0.02)
        nn.init.trunc_normal_(self.wo.weight, mean=0.0, std=init_std)


class FeedForward(nn.Module):  # type: ignore[misc]
    """torchtitan llama3's SwiGLU feed-forward: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden: int, multiple_of: int) -> None:
        super().__init__()
        hidden = int(2 * hidden / 3)
        hidden = multiple_of * ((hidden + multiple_of - 1) // multiple_of)
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def init_weights(self, init_std: float) -> None:
        nn.init.trunc_normal_(self.w1.weight, mean=0.0, std=0.02)
        for lin in (self.w2, self.w3):
            nn.init.trunc_normal_(lin.weight, mean=0.0, std=init_std)


class TransformerBlock(nn.Module):  # type: ignore[misc]
    """torchtitan llama3's block; ``depth_init=True``: std 0.02 / sqrt(2 * (layer_id + 1))."""

    def __init__(self, layer_id: int, dim: int, n_heads: int, n_kv_heads: int) -> None:
        super().__init__()
        self.attention = Attention(dim, n_heads, n_kv_heads)
        self.feed_forward = FeedForward(dim, 4 * dim, multiple_of=32)
        self.attention_norm = nn.RMSNorm(dim)
        self.ffn_norm = nn.RMSNorm(dim)
        self.weight_init_std = 0.02 / (2 * (layer_id + 1)) ** 0.5

    def init_weights(self) -> None:
        for norm in (self.attention_norm, self.ffn_norm):
            norm.reset_parameters()
        self.attention.init_weights(self.weight_init_std)
        self.feed_forward.init_weights(self.weight_init_std)


class Llama(nn.Module):  # type: ignore[misc]
    """torchtitan llama3's Transformer: its parameter names and its ``init_weights``."""

    def __init__(self, vocab: int = 500, dim: int = 64, n_layers: int = 3, n_heads: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleDict(
            {str(i): TransformerBlock(i, dim, n_heads, n_heads // 2) for i in range(n_layers)}
        )
        self.norm = nn.RMSNorm(dim)
        self.output = nn.Linear(dim, vocab, bias=False)

    def init_weights(self) -> None:
        nn.init.normal_(self.tok_embeddings.weight)
        for layer in self.layers.values():
            layer.init_weights()
        self.norm.reset_parameters()
        std = self.dim**-0.5
        nn.init.trunc_normal_(self.output.weight, mean=0.0, std=std, a=-3 * std, b=3 * std)


def test_llama_matches_torchtitan_depth_init() -> None:
    torch.manual_seed(1)
    reference = Llama()
    reference.init_weights()
    torch.manual_seed(2)
    ours = Llama()
    report = init_module(ours, "llama", seed=0)
    assert _mismatches(reference, ours) == []
    p = _params(ours)
    for i in range(3):
        for name in (
            f"layers.{i}.attention.wo.weight",
            f"layers.{i}.feed_forward.w2.weight",
            f"layers.{i}.feed_forward.w3.weight",
        ):
            # trunc_normal_ at +-2 absolute: 100 sigma, a normal to float64 precision
            assert _normal_std_ok(p[name], 0.02 / math.sqrt(2 * (i + 1))), name
        for name in (f"layers.{i}.attention.wq.weight", f"layers.{i}.feed_forward.w1.weight"):
            assert _normal_std_ok(p[name], 0.02), name
    assert _normal_std_ok(p["tok_embeddings.weight"], 1.0)
    out, cut = _flat(p["output.weight"]), 3 * 64**-0.5
    assert out.max() <= cut and out.min() >= -cut
    assert stats.kstest(out, "truncnorm", args=(-3, 3, 0, 64**-0.5)).pvalue > ALPHA
    assert _rules(report)["output.weight"] == "'output.weight'"
    # detection: the residual branches' outputs are wo and w2 (w3 is defined last, but is a gate)
    want = {f"layers.{i}.{m}" for i in range(3) for m in ("attention.wo.weight", "feed_forward.w2.weight")}
    assert _roles(ours, "residual_out") == want


# --------------------------------------------------------------------------- torch's own layers


class _TorchLayers(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(40, 30)
        self.conv = nn.Conv2d(3, 16, 3)
        self.grouped = nn.Conv2d(16, 32, 5, groups=4)
        self.embed = nn.Embedding(200, 16)
        self.ln = nn.LayerNorm(30)
        self.bn = nn.BatchNorm2d(16)
        self.mha = nn.MultiheadAttention(48, 4)
        self.cross = nn.MultiheadAttention(48, 4, kdim=20, vdim=24, add_bias_kv=True)
        self.encoder = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64)


def _uniform_ok(t: Any, bound: float) -> bool:
    """Inside [-bound, bound] (the float32 bound) and U(-bound, bound) by KS at ALPHA."""
    x = _flat(t)
    inside = float(np.abs(x).max()) <= np.float32(bound)
    return inside and bool(stats.kstest(x, "uniform", args=(-bound, 2 * bound)).pvalue > ALPHA)


def test_torch_preset_matches_torch_reset_parameters() -> None:
    torch.manual_seed(1)
    reference = _TorchLayers()
    torch.manual_seed(2)
    ours = _TorchLayers()
    init_module(ours, "torch", seed=0)
    assert _mismatches(reference, ours) == []
    p = _params(ours)
    # bounds from torch's source: kaiming_uniform_(a=sqrt(5)) -> 1/sqrt(fan_in), bias the same
    fan_in = {
        "fc": 40,
        "conv": 3 * 9,
        "grouped": 4 * 25,
        "mha.out_proj": 48,
        "encoder.self_attn.out_proj": 32,
    }
    fan_in |= {"encoder.linear1": 32, "encoder.linear2": 64}
    for layer, n in fan_in.items():
        assert _uniform_ok(p[f"{layer}.weight"], 1 / math.sqrt(n)), layer
        if not layer.endswith("out_proj"):
            assert _uniform_ok(p[f"{layer}.bias"], 1 / math.sqrt(n)), layer
        else:  # MultiheadAttention._reset_parameters zeroes the output projection's bias
            assert not p[f"{layer}.bias"].any(), layer
    for mha, e in (("mha", 48), ("encoder.self_attn", 32)):  # xavier_uniform_ over (3E, E)
        assert _uniform_ok(p[f"{mha}.in_proj_weight"], math.sqrt(6 / (e + 3 * e))), mha
        assert not p[f"{mha}.in_proj_bias"].any(), mha
    # separate q/k/v projections (kdim, vdim): xavier_uniform_ each; bias_k/v: xavier_normal_,
    # fans of a (1, 1, E) tensor both E
    for proj, n_in in (("q", 48), ("k", 20), ("v", 24)):
        assert _uniform_ok(p[f"cross.{proj}_proj_weight"], math.sqrt(6 / (n_in + 48))), proj
    for bias in ("bias_k", "bias_v"):
        assert _normal_std_ok(p[f"cross.{bias}"], math.sqrt(2 / (48 + 48))), bias
    assert _normal_std_ok(p["embed.weight"], 1.0)
    for norm in ("ln", "bn", "encoder.norm1", "encoder.norm2"):
        assert torch.equal(p[f"{norm}.weight"], torch.ones_like(p[f"{norm}.weight"])), norm
        assert not p[f"{norm}.bias"].any(), norm
    assert not _uniform_ok(p["fc.weight"], 1 / math.sqrt(20))  # the check sees a bound twice too wide
