"""The command line's finish (issue 18): one test per point a new user ran into."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import varinit
from varinit.cli import main
from varinit.core import backend as backend_module
from varinit.core.names import BACKEND_ALIASES, backend_name

ROOT = Path(__file__).resolve().parents[1]
ROW = '[[scheme]]\nname = "polish_scheme"\nfamily = "normal"\nparams = { std = 0.125 }\n'


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "varinit", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("varinit: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# --------------------------------------------------------------------------- --version


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"varinit {varinit.__version__}"


# --------------------------------------------------------------------------- --plot


def test_plot_to_a_missing_directory_fails_at_once_without_traceback(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.png"
    line = _one_error_line(_run("propagate", "--depth", "3", "--width", "8", "--plot", str(target)))
    assert str(target.parent) in line and "does not exist" in line


def test_plot_path_that_is_a_directory_or_unknown_type_is_refused(tmp_path: Path) -> None:
    line = _one_error_line(_run("propagate", "--depth", "2", "--width", "8", "--plot", str(tmp_path)))
    assert "is a directory" in line
    line = _one_error_line(
        _run("propagate", "--depth", "2", "--width", "8", "--plot", str(tmp_path / "x.docx"))
    )
    assert "'docx'" in line and ".png" in line


def test_bad_plot_path_does_no_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["propagate", "--depth", "2", "--width", "8", "--plot", str(tmp_path / "no" / "x.png")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--plot" in err  # the table was not computed and printed first


# --------------------------------------------------------------------------- sample's timing


def test_sample_does_not_count_the_import_as_the_draw(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = backend_module.get_backend

    def slow_import(name: object) -> varinit.Backend:
        time.sleep(0.6)  # stands in for importing torch
        return real(name)

    monkeypatch.setattr(backend_module, "get_backend", slow_import)
    assert main(["sample", "he_normal", "--shape", "64,32", "--backend", "numpy"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    draw_ms = float(head.split(": draw ")[1].split(" ms")[0])
    import_ms = float(head.split("importing numpy ")[1].split(" ms")[0])
    assert draw_ms < 300 and import_ms >= 600, head


# --------------------------------------------------------------------------- one alias table


@pytest.mark.parametrize("alias", ["pytorch", "PyTorch", "np", "tf", "jnp"])
def test_every_backend_alias_resolves_in_the_library_and_the_cli(alias: str) -> None:
    from varinit.cli.options import backend_type

    canonical = BACKEND_ALIASES[alias.lower()]
    assert backend_name(alias) == canonical
    assert backend_type(alias) == canonical
    if canonical in backend_module.installed_backends():
        assert backend_module.get_backend(alias).name == canonical


def test_sample_accepts_pytorch(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["sample", "he_normal", "--shape", "64,32", "--backend", "pytorch"]) == 0
    assert " on torch (torch.float32)" in capsys.readouterr().out


def test_propagate_and_sample_reject_the_same_unknown_backend() -> None:
    for argv in (
        ["sample", "he_normal", "--shape", "4,4", "--backend", "mxnet"],
        ["propagate", "--depth", "2", "--width", "4", "--backend", "mxnet"],
    ):
        line = _one_error_line(_run(*argv))
        assert "'mxnet' is not a backend" in line and "pytorch=torch" in line


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "spelled,row",
    [
        ("kaiming_normal_", "kaiming_normal"),
        ("xavier_uniform_", "glorot_uniform"),
        ("HeNormal", "he_normal"),
        ("GlorotUniform", "glorot_uniform"),
        ("RandomNormal", "normal"),
        ("TruncatedNormal", "truncated_normal"),
        ("VarianceScaling", "variance_scaling"),
        ("eye_", "identity"),
        ("trunc_normal_", "trunc_normal"),
    ],
)
def test_framework_spellings(spelled: str, row: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert varinit.get(spelled).name == row
    assert main(["show", spelled]) == 0
    assert capsys.readouterr().out.startswith(f"{row}  (")


def _compat_names() -> list[tuple[str, str]]:
    homes = ("torch.nn.init.", "keras.initializers.", "jax.nn.initializers.")
    return [
        (c.rsplit(".", 1)[1], name)
        for name in varinit.schemes()
        for c in varinit.get(name).compat
        if c.startswith(homes)
    ]


@pytest.mark.parametrize("spelled,row", _compat_names())
def test_every_compat_anchor_name_finds_its_row(spelled: str, row: str) -> None:
    # the table says which home-framework function each row reproduces: that function's own
    # name (torch's trailing _, Keras' class name) must find the row
    assert varinit.get(spelled).name == row


def test_lecun_gets_suggestions() -> None:
    line = _one_error_line(_run("show", "lecun"))
    assert "did you mean 'lecun_uniform', 'lecun_normal'" in line


def test_propagate_typos_get_did_you_mean() -> None:
    line = _one_error_line(_run("propagate", "--activation", "tahn", "--depth", "2", "--width", "4"))
    assert "did you mean 'tanh'" in line
    line = _one_error_line(_run("propagate", "--schemes", "he_normall", "--depth", "2", "--width", "4"))
    assert "did you mean 'he_normal'" in line


# --------------------------------------------------------------------------- show


def test_show_with_a_1d_shape_prints_nothing_then_one_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "he_normal", "--shape", "64"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # not half the output, then an error
    assert err.startswith("varinit: error:") and "--set fan_in=N --set fan_out=M" in err


def test_show_with_explicit_fans_for_a_1d_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "he_normal", "--shape", "64", "--set", "fan_in=50", "--set", "fan_out=10"]) == 0
    assert "std:         0.2" in capsys.readouterr().out  # sqrt(2 / 50)


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    "command,needles",
    [
        ("show", ["256,128 or 3x3x16x32", "(default: in_out)", "--table FILE", "KEY=VALUE"]),
        ("sample", ["256,128 or 3x3x16x32", "(default: numpy)", "(default: 0)", "pytorch"]),
        ("check", ["(default: all)", "(default: every installed one)", "stderr"]),
        ("propagate", ["(default: 50)", "(default: 512)", "(default: 128)", "(default: relu)", ".png"]),
        ("list", ["--table FILE"]),
        ("recommend", ["relu, tanh"]),
        ("docs", ["(default: print)"]),
    ],
)
def test_help_shows_formats_and_defaults(command: str, needles: list[str]) -> None:
    proc = _run(command, "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    for needle in needles:
        assert needle in text, (needle, proc.stdout)


def test_every_option_has_help() -> None:
    from varinit.cli import _parser

    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, sp in sub.choices.items():  # type: ignore[attr-defined]
        for action in sp._actions:
            assert action.help, f"varinit {name} {action.option_strings or action.dest} has no help"


def test_the_hint_names_the_command_with_single_spaces() -> None:
    line = _one_error_line(_run())
    assert "`varinit --help`" in line and "  " not in line
    line = _one_error_line(_run("show"))
    assert "`varinit show --help`" in line


# --------------------------------------------------------------------------- --table on every command


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["show", "polish_scheme"],
        ["sample", "polish_scheme", "--shape", "8,8"],
        ["check", "--backends", "numpy", "--schemes", "polish_scheme", "--no-anchors"],
        ["propagate", "--schemes", "polish_scheme", "--depth", "2", "--width", "8", "--batch", "4"],
        ["docs"],
    ],
)
def test_table_after_the_subcommand(argv: list[str], tmp_path: Path) -> None:
    table = tmp_path / "mine.toml"
    table.write_text(ROW, encoding="utf-8")
    proc = _run(*argv, "--table", str(table))
    assert proc.returncode == 0, proc.stderr
    assert "polish_scheme" in proc.stdout


def test_a_bad_table_after_the_subcommand_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "bad.toml"
    table.write_text("[[scheme]]\nname = 3\n", encoding="utf-8")
    assert "bad.toml" in _one_error_line(_run("list", "--table", str(table)))


# --------------------------------------------------------------------------- check: progress and --json


CHECK_ARGS = ("--schemes", "he_normal,orthogonal", "--no-anchors")


def _check_on_a_terminal(*extra: str) -> tuple[str, str]:
    """``varinit check`` with stderr on a pseudo-terminal and stdout on a pipe."""
    pty = pytest.importorskip("pty")
    main_fd, child_fd = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "varinit", "check", "--backends", "numpy", *CHECK_ARGS, *extra],
            stdout=subprocess.PIPE,
            stderr=child_fd,
            text=True,
        )
        os.close(child_fd)
        out, _ = proc.communicate(timeout=120)
        chunks = []
        while True:
            try:
                data = os.read(main_fd, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(main_fd)
    assert proc.returncode == 0
    return out, b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_check_draws_a_progress_bar_on_a_terminal_and_keeps_json_clean() -> None:
    out, err = _check_on_a_terminal("--json")
    assert json.loads(out)["ok"]  # stdout: the JSON document alone
    assert "numpy [" in err and "#" in err and "2/2" not in out


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_check_no_progress_flag() -> None:
    _, err = _check_on_a_terminal("--no-progress")
    assert "[" not in err


def test_check_prints_no_progress_when_stderr_is_not_a_terminal() -> None:
    proc = _run("check", "--backends", "numpy", "--schemes", "he_normal", "--no-anchors", "--json")
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["cells"][0]["scheme"] == "he_normal"


def test_progress_bar_draws_and_clears() -> None:
    import io

    from varinit.cli.progress import Bar

    out = io.StringIO()
    bar = Bar(out, width=8)
    bar("numpy", 0, 4, "he_normal")
    bar("numpy", 2, 4, "orthogonal")
    assert out.getvalue().endswith("numpy [####....] 2/4 orthogonal")
    bar("numpy", 4, 4, "")
    assert out.getvalue().endswith("\r" + " " * len("numpy [####....] 2/4 orthogonal") + "\r")


# --------------------------------------------------------------------------- recommend


def test_recommend_gives_copy_paste_calls() -> None:
    proc = _run("recommend", "relu")
    assert proc.returncode == 0
    assert 'varinit.init("he_normal"' in proc.stdout and "init_(layer.weight" in proc.stdout


# --------------------------------------------------------------------------- completion


def test_completion_script_and_answers(tmp_path: Path) -> None:
    pytest.importorskip("argcomplete")
    proc = _run("completion", "bash")
    assert proc.returncode == 0 and "complete" in proc.stdout and "varinit" in proc.stdout
    answers = tmp_path / "answers"
    for line, expected in (("varinit sa", "sample"), ("varinit show kaiming_n", "kaiming_normal")):
        env = {
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_SHELL": "bash",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(answers),
            "_ARGCOMPLETE_IFS": "\n",
        }
        assert _run(env=env).returncode == 0
        assert expected in answers.read_text().split(), line


# --------------------------------------------------------------------------- plots


def _figure(activation: str, schemes: list[str], depth: int = 7) -> object:
    pytest.importorskip("matplotlib")
    from varinit.cli.plots import figure

    specs = [(s, {}) for s in schemes]
    results = [varinit.propagate(s, activation, depth=depth, width=256, batch=64) for s in schemes]
    return figure(results, specs)


def test_plot_layer_ticks_are_integers_and_normalisations_are_labelled() -> None:
    import matplotlib.pyplot as plt

    fig = _figure("tanh", ["glorot_normal", "he_normal"])
    try:
        forward, backward = fig.axes  # type: ignore[attr-defined]
        for ax in (forward, backward):
            ticks = [t for t in ax.get_xticks() if 1 <= t <= 7]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert "N(0, 1)" in forward.get_ylabel()
        assert "normalised to 1 at the output" in backward.get_ylabel()
    finally:
        plt.close(fig)  # type: ignore[arg-type]


def test_plot_has_an_expected_line_per_scheme_that_matches_the_run() -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    fig = _figure("tanh", ["glorot_normal", "he_normal"])
    try:
        forward = fig.axes[0]  # type: ignore[attr-defined]
        lines = {line.get_label(): line for line in forward.get_lines()}
        for s in ("glorot_normal", "he_normal"):
            measured = np.asarray(lines[s].get_ydata(), dtype=float)
            expected = np.asarray(lines[f"{s}, expected"].get_ydata(), dtype=float)
            # width 256: the mean-field line sits within a few percent of the measured std
            assert np.all(np.abs(measured / expected - 1) < 0.05), (s, measured, expected)
    finally:
        plt.close(fig)  # type: ignore[arg-type]


def test_expected_line_for_relu_with_he_is_flat_at_the_half_normal_std() -> None:
    from varinit.cli.plots import expected

    act, grad = expected("he_normal", {}, "relu", depth=4, width=128)
    # z ~ N(0, 2): relu(z) has E[h] = 1/sqrt(pi), E[h^2] = 1, so std = sqrt(1 - 1/pi)
    assert act == pytest.approx([(1 - 1 / np.pi) ** 0.5] * 4, rel=1e-6)
    assert grad == pytest.approx([1.0] * 4, abs=2e-3)


def test_plot_lines_stay_apart_in_greyscale_print() -> None:
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    fig = _figure("relu", ["he_normal", "glorot_normal", "lecun_normal", "orthogonal"])
    try:
        measured = [ln for ln in fig.axes[0].get_lines() if not ln.get_label().endswith("expected")]  # type: ignore[attr-defined]
        assert len(measured) == 4
        styles = {(ln.get_linestyle(), ln.get_marker()) for ln in measured}
        assert len(styles) == 4  # each line has its own dash pattern and marker
        grey = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in (to_rgb(ln.get_color()) for ln in measured)]
        assert min(abs(a - b) for i, a in enumerate(grey) for b in grey[i + 1 :]) > 0.05, grey
    finally:
        plt.close(fig)  # type: ignore[arg-type]


def test_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "p.png"
    assert main(["propagate", "--depth", "4", "--width", "16", "--batch", "8", "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {target}" in capsys.readouterr().out


# --------------------------------------------------------------------------- numbers out of range


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (
            ("sample", "he_normal", "--shape", "4,4", "--set", "factor=1e400"),
            ("--set factor=1e400", "1.8e308"),
        ),
        (("sample", "normal", "--shape", "4,4", "--set", "std=1e-400"), ("--set std=1e-400", "rounds to 0")),
        (("propagate", "--schemes", "normal:std=-1e999"), ("normal:std=-1e999", "infinity")),
    ],
)
def test_a_number_beyond_the_float_range_is_named_not_rounded(
    argv: tuple[str, ...], names: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("varinit: error:"), err
    assert all(n in err for n in names), err
