// The one place that asks the CPU what it has and picks the dispatch level every kernel
// follows: AVX-512 VNNI or AVX2/FMA/F16C where the CPU has them, the scalar reference elsewhere.
// DUOGUARD_KERNELS=scalar forces the reference and DUOGUARD_KERNELS=avx2 caps every kernel at
// AVX2 (A/B benchmarks, tests, and what a pre-AVX-512 machine runs); ck_set_kernels does the
// same at run time. The SIMD files compile their functions with the matching target
// attributes (CK_AVX2, CK_512 in ck_internal.h) so the binary runs on any x86-64.
#include "ck_internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
// What CK_AVX2 compiles for.
static int ck_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
}

// What CK_512 compiles for (a superset of CK_AVX2's).
static int ck_avx512vnni_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

#endif

static int ck_impl = CK_IMPL_UNKNOWN; // benign race: every thread computes the same value

static int best_available(void) {
#if defined(__x86_64__)
    if (ck_avx512vnni_available()) return CK_IMPL_AVX512VNNI;
    if (ck_avx2_available()) return CK_IMPL_AVX2;
#endif
    return CK_IMPL_SCALAR;
}

static int named(const char *name) {
    if (strcmp(name, "scalar") == 0 || strcmp(name, "ref") == 0) return CK_IMPL_SCALAR;
    if (strcmp(name, "avx2") == 0) return CK_IMPL_AVX2;
    if (strcmp(name, "avx512vnni") == 0) return CK_IMPL_AVX512VNNI;
    return CK_IMPL_UNKNOWN;
}

static int detect(void) {
    const int best = best_available();
    const char *env = getenv("DUOGUARD_KERNELS");
    const int wanted = env ? named(env) : CK_IMPL_UNKNOWN;
    return wanted != CK_IMPL_UNKNOWN && wanted < best ? wanted : best;
}

int ck_dispatch_level(void) {
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
    } else {
        v = named(name);
        if (v == CK_IMPL_UNKNOWN || v > best_available()) return 0;
    }
    __atomic_store_n(&ck_impl, v, __ATOMIC_RELAXED);
    return 1;
}

int ck_use_avx2(void) { return ck_dispatch_level() >= CK_IMPL_AVX2; }

int ck_use_avx512(void) { return ck_dispatch_level() == CK_IMPL_AVX512VNNI; }

const char *ck_kernel_name(void) {
    switch (ck_dispatch_level()) {
    case CK_IMPL_AVX512VNNI: return "avx512vnni";
    case CK_IMPL_AVX2: return "avx2";
    default: return "scalar";
    }
}

