// AVX2/FMA/F16C kernels, compiled per function with target attributes so the binary still
// runs on any x86-64 and only calls them after a run-time CPU check (ck_dispatch.c).
//
// Quantized matmul design ("outer product" register tiles, see docs/kernels.md):
//  * A row range is processed in panels of 8*R rows. For each chunk of CK_KC blocks along k,
//    the panel's weights are repacked once into a small L1-resident buffer so that one
//    32-byte vector holds 4 consecutive k-values (Q4_0: unsigned nibbles 0..15) or 2
//    (Q8_0: int16) of 8 different rows, one row per 32-bit lane. Scales go next to them.
//  * All tokens then stream through that panel T at a time: a token's 4 (or 2) activation
//    values are broadcast to every lane, so one vpmaddubsw (vpmaddwd) advances 8 rows of one
//    token; each loaded weight vector is reused for T tokens and each broadcast for R row
//    groups. No horizontal sums anywhere: lane i of an accumulator IS output row i.
//  * Q4_0: sum((n - 8) * x) = sum(n * x) - 8 * sum(x); n * x pairs are at most 2*15*128 in
//    magnitude, so the 8 vpmaddubsw results of a block accumulate exactly in int16, and one
//    vpmaddwd by 1 widens them per block. The -8*sum(x) term is precomputed per activation
//    block. Q8_0: vpmaddwd on int16 weights x int16 activations, int32 adds per block.
//  * Per block, the exact int32 dot of 8 rows x 1 token is converted to f32 and FMA'd with
//    d_w (8 lanes) * d_x (broadcast) into the f32 accumulator.
#include "ck_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stdlib.h>

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline)) CK_AVX2

#define CK_PRAGMA(x) _Pragma(#x)
#define CK_NO_UNROLL CK_PRAGMA(GCC unroll 1)

#ifndef CK_T2
#define CK_T2 4 // tokens per tile with 2 row groups (16 rows)
#endif
#define CK_TMAX 6

#ifndef CK_KC
#define CK_KC 32 // blocks of k per repacked chunk (2 groups x 32 blocks: 18 KB Q4_0, 34 KB Q8_0)
#endif

int ck_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

static inline int32_t load_i32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

// ---- 8x8 transpose of 32-bit lanes: out[s] lane i = in[i] lane s -------------------------
CK_INLINE void transpose8x32(const __m256i in[8], __m256i out[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(in[2 * i], in[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(in[2 * i], in[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { // rows 0-3 (h = 0) and 4-7 (h = 1)
        u[4 * h + 0] = _mm256_unpacklo_epi64(t[4 * h + 0], t[4 * h + 2]); // lanes 0 | 4
        u[4 * h + 1] = _mm256_unpackhi_epi64(t[4 * h + 0], t[4 * h + 2]); // 1 | 5
        u[4 * h + 2] = _mm256_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]); // 2 | 6
        u[4 * h + 3] = _mm256_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]); // 3 | 7
    }
    for (int s = 0; s < 4; s++) {
        out[s] = _mm256_permute2x128_si256(u[s], u[4 + s], 0x20);
        out[s + 4] = _mm256_permute2x128_si256(u[s], u[4 + s], 0x31);
    }
}

// ---- Q4_0 ------------------------------------------------------------------------------
// Packed chunk: for block b, group g: 8 step vectors (256 B) at (b*R + g)*256; the 8 row
// scales of all groups follow the steps of the chunk: scales at steps_bytes + (b*R + g)*32.
#define Q4_STEP_BYTES 256
#define Q8_STEP_BYTES 512

CK_AVX2 static void repack_q4(const ck_block_q4_0 *W, int64_t nb, int64_t r0, int nrows, int R,
                              int64_t kb0, int kc, uint8_t *steps, float *scales) {
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    for (int b = 0; b < kc; b++) {
        for (int g = 0; g < R; g++) {
            __m256i v[8], o[8];
            float *sc = scales + ((size_t)b * R + g) * 8;
            for (int i = 0; i < 8; i++) {
                const int row = g * 8 + i;
                if (row < nrows) {
                    const ck_block_q4_0 *blk = W + (r0 + row) * nb + kb0 + b;
                    const __m128i q = _mm_loadu_si128((const __m128i *)blk->qs);
                    const __m256i qq = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
                    v[i] = _mm256_and_si256(qq, lo4);
                    sc[i] = ck_fp16_to_fp32(blk->d);
                } else {
                    v[i] = _mm256_setzero_si256();
                    sc[i] = 0.0f;
                }
            }
            transpose8x32(v, o);
            uint8_t *dst = steps + ((size_t)b * R + g) * Q4_STEP_BYTES;
            for (int s = 0; s < 8; s++) _mm256_store_si256((__m256i *)(dst + 32 * s), o[s]);
        }
    }
}

CK_INLINE __m256 load_y(const float *y, int nrows) {
    if (nrows >= 8) return _mm256_loadu_ps(y);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_maskload_ps(y, mask);
}

CK_INLINE void store_y(float *y, __m256 v, int nrows) {
    if (nrows >= 8) {
        _mm256_storeu_ps(y, v);
        return;
    }
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(y, mask, v);
}

// One (8R rows) x (T tokens) tile over the kc blocks of a packed chunk.
CK_INLINE void tile_q4(const uint8_t *steps, const float *scales, int kc, const ck_act_q4 *x,
                       int64_t nb, float *y, int64_t ldy, int nrows, int first, const int R, const int T) {
    __m256 acc[2][CK_TMAX];
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++)
            acc[g][t] = first ? _mm256_setzero_ps() : load_y(y + t * ldy + g * 8, nrows - g * 8);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < kc; b++) {
        const uint8_t *wp = steps + (size_t)b * R * Q4_STEP_BYTES;
        __m256i isum[2][CK_TMAX];
        for (int g = 0; g < R; g++)
            for (int t = 0; t < T; t++) isum[g][t] = _mm256_setzero_si256();
        // Not unrolled on purpose: unrolled, the compiler interchanges the loops and keeps
        // all 8 weight vectors live per (row group, token), spilling most of them.
        CK_NO_UNROLL
        for (int s = 0; s < 8; s++) {
            __m256i w[2];
            for (int g = 0; g < R; g++) w[g] = _mm256_load_si256((const __m256i *)(wp + g * Q4_STEP_BYTES + 32 * s));
            for (int t = 0; t < T; t++) {
                const __m256i xb = _mm256_set1_epi32(load_i32(x[t * nb + b].qs + 4 * s));
                for (int g = 0; g < R; g++) isum[g][t] = _mm256_add_epi16(isum[g][t], _mm256_maddubs_epi16(w[g], xb));
            }
        }
        for (int t = 0; t < T; t++) {
            const __m256i corr = _mm256_set1_epi32(x[t * nb + b].corr);
            const __m256 dx = _mm256_set1_ps(x[t * nb + b].d);
            for (int g = 0; g < R; g++) {
                const __m256i i32 = _mm256_add_epi32(_mm256_madd_epi16(isum[g][t], ones), corr);
                const __m256 dw = _mm256_load_ps(scales + ((size_t)b * R + g) * 8);
                acc[g][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), _mm256_mul_ps(dw, dx), acc[g][t]);
            }
        }
    }
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++) store_y(y + t * ldy + g * 8, acc[g][t], nrows - g * 8);
}

#define TILE_FN(name, body, R, T)                                                                 \
    CK_AVX2 static void name##_##R##x##T(const uint8_t *steps, const float *scales, int kc,          \
                                         const void *x, int64_t nb, float *y, int64_t ldy,         \
                                         int nrows, int first) {                                   \
        body(steps, scales, kc, x, nb, y, ldy, nrows, first, R, T);                                \
    }

TILE_FN(tq4, tile_q4, 2, 6)
TILE_FN(tq4, tile_q4, 2, 5)
TILE_FN(tq4, tile_q4, 2, 4)
TILE_FN(tq4, tile_q4, 2, 3)
TILE_FN(tq4, tile_q4, 2, 2)
TILE_FN(tq4, tile_q4, 2, 1)
TILE_FN(tq4, tile_q4, 1, 4)
TILE_FN(tq4, tile_q4, 1, 3)
TILE_FN(tq4, tile_q4, 1, 2)
TILE_FN(tq4, tile_q4, 1, 1)

// ---- Q8_0 ------------------------------------------------------------------------------
CK_AVX2 static void repack_q8(const ck_block_q8_0 *W, int64_t nb, int64_t r0, int nrows, int R,
                              int64_t kb0, int kc, uint8_t *steps, float *scales) {
    for (int b = 0; b < kc; b++) {
        for (int g = 0; g < R; g++) {
            __m256i lo[8], hi[8], o[8];
            float *sc = scales + ((size_t)b * R + g) * 8;
            for (int i = 0; i < 8; i++) {
                const int row = g * 8 + i;
                if (row < nrows) {
                    const ck_block_q8_0 *blk = W + (r0 + row) * nb + kb0 + b;
                    lo[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->qs));
                    hi[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk->qs + 16)));
                    sc[i] = ck_fp16_to_fp32(blk->d);
                } else {
                    lo[i] = hi[i] = _mm256_setzero_si256();
                    sc[i] = 0.0f;
                }
            }
            uint8_t *dst = steps + ((size_t)b * R + g) * Q8_STEP_BYTES;
            transpose8x32(lo, o);
            for (int s = 0; s < 8; s++) _mm256_store_si256((__m256i *)(dst + 32 * s), o[s]);
            transpose8x32(hi, o);
            for (int s = 0; s < 8; s++) _mm256_store_si256((__m256i *)(dst + 32 * (s + 8)), o[s]);
        }
    }
}

CK_INLINE void tile_q8(const uint8_t *steps, const float *scales, int kc, const ck_act_q8 *x,
                       int64_t nb, float *y, int64_t ldy, int nrows, int first, const int R, const int T) {
    __m256 acc[2][CK_TMAX];
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++)
            acc[g][t] = first ? _mm256_setzero_ps() : load_y(y + t * ldy + g * 8, nrows - g * 8);
    for (int b = 0; b < kc; b++) {
        const uint8_t *wp = steps + (size_t)b * R * Q8_STEP_BYTES;
        __m256i isum[2][CK_TMAX];
        for (int g = 0; g < R; g++)
            for (int t = 0; t < T; t++) isum[g][t] = _mm256_setzero_si256();
        CK_NO_UNROLL
        for (int s = 0; s < 16; s++) {
            __m256i w[2];
            for (int g = 0; g < R; g++) w[g] = _mm256_load_si256((const __m256i *)(wp + g * Q8_STEP_BYTES + 32 * s));
            for (int t = 0; t < T; t++) {
                const __m256i xb = _mm256_set1_epi32(load_i32(x[t * nb + b].qs + 2 * s));
                for (int g = 0; g < R; g++) isum[g][t] = _mm256_add_epi32(isum[g][t], _mm256_madd_epi16(w[g], xb));
            }
        }
        for (int t = 0; t < T; t++) {
            const __m256 dx = _mm256_set1_ps(x[t * nb + b].d);
            for (int g = 0; g < R; g++) {
                const __m256 dw = _mm256_load_ps(scales + ((size_t)b * R + g) * 8);
                acc[g][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[g][t]), _mm256_mul_ps(dw, dx), acc[g][t]);
            }
        }
    }
    for (int g = 0; g < R; g++)
        for (int t = 0; t < T; t++) store_y(y + t * ldy + g * 8, acc[g][t], nrows - g * 8);
}

TILE_FN(tq8, tile_q8, 2, 6)
TILE_FN(tq8, tile_q8, 2, 5)
TILE_FN(tq8, tile_q8, 2, 4)
TILE_FN(tq8, tile_q8, 2, 3)
TILE_FN(tq8, tile_q8, 2, 2)
TILE_FN(tq8, tile_q8, 2, 1)
TILE_FN(tq8, tile_q8, 1, 4)
TILE_FN(tq8, tile_q8, 1, 3)
TILE_FN(tq8, tile_q8, 1, 2)
TILE_FN(tq8, tile_q8, 1, 1)

typedef void (*tile_fn)(const uint8_t *, const float *, int, const void *, int64_t, float *, int64_t, int, int);
typedef void (*repack_fn)(const void *, int64_t, int64_t, int, int, int64_t, int, uint8_t *, float *);

CK_AVX2 static void matmul_quant(int q4, const void *W, int64_t k, const void *X, int64_t n_tokens,
                                 float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    const int64_t nb = k / CK_QK;
    const size_t step_bytes = q4 ? Q4_STEP_BYTES : Q8_STEP_BYTES;
    const size_t act_bytes = q4 ? sizeof(ck_act_q4) : sizeof(ck_act_q8);
    uint8_t *steps = aligned_alloc(64, (size_t)CK_KC * 2 * step_bytes);
    float *scales = aligned_alloc(64, (size_t)CK_KC * 2 * 8 * sizeof(float));
    if (!steps || !scales) { // out of memory: the reference needs no scratch
        free(steps);
        free(scales);
        ck_matmul_ref(q4 ? CK_TYPE_Q4_0 : CK_TYPE_Q8_0, W, k, X, n_tokens, Y, ldy, row_begin, row_end);
        return;
    }
    static const tile_fn t2q4[7] = {0, tq4_2x1, tq4_2x2, tq4_2x3, tq4_2x4, tq4_2x5, tq4_2x6}, t1q4[5] = {0, tq4_1x1, tq4_1x2, tq4_1x3, tq4_1x4};
    static const tile_fn t2q8[7] = {0, tq8_2x1, tq8_2x2, tq8_2x3, tq8_2x4, tq8_2x5, tq8_2x6}, t1q8[5] = {0, tq8_1x1, tq8_1x2, tq8_1x3, tq8_1x4};
    for (int64_t r0 = row_begin; r0 < row_end; r0 += 16) {
        const int nrows = (int)(row_end - r0 < 16 ? row_end - r0 : 16);
        const int R = nrows > 8 ? 2 : 1;
        const int TT = R == 2 ? CK_T2 : 4;
        const tile_fn *tab = R == 2 ? (q4 ? t2q4 : t2q8) : (q4 ? t1q4 : t1q8);
        for (int64_t kb0 = 0; kb0 < nb; kb0 += CK_KC) {
            const int kc = (int)(nb - kb0 < CK_KC ? nb - kb0 : CK_KC);
            if (q4) repack_q4(W, nb, r0, nrows, R, kb0, kc, steps, scales);
            else repack_q8(W, nb, r0, nrows, R, kb0, kc, steps, scales);
            const uint8_t *xk = (const uint8_t *)X + (size_t)kb0 * act_bytes;
            for (int64_t t0 = 0; t0 < n_tokens; t0 += TT) {
                const int T = (int)(n_tokens - t0 < TT ? n_tokens - t0 : TT);
                tab[T](steps, scales, kc, xk + (size_t)t0 * nb * act_bytes, nb, Y + t0 * ldy + r0, ldy, nrows, kb0 == 0);
            }
        }
    }
    free(steps);
    free(scales);
}

void ck_matmul_avx2(ck_type type, const void *W, int64_t k, const void *X, int64_t n_tokens,
                    float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    switch (type) {
    case CK_TYPE_Q4_0: matmul_quant(1, W, k, X, n_tokens, Y, ldy, row_begin, row_end); return;
    case CK_TYPE_Q8_0: matmul_quant(0, W, k, X, n_tokens, Y, ldy, row_begin, row_end); return;
    default: ck_matmul_ref(type, W, k, X, n_tokens, Y, ldy, row_begin, row_end); return;
    }
}

// ---- activation quantization (bit-identical to ck_quantize_block_q8_ref) ----------------
// Returns the 32 quants as 4 vectors of int32 (elements 0-7, 8-15, 16-23, 24-31).
CK_INLINE float quant_block_avx2(const float *x, __m256i q[4]) {
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signbit, v[0]), _mm256_andnot_ps(signbit, v[1])),
                             _mm256_max_ps(_mm256_andnot_ps(signbit, v[2]), _mm256_andnot_ps(signbit, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < 4; i++) {
        const __m256 s = _mm256_mul_ps(v[i], vid);
        const __m256 t = _mm256_round_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 frac = _mm256_andnot_ps(signbit, _mm256_sub_ps(s, t)); // exact
        const __m256 up = _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ),
                                        _mm256_or_ps(one, _mm256_and_ps(signbit, s)));
        q[i] = _mm256_cvttps_epi32(_mm256_add_ps(t, up)); // roundf: half away from zero
    }
    return d;
}

CK_AVX2 void ck_prepare_activations_avx2(ck_type weight_type, const float *x, int64_t ldx,
                                         int64_t k, int64_t n_tokens, void *out) {
    const int64_t nb = k / CK_QK;
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    switch (weight_type) {
    case CK_TYPE_Q4_0: {
        ck_act_q4 *a = out;
        for (int64_t t = 0; t < n_tokens; t++) {
            for (int64_t b = 0; b < nb; b++) {
                ck_act_q4 *blk = &a[t * nb + b];
                __m256i q[4];
                const float d = quant_block_avx2(x + t * ldx + b * CK_QK, q);
                __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
                __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
                s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
                s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
                const __m256i p16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
                _mm256_storeu_si256((__m256i *)blk->qs, _mm256_permutevar8x32_epi32(p16, perm));
                blk->d = ck_fp16_to_fp32(ck_fp32_to_fp16(d));
                blk->corr = -8 * _mm_cvtsi128_si32(s4);
            }
        }
        return;
    }
    case CK_TYPE_Q8_0: {
        ck_act_q8 *a = out;
        for (int64_t t = 0; t < n_tokens; t++) {
            for (int64_t b = 0; b < nb; b++) {
                ck_act_q8 *blk = &a[t * nb + b];
                __m256i q[4];
                const float d = quant_block_avx2(x + t * ldx + b * CK_QK, q);
                _mm256_storeu_si256((__m256i *)blk->qs, _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xd8));
                _mm256_storeu_si256((__m256i *)(blk->qs + 16), _mm256_permute4x64_epi64(_mm256_packs_epi32(q[2], q[3]), 0xd8));
                blk->d = ck_fp16_to_fp32(ck_fp32_to_fp16(d));
                blk->pad = 0;
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
