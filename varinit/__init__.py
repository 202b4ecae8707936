"""varinit: one table of weight-initialization schemes for every framework.

>>> import varinit
>>> w = varinit.init("he_normal", (512, 256), layout="in_out", seed=0)  # NumPy, portable stream
>>> round(float(w.std()) / varinit.std("he_normal", (512, 256)), 1)
1.0
>>> varinit.get("xavier_uniform").name
'glorot_uniform'
"""

from __future__ import annotations

from .core.api import init, std, stream_id
from .core.backend import Backend
from .core.errors import LayoutWarning, SchemeError, TableError, UnknownSchemeError
from .core.fans import fans
from .core.table import Scheme, get, load_table, register, schemes
from .theory.advice import Advice, recommend
from .theory.gains import gain
from .theory.propagate import Propagation, propagate

__version__ = "0.1.0"

__all__ = [
    "Advice",
    "Backend",
    "LayoutWarning",
    "Propagation",
    "Scheme",
    "SchemeError",
    "TableError",
    "UnknownSchemeError",
    "__version__",
    "fans",
    "gain",
    "get",
    "init",
    "load_table",
    "propagate",
    "recommend",
    "register",
    "schemes",
    "std",
    "stream_id",
]
