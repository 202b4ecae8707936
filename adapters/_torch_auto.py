"""``rules="auto"`` for torch: trace the module, find each weight's activation; the health hooks.

The module is traced with ``torch.fx`` (layers with parameters, the transformer modules and
parameter-free ``torch.nn`` modules are leaves; everything else is traced through). From
each weight's layer the graph is walked forward through norms, dropout, pooling, reshapes,
residual adds and concatenation to the first activation, or to another weight, attention or
the output (a linear consumer). When ``torch.fx`` cannot trace the module, the layers are
read in module order instead, and every reason says so.

>>> import torch
>>> from varinit.adapters._torch_auto import auto_rules
>>> nn = torch.nn
>>> net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2))
>>> rules = auto_rules(net)
>>> rules["0.weight"][0], rules["3.weight"][0]
('glorot_normal', 'lecun_normal')
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from varinit.models import auto
from varinit.models.health import LayerHealth

__all__ = ["auto_rules", "measure"]

Endpoint = tuple[str, str, float | None]  # (kind, label, param): kind in act/linear/attention/unknown

_ACT_MODULES: dict[str, str] = {
    "ReLU": "relu",
    "ReLU6": "relu",
    "GELU": "gelu",
    "SiLU": "silu",
    "Mish": "mish",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "SELU": "selu",
    "ELU": "elu",
    "CELU": "elu",
    "LeakyReLU": "leaky_relu",
    "Softplus": "softplus",
    "Softsign": "softsign",
}
_ACT_FUNCS: dict[Any, str] = {
    F.relu: "relu",
    torch.relu: "relu",
    F.relu6: "relu",
    F.gelu: "gelu",
    F.silu: "silu",
    F.mish: "mish",
    torch.tanh: "tanh",
    F.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
    F.selu: "selu",
    torch.selu: "selu",
    F.elu: "elu",
    F.leaky_relu: "leaky_relu",
    F.softplus: "softplus",
    F.softsign: "softsign",
}
_ACT_METHODS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "tanh_": "tanh", "sigmoid": "sigmoid"}
_PASS_MODULES = ("Dropout", "Identity", "Flatten", "Unflatten", "Pool", "Upsample", "Pad")
_PASS_FUNCS: set[Any] = {
    operator.add,
    operator.iadd,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.getitem,
    operator.neg,
    torch.add,
    torch.mul,
    torch.cat,
    torch.concat,
    torch.stack,
    torch.flatten,
    torch.reshape,
    torch.transpose,
    torch.permute,
    torch.squeeze,
    torch.unsqueeze,
    torch.chunk,
    torch.split,
    torch.mean,
    torch.unbind,
    F.dropout,
    F.layer_norm,
    F.batch_norm,
    F.group_norm,
    F.avg_pool1d,
    F.avg_pool2d,
    F.max_pool1d,
    F.max_pool2d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_max_pool2d,
    F.interpolate,
    F.pad,
}
_PASS_METHODS = {
    "view",
    "reshape",
    "flatten",
    "permute",
    "transpose",
    "contiguous",
    "squeeze",
    "unsqueeze",
    "chunk",
    "split",
    "unbind",
    "mean",
    "add",
    "add_",
    "mul",
    "mul_",
    "div",
    "expand",
    "to",
    "float",
    "type_as",
    "clone",
    "__getitem__",
}
_LINEAR_FUNCS: set[Any] = {F.linear, F.conv1d, F.conv2d, F.conv3d, F.embedding}
_ATTENTION_FUNCS: set[Any] = {
    torch.matmul,
    operator.matmul,
    torch.bmm,
    torch.einsum,
    F.scaled_dot_product_attention,
}
_SHAPE_METHODS = {"size", "dim", "numel"}
_COMPOSITES = (
    torch.nn.MultiheadAttention,
    torch.nn.TransformerEncoderLayer,
    torch.nn.TransformerDecoderLayer,
    torch.nn.TransformerEncoder,
    torch.nn.TransformerDecoder,
    torch.nn.Transformer,
)


def _layer(m: torch.nn.Module) -> bool:
    """A layer whose parameters the walk starts from (a leaf of the trace)."""
    return isinstance(m, (*_COMPOSITES, torch.nn.RNNBase)) or (
        any(True for _ in m.parameters(recurse=False)) and type(m).__module__.startswith("torch.nn")
    )


def _is_norm(m: torch.nn.Module) -> bool:
    from ._torch_params import _kind

    return _kind(m) == "norm"


def _module_act(m: torch.nn.Module) -> Endpoint | None:
    name = type(m).__name__
    if name not in _ACT_MODULES:
        return None
    param: float | None = None
    if name == "LeakyReLU":
        param = float(getattr(m, "negative_slope", 0.01))
    elif name in ("ELU", "CELU") and float(getattr(m, "alpha", 1.0)) != 1.0:
        param = float(getattr(m, "alpha", 1.0))
    return ("act", _ACT_MODULES[name], param)


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        if _layer(m):
            return True
        plain = type(m).__module__.startswith("torch.nn") and not list(m.children())
        return plain


def _func_label(t: Any) -> str:
    return getattr(t, "__name__", str(t))


def _classify(node: Any, mods: dict[str, torch.nn.Module]) -> tuple[str, Endpoint | None]:
    """``("pass", None)``, ``("skip", None)`` or ``("end", endpoint)`` for one user node."""
    op, t = node.op, node.target
    if op == "output":
        return "end", ("linear", "the model's output", None)
    if op == "call_module":
        m = mods[t]
        act = _module_act(m)
        if act is not None:
            return "end", act
        if isinstance(m, torch.nn.MultiheadAttention):
            return "end", ("attention", "attention", None)
        if _is_norm(m) or any(k in type(m).__name__ for k in _PASS_MODULES):
            return "pass", None
        if type(m).__name__ in ("Softmax", "LogSoftmax"):
            return "end", ("linear", "softmax", None)
        if any(True for _ in m.parameters()):
            return "end", ("linear", f"{t} ({type(m).__name__})", None)
        return "end", ("unknown", type(m).__name__, None)
    if op == "call_function":
        if t in _ACT_FUNCS:
            param = None
            if t is F.leaky_relu:
                param = float(node.kwargs.get("negative_slope", node.args[1] if len(node.args) > 1 else 0.01))
            return "end", ("act", _ACT_FUNCS[t], param)
        if t in _PASS_FUNCS:
            return "pass", None
        if t in _ATTENTION_FUNCS:
            return "end", ("attention", _func_label(t), None)
        if t in _LINEAR_FUNCS:
            return "end", ("linear", _func_label(t), None)
        if t is getattr or t in (F.softmax, torch.softmax, F.log_softmax):
            return ("skip", None) if t is getattr else ("end", ("linear", "softmax", None))
        return "end", ("unknown", _func_label(t), None)
    if op == "call_method":
        if t in _ACT_METHODS:
            return "end", ("act", _ACT_METHODS[t], None)
        if t in _PASS_METHODS:
            return "pass", None
        if t in _SHAPE_METHODS:
            return "skip", None
        if t in ("softmax", "log_softmax"):
            return "end", ("linear", "softmax", None)
        if t in ("matmul", "bmm", "__matmul__"):
            return "end", ("attention", t, None)
        return "end", ("unknown", f".{t}()", None)
    return "end", ("unknown", str(op), None)


def _walk(start: Any, mods: dict[str, torch.nn.Module]) -> list[tuple[Endpoint, list[str]]]:
    """Every endpoint reachable from ``start``'s output, with the ops passed on the way."""
    out: dict[Endpoint, list[str]] = {}
    seen = {start}
    todo: list[tuple[Any, list[str]]] = [(start, [])]
    while todo:
        node, path = todo.pop(0)
        for user in node.users:
            if user in seen:
                continue
            seen.add(user)
            verdict, end = _classify(user, mods)
            if verdict == "pass":
                label = (
                    type(mods[user.target]).__name__ if user.op == "call_module" else _func_label(user.target)
                )
                todo.append((user, [*path, label]))
            elif end is not None:
                out.setdefault(end, path)
    return list(out.items())


def _decide(ends: list[tuple[Endpoint, list[str]]], note: str) -> tuple[str, dict[str, Any]]:
    acts = {e for e, _ in ends if e[0] == "act"}
    unknown = {e[1] for e, _ in ends if e[0] == "unknown"}
    tail = f"; {note}" if note else ""
    if unknown or len(acts) > 1:
        what = sorted(unknown) + sorted(f"activation {a[1]}" for a in acts)
        scheme, over = auto.unresolved(f"its output flows into {', '.join(what)}{tail}")
        return scheme, over
    if acts:
        (act,) = acts
        path = next(p for e, p in ends if e == act)
        via = ("through " + ", ".join(dict.fromkeys(path))) if path else ""
        scheme, over = auto.choose(act[1], via=via, param=act[2])
    elif any(e[0] == "attention" for e, _ in ends):
        scheme, over = auto.choose("attention")
    else:
        labels = sorted({e[1] for e, _ in ends}) or ["nothing (unused)"]
        scheme, over = auto.choose("linear", via=", ".join(labels[:3]) + ("..." if len(labels) > 3 else ""))
    over["why"] += tail
    return scheme, over


def _composite(
    m: torch.nn.Module, prefix: str, after: tuple[str, dict[str, Any]], note: str
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Decisions for the weights inside a transformer module (read from its structure)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    pre = f"{prefix}." if prefix else ""
    tail = f"; {note}" if note else ""
    for sub, mod in m.named_modules():
        q = f"{pre}{sub}." if sub else pre
        if isinstance(mod, torch.nn.MultiheadAttention):
            for local in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
                if getattr(mod, local, None) is not None:
                    s, o = auto.choose("attention")
                    o["why"] = (
                        f"packed query/key/value projection of {type(mod).__name__}: " + o["why"] + tail
                    )
                    out[q + local] = (s, o)
            if mod is m:
                s, o = after
                out[q + "out_proj.weight"] = (s, dict(o))
            else:
                s, o = auto.choose("linear", via=f"a residual add and norm in {type(m).__name__}")
                o["why"] += tail
                out[q + "out_proj.weight"] = (s, o)
        elif isinstance(mod, torch.nn.Linear) and not sub.endswith("out_proj"):
            owner = m.get_submodule(sub.rpartition(".")[0]) if "." in sub else m
            act = getattr(owner, "activation", None)
            if sub.rpartition(".")[2] == "linear1" and act is not None:
                name = (
                    _ACT_MODULES.get(type(act).__name__)
                    or _ACT_FUNCS.get(act)
                    or getattr(act, "__name__", "")
                )
                if name:
                    s, o = auto.choose(str(name), via=f"{type(owner).__name__}.activation")
                else:
                    s, o = auto.unresolved(f"{type(owner).__name__}.activation is {act!r}")
            else:
                s, o = auto.choose("linear", via=f"a residual add and norm in {type(m).__name__}")
            o["why"] += tail
            out[q + "weight"] = (s, o)
    return out


def _traced(module: torch.nn.Module) -> dict[str, tuple[str, dict[str, Any]]]:
    graph = _Tracer().trace(module)
    mods = dict(module.named_modules())
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            m = mods[node.target]
            if not _layer(m) or _is_norm(m):
                continue
            decision = _decide(_walk(node, mods), "")
            if isinstance(m, _COMPOSITES):
                out.update(_composite(m, node.target, decision, ""))
            elif isinstance(m, torch.nn.RNNBase | torch.nn.RNNCellBase):
                continue  # auto_rules gives recurrent layers their own rules
            else:
                for local, p in m.named_parameters(recurse=False):
                    if p.dim() >= 2 and f"{node.target}.{local}" not in out:
                        out[f"{node.target}.{local}"] = decision
        elif node.op == "get_attr":
            ends = []
            for user in node.users:
                if user.op == "call_function" and user.target in _LINEAR_FUNCS | _ATTENTION_FUNCS:
                    ends.extend(_walk(user, mods))
            if ends and node.target not in out:
                out[node.target] = _decide(ends, "used functionally")
    return out


def _in_order(module: torch.nn.Module, why: str) -> dict[str, tuple[str, dict[str, Any]]]:
    note = f"read in module order (torch.fx could not trace the model: {why})"
    leaves: list[tuple[str, torch.nn.Module]] = []
    inside: tuple[str, ...] = ()
    for name, m in module.named_modules():
        if inside and any(name.startswith(p + ".") for p in inside):
            continue
        if _layer(m) or not list(m.children()):
            leaves.append((name, m))
            if isinstance(m, _COMPOSITES):
                inside = (*inside, name)
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for i, (name, m) in enumerate(leaves):
        if not _layer(m) or _is_norm(m):
            continue
        end: Endpoint = ("linear", "the model's output", None)
        path: list[str] = []
        for _, nxt in leaves[i + 1 :]:
            act = _module_act(nxt)
            if act is not None:
                end = act
                break
            if _is_norm(nxt) or any(k in type(nxt).__name__ for k in _PASS_MODULES):
                path.append(type(nxt).__name__)
                continue
            end = ("linear", type(nxt).__name__, None)
            break
        decision = _decide([(end, path)], note)
        if isinstance(m, _COMPOSITES):
            out.update(_composite(m, name, decision, note))
        else:
            for local, p in m.named_parameters(recurse=False):
                if p.dim() >= 2:
                    out[f"{name}.{local}" if name else local] = decision
    return out


def _ties(module: torch.nn.Module) -> dict[int, list[str]]:
    """Tensor id -> every module holding it as ``weight`` (tied parameters show up twice)."""
    held: dict[int, list[str]] = {}
    for name, m in module.named_modules(remove_duplicate=False):
        w = m.__dict__.get("_parameters", {}).get("weight")
        if isinstance(w, torch.Tensor):
            held.setdefault(id(w), [])
            if name not in held[id(w)]:
                held[id(w)].append(name)
    return held


def auto_rules(module: torch.nn.Module) -> dict[Any, tuple[str, dict[str, Any]]]:
    """One exact-name rule per parameter: ``{name: (scheme, {overrides, "why": ...})}``.

    Biases get zeros, norms ones/zeros, embeddings std 1 (``1/sqrt(dim)`` when tied to an
    output head); each other weight gets :func:`varinit.models.auto.choose` for the
    activation its output flows into, or the stated default where that is unclear.
    """
    from ._torch_params import params_of

    if isinstance(module, _COMPOSITES):
        found = _composite(module, "", auto.choose("linear", via="the model's output"), "")
    else:
        try:
            found = _traced(module)
        except Exception as e:
            found = _in_order(module, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    ties = _ties(module)
    rules: dict[Any, tuple[str, dict[str, Any]]] = {}
    for p, tensor in params_of(module):
        rule: tuple[str, dict[str, Any]] | None
        if isinstance(p.module, torch.nn.RNNBase | torch.nn.RNNCellBase):
            lstm = isinstance(p.module, torch.nn.LSTM | torch.nn.LSTMCell)
            rule = auto.recurrent_rule(p.local, int(p.module.hidden_size), forget=lstm)
        elif "norm_bias" in p.roles or "norm_scale" in p.roles:
            rule = auto.norm_rule("norm_bias" in p.roles)
        elif "bias" in p.roles:
            rule = auto.bias_rule()
        elif p.kind == "embedding" and p.ndim == 2:
            owners = ties.get(id(tensor), [])
            others = [o for o in owners if not isinstance(module.get_submodule(o), torch.nn.Embedding)]
            rule = auto.embedding_rule(others[0] if others else None, p.shape[1])
        elif p.name in found:
            rule = found[p.name]
        elif p.ndim >= 2 and p.module is not None and _layer(p.module):
            rule = auto.unresolved("the trace never reached its layer")
        elif p.ndim >= 2:
            rule = auto.free_rule(p.name)
        else:
            rule = None  # a 1-D parameter that is neither bias nor norm: left as constructed
        if rule is not None:
            rules[auto.weight_key(p.name)] = rule
    return rules


def measure(report: Any, model: torch.nn.Module, example_input: Any) -> list[LayerHealth]:
    """One forward pass with hooks on every dense/conv layer the report initialized.

    Per layer: the measured std of its output and the predicted one,
    ``sqrt(fan_in * std_w**2 * E[x**2] + std_b**2)`` with ``x`` the layer's actual input.
    """
    from ._torch_params import _kind

    rows = {r.name: r for r in report.rows}
    got: list[LayerHealth] = []
    handles = []

    def hook(name: str, row: Any, brow: Any) -> Callable[..., None]:
        def fn(m: torch.nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if any(h.name == name for h in got) or not inputs or not isinstance(output, torch.Tensor):
                return
            x = inputs[0].detach().to(torch.float64)
            y = output.detach().to(torch.float64)
            m2 = float((x * x).mean())
            sb = 0.0 if brow is None or math.isnan(brow.std) else brow.std
            pred = math.sqrt(row.fan_in * row.std**2 * m2 + sb**2) if row.fan_in else math.nan
            rms = math.sqrt(m2)
            got.append(LayerHealth(name, len(got) + 1, pred, float(y.std()), row.scheme, rms))

        return fn

    for name, m in model.named_modules():
        key = f"{name}.weight" if name else "weight"
        if _kind(m) in ("dense", "conv") and key in rows and not math.isnan(rows[key].std):
            bkey = f"{name}.bias" if name else "bias"
            handles.append(m.register_forward_hook(hook(name or "(root)", rows[key], rows.get(bkey))))
    try:
        with torch.enable_grad():  # keeps torch's fused inference paths (which skip the hooks) off
            model(*example_input) if isinstance(example_input, tuple) else model(example_input)
    finally:
        for h in handles:
            h.remove()
    return got
