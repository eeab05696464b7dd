// The matrix multiplies' entry points: activation preparation, the packed-panel driver
// (run_panels) and the choice of panel kernel for the dispatch level of ck_cpu.c: AVX-512 VNNI
// (ck_matmul_avx512.c), AVX2/FMA/F16C (ck_matmul_avx2.c) or the scalar reference
// (ck_matmul_ref.c, ck_pack.c).
#include "ck_internal.h"

#include <stdlib.h>
#include <string.h>

size_t ck_activations_size(ck_type weight_type, int64_t k, int64_t n_tokens) {
    if (k < 0 || n_tokens < 0) return 0;
    size_t per = 0, total = 0;
    switch (weight_type) {
    case CK_TYPE_Q4_0:
    case CK_TYPE_Q8_0: per = (size_t)(k / CK_QK) * sizeof(ck_act); break;
    case CK_TYPE_Q8_R: {
        if (k % CK_Q8R_GROUP != 0) return 0;
        const size_t tiles = (size_t)(n_tokens / CK_Q8R_TILE + (n_tokens % CK_Q8R_TILE != 0));
        if (__builtin_mul_overflow((size_t)(k / CK_Q8R_GROUP) * CK_Q8R_GROUP_BYTES, tiles, &total)) return 0;
        return total;
    }
    case CK_TYPE_F32:
    case CK_TYPE_F16:
    case CK_TYPE_BF16: per = (size_t)k * sizeof(float); break;
    default: return 0;
    }
    if (__builtin_mul_overflow(per, (size_t)n_tokens, &total)) return 0;
    return total;
}

// Q8_R activations of tokens [t0, t0 + n) at the dispatch level (every level bit-identical).
static void prepare_q8r(const float *x, int64_t ldx, int64_t k, int64_t t0, int64_t n, void *out) {
#if defined(__x86_64__)
    if (ck_use_avx512()) { ck_prepare_q8r_avx512(x, ldx, k, t0, n, out); return; }
    if (ck_use_avx2()) { ck_prepare_q8r_avx2(x, ldx, k, t0, n, out); return; }
#endif
    ck_prepare_q8r_ref(x, ldx, k, t0, n, out);
}

void ck_prepare_activations(ck_type weight_type, const float *x, int64_t ldx,
                            int64_t k, int64_t n_tokens, void *out) {
    if (weight_type == CK_TYPE_Q8_R) {
        prepare_q8r(x, ldx, k, 0, n_tokens, out);
        return;
    }
#if defined(__x86_64__)
    if (ck_use_avx2()) {
        ck_prepare_activations_avx2(weight_type, x, ldx, k, n_tokens, out);
        return;
    }
#endif
    ck_prepare_activations_ref(weight_type, x, ldx, k, n_tokens, out);
}

void ck_prepare_activations_at(ck_type weight_type, const float *x, int64_t ldx, int64_t k,
                               int64_t first_token, int64_t n_tokens, void *out) {
    if (first_token < 0 || n_tokens <= 0) return;
    if (weight_type == CK_TYPE_Q8_R) {
        if (k % CK_Q8R_GROUP == 0) prepare_q8r(x, ldx, k, first_token, n_tokens, out);
        return;
    }
    ck_prepare_activations(weight_type, x, ldx, k, n_tokens,
                           (uint8_t *)out + ck_activations_size(weight_type, k, first_token));
}

static ck_panel_fn panel_kernel(int fmt) {
#if defined(__x86_64__)
    switch (ck_dispatch_level()) {
    case CK_IMPL_AVX512VNNI: return fmt == CK_FMT_Q8R ? ck_panel_q8r_avx512vnni : ck_panel_avx512vnni;
    case CK_IMPL_AVX2: return fmt == CK_FMT_Q8R ? ck_panel_q8r_avx2 : ck_panel_avx2;
    default: break;
    }
#endif
    return fmt == CK_FMT_Q8R ? ck_panel_q8r_ref : ck_panel_ref;
}

static int packed_format(ck_type type) {
    switch (type) {
    case CK_TYPE_Q8_0: return CK_FMT_Q8;
    case CK_TYPE_Q4_0: return CK_FMT_Q4;
    case CK_TYPE_Q8_R: return CK_FMT_Q8R;
    default: return -1;
    }
}

// Runs `fn` over the panels that rows [row_begin, row_end) touch, storing only those rows.
//
// The SIMD kernels go chunk of k by chunk of k (CK_KC blocks), and within a chunk, block of
// CK_NT tokens by block of tokens, each over all panels of the range: the activations of a
// (token block, chunk) pair (CK_NT x CK_KC x 40 B = 410 KB) stay in L2 while the panels' chunks
// stream by, and the range's chunk of weights stays in L2 across the token blocks when it
// fits (Q8_R makes sure with panel groups, below). Without the token blocks, a 2048-token
// batch's activation chunk (2.6 MB) did not fit in L2 and every panel re-read it from L3.
// The reference takes all of k and all tokens at once (its float order is ck_matmul_ref's).
#define CK_NT 320
// Q8_R: panels per group (48 x 16 KB = 768 KB of a chunk of k). With more tokens than one
// token block, the blocks run group by group, so a group's weights come from DRAM once and
// stay in L2 (2 MB here) beside the activations of both blocks (~560 KB for 512 tokens) for
// the next block; over a whole range (gate/up: up to 128 panels = 2 MB per chunk) the second
// block re-read them from memory.
#define CK_PG 48
// Q8_R with more than one token block: blocks of k per chunk (2,048 values: a panel's chunk is
// 32 KB). Every chunk after the first reads each output tile back and adds to it; with more
// than one token block a range's output no longer fits L2 (gate/up at 512 tokens: ~1,024 rows
// x 324 tokens x 4 B = 1.3 MB per block), so with CK_KC the k = 2,048 matrices re-read their
// output from L3 once and down (k = 8,192) 7 times. With 64 blocks the k = 2,048 matrices (q,
// k, v, o, gate, up) take all of k in one chunk and only store, and down re-reads 3 times.
// Panel groups shrink to keep their bytes (CK_PG x 16 KB). Interleaved A/B under load
// (docs/kernels.md): +3 to +7.5% at 512 tokens; for one token block the output stays in L2 and the
// smaller chunk keeps a panel's chunk in L1 beside a tile's activations (64 tokens: -2%, noise).
#ifndef CK_KC_Q8R
#define CK_KC_Q8R 64
#endif
_Static_assert(CK_KC_Q8R % CK_Q8R_BLOCKS == 0 && CK_KC_Q8R >= CK_KC, "Q8_R chunks hold whole groups");
static void run_panels(ck_panel_fn fn, int fmt, const uint8_t *P, int64_t nb, const void *X, int64_t n_tokens,
                       float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    const size_t pb = ck_panel_bytes(fmt, nb);
    const int ref = fn == ck_panel_ref || fn == ck_panel_q8r_ref, q8r = fmt == CK_FMT_Q8R && !ref;
    // Q8_R: token blocks of whole activation tiles (27 x 12 tokens).
    const int64_t nt = ref ? n_tokens : fmt == CK_FMT_Q8R ? CK_NT / CK_Q8R_TILE * CK_Q8R_TILE : CK_NT;
    const int64_t kc = ref ? nb : q8r && n_tokens > nt ? CK_KC_Q8R : CK_KC;
    const int64_t p_first = row_begin / CK_PANEL, p_end = (row_end + CK_PANEL - 1) / CK_PANEL;
    const int64_t pg = q8r ? CK_PG * CK_KC / kc : p_end - p_first;
    const ck_act *x = X;
    for (int64_t kb = 0; kb < nb; kb += kc) {
        const int64_t kb_end = nb - kb < kc ? nb : kb + kc;
        for (int64_t g0 = p_first; g0 < p_end; g0 += pg) {
            const int64_t g_end = p_end - g0 < pg ? p_end : g0 + pg;
            for (int64_t t0 = 0; t0 < n_tokens; t0 += nt) {
                const int64_t tn = n_tokens - t0 < nt ? n_tokens - t0 : nt;
                for (int64_t p = g0; p < g_end; p++) {
                    const int64_t row0 = p * CK_PANEL;
                    const int lo = (int)(row_begin > row0 ? row_begin - row0 : 0);
                    const int hi = (int)(row_end - row0 < CK_PANEL ? row_end - row0 : CK_PANEL);
                    const ck_act *xt = fmt == CK_FMT_Q8R ? (const ck_act *)(const void *)ck_q8r_group(X, nb / CK_Q8R_BLOCKS, t0, 0)
                                                         : x + t0 * nb;
                    // What to prefetch meanwhile (Q8_R AVX-512) is the next weights touched for
                    // the first time: the next panel of the group; after the group's last panel
                    // in the last token block, the next group's first panel, or after the
                    // range's last group the range's first panel at the next chunk of k.
                    // (Before another token block the group is already in L2.)
                    int64_t pf_panel = -1, pf_kb = kb, pf_kb_end = kb_end;
                    if (p + 1 < g_end) pf_panel = p + 1;
                    else if (t0 + tn >= n_tokens) {
                        if (g_end < p_end) pf_panel = g_end;
                        else if (kb_end < nb) {
                            pf_panel = p_first;
                            pf_kb = kb_end;
                            pf_kb_end = nb - kb_end < kc ? nb : kb_end + kc;
                        }
                    }
                    const uint8_t *pf = q8r && pf_panel >= 0
                        ? P + (size_t)pf_panel * pb + ck_panel_head_bytes(fmt, nb) + (size_t)pf_kb * CK_Q8_PANEL_BLOCK
                        : NULL;
                    fn(fmt, P + (size_t)p * pb, nb, kb, kb_end, xt, tn, Y + t0 * ldy + row0, ldy, lo, hi,
                       pf, pf ? (size_t)(pf_kb_end - pf_kb) * CK_Q8_PANEL_BLOCK : 0);
                }
            }
        }
    }
}

// The packed format of `type` if the call has work and valid arguments, else -1.
static int packed_call_format(ck_type type, int64_t k, int64_t n_tokens, int64_t row_begin, int64_t row_end) {
    const int fmt = packed_format(type);
    if (row_end <= row_begin || n_tokens <= 0 || row_begin < 0 || fmt < 0) return -1;
    if (fmt == CK_FMT_Q8R && k % CK_Q8R_GROUP != 0) return -1;
    return fmt;
}

void ck_matmul_packed(ck_type type, const void *P, int64_t k,
                      const void *X, int64_t n_tokens,
                      float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    const int fmt = packed_call_format(type, k, n_tokens, row_begin, row_end);
    if (fmt >= 0) run_panels(panel_kernel(fmt), fmt, P, k / CK_QK, X, n_tokens, Y, ldy, row_begin, row_end);
}

void ck_matmul_packed_ref(ck_type type, const void *P, int64_t k,
                          const void *X, int64_t n_tokens,
                          float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    const int fmt = packed_call_format(type, k, n_tokens, row_begin, row_end);
    if (fmt >= 0)
        run_panels(fmt == CK_FMT_Q8R ? ck_panel_q8r_ref : ck_panel_ref, fmt, P, k / CK_QK, X, n_tokens, Y, ldy, row_begin, row_end);
}

void ck_matmul(ck_type type, const void *W, int64_t k,
               const void *X, int64_t n_tokens,
               float *Y, int64_t ldy, int64_t row_begin, int64_t row_end) {
    if (row_end <= row_begin || n_tokens <= 0 || row_begin < 0 || type == CK_TYPE_Q8_R) return;
    const ck_panel_fn fn = panel_kernel(CK_FMT_Q8);
    if ((type != CK_TYPE_Q4_0 && type != CK_TYPE_Q8_0) || fn == ck_panel_ref) {
        ck_matmul_ref(type, W, k, X, n_tokens, Y, ldy, row_begin, row_end);
        return;
    }
    // Weights in ggml layout (not packed at load): pack one panel at a time into scratch.
    const int q4 = type == CK_TYPE_Q4_0;
    const int64_t nb = k / CK_QK;
    uint8_t *panel = aligned_alloc(64, ck_panel_bytes(q4, nb));
    if (!panel) { // out of memory: the reference needs no scratch
        ck_matmul_ref(type, W, k, X, n_tokens, Y, ldy, row_begin, row_end);
        return;
    }
    for (int64_t r0 = row_begin; r0 < row_end; r0 += CK_PANEL) {
        const int nrows = (int)(row_end - r0 < CK_PANEL ? row_end - r0 : CK_PANEL);
        ck_pack_panel(q4, W, nb, r0, nrows, panel);
        for (int64_t kb = 0; kb < nb; kb += CK_KC)
            fn(q4, panel, nb, kb, nb - kb < CK_KC ? nb : kb + CK_KC, (const ck_act *)X, n_tokens, Y + r0, ldy, 0, nrows,
               NULL, 0);
    }
    free(panel);
}
