"""Regenerate the figures of docs/theory.md with `varinit propagate --plot`.

    python docs/make_figures.py

Needs matplotlib (pip install 'varinit[plot]'). Fixed seed: the figures are reproducible.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from varinit.cli import main

FIGURES = Path(__file__).resolve().parent / "figures"

RUNS = {
    "propagate_relu.png": ("relu", "he_normal,glorot_normal,lecun_normal"),
    "propagate_tanh.png": ("tanh", "glorot_normal,he_normal"),
    "propagate_sigmoid.png": ("sigmoid", "glorot_normal,kumar_sigmoid"),
    "propagate_selu.png": ("selu", "lecun_normal,he_normal,glorot_uniform"),
}


def run() -> list[Path]:
    FIGURES.mkdir(exist_ok=True)
    out = []
    for name, (act, schemes) in RUNS.items():
        path = FIGURES / name
        argv = [
            "propagate",
            "--activation",
            act,
            "--schemes",
            schemes,
            "--depth",
            "50",
            "--width",
            "512",
            "--seed",
            "0",
            "--plot",
            str(path),
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            if main(argv) != 0:
                raise SystemExit(f"varinit {' '.join(argv)} failed")
        print(f"wrote {path.relative_to(FIGURES.parent.parent)}: varinit {' '.join(argv[:-2])}")
        out.append(path)
    return out


if __name__ == "__main__":
    run()
