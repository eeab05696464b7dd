// Scalar conversions (fp16 <-> fp32, bf16 -> fp32), row sizes and dequantization.
#include "ck_internal.h"

#include <math.h>

float ck_fp16_to_fp32(ck_fp16 h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    const uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        // zero or subnormal: man * 2^-24, exact in f32
        float v = (float)man * 0x1p-24f;
        return ck_bits_f32(ck_f32_bits(v) | sign);
    }
    if (exp == 31) return ck_bits_f32(sign | 0x7f800000u | (man << 13)); // inf / nan (payload kept)
    return ck_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

ck_fp16 ck_fp32_to_fp16(float f) {
    const uint32_t x = ck_f32_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u) return (ck_fp16)(sign | 0x7c00u);
        // NaN: keep the top payload bits and set the quiet bit, as F16C and numpy do.
        return (ck_fp16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    if (ax >= 0x47800000u) return (ck_fp16)(sign | 0x7c00u); // >= 65536: overflow to inf
    if (ax < 0x38800000u) {
        // Result is a half subnormal (or zero). Adding 0.5f aligns the value so that the
        // f32 mantissa's last bit is 2^-24 and the FPU rounds to nearest even for us.
        const float magic = 0.5f;
        const float v = ck_bits_f32(ax) + magic;
        return (ck_fp16)(sign | (ck_f32_bits(v) - ck_f32_bits(magic)));
    }
    // Normal: rebias the exponent and round the 13 dropped bits to nearest even. A carry
    // out of the mantissa correctly bumps the exponent (up to inf for [65520, 65536)).
    uint32_t h = ax - ((uint32_t)(127 - 15) << 23);
    h += 0x0fffu + ((h >> 13) & 1u);
    return (ck_fp16)(sign | (h >> 13));
}

float ck_bf16_to_fp32(uint16_t b) { return ck_bits_f32((uint32_t)b << 16); }

size_t ck_row_size(ck_type type, int64_t n) {
    if (n < 0) return 0;
    switch (type) {
    case CK_TYPE_F32: return (size_t)n * 4;
    case CK_TYPE_F16: return (size_t)n * 2;
    case CK_TYPE_BF16: return (size_t)n * 2;
    case CK_TYPE_Q8_0: return (size_t)(n / CK_QK) * sizeof(ck_block_q8_0);
    case CK_TYPE_Q4_0: return (size_t)(n / CK_QK) * sizeof(ck_block_q4_0);
    case CK_TYPE_Q8_R: return 0; // packed only: no row layout
    }
    return 0;
}

// Dequantization is not on the hot path (embedding rows, tests), so the scalar code is the
// only implementation; the compiler vectorises it with the baseline ISA.
void ck_dequantize_row(ck_type type, const void *x, float *y, int64_t n) {
    switch (type) {
    case CK_TYPE_F32:
        memmove(y, x, (size_t)n * 4);
        break;
    case CK_TYPE_F16: {
        const ck_fp16 *h = x;
        for (int64_t i = 0; i < n; i++) y[i] = ck_fp16_to_fp32(h[i]);
        break;
    }
    case CK_TYPE_BF16: {
        const uint16_t *b = x;
        for (int64_t i = 0; i < n; i++) y[i] = ck_bf16_to_fp32(b[i]);
        break;
    }
    case CK_TYPE_Q8_0: {
        const ck_block_q8_0 *b = x;
        for (int64_t i = 0; i < n / CK_QK; i++) {
            const float d = ck_fp16_to_fp32(b[i].d);
            for (int j = 0; j < CK_QK; j++) y[i * CK_QK + j] = (float)b[i].qs[j] * d;
        }
        break;
    }
    case CK_TYPE_Q4_0: {
        const ck_block_q4_0 *b = x;
        for (int64_t i = 0; i < n / CK_QK; i++) {
            const float d = ck_fp16_to_fp32(b[i].d);
            for (int j = 0; j < CK_QK / 2; j++) {
                y[i * CK_QK + j] = (float)((b[i].qs[j] & 0x0f) - 8) * d;
                y[i * CK_QK + j + CK_QK / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
            }
        }
        break;
    }
    case CK_TYPE_Q8_R: // packed only: no row layout
        break;
    }
}

