"""Names shared by the library and the command line: backend aliases and home-framework spellings.

One table of backend aliases (``"pytorch"`` is ``"torch"``), read by
:func:`varinit.core.backend.get_backend` and by every ``--backend`` option of the CLI, and the
rules that read a scheme name as its home framework writes it: torch's in-place
``kaiming_normal_``, Keras' class name ``HeNormal``, JAX's ``he_normal``.

>>> from varinit.core.names import backend_name, spellings
>>> backend_name("PyTorch")
'torch'
>>> spellings("HeNormal"), spellings("kaiming_normal_")
(['henormal', 'he_normal'], ['kaiming_normal_', 'kaiming_normal'])
"""

from __future__ import annotations

import re

__all__ = ["BACKEND_ALIASES", "backend_name", "normalize_name", "prefix_matches", "spellings"]

#: Other names of the built-in backends, lower case: the one table the library and the CLI read.
BACKEND_ALIASES: dict[str, str] = {
    "np": "numpy",
    "pytorch": "torch",
    "tf": "tensorflow",
    "keras": "tensorflow",
    "jnp": "jax",
}


def backend_name(name: str) -> str:
    """The canonical backend name for ``name`` (case and spaces ignored; unknown names pass through).

    >>> backend_name(" TF "), backend_name("numpy"), backend_name("cupy")
    ('tensorflow', 'numpy', 'cupy')
    """
    key = name.strip().lower()
    return BACKEND_ALIASES.get(key, key)


def normalize_name(name: str) -> str:
    """The lookup key of a scheme name: lower case, ``-`` and spaces read as ``_``.

    >>> normalize_name("Xavier-Uniform")
    'xavier_uniform'
    """
    return name.strip().lower().replace("-", "_").replace(" ", "_")


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def spellings(name: str) -> list[str]:
    """Lookup keys for ``name``, most literal first: the name itself, then the name as its home
    framework spells the scheme: torch's in-place ``_`` suffix dropped, a Keras class name
    (``GlorotUniform``, ``RandomNormal``) split into snake case.

    >>> spellings("xavier_uniform_")
    ['xavier_uniform_', 'xavier_uniform']
    >>> spellings("VarianceScaling")
    ['variancescaling', 'variance_scaling']
    """
    out = [normalize_name(name)]
    stripped = name.strip()
    if stripped.endswith("_") and stripped.rstrip("_"):
        out.append(normalize_name(stripped.rstrip("_")))
    if any(c.isupper() for c in stripped[1:]):
        out.append(normalize_name(_CAMEL.sub("_", stripped.rstrip("_"))))
    return list(dict.fromkeys(out))


def prefix_matches(key: str, keys: list[str]) -> list[str]:
    """The keys that start with ``key`` as a whole word (``lecun`` -> ``lecun_normal``, ...).

    >>> prefix_matches("lecun", ["lecun_normal", "he_normal", "lecun_uniform", "lecunx"])
    ['lecun_normal', 'lecun_uniform']
    """
    if len(key) < 2:
        return []
    return [k for k in keys if k.startswith(key + "_")]
