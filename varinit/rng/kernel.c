/*
 * varinit's portable stream as a compiled CPU kernel, bit-identical to the Array-API reference.
 *
 * The definition lives in Python and this file reproduces it operation for operation:
 *   - varinit/rng/philox.py   Philox4x32-10, key/counter layout, words -> open-interval uniforms;
 *   - varinit/core/plans.py   Uniform / Normal / TruncNormal transforms (standard_normal, _shift);
 *   - varinit/rng/ndtri.py    ndtri (AS 241: PPND7 for float32, PPND16 for float64; the _horner and
 *                             _ratio evaluation order) and the exactly rounded log (frexp split, the
 *                             1/sqrt(2) step, the atanh series, ln 2 split into hi + lo).
 * float32 values are computed in float32 (each operation rounded to float32, as NumPy float32 arrays
 * do), float64 values in float64. A Python float constant meeting a float32 array in NumPy is first
 * rounded to float32 (weak-scalar promotion); here every such constant is a double literal cast to
 * float, i.e. rounded the same way (a `1.6f` literal would round the decimal once, straight to
 * float, which can differ from double-then-float).
 *
 * Value safety: every product and sum is rounded as written. Build with -ffp-contract=off (GCC's
 * GNU-C default contracts a*b+c into an FMA), never -ffast-math/-Ofast; -fno-math-errno is allowed
 * (sqrt stays correctly rounded and vectorises). vk_probe_contract() lets the loader verify each ISA
 * variant at run time.
 *
 * Use: loaded with ctypes by varinit/rng/kernel.py (ctypes releases the GIL). It is also a tiny
 * CPython extension module (varinit.rng._kernel, no methods) so that setuptools can build and
 * package it like any extension; define VK_NO_PYTHON to build it as a plain shared library.
 *
 * ISA dispatch: on x86-64 with GCC or clang the hot loops are compiled three times
 * (target("avx512f"), target("avx2"), default) in this one object; the best variant the CPU
 * supports is picked at run time (__builtin_cpu_supports), and a caller may force a lower one
 * (tests check every variant, benchmarks time every variant). Elsewhere only the baseline exists.
 */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__FAST_MATH__)
#error "varinit kernel: never build with -ffast-math / -Ofast: values must be bit-identical"
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#if defined(_WIN32)
#define VK_API __declspec(dllexport)
#else
#define VK_API __attribute__((visibility("default")))
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VK_INLINE static inline __attribute__((always_inline))
#define VK_RESTRICT __restrict__
#else
#define VK_INLINE static __forceinline
#define VK_RESTRICT __restrict
#endif

/* -DVK_X86_DISPATCH=0 builds the portable code only (what other platforms get; tests build it) */
#ifndef VK_X86_DISPATCH
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define VK_X86_DISPATCH 1
#else
#define VK_X86_DISPATCH 0
#endif
#endif

/* bumped whenever an exported signature or the parameter block changes (kernel.py checks it) */
#define VK_ABI 2

/* ------------------------------------------------------------------ the stream (philox.py) */

/* Philox4x32 round multipliers and Weyl key increments; kernel.py checks them against
 * varinit.rng.philox at load time (vk_constants), so the definition stays in one place. */
#define VK_M0 0xD2511F53u
#define VK_M1 0xCD9E8D57u
#define VK_W0 0x9E3779B9u
#define VK_W1 0xBB67AE85u
#define VK_ROUNDS 10

/* elements per chunk: every stage's buffer stays in L1 */
#define VK_CH 512

typedef struct {
    uint32_t k0[VK_ROUNDS], k1[VK_ROUNDS]; /* the key schedule */
    uint32_t s0, s1;                       /* stream id (counter words 2, 3) */
} vk_key;

static void vk_key_init(vk_key *k, uint64_t seed, uint64_t stream) {
    uint32_t a = (uint32_t)seed, b = (uint32_t)(seed >> 32);
    for (int r = 0; r < VK_ROUNDS; r++) {
        k->k0[r] = a;
        k->k1[r] = b;
        a += VK_W0;
        b += VK_W1;
    }
    k->s0 = (uint32_t)stream;
    k->s1 = (uint32_t)(stream >> 32);
}

/* scratch words for one chunk's blocks: up to 2 * VK_CH + 3 words, rounded up to whole vector
 * groups (4 x 8 blocks = 128 words for AVX-512) */
#define VK_SCRATCH (2 * VK_CH + 128)

#if !VK_X86_DISPATCH
/* nb blocks starting at 64-bit block number `first`; block j's words at w[4j .. 4j+3]
 * (portable C: the reference's rounds as written) */
static void vk_blocks_scalar(uint32_t *VK_RESTRICT w, uint64_t first, int nb, const vk_key *VK_RESTRICT k) {
    for (int j = 0; j < nb; j++) {
        uint64_t b = first + (uint64_t)j;
        uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32), c2 = k->s0, c3 = k->s1;
        for (int r = 0; r < VK_ROUNDS; r++) {
            uint64_t p0 = (uint64_t)VK_M0 * c0;
            uint64_t p1 = (uint64_t)VK_M1 * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k->k0[r];
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k->k1[r];
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
        }
        w[4 * j] = c0;
        w[4 * j + 1] = c1;
        w[4 * j + 2] = c2;
        w[4 * j + 3] = c3;
    }
}
#else
#include <immintrin.h>

/* The same rounds on x86 vectors. Each 64-bit lane holds one block's 32-bit counter word in its
 * low half: pmuludq multiplies the low halves into a full 64-bit product, whose high half is one
 * shift away. Only low halves are ever read (pmuludq, xor, the final packing), so high halves
 * need no masking. VK_NV vectors per step hide the multiply's latency. These write whole groups
 * of VK_NV vectors (16 / 32 blocks): the scratch buffer is sized for that. */
#define VK_NV 2
#define VK_PHILOX_VECTORS(T, L, SET1, ADD, MUL, SRL, XOR, IOTA, STORE)                                         \
    const T m0 = SET1(VK_M0), m1 = SET1(VK_M1), s0 = SET1(k->s0), s1 = SET1(k->s1);                            \
    const T iota = IOTA, stride = SET1(VK_NV * (L));                                                           \
    T base = ADD(SET1((long long)first), iota);                                                                \
    for (int j = 0; j < nb; j += VK_NV * (L), base = ADD(base, stride)) {                                      \
        T x0[VK_NV], x1[VK_NV], x2[VK_NV], x3[VK_NV];                                                          \
        for (int v = 0; v < VK_NV; v++) {                                                                      \
            x0[v] = ADD(base, SET1((long long)v * (L)));                                                       \
            x1[v] = SRL(x0[v], 32);                                                                            \
            x2[v] = s0;                                                                                        \
            x3[v] = s1;                                                                                        \
        }                                                                                                      \
        for (int r = 0; r < VK_ROUNDS; r++) {                                                                  \
            const T kk0 = SET1((long long)k->k0[r]), kk1 = SET1((long long)k->k1[r]);                          \
            for (int v = 0; v < VK_NV; v++) {                                                                  \
                T p0 = MUL(x0[v], m0), p1 = MUL(x2[v], m1);                                                    \
                x0[v] = XOR(XOR(SRL(p1, 32), x1[v]), kk0);                                                     \
                x2[v] = XOR(XOR(SRL(p0, 32), x3[v]), kk1);                                                     \
                x1[v] = p1;                                                                                    \
                x3[v] = p0;                                                                                    \
            }                                                                                                  \
        }                                                                                                      \
        for (int v = 0; v < VK_NV; v++) STORE(w + 4 * (j + v * (L)), x0[v], x1[v], x2[v], x3[v]);              \
    }

/* blocks (c0 c1 c2 c3) of the lanes, in block order, at w */
static inline void vk_store_sse2(uint32_t *w, __m128i c0, __m128i c1, __m128i c2, __m128i c3) {
    const __m128i lo32 = _mm_set1_epi64x(0xffffffffll);
    __m128i A = _mm_or_si128(_mm_and_si128(c0, lo32), _mm_slli_epi64(c1, 32)); /* (c0 | c1 << 32) */
    __m128i B = _mm_or_si128(_mm_and_si128(c2, lo32), _mm_slli_epi64(c3, 32));
    _mm_storeu_si128((__m128i *)w, _mm_unpacklo_epi64(A, B));
    _mm_storeu_si128((__m128i *)(w + 4), _mm_unpackhi_epi64(A, B));
}

static void vk_blocks_sse2(uint32_t *VK_RESTRICT w, uint64_t first, int nb, const vk_key *VK_RESTRICT k) {
    VK_PHILOX_VECTORS(__m128i, 2, _mm_set1_epi64x, _mm_add_epi64, _mm_mul_epu32, _mm_srli_epi64, _mm_xor_si128,
                      _mm_set_epi64x(1, 0), vk_store_sse2)
}

__attribute__((target("avx2"))) static inline void vk_store_avx2(uint32_t *w, __m256i c0, __m256i c1,
                                                                 __m256i c2, __m256i c3) {
    /* low halves from c0 (c2), high halves from c1 << 32 (c3 << 32) */
    __m256i A = _mm256_blend_epi32(c0, _mm256_slli_epi64(c1, 32), 0xAA);
    __m256i B = _mm256_blend_epi32(c2, _mm256_slli_epi64(c3, 32), 0xAA);
    /* unpack gives (blk0, blk2 | blk1, blk3) per 128-bit half; permute2x128 puts them in order */
    __m256i L = _mm256_unpacklo_epi64(A, B), H = _mm256_unpackhi_epi64(A, B);
    _mm256_storeu_si256((__m256i *)w, _mm256_permute2x128_si256(L, H, 0x20));
    _mm256_storeu_si256((__m256i *)(w + 8), _mm256_permute2x128_si256(L, H, 0x31));
}

__attribute__((target("avx2"))) static void vk_blocks_avx2(uint32_t *VK_RESTRICT w, uint64_t first, int nb,
                                                           const vk_key *VK_RESTRICT k) {
    VK_PHILOX_VECTORS(__m256i, 4, _mm256_set1_epi64x, _mm256_add_epi64, _mm256_mul_epu32, _mm256_srli_epi64,
                      _mm256_xor_si256, _mm256_set_epi64x(3, 2, 1, 0), vk_store_avx2)
}

__attribute__((target("avx512f"))) static inline void vk_store_avx512f(uint32_t *w, __m512i c0, __m512i c1,
                                                                       __m512i c2, __m512i c3) {
    const __m512i lo = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0); /* (A0 B0 A1 B1 A2 B2 A3 B3) */
    const __m512i hi = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    __m512i A = _mm512_mask_blend_epi32((__mmask16)0xAAAA, c0, _mm512_slli_epi64(c1, 32));
    __m512i B = _mm512_mask_blend_epi32((__mmask16)0xAAAA, c2, _mm512_slli_epi64(c3, 32));
    _mm512_storeu_si512((void *)w, _mm512_permutex2var_epi64(A, lo, B));
    _mm512_storeu_si512((void *)(w + 16), _mm512_permutex2var_epi64(A, hi, B));
}

__attribute__((target("avx512f"))) static void vk_blocks_avx512f(uint32_t *VK_RESTRICT w, uint64_t first,
                                                                 int nb, const vk_key *VK_RESTRICT k) {
    VK_PHILOX_VECTORS(__m512i, 8, _mm512_set1_epi64, _mm512_add_epi64, _mm512_mul_epu32, _mm512_srli_epi64,
                      _mm512_xor_si512, _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), vk_store_avx512f)
}
#endif

/* the blocks for ISA variant `isa` (a constant where the drivers are inlined) */
VK_INLINE void vk_blocks(int isa, uint32_t *VK_RESTRICT w, uint64_t first, int nb,
                         const vk_key *VK_RESTRICT k) {
#if VK_X86_DISPATCH
    if (isa == 2)
        vk_blocks_avx512f(w, first, nb, k);
    else if (isa == 1)
        vk_blocks_avx2(w, first, nb, k);
    else
        vk_blocks_sse2(w, first, nb, k);
#else
    (void)isa;
    vk_blocks_scalar(w, first, nb, k);
#endif
}

/* n <= 2 * VK_CH words from word `off` (0..3) of block `block` on, computed into `scratch`
 * (VK_SCRATCH words); returns where they start in it */
VK_INLINE const uint32_t *vk_words_at(int isa, uint64_t block, int off, int n, const vk_key *VK_RESTRICT k,
                                      uint32_t *VK_RESTRICT scratch) {
    vk_blocks(isa, scratch, block, (off + n + 3) >> 2, k);
    return scratch + off;
}

/* float32: u = float32(w >> 8) * 2**-24 + 2**-25, at most 1 - 2**-24 */
VK_INLINE void vk_uniform32(float *VK_RESTRICT u, const uint32_t *VK_RESTRICT w, int n) {
    const float top = (float)(1.0 - 0x1p-24);
    for (int i = 0; i < n; i++) {
        float v = (float)(int32_t)(w[i] >> 8) * 0x1p-24f + 0x1p-25f;
        u[i] = v < top ? v : top;
    }
}

/* an exact uint32 -> double conversion that vectorises everywhere (2**52 + x, minus 2**52) */
VK_INLINE double vk_u32_to_f64(uint32_t x) {
    uint64_t b = 0x4330000000000000ull | (uint64_t)x;
    double d;
    memcpy(&d, &b, sizeof d);
    return d - 0x1p52;
}

/* float64: u = (float64(w[2i]) * 2**21 + float64(w[2i+1] >> 11)) * 2**-53 + 2**-54, capped */
VK_INLINE void vk_uniform64(double *VK_RESTRICT u, const uint32_t *VK_RESTRICT w, int n) {
    const double top = 1.0 - 0x1p-53;
    for (int i = 0; i < n; i++) {
        double hi = vk_u32_to_f64(w[2 * i]);
        double lo = vk_u32_to_f64(w[2 * i + 1] >> 11);
        double v = (hi * 0x1p21 + lo) * 0x1p-53 + 0x1p-54;
        u[i] = v < top ? v : top;
    }
}

/* ------------------------------------------------------------------ ndtri.py: AS 241 */

/* (numerator, denominator) coefficients, lowest degree first, exactly as in ndtri.py */
static const double PPND7_A[4] = {3.3871327179, 50.434271938, 159.29113202, 59.109374720};
static const double PPND7_B[4] = {1.0, 17.895169469, 78.757757664, 67.187563600};
static const double PPND7_C[4] = {1.4234372777, 2.7568153900, 1.3067284816, 0.17023821103};
static const double PPND7_D[3] = {1.0, 0.73700164250, 0.12021132975};
static const double PPND7_E[4] = {6.6579051150, 3.0812263860, 0.42868294337, 0.017337203997};
static const double PPND7_F[3] = {1.0, 0.24197894225, 0.012258202635};

static const double PPND16_A[8] = {3.3871328727963666080, 133.14166789178437745, 1971.5909503065514427,
                                   13731.693765509461125, 45921.953931549871457, 67265.770927008700853,
                                   33430.575583588128105, 2509.0809287301226727};
static const double PPND16_B[8] = {1.0, 42.313330701600911252, 687.18700749205790830,
                                   5394.1960214247511077, 21213.794301586595867, 39307.895800092710610,
                                   28729.085735721942674, 5226.4952788528545610};
static const double PPND16_C[8] = {1.42343711074968357734, 4.63033784615654529590, 5.76949722146069140550,
                                   3.64784832476320460504, 1.27045825245236838258, 0.241780725177450611770,
                                   0.0227238449892691845833, 7.74545014278341407640e-4};
static const double PPND16_D[8] = {1.0, 2.05319162663775882187, 1.67638483018380384940,
                                   0.689767334985100004550, 0.148103976427480074590, 0.0151986665636164571966,
                                   5.47593808499534494600e-4, 1.05075007164441684324e-9};
static const double PPND16_E[8] = {6.65790464350110377720, 5.46378491116411436990, 1.78482653991729133580,
                                   0.296560571828504891230, 0.0265321895265761230930, 0.00124266094738807843860,
                                   2.71155556874348757815e-5, 2.01033439929228813265e-7};
static const double PPND16_F[8] = {1.0, 0.599832206555887937690, 0.136929880922735805310,
                                   0.0148753612908506148525, 7.86869131145613259100e-4,
                                   1.84631831751005468180e-5, 1.42151175831644588870e-7,
                                   2.04426310338993978564e-15};

/* _horner: acc = x * c[-1] + c[-2]; then acc = acc * x + c for the rest, highest first.
 * float32: each coefficient is the double rounded to float32 (a Python float meeting float32). */
VK_INLINE float vk_horner32(float x, const double *c, int n) {
    float acc = x * (float)c[n - 1] + (float)c[n - 2];
    for (int k = n - 3; k >= 0; k--) acc = acc * x + (float)c[k];
    return acc;
}

VK_INLINE double vk_horner64(double x, const double *c, int n) {
    double acc = x * c[n - 1] + c[n - 2];
    for (int k = n - 3; k >= 0; k--) acc = acc * x + c[k];
    return acc;
}

/* ndtri.py constants */
#define VK_SPLIT1 0.425
#define VK_SPLIT2 5.0
#define VK_CONST1 0.180625
#define VK_CONST2 1.6
#define VK_RSQRT2 0.7071067811865476
/* ln 2 = hi + lo, hi with few enough bits that e * hi is exact */
#define VK_LN2HI64 6.93147180369123816490e-01
#define VK_LN2LO64 1.90821492927058770002e-10
#define VK_LN2HI32 0.693145751953125
#define VK_LN2LO32 1.428606765330187e-06

/* ndtri.log's split, branch-free: frexp (m in [0.5, 1), x = m * 2**e; (x, 0) for 0, inf and nan)
 * then the 1/sqrt(2) step (m < 1/sqrt(2): m * 2, e - 1). Only integer selects: GCC does not
 * if-convert a floating-point operation in one arm of a select under -ftrapping-math (the
 * default, kept), so the scalings are done on the bits, where they are exact anyway. */
VK_INLINE float vk_split32(float x, float *ef) {
    uint32_t b;
    memcpy(&b, &x, 4);
    uint32_t sub = (b & 0x7f800000u) == 0u;          /* zero or subnormal */
    uint32_t sbits = 0x3f800000u + sub * (24u << 23); /* 1 or 2**24 */
    float scale;
    memcpy(&scale, &sbits, 4);
    float xs = x * scale; /* exact */
    uint32_t bs;
    memcpy(&bs, &xs, 4);
    int32_t ex = (int32_t)((bs >> 23) & 0xffu);
    int32_t keep = (xs == 0.0f) | (ex == 255);
    uint32_t mbits = keep ? b : ((bs & 0x807fffffu) | 0x3f000000u);
    /* low = m < float32(1/sqrt(2)), compared on the bits (ordered like the values for every m
     * but a negative nan, where the result is nan either way): a float compare is a possibly
     * trapping operation that GCC will not if-convert */
    const float c = (float)VK_RSQRT2;
    int32_t cbits;
    memcpy(&cbits, &c, 4);
    int32_t low = (int32_t)mbits < cbits;
    float m;
    int32_t e = (keep ? 0 : ex - 126 - 24 * (int32_t)sub) - low;
    mbits += (uint32_t)(low & (1 - keep)) << 23; /* m * 2 (an exact 0 stays 0) */
    memcpy(&m, &mbits, 4);
    *ef = (float)e;
    return m;
}

VK_INLINE double vk_split64(double x, double *ef) {
    uint64_t b;
    memcpy(&b, &x, 8);
    uint64_t sub = (b & 0x7ff0000000000000ull) == 0ull;
    uint64_t sbits = 0x3ff0000000000000ull + sub * (54ull << 52); /* 1 or 2**54 */
    double scale;
    memcpy(&scale, &sbits, 8);
    double xs = x * scale;
    uint64_t bs;
    memcpy(&bs, &xs, 8);
    int64_t ex = (int64_t)((bs >> 52) & 0x7ffull);
    int64_t keep = (xs == 0.0) | (ex == 0x7ff);
    uint64_t mbits = keep ? b : ((bs & 0x800fffffffffffffull) | 0x3fe0000000000000ull);
    const double c = VK_RSQRT2;
    int64_t cbits;
    memcpy(&cbits, &c, 8);
    int64_t low = (int64_t)mbits < cbits;
    double m;
    int64_t e = (keep ? 0 : ex - 1022 - 54 * (int64_t)sub) - low;
    mbits += (uint64_t)(low & (1 - keep)) << 52;
    memcpy(&m, &mbits, 8);
    /* e as a double, exactly, in 64-bit lanes: (1.5 * 2**52 + e) - 1.5 * 2**52 */
    uint64_t eb = 0x4338000000000000ull + (uint64_t)e;
    double ed;
    memcpy(&ed, &eb, 8);
    *ef = ed - 0x1.8p52;
    return m;
}

/* ndtri.log: log of x in (0, 1] from exactly rounded operations (5 atanh terms in float32) */
VK_INLINE float vk_log32(float x) {
    float e;
    float m = vk_split32(x, &e);
    float s = (m - 1.0f) / (m + 1.0f);
    float z = s * s;
    float poly = (float)(1.0 / 9.0) * z + (float)(1.0 / 7.0);
    poly = poly * z + (float)(1.0 / 5.0);
    poly = poly * z + (float)(1.0 / 3.0);
    poly = poly * z + 1.0f;
    return e * (float)VK_LN2HI32 + (e * (float)VK_LN2LO32 + (2.0f * s) * poly);
}

/* 12 atanh terms in float64 */
VK_INLINE double vk_log64(double x) {
    double e;
    double m = vk_split64(x, &e);
    double s = (m - 1.0) / (m + 1.0);
    double z = s * s;
    double poly = (1.0 / 23.0) * z + 1.0 / 21.0;
    poly = poly * z + 1.0 / 19.0;
    poly = poly * z + 1.0 / 17.0;
    poly = poly * z + 1.0 / 15.0;
    poly = poly * z + 1.0 / 13.0;
    poly = poly * z + 1.0 / 11.0;
    poly = poly * z + 1.0 / 9.0;
    poly = poly * z + 1.0 / 7.0;
    poly = poly * z + 1.0 / 5.0;
    poly = poly * z + 1.0 / 3.0;
    poly = poly * z + 1.0;
    return e * VK_LN2HI64 + (e * VK_LN2LO64 + (2.0 * s) * poly);
}

VK_INLINE float vk_central32(float q) {
    float x = (float)VK_CONST1 - q * q;
    return q * (vk_horner32(x, PPND7_A, 4) / vk_horner32(x, PPND7_B, 4));
}

VK_INLINE double vk_central64(double q) {
    double x = VK_CONST1 - q * q;
    return q * (vk_horner64(x, PPND16_A, 8) / vk_horner64(x, PPND16_B, 8));
}

/* Selections on the bits: sel(c, a, b) = c ? a : b, and -t where neg. With plain ternaries GCC
 * sinks each arm's loads and arithmetic into a branch, and under -ftrapping-math (the default,
 * kept) it will not if-convert a possibly trapping operation back, so the loop stays scalar. */
VK_INLINE float vk_sel32(int32_t c, float a, float b) {
    uint32_t ua, ub, m = (uint32_t)0 - (uint32_t)c;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, 4);
    return a;
}

VK_INLINE double vk_sel64(int64_t c, double a, double b) {
    uint64_t ua, ub, m = (uint64_t)0 - (uint64_t)c;
    memcpy(&ua, &a, 8);
    memcpy(&ub, &b, 8);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, 8);
    return a;
}

VK_INLINE float vk_negif32(float t, int32_t neg) {
    uint32_t b;
    memcpy(&b, &t, 4);
    b ^= (uint32_t)neg << 31;
    memcpy(&t, &b, 4);
    return t;
}

VK_INLINE double vk_negif64(double t, int64_t neg) {
    uint64_t b;
    memcpy(&b, &t, 8);
    b ^= (uint64_t)neg << 63;
    memcpy(&t, &b, 8);
    return t;
}

/* the indices i < n with flag[i] (0 or 1) into idx, in order; their count. Eight flags at a time:
 * many groups of eight have no tail element at all. flag[n .. n+7] must be 0. */
VK_INLINE int vk_tail_indices(const uint8_t *VK_RESTRICT flag, int32_t *VK_RESTRICT idx, int n) {
    int m = 0;
    for (int g = 0; g < n; g += 8) {
        uint64_t bits;
        memcpy(&bits, flag + g, 8);
        while (bits) {
#if defined(__GNUC__) || defined(__clang__)
            int b = __builtin_ctzll(bits);
#else
            int b = 0;
            while (!((bits >> b) & 1u)) b++;
#endif
            idx[m++] = g + (b >> 3);
            bits &= bits - 1;
        }
    }
    return m;
}

/* The whole ndtri, staged and compacted. The central value for every element; then the indices of
 * the tail elements (|p - 1/2| > 0.425: about a sixth for a normal) are collected, and r, the tail
 * value(s), the branch and the sign are computed on those only, each stage a loop of its own, and
 * scattered back. Every element gets exactly the operations the reference gives it; only the
 * wasted work on lanes whose tail value would be discarded is skipped. (Written as one loop with
 * selects, GCC sinks each branch's arithmetic into the arm that uses it, and under
 * -ftrapping-math, the default and kept, it does not if-convert those arms back: nothing
 * vectorises.) central_only / far are ndtri.py's decisions from pmin and pmax, made by the caller.
 * pt, r, t, t2: scratch of n values; idx: of n ints; flag: of n + 8 bytes. */
VK_INLINE void vk_ndtri32_full(const float *VK_RESTRICT p, float *VK_RESTRICT z, int n, int far,
                               float *VK_RESTRICT pt, float *VK_RESTRICT r, float *VK_RESTRICT t,
                               float *VK_RESTRICT t2, int32_t *VK_RESTRICT idx,
                               uint8_t *VK_RESTRICT flag) {
    for (int i = 0; i < n; i++) z[i] = vk_central32(p[i] - 0.5f);
    for (int i = 0; i < n; i++) flag[i] = fabsf(p[i] - 0.5f) > (float)VK_SPLIT1;
    memset(flag + n, 0, 8);
    int m = vk_tail_indices(flag, idx, n);
    for (int k = 0; k < m; k++) pt[k] = p[idx[k]];
    for (int k = 0; k < m; k++) {
        float omp = 1.0f - pt[k];
        float x = omp < pt[k] ? omp : pt[k]; /* minimum(p, 1 - p) */
        r[k] = sqrtf(-vk_log32(x));
    }
    for (int k = 0; k < m; k++) {
        float xa = r[k] - (float)VK_CONST2;
        t[k] = vk_horner32(xa, PPND7_C, 4) / vk_horner32(xa, PPND7_D, 3);
    }
    if (far) {
        for (int k = 0; k < m; k++) {
            float xb = r[k] - (float)VK_SPLIT2;
            t2[k] = vk_horner32(xb, PPND7_E, 4) / vk_horner32(xb, PPND7_F, 3);
        }
        for (int k = 0; k < m; k++) t[k] = vk_sel32(r[k] <= (float)VK_SPLIT2, t[k], t2[k]);
    }
    for (int k = 0; k < m; k++) t[k] = vk_negif32(t[k], pt[k] < 0.5f);
    for (int k = 0; k < m; k++) z[idx[k]] = t[k];
}

VK_INLINE void vk_ndtri64_full(const double *VK_RESTRICT p, double *VK_RESTRICT z, int n, int far,
                               double *VK_RESTRICT pt, double *VK_RESTRICT r, double *VK_RESTRICT t,
                               double *VK_RESTRICT t2, int32_t *VK_RESTRICT idx,
                               uint8_t *VK_RESTRICT flag) {
    for (int i = 0; i < n; i++) z[i] = vk_central64(p[i] - 0.5);
    for (int i = 0; i < n; i++) flag[i] = fabs(p[i] - 0.5) > VK_SPLIT1;
    memset(flag + n, 0, 8);
    int m = vk_tail_indices(flag, idx, n);
    for (int k = 0; k < m; k++) pt[k] = p[idx[k]];
    for (int k = 0; k < m; k++) {
        double omp = 1.0 - pt[k];
        double x = omp < pt[k] ? omp : pt[k];
        r[k] = sqrt(-vk_log64(x));
    }
    for (int k = 0; k < m; k++) {
        double xa = r[k] - VK_CONST2;
        t[k] = vk_horner64(xa, PPND16_C, 8) / vk_horner64(xa, PPND16_D, 8);
    }
    if (far) {
        for (int k = 0; k < m; k++) {
            double xb = r[k] - VK_SPLIT2;
            t2[k] = vk_horner64(xb, PPND16_E, 8) / vk_horner64(xb, PPND16_F, 8);
        }
        for (int k = 0; k < m; k++) t[k] = vk_sel64(r[k] <= VK_SPLIT2, t[k], t2[k]);
    }
    for (int k = 0; k < m; k++) t[k] = vk_negif64(t[k], pt[k] < 0.5);
    for (int k = 0; k < m; k++) z[idx[k]] = t[k];
}

/* ------------------------------------------------------------------ plans.py: the transforms */

enum { VK_UNIFORM = 0, VK_NDTRI = 1 };
/* truncnorm regimes (ndtri.py truncation): p = a * u + b through ndtri; q = p - 1/2 = a * u + b
 * through the central rational; log p = lb + log(a * u + b) through the far-tail rational */
enum { VK_LINEAR = 0, VK_NARROW = 1, VK_LOG = 2 };

/* everything Python decides from the plan (kernel.py mirrors plans.py to fill it in) */
typedef struct {
    int64_t kind;         /* VK_UNIFORM: x = a * u + b; VK_NDTRI: normal / truncated normal */
    int64_t affine;       /* truncnorm: x = a * u + b (the regime's p, q or p / Phi(hi)); normal: p = u */
    int64_t central_only; /* ndtri: every p is in the central region (from pmin, pmax) */
    int64_t far;          /* ndtri: the tail needs the r > 5 branch */
    int64_t clip;         /* truncnorm: clip z to [lo, hi] */
    int64_t flip;         /* truncnorm: sampled on the mirrored side, z = -z */
    int64_t add_mean;     /* mean != 0 */
    int64_t regime;       /* truncnorm: VK_LINEAR, VK_NARROW or VK_LOG */
    double a, b;          /* uniform: (high - low, low); truncnorm: (a, b) of the regime */
    double lo, hi;        /* clip bounds (after mirroring) */
    double std, mean;
    double lb;            /* VK_LOG: log Phi(hi) */
} vk_params;

/* u -> values for n <= VK_CH elements; `sc` is scratch of 6 * VK_CH values, `idx`
 * of VK_CH ints, `flag` of VK_CH + 8 bytes */
VK_INLINE void vk_transform32(const float *VK_RESTRICT u, float *VK_RESTRICT out, int n,
                              const vk_params *VK_RESTRICT pr, float *VK_RESTRICT sc, int32_t *VK_RESTRICT idx,
                              uint8_t *VK_RESTRICT flag) {
    float *VK_RESTRICT p = sc, *VK_RESTRICT z = sc + VK_CH, *VK_RESTRICT r = sc + 2 * VK_CH;
    float *VK_RESTRICT t = sc + 3 * VK_CH, *VK_RESTRICT t2 = sc + 4 * VK_CH, *VK_RESTRICT pt = sc + 5 * VK_CH;
    if (pr->kind == VK_UNIFORM) {
        const float a = (float)pr->a, b = (float)pr->b;
        for (int i = 0; i < n; i++) out[i] = a * u[i] + b;
        return;
    }
    const float *pp = u;
    if (pr->affine) {
        const float a = (float)pr->a, b = (float)pr->b;
        for (int i = 0; i < n; i++) p[i] = a * u[i] + b;
        pp = p;
    }
    if (pr->regime == VK_NARROW) {
        for (int i = 0; i < n; i++) z[i] = vk_central32(pp[i]);
    } else if (pr->regime == VK_LOG) {
        const float lb = (float)pr->lb;
        for (int i = 0; i < n; i++) {
            float xb = sqrtf(-(lb + vk_log32(pp[i]))) - (float)VK_SPLIT2;
            z[i] = -(vk_horner32(xb, PPND7_E, 4) / vk_horner32(xb, PPND7_F, 3));
        }
    } else if (pr->central_only) {
        for (int i = 0; i < n; i++) z[i] = vk_central32(pp[i] - 0.5f);
    } else if (pr->far) {
        vk_ndtri32_full(pp, z, n, 1, pt, r, t, t2, idx, flag);
    } else {
        vk_ndtri32_full(pp, z, n, 0, pt, r, t, t2, idx, flag);
    }
    if (pr->clip) { /* array_api_compat clip: out < lo -> lo, then out > hi -> hi (nan stays) */
        const float lo = (float)pr->lo, hi = (float)pr->hi;
        for (int i = 0; i < n; i++) {
            float v = z[i];
            v = v < lo ? lo : v;
            z[i] = v > hi ? hi : v;
        }
    }
    const float sd = (float)pr->std, mu = (float)pr->mean;
    if (pr->flip) {
        if (pr->add_mean)
            for (int i = 0; i < n; i++) out[i] = sd * -z[i] + mu;
        else
            for (int i = 0; i < n; i++) out[i] = sd * -z[i];
    } else {
        if (pr->add_mean)
            for (int i = 0; i < n; i++) out[i] = sd * z[i] + mu;
        else
            for (int i = 0; i < n; i++) out[i] = sd * z[i];
    }
}

VK_INLINE void vk_transform64(const double *VK_RESTRICT u, double *VK_RESTRICT out, int n,
                              const vk_params *VK_RESTRICT pr, double *VK_RESTRICT sc, int32_t *VK_RESTRICT idx,
                              uint8_t *VK_RESTRICT flag) {
    double *VK_RESTRICT p = sc, *VK_RESTRICT z = sc + VK_CH, *VK_RESTRICT r = sc + 2 * VK_CH;
    double *VK_RESTRICT t = sc + 3 * VK_CH, *VK_RESTRICT t2 = sc + 4 * VK_CH, *VK_RESTRICT pt = sc + 5 * VK_CH;
    if (pr->kind == VK_UNIFORM) {
        const double a = pr->a, b = pr->b;
        for (int i = 0; i < n; i++) out[i] = a * u[i] + b;
        return;
    }
    const double *pp = u;
    if (pr->affine) {
        const double a = pr->a, b = pr->b;
        for (int i = 0; i < n; i++) p[i] = a * u[i] + b;
        pp = p;
    }
    if (pr->regime == VK_NARROW) {
        for (int i = 0; i < n; i++) z[i] = vk_central64(pp[i]);
    } else if (pr->regime == VK_LOG) {
        const double lb = pr->lb;
        for (int i = 0; i < n; i++) {
            double xb = sqrt(-(lb + vk_log64(pp[i]))) - VK_SPLIT2;
            z[i] = -(vk_horner64(xb, PPND16_E, 8) / vk_horner64(xb, PPND16_F, 8));
        }
    } else if (pr->central_only) {
        for (int i = 0; i < n; i++) z[i] = vk_central64(pp[i] - 0.5);
    } else if (pr->far) {
        vk_ndtri64_full(pp, z, n, 1, pt, r, t, t2, idx, flag);
    } else {
        vk_ndtri64_full(pp, z, n, 0, pt, r, t, t2, idx, flag);
    }
    if (pr->clip) {
        const double lo = pr->lo, hi = pr->hi;
        for (int i = 0; i < n; i++) {
            double v = z[i];
            v = v < lo ? lo : v;
            z[i] = v > hi ? hi : v;
        }
    }
    const double sd = pr->std, mu = pr->mean;
    if (pr->flip) {
        if (pr->add_mean)
            for (int i = 0; i < n; i++) out[i] = sd * -z[i] + mu;
        else
            for (int i = 0; i < n; i++) out[i] = sd * -z[i];
    } else {
        if (pr->add_mean)
            for (int i = 0; i < n; i++) out[i] = sd * z[i] + mu;
        else
            for (int i = 0; i < n; i++) out[i] = sd * z[i];
    }
}

/* ------------------------------------------------------------------ the drivers (per ISA) */

/* flat elements [first, first + count) of a (nrows, length) block whose row r is elements
 * starts[r] .. starts[r] + length - 1 of the global stream; flat element f goes to out[f * stride]
 * (out points at flat element 0) */
VK_INLINE void vk_fill_body(int isa, int dtype, void *out, int64_t stride, const vk_params *pr, uint64_t seed,
                            uint64_t stream, const uint64_t *starts, int64_t length, int64_t first,
                            int64_t count) {
    vk_key key;
    vk_key_init(&key, seed, stream);
    uint32_t scratch[VK_SCRATCH];
    union {
        float f[VK_CH];
        double d[VK_CH];
    } u, x;
    union {
        float f[6 * VK_CH];
        double d[6 * VK_CH];
    } sc;
    int32_t idx[VK_CH];
    uint8_t flag[VK_CH + 8];
    int64_t f = first, end = first + count;
    while (f < end) {
        int64_t r = f / length, c = f - r * length;
        int64_t seg = length - c;
        if (seg > end - f) seg = end - f;
        uint64_t e0 = starts[r] + (uint64_t)c; /* the first global element of this segment */
        for (int64_t done = 0; done < seg;) {
            int n = (int)(seg - done < VK_CH ? seg - done : VK_CH);
            uint64_t e = e0 + (uint64_t)done;
            int64_t at = f + done;
            if (dtype == 0) {
                vk_uniform32(u.f, vk_words_at(isa, e >> 2, (int)(e & 3u), n, &key, scratch), n);
                float *dst = stride == 1 ? (float *)out + at : x.f;
                vk_transform32(u.f, dst, n, pr, sc.f, idx, flag);
                if (stride != 1)
                    for (int i = 0; i < n; i++) ((float *)out)[(at + i) * stride] = x.f[i];
            } else {
                vk_uniform64(u.d, vk_words_at(isa, (2 * e) >> 2, (int)((2 * e) & 3u), 2 * n, &key, scratch), n);
                double *dst = stride == 1 ? (double *)out + at : x.d;
                vk_transform64(u.d, dst, n, pr, sc.d, idx, flag);
                if (stride != 1)
                    for (int i = 0; i < n; i++) ((double *)out)[(at + i) * stride] = x.d[i];
            }
            done += n;
        }
        f += seg;
    }
}

VK_INLINE void vk_transform_body(int dtype, const void *u, void *out, int64_t n, const vk_params *pr) {
    union {
        float f[6 * VK_CH];
        double d[6 * VK_CH];
    } sc;
    int32_t idx[VK_CH];
    uint8_t flag[VK_CH + 8];
    for (int64_t a = 0; a < n; a += VK_CH) {
        int m = (int)(n - a < VK_CH ? n - a : VK_CH);
        if (dtype == 0)
            vk_transform32((const float *)u + a, (float *)out + a, m, pr, sc.f, idx, flag);
        else
            vk_transform64((const double *)u + a, (double *)out + a, m, pr, sc.d, idx, flag);
    }
}

/* words from word `off` (0..3) of block `block` on: 4 * block + off may exceed 2**64 */
VK_INLINE void vk_words_body(int isa, uint32_t *out, uint64_t seed, uint64_t stream, uint64_t block, int off,
                             int64_t n) {
    vk_key key;
    vk_key_init(&key, seed, stream);
    uint32_t scratch[VK_SCRATCH];
    for (int64_t a = 0; a < n; a += 2 * VK_CH) { /* 2 * VK_CH words: a whole number of blocks */
        int m = (int)(n - a < 2 * VK_CH ? n - a : 2 * VK_CH);
        memcpy(out + a, vk_words_at(isa, block + (uint64_t)(a >> 2), off, m, &key, scratch), (size_t)m * 4);
    }
}

/* a * b + c over arrays, compiled like the kernel's loops: 1 where it came out fused */
VK_INLINE int vk_probe_body(void) {
    volatile float fa = 1.0f + 0x1p-13f, fb = 1.0f - 0x1p-13f, fc = -1.0f;
    volatile double da = 1.0 + 0x1p-30, db = 1.0 - 0x1p-30, dc = -1.0;
    float a32[16], b32[16], c32[16], r32[16];
    double a64[16], b64[16], c64[16], r64[16];
    for (int i = 0; i < 16; i++) {
        a32[i] = fa;
        b32[i] = fb;
        c32[i] = fc;
        a64[i] = da;
        b64[i] = db;
        c64[i] = dc;
    }
    for (int i = 0; i < 16; i++) r32[i] = a32[i] * b32[i] + c32[i];
    for (int i = 0; i < 16; i++) r64[i] = a64[i] * b64[i] + c64[i];
    float s1 = fa * fb + fc; /* scalar too */
    double s2 = da * db + dc;
    int fused = (s1 != 0.0f) | (s2 != 0.0);
    for (int i = 0; i < 16; i++) fused |= (r32[i] != 0.0f) | (r64[i] != 0.0);
    return fused;
}

#define VK_ARGS_FILL                                                                                           \
    int dtype, void *out, int64_t stride, const vk_params *pr, uint64_t seed, uint64_t stream,                 \
        const uint64_t *starts, int64_t length, int64_t first, int64_t count
#define VK_PASS_FILL dtype, out, stride, pr, seed, stream, starts, length, first, count

#define VK_VARIANT(SUFFIX, ISA, ATTR)                                                                          \
    ATTR static void vk_fill_##SUFFIX(VK_ARGS_FILL) { vk_fill_body(ISA, VK_PASS_FILL); }                       \
    ATTR static void vk_transform_##SUFFIX(int dtype, const void *u, void *out, int64_t n,                     \
                                           const vk_params *pr) {                                              \
        vk_transform_body(dtype, u, out, n, pr);                                                               \
    }                                                                                                          \
    ATTR static void vk_words_##SUFFIX(uint32_t *out, uint64_t seed, uint64_t stream, uint64_t block,          \
                                       int off, int64_t n) {                                                   \
        vk_words_body(ISA, out, seed, stream, block, off, n);                                                  \
    }                                                                                                          \
    ATTR static int vk_probe_##SUFFIX(void) { return vk_probe_body(); }

VK_VARIANT(baseline, 0, )
#if VK_X86_DISPATCH
VK_VARIANT(avx2, 1, __attribute__((target("avx2"))))
VK_VARIANT(avx512f, 2, __attribute__((target("avx512f"))))
#endif

/* ------------------------------------------------------------------ exported API (ctypes) */

enum { VK_ISA_BASELINE = 0, VK_ISA_AVX2 = 1, VK_ISA_AVX512F = 2 };

typedef struct {
    void (*fill)(VK_ARGS_FILL);
    void (*transform)(int, const void *, void *, int64_t, const vk_params *);
    void (*words)(uint32_t *, uint64_t, uint64_t, uint64_t, int, int64_t);
    int (*probe)(void);
} vk_table;

static const vk_table VK_TABLES[3] = {
    {vk_fill_baseline, vk_transform_baseline, vk_words_baseline, vk_probe_baseline},
#if VK_X86_DISPATCH
    {vk_fill_avx2, vk_transform_avx2, vk_words_avx2, vk_probe_avx2},
    {vk_fill_avx512f, vk_transform_avx512f, vk_words_avx512f, vk_probe_avx512f},
#else
    {0, 0, 0, 0},
    {0, 0, 0, 0},
#endif
};

VK_API int vk_abi(void) { return VK_ABI; }

/* 1 where this build has the variant and the CPU (and OS) can run it */
VK_API int vk_isa_supported(int isa) {
    if (isa == VK_ISA_BASELINE) return 1;
#if VK_X86_DISPATCH
    __builtin_cpu_init();
    if (isa == VK_ISA_AVX2) return __builtin_cpu_supports("avx2") ? 1 : 0;
    if (isa == VK_ISA_AVX512F) return __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
    return 0;
}

/* the variant a call with isa < 0 runs: the best one supported */
VK_API int vk_best_isa(void) {
    for (int isa = VK_ISA_AVX512F; isa > VK_ISA_BASELINE; isa--)
        if (vk_isa_supported(isa)) return isa;
    return VK_ISA_BASELINE;
}

static const vk_table *vk_table_for(int isa) {
    if (isa < 0) isa = vk_best_isa();
    if (isa > VK_ISA_AVX512F || !vk_isa_supported(isa)) return 0;
    return &VK_TABLES[isa];
}

/* M0, M1, W0, W1, rounds: for the loader's check against varinit.rng.philox */
VK_API void vk_constants(uint32_t *out) {
    out[0] = VK_M0;
    out[1] = VK_M1;
    out[2] = VK_W0;
    out[3] = VK_W1;
    out[4] = VK_ROUNDS;
}

VK_API int64_t vk_params_size(void) { return (int64_t)sizeof(vk_params); }

/* 0 when a * b + c is rounded twice in the variant, 1 when it was contracted, -1 unsupported */
VK_API int vk_probe_contract(int isa) {
    const vk_table *t = vk_table_for(isa);
    return t ? t->probe() : -1;
}

/* dtype 0: float32, 1: float64. Returns 0, or -1 for an unsupported isa / bad arguments. */
VK_API int vk_fill(int isa, int dtype, void *out, int64_t stride, const vk_params *pr, uint64_t seed,
                   uint64_t stream, const uint64_t *starts, int64_t length, int64_t first, int64_t count) {
    const vk_table *t = vk_table_for(isa);
    if (!t || (dtype != 0 && dtype != 1) || length <= 0 || first < 0 || count < 0) return -1;
    t->fill(VK_PASS_FILL);
    return 0;
}

/* many whole, contiguous fills in one call (a model's small parameters): job i writes
 * elements [start, start + count) of its stream into out; the fields are 64-bit words */
typedef struct {
    uint64_t out;    /* the destination's address */
    uint64_t params; /* a vk_params' address */
    uint64_t seed, stream, start;
    int64_t count;
    int64_t dtype;
    int64_t reserved;
} vk_job;

VK_API int64_t vk_job_size(void) { return (int64_t)sizeof(vk_job); }

/* Returns 0, or -1 (nothing written) for an unsupported isa or a bad job. */
VK_API int vk_fill_many(int isa, const vk_job *jobs, int64_t njobs) {
    const vk_table *t = vk_table_for(isa);
    if (!t || njobs < 0) return -1;
    for (int64_t j = 0; j < njobs; j++)
        if ((jobs[j].dtype != 0 && jobs[j].dtype != 1) || jobs[j].count <= 0 || !jobs[j].out || !jobs[j].params)
            return -1;
    for (int64_t j = 0; j < njobs; j++) {
        const vk_job *b = &jobs[j];
        t->fill((int)b->dtype, (void *)(uintptr_t)b->out, 1, (const vk_params *)(uintptr_t)b->params, b->seed,
                b->stream, &b->start, b->count, 0, b->count);
    }
    return 0;
}

VK_API int vk_transform(int isa, int dtype, const void *u, void *out, int64_t n, const vk_params *pr) {
    const vk_table *t = vk_table_for(isa);
    if (!t || (dtype != 0 && dtype != 1) || n < 0) return -1;
    t->transform(dtype, u, out, n, pr);
    return 0;
}

/* raw words of the stream: n words from word `off` (0..3) of block `block` on */
VK_API int vk_words(int isa, uint32_t *out, uint64_t seed, uint64_t stream, uint64_t block, int off,
                    int64_t n) {
    const vk_table *t = vk_table_for(isa);
    if (!t || n < 0 || off < 0 || off > 3) return -1;
    t->words(out, seed, stream, block, off, n);
    return 0;
}

/* ------------------------------------------------------------------ the CPython module shell */

#ifndef VK_NO_PYTHON
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef vk_module = {
    PyModuleDef_HEAD_INIT, "_kernel",
    "varinit's compiled portable-stream kernel; its functions are called through ctypes "
    "(see varinit.rng.kernel).",
    -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&vk_module); }
#endif
