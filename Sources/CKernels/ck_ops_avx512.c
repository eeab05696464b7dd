// AVX-512 causal grouped-query attention (the "avx512vnni" dispatch level; only AVX-512F is
// used here). Called from ck_attention in ck_ops.c (dispatch).
//
// Why: at 512-token requests attention was 14% of a Q4_0 forward pass once the matrix
// multiplies used VNNI. The AVX2 kernel computes one query at a time with 4 score chains of
// 8 keys, so it is bound by FMA latency and re-reads every key for every query. This one
// computes a tile of 16 query rows (16/group queries x the group's heads) at once: each
// 16-key vector of the transposed keys feeds 16 independent FMA chains (latency hidden, one
// load per 16 FMAs plus the broadcast query element), and each value vector feeds 16 rows.
// Rows whose query is past the end of the sequence are duplicates of the last query and are
// not stored; keys past a row's causal limit get probability exactly 0.
#include "ck_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#define ROWS 16

// exp(x) for 16 floats: the same Cephes expf as ck_exp8 in ck_ops_avx2.c (within 2 ulp of expf on
// [-87.3, 88.7], 0 below).
CK_INLINE512 __m512 ck_exp16(__m512 x) {
    const __m512 hi = _mm512_set1_ps(CK_EXP_HI), lo = _mm512_set1_ps(CK_EXP_LO);
    const __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(_mm512_min_ps(x, hi), lo);
    const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(CK_EXP_LOG2E)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(CK_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(CK_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(CK_EXP_P5);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(CK_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(CK_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(CK_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(CK_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(CK_EXP_P0));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i n = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps((__mmask16)~underflow, p, _mm512_castsi512_ps(n));
}

// RMSNorm 16 floats at a time: the mean of squares in double like the reference (float squares
// are exact in double, so only the summation order differs: ~1e-16 relative, far below the
// float it is rounded to), then the same two f32 multiplies. ~1% of a forward pass in AVX2.
CK_512 void ck_rmsnorm_avx512(const float *x, const float *w, float *y, int64_t n, float eps) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        a0 = _mm512_fmadd_pd(lo, lo, a0);
        a1 = _mm512_fmadd_pd(hi, hi, a1);
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; i < n; i++) sum += (double)x[i] * (double)x[i];
    const float mean = (float)(sum / (double)n);
    const float scale = (float)(1.0 / sqrt((double)(mean + eps))); // variance + eps in f32, as torch
    const __m512 sc = _mm512_set1_ps(scale);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(w + i), _mm512_mul_ps(_mm512_loadu_ps(x + i), sc)));
    for (; i < n; i++) y[i] = w[i] * (x[i] * scale);
}

// SwiGLU, gate[i] = silu(gate[i]) * up[i], 16 at a time: the same formula as the AVX2 version
// (g / (1 + exp(-g)) * u with the Cephes exp), so within the same ulp of the reference. Why:
// SwiGLU was ~2% of a 64-token Q8_R forward pass (perf) with 8-wide exp and divides.
CK_512 void ck_swiglu_avx512(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        const __m512 e = ck_exp16(_mm512_xor_ps(g, _mm512_set1_ps(-0.0f)));
        _mm512_storeu_ps(gate + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_loadu_ps(up + i)));
    }
    if (i < n) ck_swiglu_avx2(gate + i, up + i, n - i);
}

// Returns 0 (the caller then uses the AVX2 kernel) for shapes this tiling does not cover.
CK_512 int ck_attention_avx512(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                               const float *k, const float *v, int64_t ldkv,
                               float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch) {
    if (d % 16 != 0 || group < 1 || group > ROWS || ROWS % group != 0) return 0;
    const int64_t qt = ROWS / group; // queries per tile
    if (n_queries < qt) return 0;    // e.g. the last layer's single pooled query
    const int64_t n_keys = first_pos + n_queries;
    const int64_t padded = (n_keys + 15) / 16 * 16;
    float *kt = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *scores = kt + padded * d; // ROWS rows of `padded`
    for (int64_t j = 0; j < padded; j++)
        for (int64_t e = 0; e < d; e++) kt[e * padded + j] = j < n_keys ? k[j * ldkv + e] : 0.0f;

    const __m512 sc = _mm512_set1_ps(scale), minus_inf = _mm512_set1_ps(-INFINITY);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t i0 = 0; i0 < n_queries; i0 += qt) {
        // Row r = query i0 + r / group (clamped to the last query), head r % group.
        const float *qrow[ROWS];
        int64_t limit[ROWS]; // keys this row attends to
        for (int r = 0; r < ROWS; r++) {
            int64_t i = i0 + r / group;
            if (i >= n_queries) i = n_queries - 1;
            qrow[r] = q + i * ldq + (r % group) * d;
            limit[r] = first_pos + i + 1;
        }
        const int64_t n_max = limit[ROWS - 1];
        const int64_t nb = (n_max + 15) / 16 * 16;
        // Scores: 16 keys x 16 rows per pass.
        for (int64_t j = 0; j < nb; j += 16) {
            __m512 acc[ROWS];
            for (int r = 0; r < ROWS; r++) acc[r] = _mm512_setzero_ps();
            for (int64_t e = 0; e < d; e++) {
                const __m512 kv = _mm512_load_ps(kt + e * padded + j);
                for (int r = 0; r < ROWS; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qrow[r][e]), kv, acc[r]);
            }
            for (int r = 0; r < ROWS; r++) {
                const __mmask16 valid = _mm512_cmplt_epi32_mask(_mm512_add_epi32(lane, _mm512_set1_epi32((int)j)),
                                                                _mm512_set1_epi32((int)limit[r]));
                _mm512_store_ps(scores + r * padded + j, _mm512_mask_mul_ps(minus_inf, valid, acc[r], sc));
            }
        }
        // Softmax per row; masked scores are -inf -> exactly 0.
        for (int r = 0; r < ROWS; r++) {
            float *s = scores + r * padded;
            __m512 mx = minus_inf;
            for (int64_t j = 0; j < nb; j += 16) mx = _mm512_max_ps(mx, _mm512_load_ps(s + j));
            const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
            __m512 sum = _mm512_setzero_ps();
            for (int64_t j = 0; j < nb; j += 16) {
                const __m512 e = ck_exp16(_mm512_sub_ps(_mm512_load_ps(s + j), m));
                _mm512_store_ps(s + j, e);
                sum = _mm512_add_ps(sum, e);
            }
            const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
            for (int64_t j = 0; j < nb; j += 16) _mm512_store_ps(s + j, _mm512_mul_ps(_mm512_load_ps(s + j), inv));
        }
        // PV: 16 output dims x 16 rows per pass over the keys.
        const int64_t stored = (n_queries - i0 < qt ? n_queries - i0 : qt) * group;
        for (int64_t e0 = 0; e0 < d; e0 += 16) {
            __m512 acc[ROWS];
            for (int r = 0; r < ROWS; r++) acc[r] = _mm512_setzero_ps();
            for (int64_t j = 0; j < n_max; j++) {
                const __m512 vv = _mm512_loadu_ps(v + j * ldkv + e0);
                for (int r = 0; r < ROWS; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(scores[r * padded + j]), vv, acc[r]);
            }
            for (int r = 0; r < stored; r++)
                _mm512_storeu_ps(out + (i0 + r / group) * ldo + (r % group) * d + e0, acc[r]);
        }
    }
    return 1;
}

#endif
