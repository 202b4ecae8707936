"""``varinit --table PATH``: a user's table on the command line, hostile files refused."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from varinit.cli import main

ROW = '[[scheme]]\nname = "cli_table_scheme"\nfamily = "normal"\nparams = { std = 0.25 }\n'


def test_a_table_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = tmp_path / "mine.toml"
    t.write_text(ROW, encoding="utf-8")
    assert main(["--table", str(t), "show", "cli_table_scheme", "--shape", "4x4"]) == 0
    out = capsys.readouterr().out
    assert "cli_table_scheme" in out and "0.25" in out


@pytest.mark.parametrize("kind", ["fifo", "directory", "missing", "not utf-8", "too large", "not a table"])
def test_hostile_tables_are_refused_naming_the_file(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        os.mkfifo(path)  # reading it would block forever
    elif kind == "directory":
        path.mkdir()
    elif kind == "not utf-8":
        path.write_bytes(ROW.encode() + b"# \xff\xfe\n")
    elif kind == "too large":
        path.write_text(ROW + "#" * (2 << 20) + "\n", encoding="utf-8")
    elif kind == "not a table":
        path.write_text("[[scheme]]\nname = 3\n", encoding="utf-8")
    assert main(["--table", str(path), "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("varinit: error:") and "bad.toml" in err, err


@pytest.mark.skipif(not Path("/dev/zero").exists() or sys.platform == "win32", reason="no /dev/zero")
def test_dev_zero_is_refused_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--table", "/dev/zero", "list"]) == 2
    assert "/dev/zero" in capsys.readouterr().err


def test_a_failed_table_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = tmp_path / "half.toml"
    t.write_text(ROW + '[[scheme]]\nname = "second"\nfamily = "no_such_family"\n', encoding="utf-8")
    assert main(["--table", str(t), "show", "cli_table_scheme"]) == 2
    capsys.readouterr()
    assert main(["show", "cli_table_scheme"]) == 2  # the valid first row was not registered either
    assert "cli_table_scheme" in capsys.readouterr().err
