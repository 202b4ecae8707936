"""The scheme table: rows, lookup, overrides, user tables, and their error messages."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import varinit
from varinit.core.families import FAMILIES

REQUIRED_ROWS = {
    "variance_scaling": [],
    "glorot_uniform": ["xavier_uniform"],
    "glorot_normal": [],
    "xavier_normal": [],
    "he_uniform": [],
    "he_normal": ["msra"],
    "kaiming_uniform": [],
    "kaiming_normal": [],
    "lecun_uniform": ["caffe"],
    "lecun_normal": ["selu"],
    "kumar_sigmoid": [],
    "torch_default": [],
    "tf1_variance_scaling": [],
    "uniform": [],
    "normal": [],
    "truncated_normal": [],
    "trunc_normal": [],
    "constant": [],
    "zeros": [],
    "ones": [],
    "orthogonal": [],
    "identity": ["eye"],
    "dirac": [],
    "delta_orthogonal": [],
    "sparse": [],
}


def test_table_has_every_required_row_and_alias() -> None:
    names = varinit.schemes()
    for name, aliases in REQUIRED_ROWS.items():
        assert name in names
        for alias in aliases:
            assert varinit.get(alias).name == name


def test_every_shipped_row_names_a_reference_and_description() -> None:
    text = resources.files("varinit.spec").joinpath("schemes.toml").read_text("utf-8")
    for row in tomllib.loads(text)["scheme"]:
        assert row.get("reference") and row.get("description"), row["name"]


def test_table_is_pure_data() -> None:
    text = resources.files("varinit.spec").joinpath("schemes.toml").read_text("utf-8")
    data = tomllib.loads(text)
    for row in data["scheme"]:
        for value in row.get("params", {}).values():
            assert isinstance(value, bool | int | float | str)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("Xavier-Uniform", "glorot_uniform"),
        ("HE_NORMAL", "he_normal"),
        ("msra", "he_normal"),
        ("eye", "identity"),
        (" lecun-normal ", "lecun_normal"),
        ("SELU", "lecun_normal"),
    ],
)
def test_lookup_is_case_and_dash_insensitive(name: str, expected: str) -> None:
    assert varinit.get(name).name == expected


def test_unknown_scheme_is_keyerror_and_valueerror_with_suggestions() -> None:
    with pytest.raises(varinit.UnknownSchemeError) as info:
        varinit.get("he_norml")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert "he_normal" in info.value.suggestions
    assert "did you mean 'he_normal'" in str(info.value)


@given(st.text(min_size=1, max_size=20))
def test_lookup_never_crashes_differently(name: str) -> None:
    try:
        s = varinit.get(name)
    except varinit.UnknownSchemeError:
        return
    assert s.name in varinit.schemes()


@pytest.mark.parametrize(
    "scheme,override,fragment",
    [
        ("he_normal", {"mode": "fan_middle"}, "mode='fan_middle' is not allowed: mode must be one of"),
        ("he_normal", {"factor": -1}, "factor=-1 is not allowed: factor must be a finite number > 0"),
        ("he_normal", {"factor": float("nan")}, "factor=nan is not allowed"),
        ("he_normal", {"distribution": "cauchy"}, "distribution='cauchy' is not allowed"),
        ("he_normal", {"low": 0.1}, "low=0.1 is not a parameter of scheme 'he_normal'"),
        ("uniform", {"low": 1.0, "high": 0.0}, "low must be <= high"),
        ("trunc_normal", {"a": 3.0, "b": 1.0}, "a must be < b"),
        ("sparse", {"sparsity": 1.5}, "sparsity=1.5 is not allowed: sparsity must be a number in [0, 1]"),
        ("dirac", {"groups": 0}, "groups=0 is not allowed: groups must be an integer >= 1"),
        ("kaiming_normal", {"nonlinearity": "swishy"}, "nonlinearity='swishy' is not allowed"),
        (
            "he_normal",
            {"corrected": "yes"},
            "corrected='yes' is not allowed: corrected must be true or false",
        ),
    ],
)
def test_bad_overrides_name_parameter_value_and_fix(
    scheme: str, override: dict[str, object], fragment: str
) -> None:
    with pytest.raises(varinit.SchemeError) as info:
        varinit.get(scheme, **override)
    assert fragment in str(info.value)


def test_overrides_and_keras_spellings() -> None:
    s = varinit.get("variance_scaling", scale=2.0, mode="FAN_AVG", distribution="untruncated_normal")
    assert (s.params["factor"], s.params["mode"], s.params["distribution"]) == (2.0, "fan_avg", "normal")
    assert varinit.get("normal", stddev=0.2).params["std"] == 0.2
    assert varinit.get("tf1_variance_scaling", mode="FAN_OUT").params["mode"] == "fan_out"
    with pytest.raises(AttributeError):
        varinit.get("he_normal").name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        varinit.get("he_normal").params["factor"] = 3.0  # type: ignore[index]


def test_register_validates_like_the_table() -> None:
    s = varinit.register(
        "test_wide_normal", "normal", params={"std": 0.3}, aliases=["test-wide"], replace=True
    )
    assert varinit.get("TEST-WIDE") == s
    with pytest.raises(varinit.TableError, match="already taken by scheme 'he_normal'"):
        varinit.register("test_dup", "normal", aliases=["msra"])
    with pytest.raises(varinit.TableError, match=r"register\('test_bad'\): key 'params.std'"):
        varinit.register("test_bad", "normal", params={"std": -1.0})
    with pytest.raises(varinit.TableError, match="key 'family' must be one of"):
        varinit.register("test_bad2", "laplace")


def test_load_table_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text(
        '[[scheme]]\nname = "test_fanout_he"\nfamily = "variance_scaling"\n'
        'params = { factor = 2.0, mode = "fan_out", distribution = "normal" }\n'
    )
    varinit.load_table(good, replace=True)
    assert varinit.std("test_fanout_he", (100, 50)) == pytest.approx((2 / 50) ** 0.5)
    cases = {
        'name = "x_y"\nfamily = "normal"\nparams = { sd = 1.0 }\n': (
            "row 1 ('x_y'): key 'params.sd' is not a parameter of family 'normal'"
        ),
        'name = "x_y"\nfamily = "normal"\ncolour = "red"\n': "row 1 ('x_y'): unknown key 'colour'",
        'family = "normal"\n': "row 1 ('?'): missing required key 'name'",
        'name = "X Y"\nfamily = "normal"\n': "key 'name' must be lower case",
        'name = "x_y"\nfamily = "normal"\naliases = "xy"\n': "key 'aliases' must be a list",
    }
    for body, fragment in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text("[[scheme]]\n" + body)
        with pytest.raises(varinit.TableError) as info:
            varinit.load_table(bad)
        assert str(bad) in str(info.value) and fragment in str(info.value), str(info.value)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[scheme]\n")
    with pytest.raises(varinit.TableError, match="not valid TOML"):
        varinit.load_table(broken)


def test_a_bad_file_registers_nothing(tmp_path: Path) -> None:
    f = tmp_path / "half.toml"
    f.write_text(
        '[[scheme]]\nname = "test_first_ok"\nfamily = "normal"\n'
        '[[scheme]]\nname = "test_second_bad"\nfamily = "normal"\nparams = { std = -2 }\n'
    )
    with pytest.raises(varinit.TableError, match="row 2"):
        varinit.load_table(f)
    with pytest.raises(varinit.UnknownSchemeError):
        varinit.get("test_first_ok")


def test_every_family_has_defaults_for_all_its_params() -> None:
    for name, fam in FAMILIES.items():
        assert set(fam.defaults) == set(fam.params), name
