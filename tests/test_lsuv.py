"""LSUV: after it, every layer's output variance on the batch is 1 +- tol (torch, Keras, Flax).

TensorFlow/Keras is imported inside this module's tests only.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr
from typing import Any

import numpy as np
import pytest

from varinit.lsuv import DeadLayerError, lsuv, lsuv_flax, lsuv_keras, lsuv_torch

TOL = 0.02
RNG = np.random.default_rng(0)
X = RNG.standard_normal((256, 32)).astype(np.float32)


def _torch_variances(net: Any, x: Any) -> list[float]:
    import torch

    out: list[float] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: out.append(float(o.double().var(unbiased=False))))
        for m in net.modules()
        if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return out


def test_import_loads_no_framework() -> None:
    code = (
        "import sys, varinit, varinit.lsuv\n"
        "print(','.join(m for m in ('torch', 'jax', 'tensorflow', 'keras', 'flax') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == ""


@pytest.mark.torch
def test_torch_mlp_and_cnn() -> None:
    torch = pytest.importorskip("torch")

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(*[m for _ in range(12) for m in (torch.nn.Linear(32, 32), torch.nn.ReLU())])
    x = torch.from_numpy(X)
    report = lsuv_torch(mlp, x, tol=TOL, seed=0)
    assert len(report.layers) == 12 and report.converged
    assert all(abs(v - 1) < TOL for v in _torch_variances(mlp, x))  # measured independently
    assert all(float(m.bias.detach().abs().max()) == 0 for m in mlp if isinstance(m, torch.nn.Linear))

    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.Tanh(),
        torch.nn.Conv2d(8, 8, 3),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
    )
    xc = torch.from_numpy(RNG.standard_normal((32, 3, 8, 8)).astype(np.float32))
    lsuv(cnn, xc, tol=TOL)
    assert all(abs(v - 1) < TOL for v in _torch_variances(cnn, xc))


@pytest.mark.torch
def test_torch_seed_is_reproducible_and_orthogonal_preinit() -> None:
    torch = pytest.importorskip("torch")

    nets = []
    for _ in range(2):
        net = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16))
        lsuv_torch(net, torch.from_numpy(X), tol=TOL, seed=3)
        nets.append(net)
    assert torch.equal(nets[0][0].weight, nets[1][0].weight)
    w = nets[0][2].weight.detach().double()
    gram = w @ w.T
    # a rescaled orthogonal matrix: W W^T is a multiple of the identity
    assert torch.allclose(gram / gram[0, 0], torch.eye(16, dtype=torch.float64), atol=1e-5)


@pytest.mark.torch
def test_torch_dead_layer_raises() -> None:
    torch = pytest.importorskip("torch")

    net = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    with pytest.raises(DeadLayerError, match=r"layer '0' has output variance 0.0.*dead layer"):
        lsuv_torch(net, torch.zeros(8, 32))
    # a layer fed only by ReLUs that never fire: the first layer is fine, the second is dead
    dead = torch.nn.Sequential(
        torch.nn.Linear(32, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 4),
        torch.nn.ReLU(),
        torch.nn.Linear(4, 4),
    )
    with torch.no_grad():
        x = torch.from_numpy(np.abs(X))

        def never_fire(mod: Any, inp: Any, out: Any) -> Any:
            return -out.abs() - 1  # the second Linear's outputs are all negative

        h = dead[2].register_forward_hook(never_fire)
        try:
            with pytest.raises(DeadLayerError, match="layer '4'"):
                lsuv_torch(dead, x)
        finally:
            h.remove()


@pytest.mark.torch
def test_progress_line_and_max_iter_warning() -> None:
    torch = pytest.importorskip("torch")

    net = torch.nn.Sequential(*[torch.nn.Linear(32, 32) for _ in range(3)])
    buf = io.StringIO()
    with redirect_stderr(buf):
        lsuv_torch(net, torch.from_numpy(X), progress=True)
    assert "LSUV 3/3 layers" in buf.getvalue()
    with pytest.warns(RuntimeWarning, match="did not reach variance 1"):
        report = lsuv_torch(net, torch.from_numpy(X) * 5, max_iter=0, tol=TOL)
    assert not report.converged and report.layers[0].iterations == 0
    with pytest.raises(ValueError, match="tol="):
        lsuv_torch(net, torch.from_numpy(X), tol=0)


@pytest.mark.tensorflow
def test_keras_model_on_tensorflow() -> None:
    pytest.importorskip("tensorflow")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = pytest.importorskip("keras")

    assert keras.backend.backend() == "tensorflow"
    model = keras.Sequential(
        [keras.Input((32,))]
        + [keras.layers.Dense(32, activation="relu") for _ in range(5)]
        + [keras.layers.Dense(10)]
    )
    report = lsuv_keras(model, X, tol=TOL, seed=0)
    assert report.converged and len(report.layers) == 6
    # measured independently: each Dense's pre-activation output
    h = X.astype(np.float64)
    for layer in model.layers:
        k, b = (keras.ops.convert_to_numpy(v.value).astype(np.float64) for v in (layer.kernel, layer.bias))
        z = h @ k + b
        assert abs(z.var() - 1) < TOL
        h = np.maximum(z, 0) if layer.activation.__name__ == "relu" else z
    with pytest.raises(DeadLayerError):
        lsuv(model, np.zeros_like(X))


@pytest.mark.jax
def test_flax_params_tree() -> None:
    jax = pytest.importorskip("jax")
    nn = pytest.importorskip("flax.linen")
    import jax.numpy as jnp

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x: Any) -> Any:
            for _ in range(4):
                x = nn.gelu(nn.Dense(32)(x))
            return nn.Dense(10)(x)

    model = MLP()
    x = jnp.asarray(X)
    variables = model.init(jax.random.PRNGKey(0), x)
    new, report = lsuv_flax(model, variables, x, tol=TOL, seed=0)
    assert set(new) == {"params"} and report.converged and len(report.layers) == 5
    _, state = model.apply(new, x, capture_intermediates=True, mutable=["intermediates"])
    for i in range(5):
        out = np.asarray(state["intermediates"][f"Dense_{i}"]["__call__"][0], dtype=np.float64)
        assert abs(out.var() - 1) < TOL
    bare, _ = lsuv_flax(model, variables["params"], x, tol=TOL)
    assert "Dense_0" in bare
    with pytest.raises(DeadLayerError, match="Dense_0"):
        lsuv_flax(model, variables, jnp.zeros_like(x))


@pytest.mark.torch
def test_docstring_example_runs() -> None:
    pytest.importorskip("torch")  # the example is a torch network
    import doctest

    import varinit.theory.lsuv

    result = doctest.testmod(varinit.theory.lsuv)
    assert result.attempted > 0 and result.failed == 0


def test_dispatch_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match="lsuv_flax"):
        lsuv({"Dense_0": {}}, X)
