"""The health check: predicted against measured activation std per layer, after one forward pass.

``report.verify(model, example_input)`` runs the model once with hooks on every dense and
convolutional layer the report initialized and records, per layer in the order they ran:

- ``measured``: the std of the layer's output (its pre-activations);
- ``predicted``: what the scheme promises for that input,
  ``sqrt(fan_in * std_w**2 * E[x**2] + std_b**2)``, with ``x`` the layer's actual input and
  ``std_w``/``std_b`` the report's std of its weight and bias.

``report.assert_healthy(tolerance=2.0)`` raises :class:`HealthError` naming every layer
whose measured std is off the input's rms by more than a factor ``tolerance`` (the signal
shrinks or grows with depth), or off its prediction by more than that factor.

>>> from varinit.models.health import Health, LayerHealth
>>> h = Health([LayerHealth("fc1", 1, 1.0, 1.02, "he_normal", 1.0), LayerHealth("fc2", 2, 0.1, 0.1)])
>>> [name for name, _ in h.problems(2.0)]
['fc2']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Health", "HealthError", "LayerHealth", "verify"]


class HealthError(AssertionError):
    """The signal shrinks or grows with depth, or misses its prediction, beyond the tolerance."""


@dataclass(frozen=True)
class LayerHealth:
    """One layer: its name, its place in the forward pass (1 = first), the two stds, its scheme."""

    name: str
    index: int
    predicted: float
    measured: float
    scheme: str = ""
    input_rms: float = math.nan  # sqrt(E[x**2]) of the layer's input


@dataclass
class Health:
    """The per-layer stds of one forward pass; ``print`` it, or :meth:`plot` it."""

    layers: list[LayerHealth] = field(default_factory=list)

    @property
    def reference(self) -> float:
        """The level every layer is held to: the rms of the first layer's input (the model's
        input), else the first layer's measured std."""
        if not self.layers:
            return math.nan
        first = self.layers[0]
        return first.input_rms if math.isfinite(first.input_rms) and first.input_rms > 0 else first.measured

    def ratio(self) -> float:
        """The signal ratio, last layer's measured std over the first's (nan without two layers)."""
        ms = [h.measured for h in self.layers]
        return ms[-1] / ms[0] if len(ms) >= 2 and ms[0] > 0 else math.nan

    def problems(self, tolerance: float = 2.0) -> list[tuple[str, str]]:
        """``(layer, what is wrong)`` for every layer off by more than a factor ``tolerance``."""
        if not (isinstance(tolerance, int | float) and tolerance > 1.0):
            raise ValueError(f"tolerance={tolerance!r} is not allowed: a factor > 1, such as 2.0")
        out: list[tuple[str, str]] = []
        if not self.layers:
            return out
        ref = self.reference
        for h in self.layers:
            bad = []
            drift = h.measured / ref if ref > 0 else math.inf
            if not (1.0 / tolerance <= drift <= tolerance):
                verb = "shrinks" if drift < 1 else "grows"
                bad.append(f"signal {verb}: std {h.measured:.4g} is {drift:.3g}x the input's rms {ref:.4g}")
            fit = h.measured / h.predicted if h.predicted > 0 else math.nan
            if not math.isnan(fit) and not (1.0 / tolerance <= fit <= tolerance):
                bad.append(f"measured std {h.measured:.4g} is {fit:.3g}x the predicted {h.predicted:.4g}")
            if bad:
                out.append((h.name, "; ".join(bad)))
        return out

    def check(self, tolerance: float = 2.0) -> None:
        """Raise :class:`HealthError` listing every layer :meth:`problems` finds."""
        if not self.layers:
            raise HealthError("no layer was measured: verify() saw no dense or convolutional layer run")
        bad = self.problems(tolerance)
        if bad:
            lines = "\n".join(f"  {name}: {what}" for name, what in bad)
            raise HealthError(
                f"{len(bad)} of {len(self.layers)} layers are off by more than a factor "
                f"{tolerance:g}:\n{lines}\n"
                "fix: initialize with rules='auto' (or a scheme that suits each layer's activation)"
            )

    def __str__(self) -> str:
        head = ("layer", "#", "scheme", "predicted", "measured", "vs input")
        first = self.reference
        body = [
            (h.name, str(h.index), h.scheme, _num(h.predicted), _num(h.measured), _num(h.measured / first))
            for h in self.layers
        ]
        widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(head)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *body]
        ]
        lines.append(f"signal ratio last/first: {_num(self.ratio())}")
        return "\n".join(lines)

    def figure(self, title: str = "") -> Any:
        """Predicted and measured std across depth (needs matplotlib), in ``varinit propagate``'s style."""
        try:
            import matplotlib
        except ImportError:
            raise ImportError("the health plot needs matplotlib: pip install 'varinit[plot]'") from None
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        from ..cli.plots import COLOURS

        fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
        x = [h.index for h in self.layers]
        ax.plot(x, [h.measured for h in self.layers], color=COLOURS[0], linestyle="-", marker="o",
                markevery=max(1, len(x) // 10), markersize=5, linewidth=2.0, label="measured")  # fmt: skip
        ax.plot(x, [h.predicted for h in self.layers], color=COLOURS[1], linestyle=(0, (1, 1.5)),
                linewidth=1.2, label="predicted")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xlabel("layer (order of the forward pass)")
        ax.set_ylabel("std of the layer's output")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(title or f"health: signal ratio last/first {self.ratio():.3g}")
        return fig

    def plot(self, path: str, title: str = "") -> str:
        """Save :meth:`figure` to ``path`` (.png, .pdf, .svg); returns the path."""
        import matplotlib.pyplot as plt

        fig = self.figure(title)
        try:
            fig.savefig(path, dpi=110)
        finally:
            plt.close(fig)
        return path


def _num(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.4g}"


def verify(report: Any, model: Any, example_input: Any) -> Health:
    """Run ``model`` once on ``example_input`` and measure every layer ``report`` initialized."""
    mod = type(model).__module__
    if mod.startswith("torch") or _is_torch(model):
        import importlib

        hooks = importlib.import_module("varinit.adapters._torch_auto")  # the adapter, not a dependency
        return Health(list(hooks.measure(report, model, example_input)))
    if _is_keras(model):
        import importlib

        hooks = importlib.import_module("varinit.adapters._keras_auto")
        return Health(list(hooks.measure(report, model, example_input)))
    raise TypeError(
        f"model={type(model).__name__} is not supported by verify(): pass a torch.nn.Module "
        "or a built Keras model"
    )


def _is_keras(model: Any) -> bool:
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def _is_torch(model: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def ratios(layers: Sequence[LayerHealth]) -> list[float]:
    """Each layer's measured std over the first layer's."""
    first = layers[0].measured if layers else math.nan
    return [h.measured / first for h in layers]
