// Scalar quantizers, bit-identical to ggml's reference quantizers (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref), and the scalar activation preparation.
#include "ck_internal.h"

#include <math.h>

float ck_quantize_block_q8_ref(const float *x, int8_t *qs) {
    float amax = 0.0f;
    for (int j = 0; j < CK_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < CK_QK; j++) qs[j] = (int8_t)roundf(x[j] * id); // half away from zero
    return d;
}

void ck_quantize_row_q8_0(const float *x, ck_block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / CK_QK; i++) {
        const float d = ck_quantize_block_q8_ref(x + i * CK_QK, y[i].qs);
        y[i].d = ck_fp32_to_fp16(d);
    }
}

void ck_quantize_row_q4_0(const float *x, ck_block_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / CK_QK; i++) {
        const float *b = x + i * CK_QK;
        float amax = 0.0f, max = 0.0f; // the element of largest magnitude, sign kept (first wins)
        for (int j = 0; j < CK_QK; j++) {
            if (amax < fabsf(b[j])) {
                amax = fabsf(b[j]);
                max = b[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ck_fp32_to_fp16(d);
        for (int j = 0; j < CK_QK / 2; j++) {
            const float x0 = b[j] * id, x1 = b[j + CK_QK / 2] * id;
            int q0 = (int8_t)(x0 + 8.5f), q1 = (int8_t)(x1 + 8.5f); // truncation, as ggml
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void ck_prepare_q8r_ref(const float *x, int64_t ldx, int64_t k, int64_t t0, int64_t n, void *X) {
    const int64_t ng = k / CK_Q8R_GROUP;
    for (int64_t i = 0; i < n; i++) {
        const int64_t t = t0 + i;
        for (int64_t g = 0; g < ng; g++) {
            const float *xg = x + i * ldx + g * CK_Q8R_GROUP;
            uint8_t *grp = ck_q8r_group(X, ng, t, g);
            float amax = 0.0f;
            for (int j = 0; j < CK_Q8R_GROUP; j++) amax = fmaxf(amax, fabsf(xg[j]));
            const float d = amax / 127.0f;
            const float id = ck_q8r_inverse(d);
            int32_t s = 0;
            for (int j = 0; j < CK_Q8R_GROUP; j++) {
                const int8_t q = (int8_t)roundf(xg[j] * id); // half away from zero
                ck_q8r_quad(grp, t, j / 4)[j % 4] = q;
                s += q;
            }
            *ck_q8r_d(grp, t) = d;
            *ck_q8r_corr(grp, t) = -128 * s;
        }
    }
}

void ck_prepare_activations_ref(ck_type weight_type, const float *x, int64_t ldx,
                                int64_t k, int64_t n_tokens, void *out) {
    const int64_t nb = k / CK_QK;
    switch (weight_type) {
    case CK_TYPE_Q8_R:
        ck_prepare_q8r_ref(x, ldx, k, 0, n_tokens, out);
        break;
    case CK_TYPE_Q4_0:
    case CK_TYPE_Q8_0: {
        // -8 * sum (nibbles n, value n - 8) or -128 * sum (packed Q8_0 weights w + 128).
        const int32_t offset = weight_type == CK_TYPE_Q4_0 ? 8 : 128;
        ck_act *a = out;
        for (int64_t t = 0; t < n_tokens; t++) {
            for (int64_t b = 0; b < nb; b++) {
                ck_act *blk = &a[t * nb + b];
                const float d = ck_quantize_block_q8_ref(x + t * ldx + b * CK_QK, blk->qs);
                int32_t s = 0;
                for (int j = 0; j < CK_QK; j++) s += blk->qs[j];
                blk->d = ck_fp16_to_fp32(ck_fp32_to_fp16(d));
                blk->corr = -offset * s;
            }
        }
        break;
    }
    case CK_TYPE_F32:
    case CK_TYPE_F16:
    case CK_TYPE_BF16: {
        float *o = out;
        for (int64_t t = 0; t < n_tokens; t++) memcpy(o + t * k, x + t * ldx, (size_t)k * 4);
        break;
    }
    }
}
