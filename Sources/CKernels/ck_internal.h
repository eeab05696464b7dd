// Internal declarations shared by the CKernels translation units (not part of the contract).
#ifndef DUOGUARD_CK_INTERNAL_H
#define DUOGUARD_CK_INTERNAL_H

#include "CKernels.h"

#include <string.h>

// ---- internal activation layouts (see docs/kernels.md) ---------------------------------
//
// For Q4_0 weights each token row of X is `k / 32` blocks of ck_act_q4: the Q8_0 block of the
// activations (scale widened to f32, same value as the fp16 ggml stores) plus the precomputed
// correction -8 * sum(qs), so that sum((n - 8) * x) = sum(n * x) - 8 * sum(x) can use unsigned
// nibbles directly.
typedef struct {
    float d;          // fp16-rounded scale, as f32
    int32_t corr;     // -8 * sum(qs)
    int8_t qs[CK_QK]; // Q8_0 quants, element order
} ck_act_q4;

// For Q8_0 weights each token row of X is `k / 32` blocks of ck_act_q8: the same Q8_0 block
// with the quants widened to int16 (so the AVX2 kernel can use vpmaddwd without sign tricks).
typedef struct {
    float d;
    int32_t pad;
    int16_t qs[CK_QK];
} ck_act_q8;

_Static_assert(sizeof(ck_act_q4) == 40, "ck_act_q4 layout");
_Static_assert(sizeof(ck_act_q8) == 72, "ck_act_q8 layout");
_Static_assert(sizeof(ck_block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(ck_block_q4_0) == 18, "block_q4_0 layout");

static inline uint32_t ck_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float ck_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// Q8_0 scale of one 32-block exactly as ggml's quantize_row_q8_0_ref: d = amax / 127, id = 1/d.
// Returns d (f32, before fp16 rounding) and writes the quants.
float ck_quantize_block_q8_ref(const float *x, int8_t *qs);

// Scalar activation preparation (the reference layout producer).
void ck_prepare_activations_ref(ck_type weight_type, const float *x, int64_t ldx,
                                int64_t k, int64_t n_tokens, void *out);

// 1 when the dispatched implementation is AVX2 (ck_dispatch.c), for the other kernel files.
int ck_use_avx2(void);

#if defined(__x86_64__)
int ck_avx2_available(void);
void ck_matmul_avx2(ck_type type, const void *W, int64_t k, const void *X, int64_t n_tokens,
                    float *Y, int64_t ldy, int64_t row_begin, int64_t row_end);
void ck_prepare_activations_avx2(ck_type weight_type, const float *x, int64_t ldx,
                                 int64_t k, int64_t n_tokens, void *out);
#endif

#endif
