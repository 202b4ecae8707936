"""The architecture as tests: one home for the stream, no import cycles, layers pointing down,
public adapter imports, one ``index=`` rule and one error for one mistake on every path."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import varinit
from varinit.core.request import Spec, block_of

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "varinit"
ADAPTERS = ROOT / "adapters"


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _module_name(path: Path) -> str:
    if path.is_relative_to(ADAPTERS):
        return "varinit.adapters." + path.stem
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every varinit module ``path`` imports, at module level or inside functions."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n for n in names if n.startswith("varinit")}
    return out


def _graph() -> dict[str, set[str]]:
    files = [*PACKAGE.rglob("*.py"), *ADAPTERS.glob("*.py")]
    modules = {_module_name(f): f for f in files}
    graph: dict[str, set[str]] = {}
    for name, f in modules.items():
        deps = set()
        for imp in _imports(f):
            while imp and imp not in modules:
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                deps.add(imp)
        graph[name] = deps
    return graph


def test_there_are_no_import_cycles() -> None:
    graph = _graph()
    assert len(graph) > 30
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if dep == "varinit":  # the package's own __init__ re-exports; modules below never use it
                continue
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep] if dep in path else [*path, dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


#: each layer may import only itself and the layers listed (imports point down)
LAYERS = {
    "varinit.rng": {"varinit.rng"},
    "varinit.core": {"varinit.core", "varinit.rng", "varinit.adapters"},  # adapters: by name, lazily
    "varinit.theory": {"varinit.theory", "varinit.core", "varinit.rng"},
    "varinit.conformance": {"varinit.conformance", "varinit.core", "varinit.rng"},
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_imports_point_down(layer: str) -> None:
    allowed = LAYERS[layer]
    bad = [
        f"{mod} imports {dep}"
        for mod, deps in _graph().items()
        if mod == layer or mod.startswith(layer + ".")
        for dep in deps
        if not any(dep == a or dep.startswith(a + ".") for a in allowed)
    ]
    assert not bad, bad


def test_philox_constants_live_in_one_module() -> None:
    constants = re.compile(r"0x(D2511F53|CD9E8D57|9E3779B9|BB67AE85)", re.I)
    homes = sorted(
        str(f.relative_to(ROOT))
        for f in [*PACKAGE.rglob("*.py"), *ADAPTERS.glob("*.py")]
        if constants.search(f.read_text("utf-8"))
    )
    assert homes == ["varinit/rng/philox.py"]


def test_adapters_import_no_private_core_names() -> None:
    bad = []
    for f in ADAPTERS.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("varinit"):
                if any(part.startswith("_") for part in (node.module or "").split(".")):
                    bad.append(f"{f.name}: from {node.module}")
                bad += [f"{f.name}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert not bad, bad


def test_docs_randomness_states_the_stream_module() -> None:
    from varinit.rng import philox

    text = (ROOT / "docs" / "randomness.md").read_text("utf-8")
    assert "k0 = seed & 0xFFFFFFFF" in text and "k1 = seed >> 32" in text
    assert "(b & 0xFFFFFFFF, b >> 32, s0, s1)" in text
    assert "u = (w >> 8) * 2**-24 + 2**-25" in text
    assert "capped at `1 - 2**-24`" in text and "capped at `1 - 2**-53`" in text
    # and the module computes exactly what the text says, for words past 2**32
    seed, stream, start = 2**40 + 3, 77, 2**34 + 1
    w = philox.reference_words(seed, stream, start, 6)
    b, off = start >> 2, start & 3
    k = (seed & 0xFFFFFFFF, seed >> 32)
    block = philox.philox4x32_reference((b & 0xFFFFFFFF, b >> 32, stream, 0), k)
    assert w[: 4 - off] == list(block[off:])
    u = philox.reference_uniforms(seed, stream, start, 2, "float32")
    assert u[0] == np.float32((w[0] >> 8) * 2.0**-24 + 2.0**-25)
    u64 = philox.reference_uniforms(seed, stream, start, 1, "float64")
    w64 = philox.reference_words(seed, stream, 2 * start, 2)
    assert u64[0] == (((w64[0] << 32) | w64[1]) >> 11) * 2.0**-53 + 2.0**-54
    assert philox.OPEN["float32"] == (2.0**-25, 1.0 - 2.0**-24)


# --------------------------------------------------------------------------- index=


def test_block_of_normalizes_ints_slices_and_negative_steps() -> None:
    b = block_of((5, 6), (-1, slice(None, None, -2)))
    assert b.shape == (3,) and b.index == (4, slice(5, None, -2)) and b.starts == (29, 27, 25)
    assert block_of((5, 6), slice(1, 3)).shape == (2, 6)
    assert block_of((5, 6), (slice(5, 5),)).shape == (0, 6)


@pytest.mark.parametrize(
    "index,match",
    [
        ((5,), r"index 5 is out of range for axis 0 of size 5"),
        ((-6,), r"index -6 is out of range for axis 0 of size 5"),
        ((slice(0, 7),), r"axis 0 of size 5: its stop 7"),
        ((slice(None), slice(-9, None)), r"axis 1 of size 6: its start -9"),
        ((slice(5, None, -1),), r"negative-step slice starts at most at 4"),
        ((0, 0, 0), r"3 entries but the shape \(5, 6\) has 2 axes"),
    ],
)
def test_index_outside_the_global_shape_raises(index: Any, match: str) -> None:
    with pytest.raises(IndexError, match=match):
        block_of((5, 6), index)


BACKENDS = ["numpy", "torch", "jax", "tensorflow"]
INDEXES = [
    (slice(2, 40, 3), slice(None, None, -1)),
    (-1,),
    (slice(None), 7),
    (slice(30, 2, -4), slice(5, 30)),
]


def _backend_param(name: str) -> Any:
    marks = [] if name == "numpy" else [getattr(pytest.mark, name)]
    return pytest.param(name, marks=marks, id=name)


def _native(backend: str) -> Any:
    from varinit.core.backend import get_backend

    return get_backend(backend).make_generator(3)


@pytest.mark.parametrize("backend", [_backend_param(b) for b in BACKENDS])
@pytest.mark.parametrize("scheme", ["he_normal", "orthogonal"])
@pytest.mark.parametrize("source", ["portable", "native"])
def test_one_index_rule_on_every_backend_and_path(backend: str, scheme: str, source: str) -> None:
    if not _have(backend):
        pytest.skip(f"{backend} is not installed")
    from varinit.core.arrays import raw_numpy

    shape = (48, 40)

    def draw(index: Any) -> np.ndarray:
        seed = 5 if source == "portable" else _native(backend)
        return raw_numpy(
            varinit.init(scheme, shape, layout="in_out", backend=backend, seed=seed, index=index)
        )

    if source == "portable":
        whole = draw(None)
        for index in INDEXES:
            np.testing.assert_array_equal(draw(index), whole[index], err_msg=str(index))
    for bad in [(48,), (slice(0, 49),), (slice(None), -41), (slice(48, None, -1),)]:
        with pytest.raises(IndexError, match="out of range for axis"):
            draw(bad)


def test_array_api_strict_is_bit_identical_to_numpy() -> None:
    xps = pytest.importorskip("array_api_strict")
    for scheme in [
        "he_normal",
        "glorot_uniform",
        "trunc_normal",
        "normal",
        "lecun_uniform",
        "kaiming_normal",
    ]:
        for dtype in ("float32", "float64"):
            a = varinit.init(
                scheme, (70, 33), layout="in_out", backend=xps, seed=9, dtype=getattr(xps, dtype)
            )
            assert a.dtype == getattr(xps, dtype)
            ref = varinit.init(scheme, (70, 33), layout="in_out", seed=9, dtype=dtype)
            np.testing.assert_array_equal(np.asarray(a._array), ref, err_msg=f"{scheme} {dtype}")
    with pytest.raises(TypeError, match="portable stream"):
        varinit.init("he_normal", (4, 4), backend=xps)


def test_like_takes_namespace_dtype_and_device() -> None:
    x = varinit.init("he_normal", (8, 4), layout="in_out", seed=1, like=np.zeros(3, np.float64))
    assert isinstance(x, np.ndarray) and x.dtype == np.float64
    np.testing.assert_array_equal(
        x, varinit.init("he_normal", (8, 4), layout="in_out", seed=1, dtype="float64")
    )
    xps = pytest.importorskip("array_api_strict")
    y = varinit.init("he_normal", (8, 4), layout="in_out", seed=1, like=xps.zeros(3, dtype=xps.float32))
    assert y.dtype == xps.float32 and type(y).__module__.startswith("array_api_strict")
    with pytest.raises(TypeError, match="like="):
        varinit.init("he_normal", (8, 4), layout="in_out", seed=1, like=[1.0, 2.0])


@pytest.mark.torch
def test_like_a_torch_tensor() -> None:
    torch = pytest.importorskip("torch")
    t = varinit.init("he_normal", (8, 4), layout="in_out", seed=1, like=torch.zeros(2, dtype=torch.float64))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_array_equal(
        t.numpy(), varinit.init("he_normal", (8, 4), layout="in_out", seed=1, dtype="float64")
    )


# --------------------------------------------------------------------------- one error, every door


def _doors() -> list[Any]:
    def numpy_door(**kw: Any) -> Any:
        return varinit.init("he_normal", (4, 4), seed=0, **kw)

    out = [pytest.param(numpy_door, id="init")]
    if _have("torch"):

        def torch_door(**kw: Any) -> Any:
            import torch
            from varinit.adapters.torch import init_

            return init_(torch.empty(4, 4), "he_normal", seed=0, **kw)

        out.append(pytest.param(torch_door, id="torch.init_", marks=pytest.mark.torch))
    if _have("jax"):

        def jax_door(**kw: Any) -> Any:
            from varinit.adapters.jax import initializer

            return initializer("he_normal", **kw)(0, (4, 4))

        out.append(pytest.param(jax_door, id="jax.initializer", marks=pytest.mark.jax))
    if _have("tensorflow"):

        def tf_door(**kw: Any) -> Any:
            from varinit.adapters.tensorflow import initializer

            return initializer("he_normal", seed=0, **kw)((4, 4))

        def keras_door(**kw: Any) -> Any:
            from varinit.adapters.keras import Initializer

            return Initializer("he_normal", seed=0, **kw)((4, 4))

        out.append(pytest.param(tf_door, id="tf.initializer", marks=pytest.mark.tensorflow))
        out.append(pytest.param(keras_door, id="keras.Initializer", marks=pytest.mark.tensorflow))
    return out


@pytest.mark.parametrize("door", _doors())
def test_every_front_door_raises_the_same_error(door: Any) -> None:
    mistakes: list[dict[str, Any]] = [{"not_a_param": 1.0}, {"mode": "fan_sideways"}, {"layout": "rows"}]
    for kw in mistakes:
        try:
            Spec.of("he_normal", **kw).request((4, 4), seed=0)
        except Exception as e:
            expected = (type(e), str(e))
        else:  # pragma: no cover - every mistake above is one
            raise AssertionError(kw)
        with pytest.raises(expected[0]) as got:
            door(**kw)
        assert str(got.value) == expected[1]


# --------------------------------------------------------------------------- drift bugs


def test_cli_propagate_takes_boolean_overrides_like_show(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("scipy")
    from varinit.cli import main

    code = main(
        ["propagate", "--schemes", "variance_scaling:corrected=false", "--activation", "tanh", "--depth", "3"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "variance_scaling" in out and "corrected=False" in out


@pytest.mark.torch
def test_init_module_keeps_a_rules_batch_axis() -> None:
    torch = pytest.importorskip("torch")
    from varinit.adapters.torch import init_, init_module

    net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, (3, 5)))
    rule = ("variance_scaling", {"distribution": "normal", "batch_axis": 3})
    init_module(net, {"0.weight": rule}, seed=0)
    ref = init_(torch.empty(8, 4, 3, 5), "variance_scaling", distribution="normal", batch_axis=3, seed=0,
                stream=varinit.stream_id("0.weight"))  # fmt: skip
    assert torch.equal(net[0].weight.detach(), ref)
    # batch_axis=3 leaves a receptive field of 3: fan_in = 4 * 3, not torch's 4 * 15
    assert varinit.std(
        "variance_scaling", (8, 4, 3, 5), layout="out_in", distribution="normal", batch_axis=3
    ) == (pytest.approx(12**-0.5))


@pytest.mark.jax
def test_jax_float64_native_uniform_stays_in_the_open_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    from varinit.adapters import jax as vj

    def all_ones(key: Any, shape: Any, dtype: Any = None) -> Any:
        return jnp.full(shape, 0xFFFFFFFF, dtype=dtype)

    monkeypatch.setattr(jax.random, "bits", all_ones)
    with jax.enable_x64(True):
        u = vj.BACKEND.native_uniform(jax.random.key(0), (4,), jnp.float64)
        assert u.dtype == jnp.float64
        assert float(u.max()) == 1.0 - 2.0**-53 < 1.0


@pytest.mark.tensorflow
def test_keras_rejects_a_fractional_shape_instead_of_truncating_it() -> None:
    pytest.importorskip("keras")
    from varinit.adapters.keras import Initializer

    with pytest.raises(TypeError, match="not a shape"):
        Initializer("he_normal", seed=0)((4.5, 8))


def test_a_new_family_is_one_class_plus_a_row() -> None:
    from types import MappingProxyType

    from varinit.core import families
    from varinit.core.plans import Plan, Uniform

    class Positive(families.Family):
        """U(0, width): a family defined outside the core."""

        name = "test_positive_uniform"
        params = MappingProxyType({"width": families._real(positive=True)})
        defaults = MappingProxyType({"width": 1.0})

        def plan(self, p: Any, shape: tuple[int, ...], layout: str, fan_kw: Any) -> Plan:
            return Uniform(0.0, float(p["width"]))

    try:
        varinit.register("test_positive", "test_positive_uniform", params={"width": 0.5})
        w = varinit.init("test_positive", (100, 30), seed=3, width=0.25)
        assert w.min() > 0 and w.max() < 0.25
        assert varinit.std("test_positive", (4, 4)) == pytest.approx(0.5 / 12**0.5)
        with pytest.raises(varinit.SchemeError, match="width"):
            varinit.get("test_positive", width=-1.0)
    finally:
        del families._FAMILIES[Positive.name]
