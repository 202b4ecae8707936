"""Keras 3: ``Initializer`` for any scheme, and a drop-in for every ``keras.initializers`` class.

Everything runs on every Keras backend (tensorflow, jax, torch) through the matching varinit
backend, so an integer seed gives the same weights on all of them.

- ``Initializer(scheme, seed=None, **overrides)``: any varinit scheme. ``seed=int``: values
  are a pure function of (scheme, overrides, seed, stream, shape), so calling one instance
  twice returns the same values; ``seed=None``: every call draws a fresh seed from Keras'
  global seed generator (``keras.utils.set_random_seed`` makes a run reproducible).
- ``VarianceScaling``, ``GlorotUniform``, ..., ``Orthogonal``, ``Constant``, ``Zeros``, ...
  and Keras' lower-case aliases: Keras' classes (they subclass them), with Keras' arguments,
  attributes, configs and seed semantics (an int, ``None`` or a ``keras.random.SeedGenerator``),
  drawn by varinit. ``import varinit.adapters.keras as initializers`` replaces
  ``from keras import initializers``; ``get``, ``serialize`` and ``deserialize`` are here too.

Every class is a ``keras.initializers.VarianceScaling`` where Keras' is (and an ``Initializer``
of a scheme with fans is one too), so ``EinsumDense`` and ``MultiHeadAttention`` hand it the
true fan axes (``input_axes``/``output_axes``), as they do Keras' own. Saved models name
``varinit.adapters.keras``, the module to import before ``keras.saving.load_model`` (Keras
imports no module of a config but its own).

>>> import keras
>>> from varinit.adapters.keras import HeNormal, Initializer
>>> layer = keras.layers.Dense(8, kernel_initializer=HeNormal(seed=0))
>>> layer.build((None, 16))
>>> tuple(layer.kernel.shape)
(16, 8)
"""

from __future__ import annotations

import inspect
import math
import operator
import random
from typing import Any

import keras
import numpy as np

from varinit.core.executor import execute
from varinit.core.fans import normalize_shape
from varinit.core.request import Spec
from varinit.rng.philox import split_key

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "deserialize",
    "get",
    "init_model",
    "serialize",
]

#: Keras backend name -> varinit backend name
from ._keras_seed import _backend, _fresh_seed, _key

#: families whose laws depend on the fans (Keras' axes protocol applies to them)
_FAN_FAMILIES = frozenset({"variance_scaling", "tf1_variance_scaling"})
#: varinit's fan keywords: when a user gives one, it wins over Keras' axes
_FAN_KEYS = ("in_axis", "out_axis", "batch_axis", "fan_in", "fan_out")
#: dtypes varinit draws; Zeros/Ones/Constant/Identity leave the others to Keras' own code
_FLOATS = frozenset({"float16", "bfloat16", "float32", "float64"})
_register = keras.saving.register_keras_serializable(package="varinit")


# --------------------------------------------------------------------------- shared steps


def _draw(spec: Spec, dims: tuple[int, ...], dtype: Any, seed: int, stream: int = 0) -> Any:
    """One request on Keras' current backend, returned as a Keras backend tensor."""
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    be = _backend()
    x = execute(spec.request(dims, backend=be, seed=seed, stream=stream, dtype=dtype))
    return x if be.name == "tensorflow" else keras.ops.convert_to_tensor(x, dtype=dtype)


def _keras_fans(dims: tuple[int, ...], input_axes: Any, output_axes: Any) -> dict[str, Any]:
    """Keras' fan rule (``compute_fans``) as explicit fans where it is not the request's
    ``in_out`` layout: with both axes, the products of those axes; a 1-D shape has fan_in =
    fan_out = its length, a 0-D shape 1. ``{}`` where the layout already gives Keras' fans."""
    if input_axes is not None and output_axes is not None:
        fan_in, fan_out = (math.prod(dims[a] for a in axes) for axes in (input_axes, output_axes))
    elif len(dims) >= 2:
        return {}
    else:
        fan_in = fan_out = dims[0] if dims else 1
    return {"fan_in": max(1, fan_in), "fan_out": max(1, fan_out)}


def _seed_of(seed: Any) -> Any:
    """Keras' ``seed`` argument -> the seed an instance keeps (Keras' rule): ``None`` becomes
    Keras' default seed (Python's ``random``, which ``keras.utils.set_random_seed`` seeds), a
    dict a ``SeedGenerator``; ints must lie in [0, 2**64) (the portable stream's key)."""
    if seed is None:
        return random.randint(1, int(1e9))  # keras.src.random.seed_generator.make_default_seed
    if isinstance(seed, dict):
        seed = keras.saving.deserialize_keras_object(seed)
    if isinstance(seed, keras.random.SeedGenerator):
        return seed
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        value = operator.index(seed)
        split_key(value)
        return value
    raise ValueError(
        "`seed` argument should be an instance of `keras.random.SeedGenerator()` or an "
        f"integer in [0, 2**64). Received: seed={seed!r}"
    )


# --------------------------------------------------------------------------- the generic class


_LOADS_WITH = "import varinit.adapters.keras before keras.saving.load_model"


@_register
class Initializer(keras.initializers.Initializer):  # type: ignore[misc]
    """Any varinit scheme as a Keras initializer (layout ``in_out``: Keras' own).

    ``seed``: an int in [0, 2**64) selects the portable stream (same weights on every
    backend, every call); ``None`` draws a fresh seed per call from Keras' global seed
    generator. ``stream`` (keyword) picks the portable stream id. Other keywords override
    the scheme's parameters or the fans (``mode="fan_out"``, ``gain=...``, ``in_axis=...``).
    ``input_axes``/``output_axes`` are Keras' fan axes (``EinsumDense`` sets them); they apply
    to schemes with fans unless a varinit fan keyword is given. For such a scheme the
    instance is also a Keras ``VarianceScaling``, so that ``EinsumDense`` passes those axes.

    >>> from varinit.adapters.keras import Initializer
    >>> init = Initializer("glorot_uniform", seed=3)
    >>> w = init((64, 32))
    >>> bool((init((64, 32)) == w).numpy().all()) if hasattr(w, "numpy") else True
    True
    >>> Initializer.from_config(init.get_config()).get_config() == init.get_config()
    True
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Initializer:
        scheme = args[0] if args else kwargs.get("scheme")
        if cls is Initializer and isinstance(scheme, str) and _has_fans(scheme):
            cls = _FanInitializer  # subclasses stay as they are
        return super().__new__(cls)  # type: ignore[no-any-return]

    def __init__(
        self,
        scheme: str,
        seed: int | None = None,
        *,
        input_axes: Any = None,
        output_axes: Any = None,
        **overrides: Any,
    ) -> None:
        if not isinstance(scheme, str):
            raise TypeError(f"scheme={scheme!r} is not allowed: pass a scheme name (a str)")
        self._spec = Spec.of(
            scheme, **{k: v for k, v in overrides.items() if k != "stream"}
        )  # fails here, not at build
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
                raise TypeError(
                    f"seed={seed!r} is not allowed: Initializer takes an int in [0, 2**64) "
                    "or None (a generator object cannot be serialized)"
                )
            seed = operator.index(seed)
            split_key(seed)
        split_key(overrides.get("stream", 0), "stream")
        self.scheme = scheme
        self.seed = seed
        self.overrides = dict(overrides)
        self.input_axes = input_axes
        self.output_axes = output_axes

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        dims = normalize_shape(shape)  # a float such as 4.5 is an error, not 4
        spec = self._spec
        if (
            spec.scheme.family in _FAN_FAMILIES
            and self.input_axes is not None
            and self.output_axes is not None
            and not any(k in self.overrides for k in _FAN_KEYS)
        ):
            spec = Spec.of(spec, **_keras_fans(dims, self.input_axes, self.output_axes))
        seed = self.seed if self.seed is not None else _fresh_seed()
        return _draw(spec, dims, dtype, seed, self.overrides.get("stream", 0))

    def __getstate__(self) -> dict[str, Any]:  # copy and pickle: the Spec is rebuilt
        return {k: v for k, v in self.__dict__.items() if k != "_spec"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._spec = Spec.of(self.scheme, **{k: v for k, v in self.overrides.items() if k != "stream"})

    def get_config(self) -> dict[str, Any]:
        axes = {"input_axes": self.input_axes, "output_axes": self.output_axes}
        return {
            "scheme": self.scheme,
            "seed": self.seed,
            **self.overrides,
            **{k: v for k, v in axes.items() if v is not None},
            # Keras cannot import varinit by itself when it loads a saved model; when that
            # import is missing, its error prints this config, and so names the fix
            "loads_with": _LOADS_WITH,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**{k: v for k, v in config.items() if k != "loads_with"})

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides.items())
        return f"Initializer({self.scheme!r}, seed={self.seed!r}{extra})"


class _FanInitializer(Initializer, keras.initializers.VarianceScaling):  # type: ignore[misc]
    """An ``Initializer`` of a scheme with fans: a Keras ``VarianceScaling`` for
    ``EinsumDense``'s sake, saved as ``varinit>Initializer`` (Keras reads ``__name__``)."""


_FanInitializer.__name__ = "Initializer"
_register(_FanInitializer)
_register(Initializer)  # "varinit>Initializer" loads through Initializer, which picks the class


def _has_fans(scheme: str) -> bool:
    try:
        return Spec.of(scheme).scheme.family in _FAN_FAMILIES
    except (KeyError, ValueError, TypeError):
        return False  # __init__ raises the error


# --------------------------------------------------------------------------- random drop-ins


class _Random:
    """The varinit half of a random drop-in: Keras' seed rule, one request per call."""

    seed: Any
    _init_seed: Any

    def _set_seed(self, seed: Any) -> None:
        self._init_seed = seed
        self.seed = _seed_of(seed)
        self._law()  # validate the parameters now, not at build

    def _law(self) -> Spec:
        """The scheme and its parameters (no shape yet)."""
        raise NotImplementedError

    def _spec(self, dims: tuple[int, ...]) -> Spec:
        return self._law()

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        dims = normalize_shape(shape)
        spec = self._spec(dims)
        return _draw(spec, dims, dtype, *_key(self.seed))

    def _seed_config(self) -> dict[str, Any]:
        return {"seed": keras.saving.serialize_keras_object(self._init_seed)}


@_register
class RandomNormal(_Random, keras.initializers.RandomNormal):  # type: ignore[misc]
    """Keras' ``RandomNormal``: N(mean, stddev²), drawn by varinit.

    >>> from varinit.adapters.keras import RandomNormal
    >>> tuple(RandomNormal(stddev=0.02, seed=0)((4, 3)).shape)
    (4, 3)
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> None:
        self.mean = mean
        self.stddev = stddev
        self._set_seed(seed)

    def _law(self) -> Spec:
        return Spec.of("normal", mean=float(self.mean), std=float(self.stddev))

    def get_config(self) -> dict[str, Any]:
        return {**self._seed_config(), "mean": self.mean, "stddev": self.stddev}


@_register
class TruncatedNormal(_Random, keras.initializers.TruncatedNormal):  # type: ignore[misc]
    """Keras' ``TruncatedNormal``: N(mean, stddev²) inside mean ± 2 stddev, drawn by varinit.

    >>> from varinit.adapters.keras import TruncatedNormal
    >>> float(abs(TruncatedNormal(stddev=1.0, seed=0)((100, 100))).numpy().max()) <= 2.0
    True
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Any = None) -> None:
        self.mean = mean
        self.stddev = stddev
        self._set_seed(seed)

    def _law(self) -> Spec:
        return Spec.of("truncated_normal", mean=float(self.mean), std=float(self.stddev))

    def get_config(self) -> dict[str, Any]:
        return {**self._seed_config(), "mean": self.mean, "stddev": self.stddev}


@_register
class RandomUniform(_Random, keras.initializers.RandomUniform):  # type: ignore[misc]
    """Keras' ``RandomUniform``: U(minval, maxval), drawn by varinit.

    >>> from varinit.adapters.keras import RandomUniform
    >>> float(RandomUniform(0.0, 1.0, seed=0)((100,)).numpy().min()) >= 0.0
    True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: Any = None) -> None:
        self.minval = minval
        self.maxval = maxval
        self._set_seed(seed)

    def _law(self) -> Spec:
        return Spec.of("uniform", low=float(self.minval), high=float(self.maxval))

    def get_config(self) -> dict[str, Any]:
        return {**self._seed_config(), "minval": self.minval, "maxval": self.maxval}


_DISTRIBUTIONS = {
    "truncated_normal": "truncated_normal",
    "untruncated_normal": "normal",
    "uniform": "uniform",
}


@_register
class VarianceScaling(_Random, keras.initializers.VarianceScaling):  # type: ignore[misc]
    """Keras' ``VarianceScaling``: Var = scale / n, n from ``mode`` and the fans (Keras' rule,
    ``input_axes``/``output_axes`` included); truncated normal (σ corrected), untruncated
    normal or uniform. Drawn by varinit.

    >>> from varinit.adapters.keras import VarianceScaling
    >>> init = VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform", seed=1)
    >>> (init.scale, init.mode, init.distribution)
    (2.0, 'fan_out', 'uniform')
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: Any = None,
        input_axes: Any = None,
        output_axes: Any = None,
    ) -> None:
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of fan_in, fan_out, fan_avg")
        distribution = distribution.lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument: {distribution}. "
                f"Please use one of {', '.join(_DISTRIBUTIONS)}"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        self._set_seed(seed)

    def _law(self) -> Spec:
        return Spec.of(
            "variance_scaling",
            factor=float(self.scale),
            mode=self.mode,
            distribution=_DISTRIBUTIONS[self.distribution],
        )

    def _spec(self, dims: tuple[int, ...]) -> Spec:
        return Spec.of(self._law(), **_keras_fans(dims, self.input_axes, self.output_axes))

    def get_config(self) -> dict[str, Any]:
        return {
            **self._seed_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _Preset(VarianceScaling):
    """A ``VarianceScaling`` with a fixed law ``(scale, mode, distribution)``."""

    _preset: tuple[float, str, str]

    def __init__(self, seed: Any = None, input_axes: Any = None, output_axes: Any = None) -> None:
        super().__init__(*self._preset, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self) -> dict[str, Any]:
        return {**self._seed_config(), "input_axes": self.input_axes, "output_axes": self.output_axes}


@_register
class GlorotUniform(_Preset, keras.initializers.GlorotUniform):  # type: ignore[misc]
    """Keras' ``GlorotUniform``: U(±sqrt(6 / (fan_in + fan_out))), drawn by varinit.

    >>> from varinit.adapters.keras import GlorotUniform
    >>> tuple(GlorotUniform(seed=0)((3, 3, 8, 16)).shape)
    (3, 3, 8, 16)
    """

    _preset = (1.0, "fan_avg", "uniform")


@_register
class GlorotNormal(_Preset, keras.initializers.GlorotNormal):  # type: ignore[misc]
    """Keras' ``GlorotNormal``: truncated normal, Var = 2 / (fan_in + fan_out), drawn by varinit.

    >>> from varinit.adapters.keras import GlorotNormal
    >>> GlorotNormal(seed=0).get_config()
    {'seed': 0, 'input_axes': None, 'output_axes': None}
    """

    _preset = (1.0, "fan_avg", "truncated_normal")


@_register
class HeNormal(_Preset, keras.initializers.HeNormal):  # type: ignore[misc]
    """Keras' ``HeNormal``: truncated normal, Var = 2 / fan_in, drawn by varinit.

    >>> from varinit.adapters.keras import HeNormal
    >>> HeNormal(seed=0).scale, HeNormal(seed=0).mode
    (2.0, 'fan_in')
    """

    _preset = (2.0, "fan_in", "truncated_normal")


@_register
class HeUniform(_Preset, keras.initializers.HeUniform):  # type: ignore[misc]
    """Keras' ``HeUniform``: U(±sqrt(6 / fan_in)), drawn by varinit.

    >>> from varinit.adapters.keras import HeUniform
    >>> HeUniform(seed=0).distribution
    'uniform'
    """

    _preset = (2.0, "fan_in", "uniform")


@_register
class LecunNormal(_Preset, keras.initializers.LecunNormal):  # type: ignore[misc]
    """Keras' ``LecunNormal``: truncated normal, Var = 1 / fan_in, drawn by varinit.

    >>> from varinit.adapters.keras import LecunNormal
    >>> LecunNormal(seed=0).scale
    1.0
    """

    _preset = (1.0, "fan_in", "truncated_normal")


@_register
class LecunUniform(_Preset, keras.initializers.LecunUniform):  # type: ignore[misc]
    """Keras' ``LecunUniform``: U(±sqrt(3 / fan_in)), drawn by varinit.

    >>> from varinit.adapters.keras import LecunUniform
    >>> LecunUniform(seed=0).mode
    'fan_in'
    """

    _preset = (1.0, "fan_in", "uniform")


@_register
class Orthogonal(_Random, keras.initializers.Orthogonal):  # type: ignore[misc]
    """Keras' ``Orthogonal``: a (semi-)orthogonal matrix of shape ``(prod(shape[:-1]),
    shape[-1])`` from the sign-fixed QR of a Gaussian matrix, times ``gain``; drawn by varinit.

    >>> import numpy as np
    >>> from varinit.adapters.keras import Orthogonal
    >>> q = keras.ops.convert_to_numpy(Orthogonal(seed=0)((6, 4)))
    >>> bool(np.allclose(q.T @ q, np.eye(4), atol=1e-5))
    True
    """

    def __init__(self, gain: float = 1.0, seed: Any = None) -> None:
        self.gain = gain
        self._set_seed(seed)

    def _law(self) -> Spec:
        return Spec.of("orthogonal", gain=float(self.gain))

    def get_config(self) -> dict[str, Any]:
        return {**self._seed_config(), "gain": self.gain}


# --------------------------------------------------------------------------- constant drop-ins


class _Fixed:
    """Deterministic drop-ins: float dtypes through varinit's request, other dtypes (ints,
    bools) and array values through Keras' own code, which supports them."""

    def _spec(self) -> Spec | None:
        raise NotImplementedError

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        spec = self._spec()
        name = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        if spec is None or name not in _FLOATS:
            return super().__call__(shape, dtype)  # type: ignore[misc]
        return _draw(spec, normalize_shape(shape), name, 0)


@_register
class Zeros(_Fixed, keras.initializers.Zeros):  # type: ignore[misc]
    """Keras' ``Zeros``.

    >>> from varinit.adapters.keras import Zeros
    >>> float(Zeros()((2, 2)).numpy().sum())
    0.0
    """

    def _spec(self) -> Spec:
        return Spec.of("zeros")


@_register
class Ones(_Fixed, keras.initializers.Ones):  # type: ignore[misc]
    """Keras' ``Ones``.

    >>> from varinit.adapters.keras import Ones
    >>> float(Ones()((2, 2)).numpy().sum())
    4.0
    """

    def _spec(self) -> Spec:
        return Spec.of("ones")


@_register
class Constant(_Fixed, keras.initializers.Constant):  # type: ignore[misc]
    """Keras' ``Constant``: a scalar, or an array broadcast to the shape (as Keras does).

    >>> import numpy as np
    >>> from varinit.adapters.keras import Constant
    >>> Constant(np.arange(3.0))((2, 3)).numpy().tolist()
    [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]
    """

    def __init__(self, value: Any = 0.0) -> None:
        self.value = value

    def _spec(self) -> Spec | None:
        v = self.value
        if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
            return Spec.of("constant", value=float(v))
        return None

    def get_config(self) -> dict[str, Any]:
        return {"value": keras.saving.serialize_keras_object(self.value)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constant:
        return cls(keras.saving.deserialize_keras_object(config["value"]))


@_register
class Identity(_Fixed, keras.initializers.Identity):  # type: ignore[misc]
    """Keras' ``Identity``: ``gain`` times the (rectangular) identity; 2-D only.

    >>> from varinit.adapters.keras import Identity
    >>> Identity(gain=2.0)((2, 3)).numpy().tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def _spec(self) -> Spec:
        return Spec.of("identity", gain=float(self.gain))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}  # Keras' own config drops the gain


# --------------------------------------------------------------------------- Keras' other names

STFT = STFTInitializer = stft = getattr(
    keras.initializers, "STFT", None
)  # a fixed DFT kernel: Keras' own class
IdentityInitializer = identity = Identity
OrthogonalInitializer = orthogonal = Orthogonal
constant, zeros, ones = Constant, Zeros, Ones
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, glorot_uniform, glorot_normal = VarianceScaling, GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform

#: the names ``get`` and ``deserialize`` resolve (Keras' ALL_OBJECTS_DICT, with varinit's classes)
ALL_OBJECTS: dict[str, Any] = {
    **{c.__name__: c for c in (Constant, Identity, Ones, Zeros, Orthogonal, VarianceScaling)},
    **{c.__name__: c for c in (RandomNormal, RandomUniform, TruncatedNormal)},
    **{c.__name__: c for c in (GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform)},
    "constant": Constant,
    "identity": Identity,
    "ones": Ones,
    "zeros": Zeros,
    "orthogonal": Orthogonal,
    "variance_scaling": VarianceScaling,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "glorot_normal": GlorotNormal,
    "glorot_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal,
    "normal": RandomNormal,
    "uniform": RandomUniform,
    "one": Ones,
    "zero": Zeros,
    **({"STFT": STFT, "stft": STFT, "STFTInitializer": STFT} if STFT is not None else {}),
}


def serialize(initializer: Any) -> Any:
    """``keras.initializers.serialize``.

    >>> from varinit.adapters.keras import HeNormal, serialize
    >>> serialize(HeNormal(seed=1))["registered_name"]
    'varinit>HeNormal'
    """
    return keras.saving.serialize_keras_object(initializer)


def deserialize(config: Any, custom_objects: Any = None) -> Any:
    """``keras.initializers.deserialize``, with Keras' names resolving to varinit's classes.

    >>> from varinit.adapters.keras import deserialize
    >>> type(deserialize({"class_name": "HeNormal", "config": {"seed": 1}})).__module__
    'varinit.adapters.keras'
    """
    return keras.saving.deserialize_keras_object(
        config, module_objects=ALL_OBJECTS, custom_objects=custom_objects
    )


def get(identifier: Any) -> Any:
    """``keras.initializers.get``, with names and configs resolving to varinit's classes;
    ``None``, tensors, arrays and callables behave as in Keras.

    >>> from varinit.adapters.keras import get
    >>> type(get("he_normal")).__name__, type(get("he_normal")).__module__
    ('HeNormal', 'varinit.adapters.keras')
    """
    if isinstance(identifier, str):
        identifier = {"class_name": identifier, "config": {}}
    if not isinstance(identifier, dict):
        return keras.initializers.get(identifier)
    obj = deserialize(identifier)
    if inspect.isclass(obj):
        obj = obj()
    if not callable(obj):
        raise ValueError(f"Could not interpret initializer identifier: {identifier}")
    return obj


# whole-model init lives in its own module (it reads this one's backend and seed helpers)
from ._keras_model import init_model  # noqa: E402
