"""The Triton kernels behind :mod:`varinit.rng.triton_kernel` (imported only when they are used).

Operation for operation the C kernel (``kernel.c``): Philox4x32-10 (the rounds written out
with ``tl.umulhi``), the open-interval uniforms, AS 241 (PPND7 / PPND16 in ``_horner``
order), the exactly rounded ``log`` (frexp by bitcast, the 1/sqrt(2) step, the atanh series,
ln 2 as hi + lo) and the plans' transforms. Every plan constant is computed in Python
(``kernel._prepare``) and arrives as bits; only the branch structure is a compile-time
constant. A float literal meeting a float32 tensor is the double rounded to float32 (as a
Python float meeting a NumPy float32 array), one meeting a float64 tensor is the double itself.

Value safety: launched with ``enable_fp_fusion=False`` (no ``a * b + c`` contracted into an
FMA); float32 division and square roots through ``div_rn`` and ``sqrt_rn``, never the
approximate ones Triton's ``/`` and ``tl.sqrt`` give float32 (float64's are ``div.rn`` and
``sqrt.rn`` already). ``tests/test_triton.py`` compiles every variant to PTX for sm_90 (no GPU
needed) and checks the instructions: no ``fma``, no approximate division or square root.

This module is not type-checked (Triton's JIT reads the parameters' annotations itself).
"""

import triton
import triton.language as tl

from . import philox

# the stream's constants, from its one definition (a Triton kernel reads globals as constexpr)
_M0 = tl.constexpr(philox.M0)
_M1 = tl.constexpr(philox.M1)
_W0 = tl.constexpr(philox.W0)
_W1 = tl.constexpr(philox.W1)
_ROUNDS = tl.constexpr(philox.ROUNDS)

# ----------------------------------------------------------------- Philox4x32-10 (philox.py)


@triton.jit
def _philox(c0, c1, c2, c3, k0, k1):
    """Ten Philox4x32 rounds (uint32 lanes; key words raised after each round), as
    ``philox.philox4x32_reference``. The same rounds as ``tl.philox`` (same constants, same
    key split when given the seed): written out so that the kernels run in Triton's
    interpreter even where Triton was imported before ``TRITON_INTERPRET`` was set."""
    for _ in tl.static_range(_ROUNDS):
        hi0 = tl.umulhi(c0, _M0)
        lo0 = tl.mul(c0, _M0, sanitize_overflow=False)
        hi1 = tl.umulhi(c2, _M1)
        lo1 = tl.mul(c2, _M1, sanitize_overflow=False)
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
        k0 = tl.add(k0, _W0, sanitize_overflow=False)
        k1 = tl.add(k1, _W1, sanitize_overflow=False)
    return c0, c1, c2, c3


@triton.jit
def _stream_words(blk, k0, k1, s0, s1):
    """The four words of 64-bit blocks ``blk`` (uint64) of stream (s0, s1) under key (k0, k1)
    (each given as a signed 32-bit value's bits)."""
    c0 = (blk & 0xFFFFFFFF).to(tl.uint32)
    c1 = (blk >> 32).to(tl.uint32)
    zero = c0 * 0
    return _philox(
        c0,
        c1,
        zero + s0.to(tl.uint32, bitcast=True),
        zero + s1.to(tl.uint32, bitcast=True),
        zero + k0.to(tl.uint32, bitcast=True),
        zero + k1.to(tl.uint32, bitcast=True),
    )


# ----------------------------------------------------------------- exactly rounded primitives


@triton.jit
def _div(x, y, F64: tl.constexpr):
    if F64:
        return x / y  # float64: div.rn (ieee_rounding's intrinsic is float32 only)
    else:
        return tl.math.div_rn(x, y)  # not the approximate div.full Triton's `/` gives float32


@triton.jit
def _sqrt(x, F64: tl.constexpr):
    if F64:
        return tl.sqrt(x)  # float64: sqrt.rn (there is no approximate one)
    else:
        return tl.math.sqrt_rn(x)


@triton.jit
def _h4(x, c0, c1, c2, c3):
    """_horner with 4 coefficients: ((x * c3 + c2) * x + c1) * x + c0."""
    acc = x * c3 + c2
    acc = acc * x + c1
    return acc * x + c0


@triton.jit
def _h3(x, c0, c1, c2):
    acc = x * c2 + c1
    return acc * x + c0


@triton.jit
def _h8(x, c0, c1, c2, c3, c4, c5, c6, c7):
    acc = x * c7 + c6
    acc = acc * x + c5
    acc = acc * x + c4
    acc = acc * x + c3
    acc = acc * x + c2
    acc = acc * x + c1
    return acc * x + c0


# ----------------------------------------------------------------- AS 241 (ndtri.py)


@triton.jit
def _central(q, F64: tl.constexpr):
    """q * A(x) / B(x), x = 0.180625 - q * q (ndtri._central)."""
    x = 0.180625 - q * q
    if F64:
        num = _h8(
            x,
            3.3871328727963666080,
            133.14166789178437745,
            1971.5909503065514427,
            13731.693765509461125,
            45921.953931549871457,
            67265.770927008700853,
            33430.575583588128105,
            2509.0809287301226727,
        )
        den = _h8(
            x,
            1.0,
            42.313330701600911252,
            687.18700749205790830,
            5394.1960214247511077,
            21213.794301586595867,
            39307.895800092710610,
            28729.085735721942674,
            5226.4952788528545610,
        )
    else:
        num = _h4(x, 3.3871327179, 50.434271938, 159.29113202, 59.109374720)
        den = _h4(x, 1.0, 17.895169469, 78.757757664, 67.187563600)
    return q * _div(num, den, F64)


@triton.jit
def _near(r, F64: tl.constexpr):
    """The tail rational in r - 1.6 (r <= 5)."""
    x = r - 1.6
    if F64:
        num = _h8(
            x,
            1.42343711074968357734,
            4.63033784615654529590,
            5.76949722146069140550,
            3.64784832476320460504,
            1.27045825245236838258,
            0.241780725177450611770,
            0.0227238449892691845833,
            7.74545014278341407640e-4,
        )
        den = _h8(
            x,
            1.0,
            2.05319162663775882187,
            1.67638483018380384940,
            0.689767334985100004550,
            0.148103976427480074590,
            0.0151986665636164571966,
            5.47593808499534494600e-4,
            1.05075007164441684324e-9,
        )
    else:
        num = _h4(x, 1.4234372777, 2.7568153900, 1.3067284816, 0.17023821103)
        den = _h3(x, 1.0, 0.73700164250, 0.12021132975)
    return _div(num, den, F64)


@triton.jit
def _far(r, F64: tl.constexpr):
    """The far-tail rational in r - 5 (r > 5)."""
    x = r - 5.0
    if F64:
        num = _h8(
            x,
            6.65790464350110377720,
            5.46378491116411436990,
            1.78482653991729133580,
            0.296560571828504891230,
            0.0265321895265761230930,
            0.00124266094738807843860,
            2.71155556874348757815e-5,
            2.01033439929228813265e-7,
        )
        den = _h8(
            x,
            1.0,
            0.599832206555887937690,
            0.136929880922735805310,
            0.0148753612908506148525,
            7.86869131145613259100e-4,
            1.84631831751005468180e-5,
            1.42151175831644588870e-7,
            2.04426310338993978564e-15,
        )
    else:
        num = _h4(x, 6.6579051150, 3.0812263860, 0.42868294337, 0.017337203997)
        den = _h3(x, 1.0, 0.24197894225, 0.012258202635)
    return _div(num, den, F64)


@triton.jit
def _log(x, F64: tl.constexpr):
    """ndtri.log: frexp by bitcast (subnormals scaled exactly first), m into [1/sqrt(2),
    sqrt(2)), log m = 2 atanh((m - 1) / (m + 1)) as a short series, e * ln 2 as hi + lo
    (kernel.c's vk_split32/64 and vk_log32/64)."""
    if F64:
        b = x.to(tl.int64, bitcast=True)
        sub = (b & 0x7FF0000000000000) == 0
        xs = tl.where(sub, x * 18014398509481984.0, x)  # * 2**54, exact
        bs = xs.to(tl.int64, bitcast=True)
        ex = (bs >> 52) & 0x7FF
        keep = (xs == 0.0) | (ex == 0x7FF)
        mbits = tl.where(keep, b, (bs & -0x7FF0000000000001) | 0x3FE0000000000000)
        low = mbits < 0x3FE6A09E667F3BCD  # m < 0.7071067811865476 (on the bits)
        lowi = low.to(tl.int64)
        e = tl.where(keep, 0, ex - 1022 - 54 * sub.to(tl.int64)) - lowi
        mbits = mbits + ((lowi & (1 - keep.to(tl.int64))) << 52)
        m = mbits.to(tl.float64, bitcast=True)
        ef = e.to(tl.float64)
        s = _div(m - 1.0, m + 1.0, F64)
        z = s * s
        poly = 0.043478260869565216 * z + 0.047619047619047616  # 1/23, 1/21
        poly = poly * z + 0.05263157894736842  # 1/19
        poly = poly * z + 0.058823529411764705  # 1/17
        poly = poly * z + 0.06666666666666667  # 1/15
        poly = poly * z + 0.07692307692307693  # 1/13
        poly = poly * z + 0.09090909090909091  # 1/11
        poly = poly * z + 0.1111111111111111  # 1/9
        poly = poly * z + 0.14285714285714285  # 1/7
        poly = poly * z + 0.2  # 1/5
        poly = poly * z + 0.3333333333333333  # 1/3
        poly = poly * z + 1.0
        return ef * 6.93147180369123816490e-01 + (ef * 1.90821492927058770002e-10 + (2.0 * s) * poly)
    else:
        b = x.to(tl.int32, bitcast=True)
        sub = (b & 0x7F800000) == 0
        xs = tl.where(sub, x * 16777216.0, x)  # * 2**24, exact
        bs = xs.to(tl.int32, bitcast=True)
        ex = (bs >> 23) & 0xFF
        keep = (xs == 0.0) | (ex == 0xFF)
        mbits = tl.where(keep, b, (bs & -0x7F800001) | 0x3F000000)  # & 0x807fffff
        low = mbits < 0x3F3504F3  # m < float32(0.7071067811865476) (on the bits)
        lowi = low.to(tl.int32)
        e = tl.where(keep, 0, ex - 126 - 24 * sub.to(tl.int32)) - lowi
        mbits = mbits + ((lowi & (1 - keep.to(tl.int32))) << 23)
        m = mbits.to(tl.float32, bitcast=True)
        ef = e.to(tl.float32)
        s = _div(m - 1.0, m + 1.0, F64)
        z = s * s
        poly = 0.1111111111111111 * z + 0.14285714285714285  # 1/9, 1/7
        poly = poly * z + 0.2
        poly = poly * z + 0.3333333333333333
        poly = poly * z + 1.0
        return ef * 0.693145751953125 + (ef * 1.428606765330187e-06 + (2.0 * s) * poly)


@triton.jit
def _ndtri(p, F64: tl.constexpr, CENTRAL_ONLY: tl.constexpr, FAR: tl.constexpr):
    """ndtri.ndtri: the central rational where |p - 1/2| <= 0.425, else the tail one(s)."""
    q = p - 0.5
    z = _central(q, F64)
    if not CENTRAL_ONLY:
        omp = 1.0 - p
        x = tl.where(omp < p, omp, p)  # minimum(p, 1 - p)
        # the log of a lane the tail does not take is discarded; keep its argument in (0, 1]
        x = tl.where(tl.abs(q) > 0.425, x, 0.25)
        r = _sqrt(-_log(x, F64), F64)
        t = _near(r, F64)
        if FAR:
            t = tl.where(r <= 5.0, t, _far(r, F64))
        t = tl.where(p < 0.5, -t, t)
        z = tl.where(tl.abs(q) > 0.425, t, z)
    return z


# ----------------------------------------------------------------- the fill


@triton.jit
def _f(bits, F64: tl.constexpr):
    """A plan constant from its IEEE bits (int64 for float64, int32 for float32)."""
    if F64:
        return bits.to(tl.int64).to(tl.float64, bitcast=True)
    else:
        return bits.to(tl.int32).to(tl.float32, bitcast=True)


@triton.jit
def _values(
    u,
    pa,
    pb,
    plo,
    phi,
    psd,
    pmu,
    plb,
    F64: tl.constexpr,
    KIND: tl.constexpr,
    AFFINE: tl.constexpr,
    REGIME: tl.constexpr,
    CENTRAL_ONLY: tl.constexpr,
    FAR: tl.constexpr,
    CLIP: tl.constexpr,
    FLIP: tl.constexpr,
    ADD_MEAN: tl.constexpr,
):
    """The plan's values of open-interval uniforms u (plans.py's transforms, kernel.c's
    vk_transform32/64)."""
    a = _f(pa, F64)
    b = _f(pb, F64)
    if KIND == 0:
        v = a * u + b
    else:
        if AFFINE:  # noqa: SIM108 (a constexpr branch)
            p = a * u + b
        else:
            p = u
        if REGIME == 1:  # narrow: p is q = p - 1/2 itself
            z = _central(p, F64)
        elif REGIME == 2:  # log: p is p / Phi(hi)
            r = _sqrt(-(_f(plb, F64) + _log(p, F64)), F64)
            z = -_far(r, F64)
        else:
            z = _ndtri(p, F64, CENTRAL_ONLY, FAR)
        if CLIP:
            lo_ = _f(plo, F64)
            hi_ = _f(phi, F64)
            z = tl.where(z < lo_, lo_, z)
            z = tl.where(z > hi_, hi_, z)
        if FLIP:
            z = -z
        v = _f(psd, F64) * z
        if ADD_MEAN:
            v = v + _f(pmu, F64)
    return v


@triton.jit(
    do_not_specialize=[
        "length",
        "tiles",
        "k0",
        "k1",
        "s0",
        "s1",
        "pa",
        "pb",
        "plo",
        "phi",
        "psd",
        "pmu",
        "plb",
    ]
)
def fill_kernel(
    out_ptr,
    starts_ptr,
    length,
    tiles,
    k0,
    k1,
    s0,
    s1,
    pa,
    pb,
    plo,
    phi,
    psd,
    pmu,
    plb,
    F64: tl.constexpr,
    KIND: tl.constexpr,
    AFFINE: tl.constexpr,
    REGIME: tl.constexpr,
    CENTRAL_ONLY: tl.constexpr,
    FAR: tl.constexpr,
    CLIP: tl.constexpr,
    FLIP: tl.constexpr,
    ADD_MEAN: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Row r of out (``length`` elements at ``out_ptr + r * length``) is elements
    ``starts[r] ..`` of the global stream. Program ``pid`` draws Philox blocks
    ``[tile * BLOCK, (tile + 1) * BLOCK)`` of row ``pid // tiles`` (counted from the block of
    its first element): each block gives 4 (float32) or 2 (float64) elements."""
    PER: tl.constexpr = 2 if F64 else 4
    SHIFT: tl.constexpr = 1 if F64 else 2
    pid = tl.program_id(0).to(tl.int64)
    row = pid // tiles
    tile = pid - row * tiles
    start = tl.load(starts_ptr + row).to(tl.uint64, bitcast=True)
    off0 = (start & (PER - 1)).to(tl.int64)
    k = tile * BLOCK + tl.arange(0, BLOCK).to(tl.int64)  # block within the row
    blk = (start >> SHIFT) + k.to(tl.uint64)  # the 64-bit Philox block number
    w0, w1, w2, w3 = _stream_words(blk, k0, k1, s0, s1)
    j = tl.arange(0, PER)[None, :]
    pos = k[:, None] * PER + j - off0  # element within the row
    mask = (pos >= 0) & (pos < length)
    if F64:
        hi = tl.where(j == 0, w0[:, None], w2[:, None])
        lo = tl.where(j == 0, w1[:, None], w3[:, None])
        u = (hi.to(tl.float64) * 2097152.0 + (lo >> 11).to(tl.float64)) * 1.1102230246251565e-16
        u = u + 5.551115123125783e-17
        top = 0.9999999999999999  # 1 - 2**-53
    else:
        w = tl.where(
            j == 0, w0[:, None], tl.where(j == 1, w1[:, None], tl.where(j == 2, w2[:, None], w3[:, None]))
        )
        u = (w >> 8).to(tl.float32) * 5.9604644775390625e-08 + 2.9802322387695312e-08
        top = 0.99999994039535522  # 1 - 2**-24
    u = tl.where(u < top, u, top)
    v = _values(
        u, pa, pb, plo, phi, psd, pmu, plb, F64, KIND, AFFINE, REGIME, CENTRAL_ONLY, FAR, CLIP, FLIP, ADD_MEAN
    )
    tl.store(out_ptr + (row * length + pos), v, mask=mask)


@triton.jit(do_not_specialize=["k0", "k1", "s0", "s1"])
def words_kernel(out_ptr, first, nblocks, k0, k1, s0, s1, BLOCK: tl.constexpr):
    """Words of blocks ``first ..``: out[4j + i] = word i of block j."""
    k = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    blk = first.to(tl.uint64) + k.to(tl.uint64)  # first: in [0, 2**64)
    w0, w1, w2, w3 = _stream_words(blk, k0, k1, s0, s1)
    m = k < nblocks
    tl.store(out_ptr + 4 * k, w0.to(tl.int32, bitcast=True), mask=m)
    tl.store(out_ptr + 4 * k + 1, w1.to(tl.int32, bitcast=True), mask=m)
    tl.store(out_ptr + 4 * k + 2, w2.to(tl.int32, bitcast=True), mask=m)
    tl.store(out_ptr + 4 * k + 3, w3.to(tl.int32, bitcast=True), mask=m)


@triton.jit(do_not_specialize=["n", "pa", "pb", "plo", "phi", "psd", "pmu", "plb"])
def transform_kernel(
    u_ptr,
    out_ptr,
    n,
    pa,
    pb,
    plo,
    phi,
    psd,
    pmu,
    plb,
    F64: tl.constexpr,
    KIND: tl.constexpr,
    AFFINE: tl.constexpr,
    REGIME: tl.constexpr,
    CENTRAL_ONLY: tl.constexpr,
    FAR: tl.constexpr,
    CLIP: tl.constexpr,
    FLIP: tl.constexpr,
    ADD_MEAN: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """out[i] = the plan's value of the uniform u[i] (the fill's transform on given uniforms)."""
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK).to(tl.int64)
    m = i < n
    u = tl.load(u_ptr + i, mask=m, other=0.5)
    v = _values(
        u, pa, pb, plo, phi, psd, pmu, plb, F64, KIND, AFFINE, REGIME, CENTRAL_ONLY, FAR, CLIP, FLIP, ADD_MEAN
    )
    tl.store(out_ptr + i, v, mask=m)
