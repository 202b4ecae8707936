"""TensorFlow benchmark: varinit vs Keras' initializers (TF backend), 4096 x 4096 float32.

Prints ratios measured in the same run (best of N, results materialized); nothing is
asserted. Target: <= 1.2x ``keras.initializers.HeNormal`` (for ``he_normal``) and
``GlorotUniform`` (for ``glorot_uniform``) on both the portable (int seed) and the native
(``tf.random.Generator``) paths. The first call of a shape builds its graph; that one-off
cost is printed separately and excluded from the best-of-N.

    python benchmarks/bench_tensorflow.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import time
import timeit
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf
from varinit.adapters.tensorflow import initializer

SHAPE = (4096, 4096)


def best(f: Callable[[], tf.Tensor], repeat: int) -> float:
    run = lambda: f().numpy()  # noqa: E731 - materialize the result
    run()
    return min(timeit.repeat(run, number=1, repeat=repeat))


def first_call(f: Callable[[], tf.Tensor]) -> float:
    t = time.perf_counter()
    f().numpy()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("run with KERAS_BACKEND=tensorflow (or unset)")
    pairs = [("he_normal", keras.initializers.HeNormal), ("glorot_uniform", keras.initializers.GlorotUniform)]
    print(f"shape {SHAPE} float32, best of {args.repeat}, tf {tf.__version__}, keras {keras.__version__}")
    for scheme, cls in pairs:
        theirs = cls(seed=1)
        ours = {
            "portable": initializer(scheme, seed=1),
            "native": initializer(scheme, seed=tf.random.Generator.from_seed(1)),
        }
        builds = {k: first_call(lambda f=f: f(SHAPE)) for k, f in ours.items()}
        ref = best(lambda t=theirs: t(SHAPE), args.repeat)
        print(f"{scheme:15s} keras.initializers.{cls.__name__:14s} {ref * 1e3:8.1f} ms")
        for name, f in ours.items():
            t = best(lambda f=f: f(SHAPE), args.repeat)
            print(
                f"{'':15s} varinit {name:9s} {t * 1e3:22.1f} ms   ratio {t / ref:5.2f}x"
                f"   (first call {builds[name] * 1e3:.0f} ms)"
            )


if __name__ == "__main__":
    main()
