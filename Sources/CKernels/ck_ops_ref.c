// Scalar references of the forward pass's other operations (RMSNorm, SwiGLU, RoPE, residual
// add, causal grouped-query attention): the oracles of the SIMD versions in the tests, and what
// runs on CPUs without AVX2. Dispatch: ck_ops.c.
#include "ck_internal.h"

#include <math.h>

void ck_rmsnorm_ref(const float *x, const float *w, float *y, int64_t n, float eps) {
    // As transformers computes it in fp32 (the mean of squares accumulated here in double,
    // which is exact enough that every summation order rounds to the same float).
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += (double)x[i] * (double)x[i];
    float mean = (float)(sum / (double)n);
    float scale = (float)(1.0 / sqrt((double)(mean + eps))); // variance + eps in f32, as torch
    for (int64_t i = 0; i < n; i++) y[i] = w[i] * (x[i] * scale);
}

void ck_swiglu_ref(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void ck_rope_ref(float *x, int64_t heads, int64_t d, const float *cs, const float *sn) {
    for (int64_t h = 0; h < heads; h++) {
        float *v = x + h * d;
        for (int64_t i = 0; i < d / 2; i++) {
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * cs[i] - b * sn[i];
            v[2 * i + 1] = b * cs[i] + a * sn[i];
        }
    }
}

void ck_add_ref(float *x, const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

size_t ck_attention_scratch_size(int64_t n_keys, int64_t d, int64_t group) {
    // Transposed keys (d rows) and the scores of max(group, 16) rows, 16-key padded, 64 B aligned:
    // enough for every implementation (the AVX-512 one scores 16 rows at a time).
    int64_t padded = (n_keys + 15) / 16 * 16;
    return (size_t)(padded * (d + (group > 16 ? group : 16))) * sizeof(float) + 64;
}

void ck_attention_ref(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                      const float *k, const float *v, int64_t ldkv,
                      float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch) {
    float *scores = scratch;
    for (int64_t i = 0; i < n_queries; i++) {
        int64_t n = first_pos + i + 1;
        for (int64_t g = 0; g < group; g++) {
            const float *qv = q + i * ldq + g * d;
            float mx = -INFINITY;
            for (int64_t j = 0; j < n; j++) {
                float s = 0;
                for (int64_t e = 0; e < d; e++) s += qv[e] * k[j * ldkv + e];
                s *= scale;
                scores[j] = s;
                if (s > mx) mx = s;
            }
            float sum = 0;
            for (int64_t j = 0; j < n; j++) {
                scores[j] = expf(scores[j] - mx);
                sum += scores[j];
            }
            float inv = 1.0f / sum;
            float *o = out + i * ldo + g * d;
            for (int64_t e = 0; e < d; e++) o[e] = 0;
            for (int64_t j = 0; j < n; j++) {
                float p = scores[j] * inv;
                for (int64_t e = 0; e < d; e++) o[e] += p * v[j * ldkv + e];
            }
        }
    }
}

