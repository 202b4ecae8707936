"""Keras whole-model init: ``init_model(model, "keras", seed=0)`` vs Keras' own initialization.

Two models, built once on the Keras backend in ``KERAS_BACKEND`` (default TensorFlow): a
ResNet-18-like convnet (basic blocks [2, 2, 2, 2], widths 32-256, 64x64 RGB) and a
12-layer pre-norm transformer (width 256, 4 heads, MLP 1024, 4096 tokens). Keras' own
initialization is re-run in place: every trainable variable assigned a fresh draw of its
layer's initializer (``kernel_initializer``, ``bias_initializer``, ``gamma_initializer``,
..., what ``build`` calls; an ``EinsumDense`` kernel's with its fan axes). varinit's is
``init_model`` with the preset that reproduces those defaults, an int seed (one portable
stream per parameter), with and without the report's measured std. Both timed in the same
run, best of N; the ratio is printed, nothing is asserted. Target: at most 1.5x.

    python benchmarks/bench_models_keras.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
from _common import best, cpu_flags
from varinit.adapters.keras import init_model

L = keras.layers


# --------------------------------------------------------------------------- models


def resnet18(widths: tuple[int, ...] = (32, 64, 128, 256), classes: int = 1000) -> Any:
    """torchvision's ResNet-18 layout in Keras: stem, four stages of two basic blocks."""
    inp = keras.Input((64, 64, 3))
    x = L.Conv2D(widths[0], 7, strides=2, padding="same", use_bias=False, name="conv1")(inp)
    x = L.ReLU()(L.BatchNormalization(name="bn1")(x))
    x = L.MaxPooling2D(3, 2, padding="same")(x)
    cin = widths[0]
    for s, w in enumerate(widths):
        for b in range(2):
            stride = 2 if s > 0 and b == 0 else 1
            p = f"layer{s + 1}_{b}"
            h = L.Conv2D(w, 3, strides=stride, padding="same", use_bias=False, name=f"{p}_conv1")(x)
            h = L.ReLU()(L.BatchNormalization(name=f"{p}_bn1")(h))
            h = L.Conv2D(w, 3, padding="same", use_bias=False, name=f"{p}_conv2")(h)
            h = L.BatchNormalization(name=f"{p}_bn2")(h)
            if stride != 1 or cin != w:
                x = L.Conv2D(w, 1, strides=stride, use_bias=False, name=f"{p}_down")(x)
                x = L.BatchNormalization(name=f"{p}_down_bn")(x)
            x = L.ReLU()(L.Add()([x, h]))
            cin = w
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(classes, name="fc")(x), name="resnet18")


def transformer(n_layer: int = 12, d: int = 256, heads: int = 4, vocab: int = 4096, seq: int = 64) -> Any:
    """A GPT-style pre-norm stack: token and position embeddings, attention and MLP blocks."""
    ids = keras.Input((seq,), dtype="int32")
    x = L.Embedding(vocab, d, name="wte")(ids)
    for i in range(n_layer):
        h = L.LayerNormalization(name=f"h_{i}_ln1")(x)
        x = L.Add()([x, L.MultiHeadAttention(heads, d // heads, name=f"h_{i}_attn")(h, h)])
        h = L.LayerNormalization(name=f"h_{i}_ln2")(x)
        h = L.Dense(4 * d, activation="gelu", name=f"h_{i}_fc")(h)
        x = L.Add()([x, L.Dense(d, name=f"h_{i}_proj")(h)])
    x = L.LayerNormalization(name="ln_f")(x)
    return keras.Model(ids, L.Dense(vocab, use_bias=False, name="lm_head")(x), name="gpt")


# --------------------------------------------------------------------------- the two inits


def keras_plan(model: Any) -> list[tuple[Any, Any]]:
    """(variable, initializer) for every trainable variable: the initializer its layer's
    build() called (an EinsumDense kernel's with the fan axes build() gives it)."""
    plan = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        for v in getattr(layer, "_trainable_variables", ()):
            local = v.path.rpartition("/")[2]
            init = keras.initializers.get(getattr(layer, f"{local}_initializer"))
            if isinstance(layer, L.EinsumDense) and local == "kernel":
                eq = layer.equation.replace("...", "")
                lhs, out = eq.split("->")
                inp, w = lhs.split(",")
                outs = [i for i, c in enumerate(w) if c in out]
                ins = [i for i, c in enumerate(w) if c not in out and c in inp]
                init = layer._update_kernel_initializer(ins, outs)
            plan.append((v, init))
    return plan


def keras_init(plan: list[tuple[Any, Any]]) -> Callable[[], None]:
    def run() -> None:
        for v, init in plan:
            v.assign(init(v.shape, v.dtype))
        sync(plan[-1][0])

    return run


def sync(v: Any) -> None:
    keras.ops.convert_to_numpy(v.value)  # the backend has finished the last assignment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(
        f"Keras {keras.__version__}, backend {keras.backend.backend()}; {platform.machine()} "
        f"({cpu_flags()}), {os.cpu_count()} cores; best of {args.repeat}"
    )
    head = ("model", "params", "keras", "varinit", "ratio", "+measure", "ratio")
    print(
        " ".join(
            h.ljust(12) if i == 0 else h.rjust(10 if i in (1, 2, 3, 5) else 6) for i, h in enumerate(head)
        )
    )
    for name, build in (("resnet18", resnet18), ("transformer", transformer)):
        model = build()
        n = sum(math.prod(v.shape) for v in model.trainable_variables)
        plan = keras_plan(model)
        assert len(plan) == len(model.trainable_variables)
        last = model.trainable_variables[-1]

        def ours(measure: bool, m: Any = model, v: Any = last) -> None:
            init_model(m, "keras", seed=0, measure=measure)
            sync(v)

        t_keras = best(keras_init(plan), args.repeat)
        t_ours = best(lambda: ours(False), args.repeat)
        t_meas = best(lambda: ours(True), args.repeat)
        print(
            f"{name:<12} {n:>10,} {t_keras * 1e3:>8.1f}ms {t_ours * 1e3:>8.1f}ms {t_ours / t_keras:>5.2f}x "
            f"{t_meas * 1e3:>8.1f}ms {t_meas / t_keras:>5.2f}x"
        )


if __name__ == "__main__":
    main()
