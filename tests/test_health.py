"""The health check: ``report.verify`` (one forward pass) and ``report.assert_healthy``.

A deep ReLU MLP (depth 16, width 256) initialized by ``rules="auto"`` keeps its
pre-activation std at sqrt(2) times the input's; the same MLP with std 0.01 weights loses a
factor ``sqrt(256 * 0.01**2 / 2) = 0.113`` per layer. Fixed seeds throughout.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from varinit.adapters.torch import init_module  # noqa: E402

from varinit.models.health import Health, HealthError, LayerHealth  # noqa: E402

DEPTH, WIDTH = 16, 256


def _mlp() -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    return nn.Sequential(*layers)


def _x() -> torch.Tensor:
    return torch.randn(256, WIDTH, generator=torch.Generator().manual_seed(1))


def test_verify_fills_predicted_and_measured_per_layer() -> None:
    net = _mlp()
    r = init_module(net, "auto", seed=0)
    h = r.verify(net, _x())
    assert r.health is h
    assert [x.name for x in h.layers] == [str(2 * i) for i in range(DEPTH)]
    assert all(math.isfinite(x.measured) and math.isfinite(x.predicted) for x in h.layers)
    # width 256: one layer's output variance fluctuates by about sqrt(2 / 256) = 9% over the
    # random weights (4.4% in std); 25% is more than 5 standard deviations
    for x in h.layers:
        assert x.measured == pytest.approx(x.predicted, rel=0.25), x
    # the input is N(0, 1): He gives the first layer Var = 2 * 1 (std sqrt(2), 25% as above),
    # and every later layer 2 * E[relu(z)^2] = the same in expectation. At finite width the
    # log-variance random-walks: Var(log q) grows by (E[relu^4] / E[relu^2]^2 - 1) / width =
    # 5 / 256 per layer, so at depth 16 the std's log has sd sqrt(16 * 5 / 256) / 2 = 0.28:
    # a factor 2.3 is 3 sd
    assert h.layers[0].measured == pytest.approx(math.sqrt(2), rel=0.25)
    for x in h.layers:
        assert 1 / 2.3 < x.measured / math.sqrt(2) < 2.3, x
    # so against the input's rms (1) a level of sqrt(2) * 2.3 = 3.3 is still 3 sd: tolerance 3.5
    assert h.reference == pytest.approx(1.0, rel=0.05)  # N(0, 1) input, 65536 draws
    r.assert_healthy(tolerance=3.5)
    assert "signal ratio last/first" in str(h) and "he_normal" in str(h)


def test_assert_healthy_names_the_layers_where_the_signal_dies() -> None:
    net = _mlp()
    r = init_module(net, {"weight": ("normal", {"std": 0.01}), "bias": "zeros"}, seed=0)
    h = r.verify(net, _x())
    assert h.ratio() < 1e-6  # 0.113 per layer over 15 layers: about 6e-15
    with pytest.raises(HealthError) as e:
        r.assert_healthy(tolerance=2.0)
    msg = str(e.value)
    # the first layer already loses sqrt(256 * 0.01**2) = 0.16x of the input's rms
    assert "  0: signal shrinks" in msg and f"  {2 * (DEPTH - 1)}: signal shrinks" in msg
    assert "predicted" not in msg  # each layer does what its scheme promises; the scheme is wrong
    assert f"{DEPTH} of {DEPTH} layers" in msg


def test_assert_healthy_needs_verify_first_and_a_sane_tolerance() -> None:
    net = _mlp()
    r = init_module(net, "auto", seed=0)
    with pytest.raises(ValueError, match="verify"):
        r.assert_healthy()
    r.verify(net, _x())
    with pytest.raises(ValueError, match="tolerance=1"):
        r.assert_healthy(tolerance=1)


def test_a_prediction_miss_is_named() -> None:
    h = Health([LayerHealth("fc1", 1, 1.0, 1.0, "", 1.0), LayerHealth("fc2", 2, 3.0, 1.1)])
    with pytest.raises(HealthError, match=r"fc2: measured std 1\.1 is 0\.367x the predicted 3"):
        h.check(2.0)


def test_transformer_encoder_is_healthy_under_auto() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(64, 4, 128, activation="gelu", batch_first=True, dropout=0.0)
    enc = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
    r = init_module(enc, "auto", seed=0)
    h = r.verify(enc, torch.randn(8, 16, 64, generator=torch.Generator().manual_seed(2)))
    # the hooks see linear1 and linear2 of every layer (MultiheadAttention applies its
    # projections functionally, so they are not measured)
    assert [x.name for x in h.layers][:2] == ["layers.0.linear1", "layers.0.linear2"]
    assert len(h.layers) == 8
    r.assert_healthy(tolerance=2.0)


def test_plot_across_depth(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    net = _mlp()
    r = init_module(net, "auto", seed=0)
    h = r.verify(net, _x())
    out = h.plot(str(tmp_path / "health.png"))
    assert Path(out).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keras_verify_reads_each_layer_from_a_sub_model() -> None:
    keras = pytest.importorskip("keras")
    import numpy as np
    from varinit.adapters.keras import init_model

    inp = keras.Input((WIDTH,))
    x = inp
    for i in range(12):
        x = keras.layers.Dense(WIDTH, activation="relu", name=f"d{i}")(x)
    model = keras.Model(inp, x)
    data = np.random.default_rng(1).standard_normal((256, WIDTH)).astype("float32")
    r = init_model(model, "auto", seed=0)
    h = r.verify(model, data)
    assert [x.name for x in h.layers] == [f"d{i}" for i in range(12)]
    # Dense applies ReLU itself: the output is relu(z), z ~ N(0, 2) with He, whose std is
    # sqrt(2) * sqrt(1/2 - 1/(2 pi)) = 0.826; 25% as for torch's per-layer fluctuation
    assert h.layers[0].measured == pytest.approx(math.sqrt(2) * math.sqrt(0.5 - 0.5 / math.pi), rel=0.25)
    for x in h.layers:
        assert x.measured == pytest.approx(x.predicted, rel=0.25), x
    r.assert_healthy(tolerance=3.5)
    bad = init_model(model, {"*.kernel": ("normal", {"std": 0.01}), "*.bias": "zeros"}, seed=0)
    bad.verify(model, data)
    with pytest.raises(HealthError, match=r"d11: signal shrinks"):
        bad.assert_healthy(tolerance=2.0)
