"""docs/porting.md: every python block runs, in order, and what the guide claims holds.

The guide initializes a torch model (a convolution, an attention block, an MLP) by rules with
an int seed, and ports it to Flax linen with a name map and a layout map. Checked here,
independently of the guide's own check block: every Flax parameter equals its torch
counterpart in Flax's layout (transposes written out here), to float32 rounding; the outputs
on one input agree to float32 rounding; and the two things the port relies on are needed: a
Flax-named stream, or a draw in Flax's layout, gives other weights and other outputs.
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("flax")

import varinit

pytestmark = [pytest.mark.torch, pytest.mark.jax]

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "porting.md"
EPS = float(np.finfo(np.float32).eps)
#: output agreement asked for: |flax - torch| <= 64 float32 ulps of the largest output
OUT_ULPS = 64


def _blocks() -> list[str]:
    text = GUIDE.read_text("utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def _fences() -> int:
    return len(re.findall(r"^```", GUIDE.read_text("utf-8"), flags=re.MULTILINE)) // 2


@pytest.fixture(scope="module")
def guide() -> Iterator[dict[str, Any]]:
    """The guide's namespace after running every python block, in order (as a module that
    ``sys.modules`` knows while the tests run: Flax modules are dataclasses)."""
    module = types.ModuleType("porting_guide")
    sys.modules[module.__name__] = module
    try:
        for i, code in enumerate(_blocks()):
            exec(compile(code, f"{GUIDE.name} block {i}", "exec"), module.__dict__)
        yield module.__dict__
    finally:
        del sys.modules[module.__name__]


def test_every_block_is_python_and_runs(guide: dict[str, Any]) -> None:
    assert len(_blocks()) == _fences() >= 5  # no block of another language is left unrun
    assert {"net", "flax_net", "variables", "port_init", "torch_name", "to_flax"} <= guide.keys()


def _outputs(guide: dict[str, Any], variables: Any) -> tuple[np.ndarray, np.ndarray]:
    import jax.numpy as jnp
    import torch

    x = guide["x"]
    y_torch = guide["net"](torch.from_numpy(x)).detach().numpy()
    y_flax = np.asarray(guide["flax_net"].apply(variables, jnp.asarray(x.transpose(0, 2, 3, 1))))
    return y_flax, y_torch


def test_flax_parameters_are_the_torch_ones_in_flax_layout(guide: dict[str, Any]) -> None:
    from flax import traverse_util

    flat = traverse_util.flatten_dict(guide["variables"]["params"])
    torch_params = {n: t.detach().numpy() for n, t in guide["net"].named_parameters()}
    names = {".".join(p[:-1]) + (".bias" if p[-1] == "bias" else ".weight"): p for p in flat}
    assert names.keys() == torch_params.keys()  # one Flax parameter for every torch one
    for name, theirs in torch_params.items():
        ours = np.asarray(flat[names[name]])
        # (out, in, kh, kw) -> (kh, kw, in, out); (out, in) -> (in, out); a bias as it is
        want = theirs.transpose(2, 3, 1, 0) if theirs.ndim == 4 else theirs.T if theirs.ndim == 2 else theirs
        assert ours.shape == want.shape, name
        np.testing.assert_allclose(ours, want, rtol=2 * EPS, atol=0, err_msg=name)
        if name.endswith(("conv.bias", "fc1.bias")):  # torch_default biases: random, not constant
            assert np.unique(ours).size == ours.size, name


def test_outputs_agree_to_float32_rounding(guide: dict[str, Any]) -> None:
    y_flax, y_torch = _outputs(guide, guide["variables"])
    assert y_flax.shape == y_torch.shape == (2, 10)
    assert np.abs(y_flax - y_torch).max() <= OUT_ULPS * EPS * np.abs(y_torch).max()


def test_the_name_and_the_layout_are_both_needed(
    guide: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import jax.numpy as jnp

    x = jnp.asarray(guide["x"].transpose(0, 2, 3, 1))
    # a name map that swaps two layers' names (query and key): other weights, other outputs
    right = guide["torch_name"]
    swap = {"q": "k", "k": "q"}
    with monkeypatch.context() as m:
        m.setitem(guide, "torch_name", lambda path: right(tuple(swap.get(p, p) for p in path)))
        wrong = guide["port_init"](guide["flax_net"], x, guide["RULES"], guide["SEED"])
    q = guide["net"].attn.q.weight.detach().numpy().T
    assert not np.allclose(np.asarray(wrong["params"]["attn"]["q"]["kernel"]), q)
    y_flax, y_torch = _outputs(guide, wrong)  # the outputs' check would catch it
    assert np.abs(y_flax - y_torch).max() > OUT_ULPS * EPS * np.abs(y_torch).max()
    # drawn in Flax's layout under the right name: the same law, other values
    kernel = guide["net"].conv.weight.detach().numpy().transpose(2, 3, 1, 0)
    direct = varinit.init(
        "kaiming_normal",
        kernel.shape,
        seed=guide["SEED"],
        stream=varinit.stream_id("conv.weight"),
        layout="in_out",
        mode="fan_out",
        nonlinearity="relu",
    )
    assert not np.allclose(direct, kernel)
    assert np.isclose(np.std(direct), np.std(kernel), rtol=0.2)
