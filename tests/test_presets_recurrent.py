"""The ``torch`` and ``keras`` presets on recurrent layers, against the frameworks' own init.

- ``torch``: ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (several layers, both directions, LSTM's
  ``proj_size``) and ``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell`` as constructed (their
  ``reset_parameters``: every weight and bias U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)));
- ``keras``: ``SimpleRNN``/``GRU``/``LSTM``/``ConvLSTM1D`` and ``Bidirectional`` as built
  (Glorot-uniform kernels, orthogonal recurrent kernels, zero biases, LSTM's
  ``unit_forget_bias``), in a child process with ``KERAS_BACKEND=torch``, so this process
  never imports Keras or TensorFlow.

The statistics are ``tests/test_presets.py``'s (imported from it): each random parameter is
compared with the reference by a two-sample Kolmogorov-Smirnov test and a two-sample z-test
on the mean square, each at significance ``ALPHA`` = 1e-5; constants (zeros, ones, the
forget-gate slice) are compared exactly. One-sample checks use the same ``ALPHA``: the law
U(-b, b) by KS with every value inside the float32 bound, and, for tensors of at least
``LARGE`` values, both extremes within ``b * eps`` of the bound, where ``eps = 2 * (1 -
ALPHA ** (1 / n))`` is the margin a correct draw of ``n`` values misses with probability
``ALPHA``. Every seed is fixed, so each test is deterministic.
"""

from __future__ import annotations

import doctest
import importlib.util
import math
import os
import subprocess
import sys
import textwrap
import types
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")
nn = torch.nn

from test_presets import ALPHA, _flat, _mismatches, _uniform_ok  # noqa: E402
from varinit.adapters.torch import init_module  # noqa: E402

import varinit.models.expr  # noqa: E402
from varinit.models import RuleError  # noqa: E402

pytestmark = pytest.mark.torch

#: tensors at least this large also have both extremes checked against the bound
LARGE = 1000


def _extremes_ok(x: np.ndarray, bound: float) -> bool:
    """Both extremes of ``x`` within ``bound * eps`` of +-bound (missed by U(-bound, bound)
    with probability at most ``ALPHA`` per side)."""
    eps = 2 * (1 - ALPHA ** (1 / x.size))
    return bool(x.max() >= bound * (1 - eps) and x.min() <= -bound * (1 - eps))


# --------------------------------------------------------------------------- torch


RECURRENT = {
    "rnn": lambda: nn.RNN(10, 48, num_layers=2, nonlinearity="relu", bidirectional=True),
    "lstm": lambda: nn.LSTM(12, 40, num_layers=2, bidirectional=True, proj_size=16),
    "gru": lambda: nn.GRU(9, 36, num_layers=3, batch_first=True),
    "rnn_cell": lambda: nn.RNNCell(10, 64),
    "lstm_cell": lambda: nn.LSTMCell(12, 32),
    "gru_cell": lambda: nn.GRUCell(9, 40),
}


def _built(name: str, seed: int) -> Any:
    torch.manual_seed(seed)
    return RECURRENT[name]()


@pytest.mark.parametrize("name", list(RECURRENT))
def test_torch_preset_matches_torch_recurrent_init(name: str) -> None:
    reference = _built(name, seed=1)  # torch's reset_parameters, at construction
    ours = _built(name, seed=2)
    report = init_module(ours, "torch", seed=0)
    assert _mismatches(reference, ours) == []
    bound = 1 / math.sqrt(ours.hidden_size)
    kind = "RNNCellBase" if name.endswith("_cell") else "RNNBase"
    for pname, t in ours.named_parameters():
        x = _flat(t)
        assert _uniform_ok(t, bound), pname  # U(-b, b) by KS, and max|w| <= b in float32
        if x.size >= LARGE:
            assert _extremes_ok(x, bound), pname
        part = "weight" if pname.startswith("weight") else "bias"
        assert report[pname].rule == f"'type:{kind}.{part}*'", pname
    names = [n for n, _ in ours.named_parameters()]
    if name == "lstm":  # every layer, both directions, and proj_size's weight_hr
        assert {"weight_hr_l1", "weight_hr_l1_reverse", "bias_hh_l1_reverse"} <= set(names)
    # the bound is the hidden size's, not the fans' (the law torch_default would give)
    w = dict(ours.named_parameters())["weight_ih" if name.endswith("_cell") else "weight_ih_l0"]
    assert not _uniform_ok(w, 1 / math.sqrt(w.shape[1]))


class _Tagger(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(300, 32)
        self.lstm = nn.LSTM(32, 64, num_layers=2)
        self.cell = nn.GRUCell(64, 48)
        self.head = nn.Linear(48, 200)


def test_torch_preset_on_a_model_mixing_recurrent_and_other_layers() -> None:
    torch.manual_seed(1)
    reference = _Tagger()
    torch.manual_seed(2)
    ours = _Tagger()
    report = init_module(ours, "torch", seed=0)
    assert _mismatches(reference, ours) == []
    p = dict(ours.named_parameters())
    assert _uniform_ok(p["head.weight"], 1 / math.sqrt(48))  # fan-based, as before
    assert report["head.weight"].rule == "'weight'" and report["head.bias"].rule == "'bias'"
    assert _uniform_ok(p["lstm.weight_ih_l1"], 1 / math.sqrt(64))
    assert _uniform_ok(p["cell.bias_hh"], 1 / math.sqrt(48))


def test_torch_preset_int_seed_reproduces_the_same_bits() -> None:
    first, second, other = _built("lstm", 1), _built("lstm", 2), _built("lstm", 3)
    init_module(first, "torch", seed=7)
    init_module(second, "torch", seed=7)
    init_module(other, "torch", seed=8)
    a, b, c = (dict(m.named_parameters()) for m in (first, second, other))
    for n in a:
        assert torch.equal(a[n], b[n]), n
        assert not torch.equal(a[n], c[n]), n


def test_a_rule_reading_a_layer_attribute_it_lacks_is_an_error() -> None:
    # the torch preset's recurrent law, aimed at every weight: nn.Linear has no hidden_size
    law = ("uniform", {"low": "= -1 / sqrt(module.hidden_size)", "high": "= 1 / sqrt(module.hidden_size)"})
    net = nn.Sequential(nn.LSTM(4, 8), nn.Linear(8, 3))
    before = {n: t.detach().clone() for n, t in net.named_parameters()}
    with pytest.raises(RuleError, match=r"'1\.weight'.*Linear.*no attribute 'hidden_size'.*type:"):
        init_module(net, {"weight": law, "bias": "zeros"})
    assert all(torch.equal(t, before[n]) for n, t in net.named_parameters())  # nothing written


class LSTMCell(nn.Module):  # type: ignore[misc]
    """A torch cell named like Keras' whose bias is not Keras' (4 * units,) layout."""

    def __init__(self, units: int) -> None:
        super().__init__()
        self.units = units
        self.unit_forget_bias = True
        self.kernel = nn.Parameter(torch.empty(units, 3 * units))
        self.bias = nn.Parameter(torch.empty(units + 2))


def test_the_keras_forget_gate_slice_outside_the_bias_is_an_error() -> None:
    cell = nn.Sequential(LSTMCell(6))
    with pytest.raises(RuleError, match=r"'0\.bias'.*6:12 is not inside axis 0 of length 8.*target the rule"):
        init_module(cell, "keras", seed=0)


def test_slices_write_constants_over_the_drawn_values() -> None:
    lstm = nn.LSTM(4, 8)
    ones = {"start": "= module.hidden_size", "stop": "= 2 * module.hidden_size", "value": 1}
    r = init_module(lstm, ["torch", {"bias_hh_l0": ("zeros", {"slices": [ones]})}], seed=0)
    b = lstm.bias_hh_l0.detach()
    assert torch.equal(b[8:16], torch.ones(8)) and not b[:8].any() and not b[16:].any()
    assert r["bias_hh_l0"].why == "then [8:16] of axis 0 = 1"
    w = {"start": 0, "stop": 2, "value": -0.5, "axis": 0}  # rows 0 and 1 of a drawn weight
    init_module(lstm, {"weight_ih_l0": ("normal", {"std": 1.0, "slices": [w]})}, seed=0, strict=False)
    x = lstm.weight_ih_l0.detach()
    assert bool((x[:2] == -0.5).all()) and not bool((x[2:] == -0.5).any())
    with pytest.raises(RuleError, match=r"slices entry .*needs the keys start, stop and value"):
        init_module(lstm, {"*": ("zeros", {"slices": [{"start": 0}]})})


@pytest.mark.jax
def test_slices_in_jax_init_tree() -> None:
    jnp = pytest.importorskip("jax.numpy")
    from varinit.adapters.jax import init_tree

    tree = {"cell": {"bias": jnp.zeros(12), "kernel": jnp.zeros((3, 12))}}
    rule = ("zeros", {"slices": [{"start": "= shape[-1] / 4", "stop": "= shape[-1] / 2", "value": 1}]})
    out = init_tree(tree, {"cell.bias": rule}, seed=0, strict=False)
    assert np.array_equal(np.asarray(out["cell"]["bias"]), np.repeat([0.0, 1.0, 0.0, 0.0], 3))


def test_expression_docstring_examples_run() -> None:
    result = doctest.testmod(varinit.models.expr, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


# --------------------------------------------------------------------------- keras (child process)

CHILD = textwrap.dedent("""
    import sys

    import keras
    import numpy as np

    from varinit.adapters.keras import init_model

    L = keras.layers


    def model(forget=True, reset_after=True):
        inp = keras.Input((6, 48))
        x = L.LSTM(64, return_sequences=True, unit_forget_bias=forget, name="lstm")(inp)
        x = L.GRU(64, return_sequences=True, reset_after=reset_after, name="gru")(x)
        bilstm = L.LSTM(32, return_sequences=True, unit_forget_bias=forget, name="bilstm")
        x = L.Bidirectional(bilstm, name="bi")(x)
        x = L.SimpleRNN(96, return_sequences=True, name="rnn")(x)
        x = L.Reshape((6, 12, 8))(x)
        x = L.ConvLSTM1D(16, 3, unit_forget_bias=forget, name="convlstm")(x)
        return keras.Model(inp, x, name="m")


    def values(m):
        return {v.path.removeprefix("m/").replace("/", "."): keras.ops.convert_to_numpy(v.value)
                for v in m.trainable_variables}


    out = {}
    for tag, kw in (("", {}), ("nf_", {"forget": False, "reset_after": False})):
        keras.utils.set_random_seed(1)
        ref = model(**kw)  # Keras' own initializers, at build
        keras.utils.set_random_seed(2)
        ours = model(**kw)
        report = init_model(ours, "keras", seed=0)
        for n, x in values(ref).items():
            out[f"{tag}ref/{n}"] = x
        for n, x in values(ours).items():
            out[f"{tag}ours/{n}"] = x
        for row in report.rows:
            out[f"{tag}rule/{row.name}"] = np.array(row.rule)
    twice = []
    for _ in range(2):
        m = model()
        init_model(m, "keras", seed=5)
        twice.append(values(m))
    for n, x in twice[0].items():
        out[f"again/{n}"] = np.array(np.array_equal(x, twice[1][n]) and x.tobytes() == twice[1][n].tobytes())
    np.savez(sys.argv[1], backend=keras.backend.backend(), **out)
""")


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    tmp = tmp_path_factory.mktemp("keras_recurrent")
    script, out = tmp / "child.py", tmp / "out.npz"
    script.write_text(CHILD)
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(
        [sys.executable, str(script), str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    got = dict(np.load(out))
    assert str(got["backend"]) == "torch"
    return got


def _part(got: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.removeprefix(prefix): v for k, v in got.items() if k.startswith(prefix)}


def _as_module(arrays: dict[str, np.ndarray]) -> Any:
    """Arrays dressed as a module, for ``_mismatches``."""
    pairs = [(n, torch.from_numpy(np.array(a))) for n, a in arrays.items()]
    return types.SimpleNamespace(named_parameters=lambda: iter(pairs))


UNITS = {"lstm": 64, "gru": 64, "bi.forward_bilstm": 32, "bi.backward_bilstm": 32, "rnn": 96, "convlstm": 16}
#: Keras' cell class and gate count, by the cell's name in the variable path
CELLS = {
    "lstm_cell": ("LSTMCell", 4),
    "gru_cell": ("GRUCell", 3),
    "simple_rnn_cell": ("SimpleRNNCell", 1),
    "conv_lstm_cell": ("ConvLSTMCell", 4),
}


def _orthogonality_error(x: np.ndarray) -> float:
    """max |Q Q^T - I| over the shorter side of ``x`` flattened as Keras' ``Orthogonal`` does."""
    q = x.reshape(-1, x.shape[-1]).astype(np.float64)
    gram = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q
    return float(np.abs(gram - np.eye(len(gram))).max())


@pytest.mark.tensorflow
@pytest.mark.parametrize("tag", ["", "nf_"], ids=["defaults", "no_forget_bias_no_reset_after"])
def test_keras_preset_matches_keras_recurrent_init(keras_run: dict[str, np.ndarray], tag: str) -> None:
    ref, ours = _part(keras_run, f"{tag}ref/"), _part(keras_run, f"{tag}ours/")
    rules = {k: str(v) for k, v in _part(keras_run, f"{tag}rule/").items()}
    assert ref.keys() == ours.keys() == rules.keys() and len(ours) == 18
    assert _mismatches(_as_module(ref), _as_module(ours)) == []  # KS + mean square; constants exactly
    for name, x in ours.items():
        layer, cell, local = name.rsplit(".", 2)
        units, (cls, gates) = UNITS[layer], CELLS[cell]
        if local == "kernel":  # glorot_uniform over Keras' (in, out) fans
            fan_in = math.prod(x.shape[:-1])
            fan_out = x.shape[-1] * math.prod(x.shape[:-2])
            bound = math.sqrt(6 / (fan_in + fan_out))
            flat = x.ravel().astype(np.float64)
            assert float(np.abs(flat).max()) <= np.float32(bound), name
            assert stats.kstest(flat, "uniform", args=(-bound, 2 * bound)).pvalue > ALPHA, name
            assert _extremes_ok(flat, bound), name
            assert rules[name] == "'weight'", name
        elif local == "recurrent_kernel":  # orthogonal, as exactly as Keras' own
            assert _orthogonality_error(x) <= 1e-5 and _orthogonality_error(ref[name]) <= 1e-5, name
            assert rules[name] == f"'type:{cls}.recurrent_kernel'", name
        else:  # zeros; LSTM's forget gate [units, 2 * units) one where unit_forget_bias
            assert local == "bias", name
            gru_reset_after = cls == "GRUCell" and tag == ""
            assert x.shape == ((2, 3 * units) if gru_reset_after else (gates * units,)), name
            want = np.zeros(x.shape, np.float32)
            if gates == 4 and tag == "":
                want[units : 2 * units] = 1
            assert np.array_equal(x, want) and np.array_equal(ref[name], want), name
            assert rules[name] == (f"'type:{cls}.bias'" if gates == 4 else "'bias'"), name


@pytest.mark.tensorflow
def test_keras_preset_int_seed_reproduces_the_same_bits(keras_run: dict[str, np.ndarray]) -> None:
    again = _part(keras_run, "again/")
    assert len(again) == 18 and all(bool(v) for v in again.values()), again
