"""Anchor conformance: every row that names an anchor matches that anchor's own function.

Each comparison draws from varinit (NumPy, portable stream, ``in_out`` layout) and from the
framework's function on the same shape (dense 1000 x 500 and conv 3 x 3 x 128 x 256, i.e.
~3e5 to 5e5 values each) and requires a two-sample KS p-value >= 1e-3 and a std ratio
within 1 % (at least 5 standard errors of the ratio at these sizes). Deterministic anchors
(constants, eye, dirac, identity) must agree exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import marks_for

import varinit
from varinit.conformance.anchors import ANCHORS, Anchor, compare

CASES = [
    pytest.param(
        a,
        s,
        id=f"{a.name}-{'x'.join(map(str, s))}",
        marks=[
            *marks_for(a.framework),
            *([] if a.available else [pytest.mark.skip(reason=f"{a.framework} absent")]),
        ],
    )
    for a in ANCHORS
    for s in a.shapes
]


@pytest.mark.parametrize("anchor,shape", CASES)
def test_anchor_conformance(anchor: Anchor, shape: tuple[int, ...]) -> None:
    r = compare(anchor, shape)
    assert r.ok, r.line()


def test_every_compat_entry_is_covered() -> None:
    """Each compat name in the table has an anchor here, or a stated reason it has none."""
    not_runnable = {
        "timm.layers.trunc_normal_": "timm is not a test dependency; it wraps torch's trunc_normal_",
        "tf.contrib.layers.variance_scaling_initializer": "TF1 only; tested against its "
        "documented formulas in tests/test_fans.py::test_std_formulas",
    }
    covered = {a.name.split("(")[0] for a in ANCHORS}
    for name in varinit.schemes():
        for compat in varinit.get(name).compat:
            assert compat in covered or compat in not_runnable, (name, compat)


@pytest.mark.tensorflow
def test_a_wrong_scheme_fails_the_comparison() -> None:
    """The comparison can fail: HeNormal against glorot_normal's std is caught."""
    fake = Anchor(
        "keras.initializers.HeNormal as glorot",
        "glorot_normal",
        "keras",
        next(a for a in ANCHORS if a.name == "keras.initializers.HeNormal").draw,
    )
    if not fake.available:
        pytest.skip("keras absent")
    assert not compare(fake, (1000, 500)).ok


@pytest.mark.torch
@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_conv_fan_out_is_a_documented_difference(groups: int) -> None:
    """torch computes fan_out of a grouped conv as out * k (ignoring groups); varinit divides
    by groups. With mode=fan_out the stds differ by exactly sqrt(groups)."""
    torch = pytest.importorskip("torch")
    shape_oi = (256, 128 // groups, 3, 3)  # >= 73,728 values: std ratio SE < 0.4 %
    t = torch.empty(shape_oi)
    torch.manual_seed(0)
    torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    ours = varinit.init(
        "kaiming_normal",
        shape_oi,
        seed=0,
        layout="out_in",
        mode="fan_out",
        nonlinearity="relu",
        groups=groups,
    )
    ratio = float(np.std(ours) / t.std().item())
    assert ratio == pytest.approx(np.sqrt(groups), rel=0.03)
    same = varinit.init(
        "kaiming_normal", shape_oi, seed=0, layout="out_in", mode="fan_out", nonlinearity="relu"
    )
    assert float(np.std(same) / t.std().item()) == pytest.approx(1.0, rel=0.03)
