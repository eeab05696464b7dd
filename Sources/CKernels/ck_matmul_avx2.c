// AVX2/FMA/F16C kernels, compiled per function with target attributes so the binary still
// runs on any x86-64 and only calls them after a run-time CPU check.
#include "ck_internal.h"

#if defined(__x86_64__)

int ck_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

// First increment: the AVX2 entry points defer to the reference until the tiled kernels land.
void ck_matmul_avx2(ck_type type, const void *W, int64_t k, const void *X, int64_t n_tokens,
                    float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    ck_matmul_ref(type, W, k, X, n_tokens, Y, ldy, row_begin, row_end);
}

void ck_prepare_activations_avx2(ck_type weight_type, const float *x, int64_t ldx,
                                 int64_t k, int64_t n_tokens, void *out) {
    ck_prepare_activations_ref(weight_type, x, ldx, k, n_tokens, out);
}

#endif
