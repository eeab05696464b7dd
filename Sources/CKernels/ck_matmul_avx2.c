// AVX2/FMA/F16C kernels, compiled per function with target attributes so the binary still
// runs on any x86-64 and only calls them after a run-time CPU check (ck_cpu.c).
//
// Quantized matmul on packed panels (ck_internal.h, docs/kernels.md), "outer product" tiles:
//  * A panel is 16 rows; AVX2 works on groups of 8 rows (one 32-bit lane per row, 4
//    consecutive k per lane), the two 32-byte halves of each 64-byte chunk of the panel.
//  * For each chunk of CK_KC blocks along k, all tokens stream through the panel T at a time:
//    a token's 4 activation values are broadcast to every lane, so one vpmaddubsw advances
//    8 rows of one token by 4 k; each weight vector is reused for T tokens. No horizontal
//    sums: lane i of an accumulator IS output row i.
//  * Q4_0: the unsigned nibbles n (value n - 8) are unpacked in registers (and / shift),
//    products n * x are at most 2*15*128 per vpmaddubsw lane, so one block (8 of them)
//    accumulates exactly in int16; vpmaddwd by 1 widens, the precomputed -8 * sum(x) corrects.
//  * Q8_0: the panel holds w + 128; w = byte ^ 0x80 and the sign trick (vpmaddubsw of |w| and
//    sign(x, w)) gives exact pairs that vpmaddwd widens to int32 at once. Two multiplies per
//    32 MACs: on AVX2 every exact signed x signed int8 formulation costs that (docs/kernels.md).
//  * Per block, the exact int32 of 8 rows x 1 token is converted to f32 and FMA'd with
//    d_w (8 lanes, fp16 in the panel) * d_x (broadcast) into the f32 accumulator.
#include "ck_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define CK_PRAGMA(x) _Pragma(#x)
#define CK_NO_UNROLL CK_PRAGMA(GCC unroll 1)

#ifndef CK_T4
#define CK_T4 4 // tokens per Q4_0 tile (2 groups of 8 rows)
#endif
#ifndef CK_T8
#define CK_T8 4 // tokens per Q8_0 tile (1 group of 8 rows)
#endif
#define CK_TMAX 6

static inline int32_t load_i32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

// Lanes [lo, hi) of a group of 8, as a vpmaskmov mask.
CK_INLINE_AVX2 __m256i lane_mask(int lo, int hi) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), idx));
}

// One (8R rows) x (T tokens) tile of a Q4_0 panel over blocks [kb0, kb0 + kc).
// g0: first group of the panel (0 or 1); masks[g]: lanes of group g0 + g to load/store.
CK_INLINE_AVX2 void tile_q4(const uint8_t *panel, size_t sbytes, int64_t kb0, int kc, const ck_act *x, int64_t nb,
                       float *y, int64_t ldy, const __m256i *masks, int g0, int first, const int R, const int T) {
    __m256 acc[2][CK_TMAX];
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++)
            acc[g][t] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + t * ldy + 8 * (g0 + g), masks[g]);
    const __m256i m0f = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    for (int64_t b = kb0; b < kb0 + kc; b++) {
        const uint8_t *q = panel + sbytes + (size_t)b * CK_Q4_PANEL_BLOCK + 32 * g0;
        const ck_act *xb = x + b;
        __m256i isum[2][CK_TMAX];
        for (int g = 0; g < R; g++)
            for (int t = 0; t < T; t++) isum[g][t] = _mm256_setzero_si256();
        CK_NO_UNROLL
        for (int c = 0; c < 4; c++) {
            __m256i lo[2], hi[2];
            for (int g = 0; g < R; g++) {
                const __m256i v = _mm256_load_si256((const __m256i *)(q + 64 * c + 32 * g));
                lo[g] = _mm256_and_si256(v, m0f);
                hi[g] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
            }
            for (int t = 0; t < T; t++) {
                const __m256i xl = _mm256_set1_epi32(load_i32(xb[t * nb].qs + 4 * c));
                const __m256i xh = _mm256_set1_epi32(load_i32(xb[t * nb].qs + 16 + 4 * c));
                for (int g = 0; g < R; g++)
                    isum[g][t] = _mm256_add_epi16(isum[g][t], _mm256_add_epi16(_mm256_maddubs_epi16(lo[g], xl),
                                                                               _mm256_maddubs_epi16(hi[g], xh)));
            }
        }
        __m256 dw[2];
        for (int g = 0; g < R; g++)
            dw[g] = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(panel + (size_t)b * 32 + 16 * (g0 + g))));
        for (int t = 0; t < T; t++) {
            const __m256i corr = _mm256_set1_epi32(xb[t * nb].corr);
            const __m256 dx = _mm256_set1_ps(xb[t * nb].d);
            for (int g = 0; g < R; g++) {
                const __m256i i32 = _mm256_add_epi32(_mm256_madd_epi16(isum[g][t], ones), corr);
                acc[g][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw[g], dx), acc[g][t]);
            }
        }
    }
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++) _mm256_maskstore_ps(y + t * ldy + 8 * (g0 + g), masks[g], acc[g][t]);
}

// Q8_0: one group of 8 rows (R = 1) x T tokens, signed x signed with the sign trick: the panel
// holds w + 128, so w = byte ^ 0x80; vpmaddubsw(|w|, sign(x, w)) = w * x pairs (|pair| <= 2 *
// 128 * 127, no saturation), widened at once with vpmaddwd by 1 into int32. The activations'
// `corr` (for the unsigned VNNI form) is not needed here.
CK_INLINE_AVX2 void tile_q8(const uint8_t *panel, size_t sbytes, int64_t kb0, int kc, const ck_act *x, int64_t nb,
                       float *y, int64_t ldy, const __m256i *masks, int g0, int first, const int R, const int T) {
    (void)R;
    __m256 acc[CK_TMAX];
    for (int t = 0; t < T; t++)
        acc[t] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + t * ldy + 8 * g0, masks[0]);
    const __m256i bias = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    for (int64_t b = kb0; b < kb0 + kc; b++) {
        const uint8_t *q = panel + sbytes + (size_t)b * CK_Q8_PANEL_BLOCK + 32 * g0;
        const ck_act *xb = x + b;
        __m256i isum[CK_TMAX];
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        CK_NO_UNROLL
        for (int s = 0; s < 8; s++) {
            const __m256i w = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(q + 64 * s)), bias);
            const __m256i aw = _mm256_abs_epi8(w);
            for (int t = 0; t < T; t++) {
                const __m256i xv = _mm256_sign_epi8(_mm256_set1_epi32(load_i32(xb[t * nb].qs + 4 * s)), w);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xv), ones));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(panel + (size_t)b * 32 + 16 * g0)));
        for (int t = 0; t < T; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xb[t * nb].d)), acc[t]);
    }
    for (int t = 0; t < T; t++) _mm256_maskstore_ps(y + t * ldy + 8 * g0, masks[0], acc[t]);
}

// CK_TYPE_Q8_R: 8 rows x T tokens (slots s0.. of one activation tile), the Q8_0 sign trick
// over a whole group of 128 into one int32 accumulator, then one convert + FMA with the
// group's activation scale; the row scale (f32, 8 lanes) is applied at the store.
CK_INLINE_AVX2 void tile_q8r(const uint8_t *panel, int64_t kb0, int kc, const uint8_t *xt, int s0,
                        float *y, int64_t ldy, const __m256i *masks, int g0, int first, const int T) {
    __m256 acc[CK_TMAX];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    const __m256i bias = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    for (int64_t b0 = kb0; b0 < kb0 + kc; b0 += CK_Q8R_BLOCKS) {
        const uint8_t *q = panel + 64 + (size_t)b0 * CK_Q8_PANEL_BLOCK + 32 * g0;
        const uint8_t *grp = xt + (size_t)(b0 / CK_Q8R_BLOCKS) * CK_Q8R_GROUP_BYTES;
        __m256i isum[CK_TMAX];
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        CK_NO_UNROLL
        for (int quad = 0; quad < CK_Q8R_GROUP / 4; quad++) {
            const __m256i w = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(q + 64 * quad)), bias);
            const __m256i aw = _mm256_abs_epi8(w);
            const uint8_t *xq = grp + 8 * CK_Q8R_TILE + quad * CK_Q8R_QUAD_STRIDE + 4 * s0;
            for (int t = 0; t < T; t++) {
                const __m256i xv = _mm256_sign_epi8(_mm256_set1_epi32(load_i32(xq + 4 * t)), w);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, xv), ones));
            }
        }
        for (int t = 0; t < T; t++) {
            float d;
            memcpy(&d, grp + 4 * (s0 + t), 4);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_set1_ps(d), acc[t]);
        }
    }
    const __m256 dw = _mm256_load_ps((const float *)(const void *)panel + 8 * g0);
    for (int t = 0; t < T; t++) {
        const __m256 v = first ? _mm256_mul_ps(acc[t], dw)
                               : _mm256_fmadd_ps(acc[t], dw, _mm256_maskload_ps(y + t * ldy + 8 * g0, masks[0]));
        _mm256_maskstore_ps(y + t * ldy + 8 * g0, masks[0], v);
    }
}

typedef void (*tile_fn)(const uint8_t *, size_t, int64_t, int, const ck_act *, int64_t, float *, int64_t,
                        const __m256i *, int, int);

#define TILE_FN(name, body, R, T)                                                                        \
    CK_AVX2 static void name##_##R##x##T(const uint8_t *panel, size_t sbytes, int64_t kb0, int kc,          \
                                         const ck_act *x, int64_t nb, float *y, int64_t ldy,                \
                                         const __m256i *masks, int g0, int first) {                         \
        body(panel, sbytes, kb0, kc, x, nb, y, ldy, masks, g0, first, R, T);                                \
    }

TILE_FN(tq4, tile_q4, 2, 6)
TILE_FN(tq4, tile_q4, 2, 5)
TILE_FN(tq4, tile_q4, 2, 4)
TILE_FN(tq4, tile_q4, 2, 3)
TILE_FN(tq4, tile_q4, 2, 2)
TILE_FN(tq4, tile_q4, 2, 1)
TILE_FN(tq4, tile_q4, 1, 6)
TILE_FN(tq4, tile_q4, 1, 5)
TILE_FN(tq4, tile_q4, 1, 4)
TILE_FN(tq4, tile_q4, 1, 3)
TILE_FN(tq4, tile_q4, 1, 2)
TILE_FN(tq4, tile_q4, 1, 1)
TILE_FN(tq8, tile_q8, 1, 6)
TILE_FN(tq8, tile_q8, 1, 5)
TILE_FN(tq8, tile_q8, 1, 4)
TILE_FN(tq8, tile_q8, 1, 3)
TILE_FN(tq8, tile_q8, 1, 2)
TILE_FN(tq8, tile_q8, 1, 1)

typedef void (*tiler_fn)(const uint8_t *, int64_t, int, const uint8_t *, int, float *, int64_t, const __m256i *, int, int);
#define TILER_FN(T)                                                                                            \
    CK_AVX2 static void tq8r_##T(const uint8_t *panel, int64_t kb0, int kc, const uint8_t *xt, int s0, float *y,  \
                                 int64_t ldy, const __m256i *masks, int g0, int first) {                        \
        tile_q8r(panel, kb0, kc, xt, s0, y, ldy, masks, g0, first, T);                                           \
    }
TILER_FN(1) TILER_FN(2) TILER_FN(3) TILER_FN(4) TILER_FN(5) TILER_FN(6)

CK_AVX2 void ck_panel_avx2(int q4, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                           const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes) {
    (void)pf, (void)pf_bytes; // the Q8_R AVX-512 kernel's prefetch plan (ck_matmul.c)
    static const tile_fn t2q4[CK_TMAX + 1] = {0, tq4_2x1, tq4_2x2, tq4_2x3, tq4_2x4, tq4_2x5, tq4_2x6};
    static const tile_fn t1q4[CK_TMAX + 1] = {0, tq4_1x1, tq4_1x2, tq4_1x3, tq4_1x4, tq4_1x5, tq4_1x6};
    static const tile_fn t1q8[CK_TMAX + 1] = {0, tq8_1x1, tq8_1x2, tq8_1x3, tq8_1x4, tq8_1x5, tq8_1x6};
    const size_t sbytes = ck_panel_scale_bytes(nb);
    const int gfirst = lane_lo / 8, glast = (lane_hi - 1) / 8;
    __m256i masks[2];
    for (int g = gfirst; g <= glast; g++)
        masks[g - gfirst] = lane_mask(lane_lo - 8 * g, lane_hi - 8 * g);
    const int kc = (int)(kb_end - kb_begin), first = kb_begin == 0;
    if (q4) {
        const int R = glast - gfirst + 1, TT = CK_T4;
        const tile_fn *tab = R == 2 ? t2q4 : t1q4;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += TT) {
            const int T = (int)(n_tokens - t0 < TT ? n_tokens - t0 : TT);
            tab[T](panel, sbytes, kb_begin, kc, X + t0 * nb, nb, y + t0 * ldy, ldy, masks, gfirst, first);
        }
    } else {
        for (int g = gfirst; g <= glast; g++) {
            for (int64_t t0 = 0; t0 < n_tokens; t0 += CK_T8) {
                const int T = (int)(n_tokens - t0 < CK_T8 ? n_tokens - t0 : CK_T8);
                t1q8[T](panel, sbytes, kb_begin, kc, X + t0 * nb, nb, y + t0 * ldy, ldy, &masks[g - gfirst], g, first);
            }
        }
    }
}

CK_AVX2 void ck_panel_q8r_avx2(int fmt, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                               const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes) {
    (void)pf, (void)pf_bytes; // the Q8_R AVX-512 kernel's prefetch plan (ck_matmul.c)
    (void)fmt;
    static const tiler_fn tab[CK_TMAX + 1] = {0, tq8r_1, tq8r_2, tq8r_3, tq8r_4, tq8r_5, tq8r_6};
    const int gfirst = lane_lo / 8, glast = (lane_hi - 1) / 8, kc = (int)(kb_end - kb_begin), first = kb_begin == 0;
    const int64_t ng = nb / CK_Q8R_BLOCKS;
    _Static_assert(CK_Q8R_TILE % CK_T8 == 0, "AVX2 token tiles split the activation tiles");
    for (int g = gfirst; g <= glast; g++) {
        const __m256i mask = lane_mask(lane_lo - 8 * g, lane_hi - 8 * g);
        for (int64_t t0 = 0; t0 < n_tokens; t0 += CK_T8) {
            const int T = (int)(n_tokens - t0 < CK_T8 ? n_tokens - t0 : CK_T8);
            tab[T](panel, kb_begin, kc, ck_q8r_group(X, ng, t0, 0), (int)(t0 % CK_Q8R_TILE), y + t0 * ldy, ldy, &mask, g, first);
        }
    }
}

// ---- activation quantization (bit-identical to ck_quantize_block_q8_ref) ----------------
// Returns the 32 quants as 4 vectors of int32 (elements 0-7, 8-15, 16-23, 24-31).
// max |x| over n floats (n a multiple of 32).
CK_INLINE_AVX2 float amax_avx2(const float *x, int n) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_loadu_ps(x + i)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm_cvtss_f32(m4);
}

// roundf(x[i] * id) for 32 floats, as 4 vectors of int32 (elements 0-7, 8-15, 16-23, 24-31).
CK_INLINE_AVX2 void quant32_avx2(const float *x, float id, __m256i q[4]) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < 4; i++) {
        const __m256 v = _mm256_loadu_ps(x + 8 * i);
        const __m256 s = _mm256_mul_ps(v, vid);
        const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 frac = _mm256_andnot_ps(signbit, _mm256_sub_ps(s, t)); // exact
        const __m256 up = _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ),
                                        _mm256_or_ps(one, _mm256_and_ps(signbit, s)));
        q[i] = _mm256_cvttps_epi32(_mm256_add_ps(t, up)); // roundf: half away from zero
    }
}

CK_INLINE_AVX2 float quant_block_avx2(const float *x, __m256i q[4]) {
    const float d = amax_avx2(x, CK_QK) / 127.0f;
    quant32_avx2(x, d != 0.0f ? 1.0f / d : 0.0f, q);
    return d;
}

// Packs 4 vectors of int32 quants into 32 int8 in element order (saturating, as the int8
// store of the reference) and returns their sum.
CK_INLINE_AVX2 int32_t store_quants_avx2(const __m256i q[4], int8_t *qs) {
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i p16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    _mm256_storeu_si256((__m256i *)qs, _mm256_permutevar8x32_epi32(p16, perm));
    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p16), _mm256_set1_epi16(1));
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    return _mm_cvtsi128_si32(s4);
}

// q[i] = roundf(x[i] * id) for n floats (n % 32 == 0): the per-row weight quantizer of
// ck_pack_weights_q8r, bit-identical to its scalar loop (packing the 1B's matrices with the
// libm roundf call per element took ~60% of the load).
CK_AVX2 void ck_quantize_q8r_row_avx2(const float *x, int64_t n, float id, int8_t *q) {
    for (int64_t i = 0; i < n; i += CK_QK) {
        __m256i v[4];
        quant32_avx2(x + i, id, v);
        (void)store_quants_avx2(v, q + i);
    }
}

// Bit-identical to ck_prepare_q8r_ref.
CK_AVX2 void ck_prepare_q8r_avx2(const float *x, int64_t ldx, int64_t k, int64_t t0, int64_t n, void *X) {
    const int64_t ng = k / CK_Q8R_GROUP;
    for (int64_t i = 0; i < n; i++) {
        const int64_t t = t0 + i;
        for (int64_t g = 0; g < ng; g++) {
            const float *xg = x + i * ldx + g * CK_Q8R_GROUP;
            uint8_t *grp = ck_q8r_group(X, ng, t, g);
            const float d = amax_avx2(xg, CK_Q8R_GROUP) / 127.0f;
            const float id = ck_q8r_inverse(d);
            int32_t s = 0;
            for (int b = 0; b < CK_Q8R_BLOCKS; b++) {
                __m256i q[4];
                int8_t qs[CK_QK];
                quant32_avx2(xg + b * CK_QK, id, q);
                s += store_quants_avx2(q, qs);
                for (int quad = 0; quad < CK_QK / 4; quad++) memcpy(ck_q8r_quad(grp, t, 8 * b + quad), qs + 4 * quad, 4);
            }
            *ck_q8r_d(grp, t) = d;
            *ck_q8r_corr(grp, t) = -128 * s;
        }
    }
}

CK_AVX2 void ck_prepare_activations_avx2(ck_type weight_type, const float *x, int64_t ldx,
                                         int64_t k, int64_t n_tokens, void *out) {
    const int64_t nb = k / CK_QK;
    switch (weight_type) {
    case CK_TYPE_Q8_R:
        ck_prepare_q8r_avx2(x, ldx, k, 0, n_tokens, out);
        return;
    case CK_TYPE_Q4_0:
    case CK_TYPE_Q8_0: {
        const int32_t offset = weight_type == CK_TYPE_Q4_0 ? 8 : 128;
        ck_act *a = out;
        for (int64_t t = 0; t < n_tokens; t++) {
            for (int64_t b = 0; b < nb; b++) {
                ck_act *blk = &a[t * nb + b];
                __m256i q[4];
                const float d = quant_block_avx2(x + t * ldx + b * CK_QK, q);
                // The sum of the stored (saturated) int8 quants, as the reference sums them.
                const int32_t sum = store_quants_avx2(q, blk->qs);
                blk->d = ck_fp16_to_fp32(ck_fp32_to_fp16(d));
                blk->corr = -offset * sum;
            }
        }
        return;
    }
    default:
        ck_prepare_activations_ref(weight_type, x, ldx, k, n_tokens, out);
        return;
    }
}

#endif
