"""``rules="auto"`` on recurrent layers: input weights Glorot uniform, recurrent weights
orthogonal, biases zero with an LSTM's forget gate at 1 (Keras' recurrent defaults), in torch
(``RNN``/``LSTM``/``GRU`` and the cells, proj_size, both directions) and Keras.

Orthogonality, bounds and constants are checked exactly (to float32 rounding for the
orthogonality); the Glorot law by a KS test that fails by chance with probability ``ALPHA``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

ALPHA = 1e-5


def _orthonormal_columns(w: np.ndarray) -> None:
    w = w.reshape(-1, w.shape[-1]) if w.shape[0] >= w.shape[-1] else w.T
    np.testing.assert_allclose(w.T.astype(np.float64) @ w, np.eye(w.shape[1]), atol=2e-5)


def _glorot(w: np.ndarray, fan_in: int, fan_out: int) -> None:
    b = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= np.float32(b)
    assert stats.kstest(w.ravel(), stats.uniform(-b, 2 * b).cdf).pvalue > ALPHA


@pytest.mark.torch
def test_torch_recurrent_layers() -> None:
    torch = pytest.importorskip("torch")
    from varinit.adapters.torch import init_module

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(32, 64, num_layers=2, bidirectional=True, proj_size=16)
            self.gru = torch.nn.GRU(32, 48)
            self.cell = torch.nn.LSTMCell(48, 40)
            self.head = torch.nn.Linear(40, 5)

        def forward(self, x: Any) -> Any:
            a, _ = self.lstm(x)
            g, _ = self.gru(x)
            h, _ = self.cell(g[-1])
            return self.head(h) + a[-1].sum()

    net = Net()
    report = init_module(net, "auto", seed=3)
    rows = {r.name: r for r in report.rows}
    params = {n: p.detach().numpy() for n, p in net.named_parameters()}
    hidden = {"lstm": 64, "gru": 48, "cell": 40}
    for name, w in params.items():
        layer, local = name.split(".")
        if layer == "head":
            continue
        h = hidden[layer]
        if local.startswith("weight_hh"):
            assert rows[name].scheme == "orthogonal", name
            _orthonormal_columns(w)
        elif local.startswith(("weight_ih", "weight_hr")):
            _glorot(w, w.shape[1], w.shape[0])
        elif local.startswith("bias_ih") and layer in ("lstm", "cell"):
            want = np.zeros(4 * h, np.float32)
            want[h : 2 * h] = 1.0
            np.testing.assert_array_equal(w, want)
            assert "forget" in rows[name].why
        else:
            np.testing.assert_array_equal(w, np.zeros_like(w))
    assert "orthogonal" in rows["lstm.weight_hh_l1_reverse"].why


@pytest.mark.torch
def test_torch_recurrent_auto_is_reproducible() -> None:
    torch = pytest.importorskip("torch")
    from varinit.adapters.torch import init_module

    a, b = torch.nn.GRU(8, 16), torch.nn.GRU(8, 16)
    init_module(a, "auto", seed=1)
    init_module(b, "auto", seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.tensorflow
def test_keras_recurrent_layers() -> None:
    keras = pytest.importorskip("keras")
    from varinit.adapters.keras import init_model

    inp = keras.Input((10, 12))
    x = keras.layers.LSTM(24, return_sequences=True, name="lstm")(inp)
    x = keras.layers.GRU(20, name="gru")(x)
    model = keras.Model(inp, keras.layers.Dense(3, name="head")(x))
    report = init_model(model, "auto", seed=5)
    rows = {r.name.rsplit(".", 1)[-1] + "@" + r.name.split(".")[0]: r for r in report.rows}
    weights = {v.path.split("/")[0] + "." + v.path.rsplit("/", 1)[-1]: np.asarray(v) for v in model.weights}
    _orthonormal_columns(weights["lstm.recurrent_kernel"].T)
    _orthonormal_columns(weights["gru.recurrent_kernel"].T)
    _glorot(weights["lstm.kernel"], 12, 96)
    _glorot(weights["gru.kernel"], 24, 60)
    bias = np.zeros(96, np.float32)
    bias[24:48] = 1.0
    np.testing.assert_array_equal(weights["lstm.bias"], bias)
    np.testing.assert_array_equal(weights["gru.bias"], np.zeros_like(weights["gru.bias"]))
    assert rows["recurrent_kernel@lstm"].scheme == "orthogonal"
