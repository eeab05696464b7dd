// The portable scalar reference of ck_matmul: the oracle in tests and the fallback on CPUs
// without AVX2/FMA. Quantized weights use integer block dot products exactly like ggml's
// vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0: sum over blocks of (d_w * d_x) * (int) sum(w_q * x_q).
#include "ck_internal.h"

static float dot_q8_0(const ck_block_q8_0 *w, const ck_act *x, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < CK_QK; j++) isum += (int32_t)w[b].qs[j] * (int32_t)x[b].qs[j];
        sum += (ck_fp16_to_fp32(w[b].d) * x[b].d) * (float)isum;
    }
    return sum;
}

static float dot_q4_0(const ck_block_q4_0 *w, const ck_act *x, int64_t nb) {
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        int32_t isum = 0;
        for (int j = 0; j < CK_QK / 2; j++) {
            isum += ((int32_t)(w[b].qs[j] & 0x0f) - 8) * (int32_t)x[b].qs[j];
            isum += ((int32_t)(w[b].qs[j] >> 4) - 8) * (int32_t)x[b].qs[j + CK_QK / 2];
        }
        sum += (ck_fp16_to_fp32(w[b].d) * x[b].d) * (float)isum;
    }
    return sum;
}

void ck_matmul_ref(ck_type type, const void *W, int64_t k,
                   const void *X, int64_t n_tokens,
                   float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    if (type == CK_TYPE_Q8_R) return;
    const int64_t nb = k / CK_QK;
    for (int64_t r = row_begin; r < row_end; r++) {
        for (int64_t t = 0; t < n_tokens; t++) {
            float v = 0.0f;
            switch (type) {
            case CK_TYPE_Q8_0:
                v = dot_q8_0((const ck_block_q8_0 *)W + r * nb, (const ck_act *)X + t * nb, nb);
                break;
            case CK_TYPE_Q4_0:
                v = dot_q4_0((const ck_block_q4_0 *)W + r * nb, (const ck_act *)X + t * nb, nb);
                break;
            case CK_TYPE_F32: {
                const float *w = (const float *)W + r * k, *x = (const float *)X + t * k;
                for (int64_t i = 0; i < k; i++) v += w[i] * x[i];
                break;
            }
            case CK_TYPE_F16: {
                const ck_fp16 *w = (const ck_fp16 *)W + r * k;
                const float *x = (const float *)X + t * k;
                for (int64_t i = 0; i < k; i++) v += ck_fp16_to_fp32(w[i]) * x[i];
                break;
            }
            case CK_TYPE_Q8_R: // packed only (ck_matmul_packed); excluded above
                break;
            case CK_TYPE_BF16: {
                const uint16_t *w = (const uint16_t *)W + r * k;
                const float *x = (const float *)X + t * k;
                for (int64_t i = 0; i < k; i++) v += ck_bf16_to_fp32(w[i]) * x[i];
                break;
            }
            }
            Y[t * ldy + r] = v;
        }
    }
}
