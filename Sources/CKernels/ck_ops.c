// The non-matmul operations of the forward pass: RMSNorm, SwiGLU, RoPE, residual add and
// causal grouped-query attention. Each has a scalar reference (`*_ref`, the oracle in tests)
// and an AVX2/FMA version selected at run time, like ck_matmul.
//
// Why in C: Swift's SIMD types compile to SSE width without -mavx2 for the whole module,
// and Swift never reassociates float sums, so these loops ran at a fraction of what the
// core can do; attention alone was ~17% of a 512-token forward pass and SwiGLU called the
// scalar libm expf 8192 times per token and layer.
//
// This file only dispatches: the scalar references are in ck_ops_ref.c, the AVX2 versions in
// ck_ops_avx2.c and the AVX-512 attention in ck_ops_avx512.c (the same split as ck_matmul*.c).
#include "ck_internal.h"

void ck_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps) {
#if defined(__x86_64__)
    if (ck_use_avx512()) { ck_rmsnorm_avx512(x, w, y, n, eps); return; }
    if (ck_use_avx2()) { ck_rmsnorm_avx2(x, w, y, n, eps); return; }
#endif
    ck_rmsnorm_ref(x, w, y, n, eps);
}

void ck_swiglu(float *gate, const float *up, int64_t n) {
#if defined(__x86_64__)
    if (ck_use_avx512()) { ck_swiglu_avx512(gate, up, n); return; }
    if (ck_use_avx2()) { ck_swiglu_avx2(gate, up, n); return; }
#endif
    ck_swiglu_ref(gate, up, n);
}

void ck_rope(float *x, int64_t heads, int64_t d, const float *cs, const float *sn) {
#if defined(__x86_64__)
    if (ck_use_avx2()) { ck_rope_avx2(x, heads, d, cs, sn); return; }
#endif
    ck_rope_ref(x, heads, d, cs, sn);
}

void ck_add(float *x, const float *y, int64_t n) {
#if defined(__x86_64__)
    if (ck_use_avx2()) { ck_add_avx2(x, y, n); return; }
#endif
    ck_add_ref(x, y, n);
}

void ck_attention(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                  const float *k, const float *v, int64_t ldkv,
                  float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch) {
    if (n_queries <= 0) return;
#if defined(__x86_64__)
    if (ck_use_avx512() && ck_attention_avx512(q, ldq, n_queries, first_pos, k, v, ldkv, out, ldo, d, group, scale, scratch)) return;
    if (ck_use_avx2()) { ck_attention_avx2(q, ldq, n_queries, first_pos, k, v, ldkv, out, ldo, d, group, scale, scratch); return; }
#endif
    ck_attention_ref(q, ldq, n_queries, first_pos, k, v, ldkv, out, ldo, d, group, scale, scratch);
}
