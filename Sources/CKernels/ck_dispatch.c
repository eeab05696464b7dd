// Run-time dispatch: AVX2/FMA/F16C kernels where the CPU has them, the scalar reference
// elsewhere. DUOGUARD_KERNELS=scalar forces the reference (for A/B benchmarks and tests).
#include "ck_internal.h"

#include <stdlib.h>
#include <string.h>

enum { CK_IMPL_UNKNOWN = 0, CK_IMPL_SCALAR = 1, CK_IMPL_AVX2 = 2 };
static int ck_impl = CK_IMPL_UNKNOWN; // benign race: every thread computes the same value

static int detect(void) {
    const char *env = getenv("DUOGUARD_KERNELS");
    if (env && (strcmp(env, "scalar") == 0 || strcmp(env, "ref") == 0)) return CK_IMPL_SCALAR;
#if defined(__x86_64__)
    if (ck_avx2_available()) return CK_IMPL_AVX2;
#endif
    return CK_IMPL_SCALAR;
}

static inline int impl(void) {
    int v = __atomic_load_n(&ck_impl, __ATOMIC_RELAXED);
    if (v == CK_IMPL_UNKNOWN) {
        v = detect();
        __atomic_store_n(&ck_impl, v, __ATOMIC_RELAXED);
    }
    return v;
}

int ck_set_kernels(const char *name) {
    int v;
    if (name == NULL) {
        v = detect();
    } else if (strcmp(name, "scalar") == 0 || strcmp(name, "ref") == 0) {
        v = CK_IMPL_SCALAR;
    } else if (strcmp(name, "avx2") == 0) {
#if defined(__x86_64__)
        if (!ck_avx2_available()) return 0;
        v = CK_IMPL_AVX2;
#else
        return 0;
#endif
    } else {
        return 0;
    }
    __atomic_store_n(&ck_impl, v, __ATOMIC_RELAXED);
    return 1;
}

int ck_use_avx2(void) { return impl() == CK_IMPL_AVX2; }

const char *ck_kernel_name(void) { return impl() == CK_IMPL_AVX2 ? "avx2" : "scalar"; }

size_t ck_activations_size(ck_type weight_type, int64_t k, int64_t n_tokens) {
    if (k < 0 || n_tokens < 0) return 0;
    switch (weight_type) {
    case CK_TYPE_Q4_0: return (size_t)(n_tokens * (k / CK_QK)) * sizeof(ck_act_q4);
    case CK_TYPE_Q8_0: return (size_t)(n_tokens * (k / CK_QK)) * sizeof(ck_act_q8);
    case CK_TYPE_F32:
    case CK_TYPE_F16:
    case CK_TYPE_BF16: return (size_t)(n_tokens * k) * sizeof(float);
    }
    return 0;
}

void ck_prepare_activations(ck_type weight_type, const float *x, int64_t ldx,
                            int64_t k, int64_t n_tokens, void *out) {
#if defined(__x86_64__)
    if (impl() == CK_IMPL_AVX2) {
        ck_prepare_activations_avx2(weight_type, x, ldx, k, n_tokens, out);
        return;
    }
#endif
    ck_prepare_activations_ref(weight_type, x, ldx, k, n_tokens, out);
}

void ck_matmul(ck_type type, const void *W, int64_t k,
               const void *X, int64_t n_tokens,
               float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    if (row_end <= row_begin || n_tokens <= 0) return;
#if defined(__x86_64__)
    if (impl() == CK_IMPL_AVX2) {
        ck_matmul_avx2(type, W, k, X, n_tokens, Y, ldy, row_begin, row_end);
        return;
    }
#endif
    ck_matmul_ref(type, W, k, X, n_tokens, Y, ldy, row_begin, row_end);
}
