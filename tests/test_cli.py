"""The command line: every subcommand, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from varinit.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "he_normal" in out and "[msra]" in out and len(out.splitlines()) >= 25


def test_show_prints_formula_std_anchors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "msra", "--shape", "3x3x16x32"]) == 0
    out = capsys.readouterr().out
    assert "fan_in=144" in out and "keras.initializers.HeNormal" in out
    assert "std:         0.117851" in out  # sqrt(2 / 144)


def test_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "sample",
                "kaiming_normal",
                "--shape",
                "1000,500",
                "--layout",
                "out_in",
                "--set",
                "mode=fan_out",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "expected 0.0447214" in out  # sqrt(2 / 1000)


def test_check_numpy_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--backends", "numpy", "--schemes", "he_normal,orthogonal", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and {c["scheme"] for c in data["cells"]} == {"he_normal", "orthogonal"}
    from varinit.rng import kernel

    expected = f"compiled kernel ({kernel.isa()})" if kernel.available() else "Array-API reference"
    assert data["route"].startswith(expected)


def test_check_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--backends", "numpy", "--schemes", "glorot_uniform"]) == 0
    out = capsys.readouterr().out
    assert "✓" in out and "summary: PASS: 1/1 cells" in out


def test_docs_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs"]) == 0
    assert capsys.readouterr().out.startswith("# Scheme reference")


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["show", "he_norml"], "did you mean 'he_normal'"),
        (["sample", "he_normal", "--shape", "3,q"], "'3,q' is not a shape"),
        (["sample", "he_normal", "--shape", "7"], "pass them explicitly"),
        (["sample", "he_normal", "--shape", "4,4", "--set", "mode=sideways"], "mode='sideways'"),
        (["sample", "he_normal", "--shape", "4,4", "--set", "oops"], "not KEY=VALUE"),
        (["check", "--backends", "mxnet"], "'mxnet' is not a backend"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_2(argv: list[str], fragment: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "varinit", *argv], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("varinit: error:"), proc.stderr
    assert fragment in lines[0] and "Traceback" not in proc.stderr
