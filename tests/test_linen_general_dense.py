"""``init_tree`` on linen's general dense layers: ``DenseGeneral`` and the attention projections.

A ``DenseGeneral`` kernel is ``(*inputs, *features)`` and Flax initializes it as the flattened
``(prod(inputs), prod(features))`` matrix, so its fans are not the conv reading of a rank-3
shape. The expected fans below are written from that definition by hand. The laws are
compared with Flax's own ``model.init`` by a two-sample KS test per kernel, each of which
would fail by chance with probability ``ALPHA`` if both draw the same law.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nn = pytest.importorskip("flax.linen")
pytestmark = pytest.mark.jax

import jax.numpy as jnp  # noqa: E402
from scipy import stats  # noqa: E402
from varinit.adapters.jax import init_tree  # noqa: E402

ALPHA = 1e-5
FLAX_RULES = {"weight": "lecun_normal", "bias": "zeros"}


class Model(nn.Module):  # type: ignore[misc]
    @nn.compact
    def __call__(self, x: Any) -> Any:
        x = nn.MultiHeadDotProductAttention(num_heads=4, qkv_features=64)(x)
        x = nn.DenseGeneral(features=(8, 16))(x)
        x = nn.DenseGeneral(features=32, axis=(-2, -1))(x)
        x = nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=32, use_bias=False, name="attn")(x)
        x = nn.DenseGeneral(features=(4, 8), use_bias=False)(x)
        return nn.Conv(5, (3,))(x.reshape(1, 10, 32))


#: (fan_in, fan_out) of every kernel and bias, from Flax's flattening (*inputs, *features)
FANS = {
    "params.MultiHeadDotProductAttention_0.query.kernel": (96, 64),
    "params.MultiHeadDotProductAttention_0.query.bias": (96, 64),
    "params.MultiHeadDotProductAttention_0.key.kernel": (96, 64),
    "params.MultiHeadDotProductAttention_0.value.kernel": (96, 64),
    "params.MultiHeadDotProductAttention_0.out.kernel": (64, 96),
    "params.MultiHeadDotProductAttention_0.out.bias": (64, 96),
    "params.DenseGeneral_0.kernel": (96, 128),
    "params.DenseGeneral_0.bias": (96, 128),
    "params.DenseGeneral_1.kernel": (128, 32),
    "params.attn.query.kernel": (32, 32),
    "params.attn.out.kernel": (32, 32),
    "params.DenseGeneral_2.kernel": (32, 32),
    "params.Conv_0.kernel": (96, 15),  # a conv stays a conv: (k, in, out)
}


@pytest.fixture(scope="module")
def params() -> Any:
    return Model().init(jax.random.key(0), jnp.zeros((1, 10, 96)))


def _leaves(tree: Any) -> dict[str, Any]:
    flat = jax.tree_util.tree_leaves_with_path(tree)
    return {".".join(str(getattr(k, "key", k)) for k in path): v for path, v in flat}


@pytest.mark.parametrize("shapes_only", [False, True], ids=["arrays", "eval_shape"])
def test_fans_are_the_flattened_kernels(params: Any, shapes_only: bool) -> None:
    tree = jax.eval_shape(lambda: params) if shapes_only else params
    _, report = init_tree(tree, FLAX_RULES, seed=0, report=True)
    rows = {r.name: r for r in report.rows}
    for name, (fi, fo) in FANS.items():
        assert (rows[name].fan_in, rows[name].fan_out) == (fi, fo), name
        if name.endswith("kernel"):
            assert rows[name].std == pytest.approx(1 / np.sqrt(fi), rel=1e-12), name


@pytest.fixture(scope="module")
def drawn(params: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(varinit's leaves with Flax's default rules, Flax's own ``model.init`` leaves), flattened."""
    ours = _leaves(init_tree(params, FLAX_RULES, seed=7))
    theirs = _leaves(Model().init(jax.random.key(11), jnp.zeros((1, 10, 96))))
    return (
        {k: np.asarray(v).ravel() for k, v in ours.items()},
        {k: np.asarray(v).ravel() for k, v in theirs.items()},
    )


def test_kernels_follow_flax_own_law(drawn: Any) -> None:
    ours, theirs = drawn
    for name in (n for n in FANS if n.endswith("kernel")):
        assert stats.ks_2samp(ours[name], theirs[name]).pvalue > ALPHA, name


def test_the_conv_reading_would_be_caught(drawn: Any) -> None:
    """The check above can fail: half the std (the conv reading of (96, 4, 16)) is rejected."""
    ours, theirs = drawn
    name = "params.MultiHeadDotProductAttention_0.query.kernel"
    assert stats.ks_2samp(ours[name] / 2, theirs[name]).pvalue < ALPHA
