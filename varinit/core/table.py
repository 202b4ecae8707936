"""The scheme table: typed rows, strict validation, lookup by name or alias."""

from __future__ import annotations

import difflib
import os
import stat
import threading
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import SchemeError, TableError, UnknownSchemeError
from .names import normalize_name, prefix_matches, spellings

if TYPE_CHECKING:
    from .families import Family, ParamValue
    from .plans import Plan

__all__ = [
    "Scheme",
    "get",
    "load_table",
    "register",
    "schemes",
]


def _families() -> Mapping[str, Family]:
    """The families, imported on first use (``import varinit`` stays light)."""
    from .families import FAMILIES

    return FAMILIES


def __getattr__(name: str) -> Any:
    if name == "FAMILIES":
        return _families()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- the row type


@dataclass(frozen=True)
class Scheme:
    """One row of the table: a named, validated initialization recipe.

    >>> import varinit
    >>> s = varinit.get("msra")
    >>> s.name, s.params["factor"], s.params["distribution"]
    ('he_normal', 2.0, 'truncated_normal')
    >>> s.with_overrides(mode="fan_out").params["mode"]
    'fan_out'
    """

    name: str
    family: str
    params: Mapping[str, ParamValue]
    aliases: tuple[str, ...] = ()
    activations: tuple[str, ...] = ()
    compat: tuple[str, ...] = ()
    reference: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "_hash", hash((self.name, self.family, tuple(sorted(self.params.items())))))

    def with_overrides(self, **overrides: Any) -> Scheme:
        """A copy with some parameters replaced, validated like the table itself."""
        if not overrides:
            return self
        fam = _families()[self.family]
        merged = dict(self.params)
        for key, value in overrides.items():
            canon = fam.aliases.get(key, key)
            if canon not in fam.params:
                raise SchemeError(
                    f"{key}={value!r} is not a parameter of scheme {self.name!r} "
                    f"(family {self.family}); it accepts: {', '.join(sorted(fam.params))}"
                )
            merged[canon] = fam.params[canon](key, value)
        fam.check(merged)
        return _valid(
            Scheme(
                self.name,
                self.family,
                merged,
                self.aliases,
                self.activations,
                self.compat,
                self.reference,
                self.description,
            )
        )

    def plan(
        self, shape: tuple[int, ...], layout: str = "in_out", fan_kw: Mapping[str, Any] | None = None
    ) -> Plan:
        """What to draw at ``shape``: the family's plan for these parameters.

        >>> import varinit
        >>> varinit.get("glorot_uniform").plan((300, 100)).describe()
        'U(-0.122474, 0.122474)'
        """
        return _families()[self.family].plan(self.params, shape, layout, fan_kw or {})

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined, no-any-return]


_ROW_KEYS = {
    "name": str,
    "family": str,
    "aliases": list,
    "params": dict,
    "activations": list,
    "compat": list,
    "reference": str,
    "description": str,
}
_REQUIRED = ("name", "family")


def _row_to_scheme(row: Mapping[str, Any], where: str) -> Scheme:
    """Validate one raw row; every error names ``where`` (file and row) and the key."""
    if not isinstance(row, Mapping):
        raise TableError(f"{where}: a row must be a table, got {type(row).__name__}")
    for key in row:
        if key not in _ROW_KEYS:
            raise TableError(f"{where}: unknown key {key!r}; allowed keys: {', '.join(_ROW_KEYS)}")
    for key in _REQUIRED:
        if key not in row:
            raise TableError(f"{where}: missing required key {key!r}")
    for key, typ in _ROW_KEYS.items():
        if key in row and not isinstance(row[key], typ):
            raise TableError(f"{where}: key {key!r} must be a {typ.__name__}, got {row[key]!r}")
    for key in ("aliases", "activations", "compat"):
        for item in row.get(key, []):
            if not isinstance(item, str) or not item.strip():
                raise TableError(f"{where}: key {key!r} must list non-empty strings, got {item!r}")
    name = row["name"]
    if not name or normalize_name(name) != name or not name.replace("_", "").isalnum():
        raise TableError(f"{where}: key 'name' must be lower case letters, digits and '_', got {name!r}")
    family = row["family"]
    families = _families()
    if family not in families:
        raise TableError(f"{where}: key 'family' must be one of {', '.join(families)}, got {family!r}")
    fam = families[family]
    params: dict[str, Any] = {}
    for key, value in row.get("params", {}).items():
        if key not in fam.params:
            raise TableError(
                f"{where}: key 'params.{key}' is not a parameter of family {family!r}; "
                f"allowed: {', '.join(fam.params)}"
            )
        try:
            params[key] = fam.params[key](key, value)
        except SchemeError as e:
            raise TableError(f"{where}: key 'params.{key}': {e}") from None
    try:
        fam.check({**fam.defaults, **params})
    except SchemeError as e:
        raise TableError(f"{where}: key 'params': {e}") from None
    return _valid(
        Scheme(
            name=name,
            family=family,
            params={**fam.defaults, **params},
            aliases=tuple(row.get("aliases", ())),
            activations=tuple(row.get("activations", ())),
            compat=tuple(row.get("compat", ())),
            reference=row.get("reference", ""),
            description=row.get("description", ""),
        )
    )


def _valid(scheme: Scheme) -> Scheme:
    """Mark a scheme built by validation (a hand-built ``Scheme`` is validated on first use)."""
    object.__setattr__(scheme, "_valid", True)
    return scheme


def _validate_scheme(scheme: Scheme) -> Scheme:
    """A hand-built ``varinit.Scheme(...)``, validated like a table row (defaults filled in)."""
    if getattr(scheme, "_valid", False):
        return scheme
    where = f"varinit.Scheme(name={scheme.name!r}, family={scheme.family!r})"
    fields = {
        "name": scheme.name,
        "family": scheme.family,
        "params": dict(scheme.params),
        "aliases": list(scheme.aliases),
        "activations": list(scheme.activations),
        "compat": list(scheme.compat),
        "reference": scheme.reference,
        "description": scheme.description,
    }
    try:
        return _row_to_scheme(fields, where)
    except TableError as e:
        raise SchemeError(f"{e}; build schemes with varinit.register(...) or fix the fields") from None


# --------------------------------------------------------------------------- the registry


class _Registry:
    """Rows and the name index, replaced together (copy on write): a reader takes one snapshot
    and never sees a half-made change; writers are serialized by a lock."""

    def __init__(self) -> None:
        self.state: tuple[dict[str, Scheme], dict[str, str]] = ({}, {})
        self.lock = threading.RLock()

    @property
    def rows(self) -> dict[str, Scheme]:
        return self.state[0]

    @rows.setter
    def rows(self, rows: dict[str, Scheme]) -> None:
        with self.lock:
            self.state = (rows, self.state[1])

    @property
    def index(self) -> dict[str, str]:
        return self.state[1]

    @index.setter
    def index(self, index: dict[str, str]) -> None:
        with self.lock:
            self.state = (self.state[0], index)

    def add(self, scheme: Scheme, where: str, *, replace: bool = False) -> None:
        self.add_all([(scheme, where)], replace=replace)

    def add_all(self, items: list[tuple[Scheme, str]], *, replace: bool = False) -> None:
        """Add every scheme or none (the first conflict raises and nothing changes)."""
        with self.lock:
            rows, index = dict(self.state[0]), dict(self.state[1])
            for scheme, where in items:
                keys = [normalize_name(scheme.name), *(normalize_name(a) for a in scheme.aliases)]
                for key in keys:
                    owner = index.get(key)
                    if owner is not None and not (replace and owner == scheme.name):
                        raise TableError(
                            f"{where}: name or alias {key!r} is already taken by scheme {owner!r}"
                            + ("" if replace else "; pass replace=True to redefine it")
                        )
                if replace and scheme.name in rows:
                    old = rows[scheme.name]
                    for key in [normalize_name(old.name), *(normalize_name(a) for a in old.aliases)]:
                        index.pop(key, None)
                rows[scheme.name] = scheme
                for key in keys:
                    index[key] = scheme.name
            self.state = (rows, index)  # one atomic swap

    def lookup(self, name: str) -> Scheme:
        """The row for ``name``: a name or alias, or its home framework's spelling of one
        (torch's ``kaiming_normal_``, Keras' ``HeNormal``); unknown names raise with suggestions."""
        rows, index = self.state
        keys = spellings(name)
        for key in keys:
            if key in index:
                return rows[index[key]]
        key = keys[-1]
        close = prefix_matches(key, list(index)) + difflib.get_close_matches(
            key, list(index), n=3, cutoff=0.6
        )
        suggestions = list(dict.fromkeys(index[c] for c in close))[:5]
        raise UnknownSchemeError(name, suggestions)


_REGISTRY: _Registry | None = None


_REGISTRY_LOCK = threading.Lock()


def _registry() -> _Registry:
    global _REGISTRY
    if _REGISTRY is None:
        with _REGISTRY_LOCK:  # built once, even when threads ask at the same time
            if _REGISTRY is None:
                reg = _Registry()
                text = resources.files("varinit.spec").joinpath("schemes.toml").read_text("utf-8")
                where = "varinit/spec/schemes.toml: scheme {!r}"
                reg.add_all([(s, where.format(s.name)) for s in _parse(text, "varinit/spec/schemes.toml")])
                _REGISTRY = reg
    return _REGISTRY


#: limits on a table file: tables are data from anywhere, so every dimension is bounded
MAX_TABLE_BYTES = 1 << 20
MAX_ROWS = 10_000
MAX_DEPTH = 8
MAX_INT = 1 << 64


def _read_table(p: Path) -> str:
    """The text of the table file ``p``: a regular file of at most 1 MiB of UTF-8, or a
    ``TableError`` naming the file (a FIFO or a device is refused before it is opened for
    reading, so it can neither block nor stream forever)."""
    try:
        st = os.stat(p)
    except OSError as e:
        raise TableError(f"{p}: cannot read the table: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise TableError(f"{p}: not a regular file; pass the path of a .toml file")
    if st.st_size > MAX_TABLE_BYTES:
        raise TableError(
            f"{p}: {st.st_size} bytes, more than the {MAX_TABLE_BYTES} a table may have; split it"
        )
    try:  # O_NONBLOCK: had the path become a FIFO since the stat, opening it does not block
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise TableError(f"{p}: cannot read the table: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TableError(f"{p}: not a regular file; pass the path of a .toml file")
        data = f.read(MAX_TABLE_BYTES + 1)
    if len(data) > MAX_TABLE_BYTES:
        raise TableError(f"{p}: more than the {MAX_TABLE_BYTES} bytes a table may have; split it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TableError(f"{p}: not UTF-8 text (byte {e.start}: {data[e.start : e.start + 1]!r})") from None


def _check_bounds(value: Any, where: str, depth: int = 0) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and integers beyond 64 bits, naming the key."""
    if depth > MAX_DEPTH:
        raise TableError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_bounds(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_bounds(v, f"{where}[{i}]", depth + 1)
    elif isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT < value < MAX_INT:
        raise TableError(f"{where}: the integer has {len(str(abs(value)))} digits, beyond 64 bits")


def _parse(text: str, filename: str) -> list[Scheme]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise TableError(f"{filename}: not valid TOML: {e}") from None
    except RecursionError:
        raise TableError(f"{filename}: nested more than {MAX_DEPTH} levels deep") from None
    for key, value in data.items():
        _check_bounds(value, f"{filename}: key {key!r}")
    extra = set(data) - {"scheme"}
    if extra:
        raise TableError(f"{filename}: unknown top-level key(s) {sorted(extra)}; only [[scheme]]")
    rows = data.get("scheme", [])
    if not isinstance(rows, list):
        raise TableError(f"{filename}: 'scheme' must be an array of tables ([[scheme]])")
    if len(rows) > MAX_ROWS:
        raise TableError(f"{filename}: {len(rows)} rows, more than the {MAX_ROWS} a table may have")
    out = []
    for i, row in enumerate(rows, 1):
        label = row.get("name", "?") if isinstance(row, Mapping) else "?"
        out.append(_row_to_scheme(row, f"{filename}: row {i} ({label!r})"))
    return out


def get(name: str | Scheme, **overrides: Any) -> Scheme:
    """Look a scheme up by name or alias (case, ``-`` and ``_`` ignored), with overrides.

    A name as torch, Keras or JAX spells it finds the row that reproduces it.

    >>> import varinit
    >>> varinit.get("Xavier-Uniform").name
    'glorot_uniform'
    >>> varinit.get("kaiming_normal_").name, varinit.get("HeNormal").name
    ('kaiming_normal', 'he_normal')
    >>> varinit.get("he_normal", mode="fan_out").params["mode"]
    'fan_out'
    """
    if isinstance(name, Scheme):
        return _validate_scheme(name).with_overrides(**overrides)
    if not isinstance(name, str):
        raise TypeError(f"scheme must be a name (str) or a varinit.Scheme, got {name!r}")
    return _registry().lookup(name).with_overrides(**overrides)


def schemes() -> list[str]:
    """Canonical scheme names in table order.

    >>> import varinit
    >>> varinit.schemes()[:3]
    ['variance_scaling', 'glorot_uniform', 'glorot_normal']
    """
    return list(_registry().rows)


def register(
    name: str,
    family: str,
    *,
    params: Mapping[str, Any] | None = None,
    aliases: Iterable[str] = (),
    activations: Iterable[str] = (),
    compat: Iterable[str] = (),
    reference: str = "",
    description: str = "",
    replace: bool = False,
) -> Scheme:
    """Add a user scheme, validated exactly like a row of the shipped table.

    >>> import varinit
    >>> s = varinit.register("my_he", "variance_scaling",
    ...                      params={"factor": 2.0, "distribution": "normal"}, replace=True)
    >>> varinit.get("my-he").params["factor"]
    2.0
    """
    row: dict[str, Any] = {
        "name": name,
        "family": family,
        "params": dict(params or {}),
        "aliases": list(aliases),
        "activations": list(activations),
        "compat": list(compat),
        "reference": reference,
        "description": description,
    }
    scheme = _row_to_scheme(row, f"register({name!r})")
    _registry().add(scheme, f"register({name!r})", replace=replace)
    return scheme


def load_table(path: str | Path, *, replace: bool = False) -> list[Scheme]:
    """Register every ``[[scheme]]`` row of a TOML file; returns the new schemes.

    The whole file is validated before anything is registered, so a bad row leaves
    the registry unchanged. The file is data, never code: it must be a regular file of at
    most 1 MiB of UTF-8, nested at most 8 levels, with at most 10,000 rows and integers
    within 64 bits; anything else raises ``TableError`` naming the file.
    """
    p = Path(path)
    parsed = _parse(_read_table(p), str(p))
    _registry().add_all([(s, f"{p}: scheme {s.name!r}") for s in parsed], replace=replace)
    return parsed
