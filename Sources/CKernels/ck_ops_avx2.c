// AVX2/FMA versions of the forward pass's other operations (the "avx2" dispatch level, and the
// "avx512vnni" one except for attention, ck_ops_avx512.c). Compiled per function with target
// attributes (ck_internal.h) and called only after the run-time CPU check (ck_cpu.c).
#include "ck_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

// exp(x) for 8 floats, Cephes' expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for an
// exact product), degree-6 polynomial, 2^n built in the exponent bits. Within 2 ulp of expf
// on [-87.3, 88.7]; below that it returns 0 (softmax's masked scores, silu of large x).
CK_INLINE_AVX2 __m256 ck_exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(CK_EXP_HI), lo = _mm256_set1_ps(CK_EXP_LO);
    __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
    __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(CK_EXP_LOG2E)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(CK_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(fx, _mm256_set1_ps(CK_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(CK_EXP_P5);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CK_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CK_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CK_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CK_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(CK_EXP_P0));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
    __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(n));
    return _mm256_andnot_ps(underflow, y);
}

CK_INLINE_AVX2 float ck_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

CK_AVX2 void ck_rmsnorm_avx2(const float *x, const float *w, float *y, int64_t n, float eps) {
    // Float squares are exact in double, so this sum differs from the reference only in
    // double rounding (~1e-16 relative), far below the float it is rounded to.
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_fmadd_pd(lo, lo, a0);
        a1 = _mm256_fmadd_pd(hi, hi, a1);
    }
    __m256d a = _mm256_add_pd(a0, a1);
    __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    double sum = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    for (; i < n; i++) sum += (double)x[i] * (double)x[i];
    float mean = (float)(sum / (double)n);
    float scale = (float)(1.0 / sqrt((double)(mean + eps))); // variance + eps in f32, as torch
    __m256 sc = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(_mm256_loadu_ps(x + i), sc)));
    for (; i < n; i++) y[i] = w[i] * (x[i] * scale);
}

CK_AVX2 void ck_swiglu_avx2(float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = ck_exp8(_mm256_xor_ps(g, sign));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    if (i < n) ck_swiglu_ref(gate + i, up + i, n - i);
}

CK_AVX2 void ck_rope_avx2(float *x, int64_t heads, int64_t d, const float *cs, const float *sn) {
    if (d % 16 != 0) {
        ck_rope_ref(x, heads, d, cs, sn);
        return;
    }
    // v = [a0 b0 a1 b1 ...]: out = v * [c0 c0 c1 c1 ...] + swap(v) * [-s0 s0 -s1 s1 ...].
    const __m256 alt = _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);
    const __m256i dup = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    for (int64_t i = 0; i < d / 2; i += 4) {
        __m256 c = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(cs + i)), dup);
        __m256 s = _mm256_xor_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(sn + i)), dup), alt);
        for (int64_t h = 0; h < heads; h++) {
            float *p = x + h * d + 2 * i;
            __m256 v = _mm256_loadu_ps(p);
            __m256 sw = _mm256_permute_ps(v, 0xB1);
            // Same rounding as the reference: a*c - b*s is computed as a*c + (b*(-s)) with no FMA.
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_mul_ps(v, c), _mm256_mul_ps(sw, s)));
        }
    }
}

CK_AVX2 void ck_add_avx2(float *x, const float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) x[i] += y[i];
}

// Attention for one (sequence, KV head): the keys are transposed once into scratch
// (KT[e][j], columns padded to 8 with zeros) so scores of 8 keys are one vertical FMA chain
// per query, and the `group` query heads that share the KV head are computed together
// (each KT load feeds every head). PV accumulates 16 output dims x all heads per pass.
CK_AVX2 void ck_attention_avx2(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                                      const float *k, const float *v, int64_t ldkv,
                                      float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch) {
    if (d % 16 != 0 || group > 8) {
        ck_attention_ref(q, ldq, n_queries, first_pos, k, v, ldkv, out, ldo, d, group, scale, scratch);
        return;
    }
    const int64_t n_keys = first_pos + n_queries;
    const int64_t padded = (n_keys + 7) / 8 * 8;
    float *kt = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    float *scores = kt + padded * d;
    for (int64_t j = 0; j < padded; j++)
        for (int64_t e = 0; e < d; e++) kt[e * padded + j] = j < n_keys ? k[j * ldkv + e] : 0.0f;

    for (int64_t i = 0; i < n_queries; i++) {
        const int64_t n = first_pos + i + 1;
        const int64_t nb = (n + 7) / 8 * 8;
        const float *qi = q + i * ldq;
        // Scores: 8 keys x up to 4 heads per inner loop.
        for (int64_t g0 = 0; g0 < group; g0 += 4) {
            int64_t gn = group - g0 < 4 ? group - g0 : 4;
            for (int64_t j = 0; j < nb; j += 8) {
                __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
                for (int64_t e = 0; e < d; e++) {
                    __m256 kv = _mm256_load_ps(kt + e * padded + j);
                    for (int64_t g = 0; g < gn; g++)
                        acc[g] = _mm256_fmadd_ps(_mm256_broadcast_ss(qi + (g0 + g) * d + e), kv, acc[g]);
                }
                for (int64_t g = 0; g < gn; g++) _mm256_storeu_ps(scores + (g0 + g) * padded + j, acc[g]);
            }
        }
        // Softmax per head; scores past n (padding or future keys) are masked to exactly 0.
        for (int64_t g = 0; g < group; g++) {
            float *s = scores + g * padded;
            __m256 mx = _mm256_set1_ps(-INFINITY);
            const __m256 sc = _mm256_set1_ps(scale);
            for (int64_t j = 0; j < nb; j += 8) {
                __m256 valid = _mm256_cmp_ps(_mm256_add_ps(_mm256_set1_ps((float)j), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7)),
                                             _mm256_set1_ps((float)n), _CMP_LT_OQ);
                __m256 x = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_mul_ps(_mm256_loadu_ps(s + j), sc), valid);
                _mm256_storeu_ps(s + j, x);
                mx = _mm256_max_ps(mx, x);
            }
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            __m256 m = _mm256_set1_ps(_mm_cvtss_f32(m4));
            __m256 sum = _mm256_setzero_ps();
            for (int64_t j = 0; j < nb; j += 8) {
                __m256 e = ck_exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), m)); // -inf -> 0
                _mm256_storeu_ps(s + j, e);
                sum = _mm256_add_ps(sum, e);
            }
            __m256 inv = _mm256_set1_ps(1.0f / ck_hsum8(sum));
            for (int64_t j = 0; j < nb; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
        }
        // PV: out[g][e0..e0+16] = sum_j p[g][j] * V[j][e0..e0+16], all heads of the group.
        for (int64_t e0 = 0; e0 < d; e0 += 16) {
            __m256 acc[16];
            for (int64_t g = 0; g < 2 * group; g++) acc[g] = _mm256_setzero_ps();
            for (int64_t j = 0; j < n; j++) {
                const float *vj = v + j * ldkv + e0;
                __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8);
                for (int64_t g = 0; g < group; g++) {
                    __m256 p = _mm256_broadcast_ss(scores + g * padded + j);
                    acc[2 * g] = _mm256_fmadd_ps(p, v0, acc[2 * g]);
                    acc[2 * g + 1] = _mm256_fmadd_ps(p, v1, acc[2 * g + 1]);
                }
            }
            for (int64_t g = 0; g < group; g++) {
                float *o = out + i * ldo + g * d + e0;
                _mm256_storeu_ps(o, acc[2 * g]);
                _mm256_storeu_ps(o + 8, acc[2 * g + 1]);
            }
        }
    }
}

#endif
