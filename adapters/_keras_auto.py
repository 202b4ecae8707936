"""``rules="auto"`` for Keras: each kernel's activation from the functional graph.

A Dense or convolution layer with its own ``activation`` (``Dense(64, activation="relu")``)
feeds that. A linear one is followed through the graph (each layer's inbound nodes name its
parents): through normalization, dropout, pooling, reshapes, ``Add`` and ``Concatenate``, to
an activation layer (``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``), another kernel,
attention or the model's output. A model without a graph is read in layer order, and the
reasons say so.

>>> import keras
>>> from varinit.adapters._keras_auto import auto_rules
>>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh", name="a"),
...                       keras.layers.Dense(2, name="b")])
>>> rules = auto_rules(m)
>>> rules["a.kernel"][0], rules["b.kernel"][0]
('glorot_normal', 'lecun_normal')
"""

from __future__ import annotations

from typing import Any

from varinit.models import auto

__all__ = ["auto_rules"]

_ACT_LAYERS = {"ReLU": "relu", "ELU": "elu", "LeakyReLU": "leaky_relu", "PReLU": ""}
_PASS = (
    "Normalization",
    "Dropout",
    "Pooling",
    "Flatten",
    "Reshape",
    "Permute",
    "Add",
    "Concatenate",
    "Average",
    "Subtract",
    "Multiply",
    "Cropping",
    "ZeroPadding",
    "UpSampling",
    "RepeatVector",
    "Identity",
    "GaussianNoise",
)
_KNOWN = {"relu", "tanh", "sigmoid", "selu", "elu", "gelu", "silu", "swish", "mish", "softplus", "softsign"}


def _act_name(fn: Any) -> str:
    name = str(getattr(fn, "__name__", "") or "")
    return {"swish": "silu", "identity": "linear"}.get(name, name)


def _end(layer: Any) -> tuple[str, str, float | None] | None:
    """An endpoint for a consumer layer, or ``None`` when the walk passes through it."""
    name = type(layer).__name__
    if name == "Activation":
        act = _act_name(getattr(layer, "activation", None))
        if act in ("linear",):
            return None
        if act in ("softmax", "log_softmax"):
            return ("linear", "softmax", None)
        return ("act", act, None) if act in _KNOWN else ("unknown", f"activation {act}", None)
    if name in _ACT_LAYERS:
        if name == "LeakyReLU":
            return ("act", "leaky_relu", float(getattr(layer, "negative_slope", 0.3)))
        if name == "ELU":
            alpha = float(getattr(layer, "alpha", 1.0))
            return ("act", "elu", None if alpha == 1.0 else alpha)
        if (
            name == "ReLU"
            and getattr(layer, "max_value", None) is None
            and not getattr(layer, "negative_slope", 0)
        ):
            return ("act", "relu", None)
        return ("unknown", name, None)
    if name == "Softmax":
        return ("linear", "softmax", None)
    if "Attention" in name:
        return ("attention", name, None)
    if any(k in name for k in _PASS):
        return None
    if layer.weights:
        return ("linear", f"{layer.name} ({name})", None)
    return ("unknown", name, None)


def _own(layer: Any) -> tuple[str, str, float | None] | None:
    """The activation a kernel layer applies itself (``None``: linear, look downstream)."""
    act = _act_name(getattr(layer, "activation", None))
    if not act or act == "linear":
        return None
    if act in ("softmax", "log_softmax"):
        return ("linear", "softmax", None)
    return ("act", act, None) if act in _KNOWN else ("unknown", f"activation {act}", None)


def _consumers(model: Any) -> dict[int, list[Any]] | None:
    graph = getattr(model, "_functional", None) or model  # a built Sequential keeps its graph there
    ops = getattr(graph, "operations", None)
    if not ops:
        return None
    out: dict[int, list[Any]] = {id(op): [] for op in ops}
    found = False
    for op in ops:
        for node in getattr(op, "_inbound_nodes", []):
            for parent in getattr(node, "parent_nodes", []):
                if id(parent.operation) in out:
                    out[id(parent.operation)].append(op)
                    found = True
    return out if found else None


def _decide(
    ends: list[tuple[tuple[str, str, float | None], list[str]]], note: str
) -> tuple[str, dict[str, Any]]:
    acts = {e for e, _ in ends if e[0] == "act"}
    unknown = {e[1] for e, _ in ends if e[0] == "unknown"}
    tail = f"; {note}" if note else ""
    if unknown or len(acts) > 1:
        what = sorted(unknown) + sorted(f"activation {a[1]}" for a in acts)
        return auto.unresolved(f"its output flows into {', '.join(what)}{tail}")
    if acts:
        (act,) = acts
        path = next(p for e, p in ends if e == act)
        scheme, over = auto.choose(act[1], via=("through " + ", ".join(dict.fromkeys(path))) if path else "",
                                   param=act[2])  # fmt: skip
    elif any(e[0] == "attention" for e, _ in ends):
        scheme, over = auto.choose("attention")
    else:
        labels = sorted({e[1] for e, _ in ends}) or ["the model's output"]
        scheme, over = auto.choose("linear", via=", ".join(labels[:3]) + ("..." if len(labels) > 3 else ""))
    over["why"] += tail
    return scheme, over


def _walk(
    layer: Any, consumers: dict[int, list[Any]]
) -> list[tuple[tuple[str, str, float | None], list[str]]]:
    out: dict[tuple[str, str, float | None], list[str]] = {}
    seen = {id(layer)}
    todo: list[tuple[Any, list[str]]] = [(layer, [])]
    while todo:
        cur, path = todo.pop(0)
        users = consumers.get(id(cur), [])
        if not users and cur is not layer:
            out.setdefault(("linear", "the model's output", None), path)
        if not users and cur is layer:
            out.setdefault(("linear", "the model's output", None), path)
        for u in users:
            if id(u) in seen:
                continue
            seen.add(id(u))
            end = _end(u)
            if end is None:
                todo.append((u, [*path, type(u).__name__]))
            else:
                out.setdefault(end, path)
    return list(out.items())


def _decisions(model: Any) -> dict[int, tuple[str, dict[str, Any]]]:
    """Layer id -> the rule for its kernel."""
    consumers = _consumers(model)
    layers = list(getattr(model, "layers", []))
    note = "" if consumers is not None else "read in layer order (the model has no functional graph)"
    out: dict[int, tuple[str, dict[str, Any]]] = {}
    for i, layer in enumerate(layers):
        if not layer.weights or "Normalization" in type(layer).__name__:
            continue
        if "Attention" in type(layer).__name__:
            out[id(layer)] = auto.choose("attention")  # query/key/value; the output is refined below
        own = _own(layer)
        if own is not None:
            out[id(layer)] = _decide([(own, [])], note)
            continue
        if consumers is not None:
            ends = _walk(layer, consumers)
        else:
            ends = [(("linear", "the model's output", None), [])]
            path: list[str] = []
            for nxt in layers[i + 1 :]:
                end = _end(nxt)
                if end is None:
                    path.append(type(nxt).__name__)
                    continue
                ends = [(end, path)]
                break
        decision = _decide(ends, note)
        if "Attention" in type(layer).__name__:
            out[-id(layer)] = decision  # the output projection
        else:
            out[id(layer)] = decision
    return out


#: Keras' recurrent cells (their variables: kernel, recurrent_kernel, bias)
_RECURRENT_CELLS = ("LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTMCell")


def auto_rules(model: Any) -> dict[Any, tuple[str, dict[str, Any]]]:
    """One exact-name rule per parameter of a built Keras model (see ``varinit.models.auto``)."""
    from ._keras_params import params_of

    decided = _decisions(model)
    rules: dict[Any, tuple[str, dict[str, Any]]] = {}
    for p, _ in params_of(model):
        rule: tuple[str, dict[str, Any]] | None
        owner = p.module
        cell = next((t for t in p.types if t in _RECURRENT_CELLS), None)
        if cell is not None:
            hidden = int(getattr(owner, "filters", None) or owner.units)
            forget = "LSTM" in cell and bool(getattr(owner, "unit_forget_bias", False))
            rule = auto.recurrent_rule(p.local, hidden, forget=forget)
        elif "norm_bias" in p.roles or "norm_scale" in p.roles:
            rule = auto.norm_rule("norm_bias" in p.roles)
        elif "bias" in p.roles:
            rule = auto.bias_rule()
        elif p.kind == "embedding" and p.ndim == 2:
            rule = auto.embedding_rule(None, p.shape[1])
        elif p.ndim >= 2 and id(owner) in decided:
            rule = decided[id(owner)]
        elif p.ndim >= 2:
            outer = _outer(model, owner)
            if outer is not None and "Attention" in type(outer).__name__:
                is_out = "output" in p.name.rpartition(".")[0].rpartition(".")[2] or "output" in p.name
                rule = decided.get(-id(outer) if is_out else id(outer)) or auto.unresolved(
                    "attention sub-layer"
                )
            else:
                rule = auto.unresolved("the graph walk never reached its layer")
        else:
            rule = None
        if rule is not None:
            rules[auto.weight_key(p.name)] = rule
    return rules


def _outer(model: Any, inner: Any) -> Any:
    """The top-level layer that contains ``inner`` (``None`` if none does)."""
    for layer in getattr(model, "layers", []):
        if layer is inner:
            return layer
        if any(w is v for w in getattr(inner, "weights", []) for v in layer.weights):
            return layer
    return None


def measure(report: Any, model: Any, example_input: Any) -> list[Any]:
    """One forward pass of a functional (or built Sequential) Keras model, every kernel layer's
    input and output read from a sub-model; per layer the predicted and measured std (see
    ``varinit.models.health``)."""
    import math

    import keras
    import numpy as np

    from varinit.models.health import LayerHealth

    graph = getattr(model, "_functional", None) or model
    rows = {r.name: r for r in report.rows}
    picked = []
    for layer in getattr(graph, "layers", []):
        row = rows.get(f"{layer.name}.kernel")
        if row is None or math.isnan(row.std) or _kind_of(layer) not in ("dense", "conv"):
            continue
        if len(getattr(layer, "_inbound_nodes", [])) != 1:
            continue  # a shared layer: its input is ambiguous
        picked.append((layer, row, rows.get(f"{layer.name}.bias")))
    if not picked:
        return []
    ins = graph.inputs[0] if len(graph.inputs) == 1 else graph.inputs  # the structure the user passes
    probe = keras.Model(ins, [t for layer, _, _ in picked for t in (layer.input, layer.output)])
    outs = probe(example_input)
    got = []
    for k, (layer, row, brow) in enumerate(picked):
        x = np.asarray(keras.ops.convert_to_numpy(outs[2 * k]), dtype=np.float64)
        y = np.asarray(keras.ops.convert_to_numpy(outs[2 * k + 1]), dtype=np.float64)
        m2 = float(np.mean(x * x))
        sb = 0.0 if brow is None or math.isnan(brow.std) else brow.std
        pred = math.sqrt(row.fan_in * row.std**2 * m2 + sb**2) if row.fan_in else math.nan
        scheme = row.scheme
        own = _own(layer)
        if own is not None and own[0] == "act":  # Keras applies it inside: the output is phi(z)
            pred = _post_std(own[1], own[2], pred)
            scheme = f"{row.scheme}, after {own[1]}"
        got.append(LayerHealth(layer.name, k + 1, pred, float(y.std()), scheme, math.sqrt(m2)))
    return got


def _post_std(name: str, param: float | None, sigma: float) -> float:
    """The std of ``phi(z)`` for ``z ~ N(0, sigma**2)`` (the trapezoid rule on a fine grid).

    >>> round(_post_std("relu", None, 1.0), 4)  # sqrt(1/2 - 1/(2 pi))
    0.5838
    """
    import math

    import numpy as np

    from varinit.theory.activations import activation

    z = np.linspace(-12.0, 12.0, 240_001)  # the trapezoid rule: O(h^2) at a kink, h = 1e-4
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    phi = np.asarray(activation(name, param)(sigma * z), dtype=np.float64)
    mean = float(np.trapezoid(phi * pdf, z))
    m2 = float(np.trapezoid(phi * phi * pdf, z))
    return math.sqrt(max(m2 - mean * mean, 0.0))


def _kind_of(layer: Any) -> str | None:
    from ._keras_params import _kind

    return _kind(layer)
