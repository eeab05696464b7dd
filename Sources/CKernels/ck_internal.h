// Internal declarations shared by the CKernels translation units (not part of the contract).
#ifndef DUOGUARD_CK_INTERNAL_H
#define DUOGUARD_CK_INTERNAL_H

#include "CKernels.h"

#include <float.h>
#include <string.h>

// No FMA contraction of separate multiplies and adds anywhere in CKernels: the scalar
// references are the oracles (bit-identical RoPE/RMSNorm, packed vs ggml-layout reference),
// so their rounding must not depend on compiler flags. (The package also passes
// -ffp-contract=off; this keeps the sources right without it.) SIMD code states its FMAs
// explicitly.
#pragma STDC FP_CONTRACT OFF

// ---- internal activation layout (see docs/kernels.md) -----------------------------------
//
// For Q8_0 and Q4_0 weights each token row of X is `k / 32` blocks of ck_act: the Q8_0 block
// of the activations (scale widened to f32, the same value as the fp16 ggml stores) plus a
// precomputed correction that lets the kernels multiply *unsigned* weights:
//   Q4_0: the nibble n is stored, value n - 8:   sum((n - 8) x)   = sum(n x) + corr, corr = -8 sum(x)
//   Q8_0: w + 128 is stored (packed panels):      sum(w x)         = sum((w + 128) x) + corr, corr = -128 sum(x)
// The scalar reference ignores `corr` for Q8_0 weights in ggml layout (it multiplies w directly).
typedef struct {
    float d;          // fp16-rounded scale, as f32
    int32_t corr;     // -8 * sum(qs) (Q4_0 weights) or -128 * sum(qs) (Q8_0 weights)
    int8_t qs[CK_QK]; // Q8_0 quants, element order
} ck_act;

// ---- packed weight panels (see docs/kernels.md and ck_pack.c) --------------------------
//
// A packed Q8_0/Q4_0 matrix is a sequence of panels of CK_PANEL rows (the last one padded
// with zero scales). A panel is the 16 rows' fp16 scales, block after block (32 B per block,
// row r at 2r), padded to a multiple of 64 B, then the quants, block after block:
//   Q4_0: 4 chunks of 64 B; chunk c holds, for row r at 4r..4r+3, the ggml bytes
//         qs[4c..4c+3] of that row's block: low nibbles are elements 4c..4c+3, high nibbles
//         elements 16+4c..16+4c+3 (both unsigned 0..15, value - 8).
//   Q8_0: 8 chunks of 64 B; chunk s holds, for row r at 4r..4r+3, elements 4s..4s+3 of that
//         row's block plus 128 (unsigned 0..255).
// So one 64-byte load is one vector of 16 rows x 4 consecutive k (row = 32-bit lane) for
// AVX-512, and each 32-byte half is rows 0-7 / 8-15 for AVX2.
#define CK_PANEL 16
// Panel formats of the kernels (ck_panel_fn's `fmt`): 0 and 1 keep the old meaning of the
// `q4` flag. CK_FMT_Q8R (CK_TYPE_Q8_R): the 16 rows' f32 scales (64 B), then the quants
// block after block exactly as Q8_0's (8 chunks of 64 B, w + 128).
enum { CK_FMT_Q8 = 0, CK_FMT_Q4 = 1, CK_FMT_Q8R = 2 };
#define CK_Q8R_BLOCKS (CK_Q8R_GROUP / CK_QK)

// ---- CK_TYPE_Q8_R activations: token tiles ----------------------------------------------
//
// The tokens are stored in tiles of CK_Q8R_TILE (the AVX-512 kernel's token count), so that
// every activation operand of a kernel tile is at a constant offset from one pointer: with a
// token stride known only at run time the compiler computed the 12 addresses with a serial
// chain of adds and spilled, which cost ~10% of the tile. A tile is the k / CK_Q8R_GROUP
// groups of its tokens; a group is
//   float d[12]      the group's scale of slot s (amax / 127, not fp16-rounded),
//   int32 corr[12]   -128 * sum of its quants (the kernels multiply w + 128),
//   int8  qs[32][12][4]  quad q (elements 4q..4q+3) of slot s at 96 + 48q + 4s.
// Slots past the last token of a partial tile are never read or written.
#define CK_Q8R_TILE 12
#define CK_Q8R_GROUP_BYTES (CK_Q8R_TILE * 8 + CK_Q8R_GROUP * CK_Q8R_TILE)
#define CK_Q8R_QUAD_STRIDE (4 * CK_Q8R_TILE)
static inline uint8_t *ck_q8r_group(const void *X, int64_t ng, int64_t t, int64_t g) {
    return (uint8_t *)X + ((size_t)(t / CK_Q8R_TILE) * (size_t)ng + (size_t)g) * CK_Q8R_GROUP_BYTES;
}
static inline float *ck_q8r_d(uint8_t *group, int64_t t) { return (float *)(void *)group + t % CK_Q8R_TILE; }
static inline int32_t *ck_q8r_corr(uint8_t *group, int64_t t) {
    return (int32_t *)(void *)(group + 4 * CK_Q8R_TILE) + t % CK_Q8R_TILE;
}
static inline int8_t *ck_q8r_quad(uint8_t *group, int64_t t, int q) {
    return (int8_t *)group + 8 * CK_Q8R_TILE + q * CK_Q8R_QUAD_STRIDE + 4 * (t % CK_Q8R_TILE);
}
// 1 / d for a Q8_R scale d = amax / 127 (weights and activations, every level): 0 when d is 0
// or below FLT_MIN, whose inverse can overflow to inf (then x * id is inf or NaN and its int8
// conversion undefined). Such a group's values are below 127 * FLT_MIN, and quantize to 0.
static inline float ck_q8r_inverse(float d) { return d >= FLT_MIN ? 1.0f / d : 0.0f; }
#define CK_Q4_PANEL_BLOCK 256
#define CK_Q8_PANEL_BLOCK 512

static inline size_t ck_panel_scale_bytes(int64_t nb) { return ((size_t)nb * 32 + 63) / 64 * 64; }
static inline size_t ck_panel_block_bytes(int fmt) { return fmt == CK_FMT_Q4 ? CK_Q4_PANEL_BLOCK : CK_Q8_PANEL_BLOCK; }
// Bytes before the first block's quants.
static inline size_t ck_panel_head_bytes(int fmt, int64_t nb) {
    return fmt == CK_FMT_Q8R ? 64 : ck_panel_scale_bytes(nb);
}
static inline size_t ck_panel_bytes(int fmt, int64_t nb) {
    return ck_panel_head_bytes(fmt, nb) + (size_t)nb * ck_panel_block_bytes(fmt);
}

// Writes one panel from ggml-layout rows: rows [row0, row0 + nrows) of W (nb blocks per row),
// nrows <= CK_PANEL; missing rows get zero scales and zero quants.
void ck_pack_panel(int q4, const void *W, int64_t nb, int64_t row0, int nrows, uint8_t *panel);

// Computes lanes [lane_lo, lane_hi) of one packed panel for all tokens over the blocks
// [kb_begin, kb_end) of k: y[t * ldy + lane] = sum over those blocks of panel[lane, k] * X[t, k]
// when kb_begin == 0, else y[...] += that sum. y points at the panel's lane 0 of token 0.
// The SIMD kernels are called with at most CK_KC blocks at a time (ck_matmul.c runs the
// chunks of k outermost, so a chunk of the activations stays in L2 across all panels).
// [pf, pf + pf_bytes): weights the driver will need next (the next panel's chunk), for the
// kernel to prefetch while it computes this one (NULL, 0: none; only the Q8_R AVX-512 kernel
// uses it, the others keep their own prefetch or none).
typedef void (*ck_panel_fn)(int q4, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                            const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes);

// Blocks of k per chunk: a panel's chunk is 8 KB (Q4_0) / 16 KB (Q8_0), L1-resident while
// all tokens stream through it.
#define CK_KC 32

_Static_assert(sizeof(ck_act) == 40, "ck_act layout");
_Static_assert(sizeof(ck_block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(ck_block_q4_0) == 18, "block_q4_0 layout");

static inline uint32_t ck_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float ck_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// Q8_0 scale of one 32-block exactly as ggml's quantize_row_q8_0_ref: d = amax / 127, id = 1/d.
// Returns d (f32, before fp16 rounding) and writes the quants.
float ck_quantize_block_q8_ref(const float *x, int8_t *qs);

// Scalar activation preparation (the reference layout producer; Q8_R: ck_prepare_q8r_ref).
void ck_prepare_activations_ref(ck_type weight_type, const float *x, int64_t ldx,
                                int64_t k, int64_t n_tokens, void *out);

// ---- Cephes expf, the vector exp of every SIMD level (ck_exp8, ck_exp16) -----------------
// x is clamped to [LO, HI]; x = n ln2 + r with ln2 split in two (LN2_HI + LN2_LO, an exact
// product), exp(r) ~ 1 + r + r^2 (P0 + P1 r + ... + P5 r^5), 2^n built in the exponent bits.
// One set of constants so the AVX2 and AVX-512 versions cannot drift apart.
#define CK_EXP_HI 88.3762626647949f
#define CK_EXP_LO -87.3365478515625f
#define CK_EXP_LOG2E 1.44269504088896341f
#define CK_EXP_LN2_HI 0.693359375f
#define CK_EXP_LN2_LO -2.12194440e-4f
#define CK_EXP_P5 1.9875691500e-4f
#define CK_EXP_P4 1.3981999507e-3f
#define CK_EXP_P3 8.3334519073e-3f
#define CK_EXP_P2 4.1665795894e-2f
#define CK_EXP_P1 1.6666665459e-1f
#define CK_EXP_P0 5.0000001201e-1f

// ---- CPU features and dispatch level (ck_cpu.c: the only place that probes the CPU) ------
enum { CK_IMPL_UNKNOWN = 0, CK_IMPL_SCALAR = 1, CK_IMPL_AVX2 = 2, CK_IMPL_AVX512VNNI = 3 };
// The level every kernel follows (CK_IMPL_*): the best the CPU has, capped by DUOGUARD_KERNELS
// or ck_set_kernels.
int ck_dispatch_level(void);
// 1 when the dispatched implementation has AVX2/FMA (the "avx2" and "avx512vnni" levels),
// for the row-wise kernels, which use AVX2 on both.
int ck_use_avx2(void);
// 1 when the dispatched implementation is "avx512vnni" (AVX-512 F/BW/VL/DQ + VNNI).
int ck_use_avx512(void);

// Per-function target attributes of the SIMD files: each level's functions are compiled for
// exactly what ck_cpu.c checks before choosing that level, so the binary runs on any x86-64.
#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE_AVX2 static inline __attribute__((always_inline)) CK_AVX2
#define CK_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define CK_INLINE512 static inline __attribute__((always_inline)) CK_512

// The scalar panel kernel (same numerics as ck_matmul_ref; ck_pack.c).
// Q8_R activations of tokens [t0, t0 + n) into the tiled buffer X (its start; ck_act is only
// the pointer type there), x at token t0 (ref).
void ck_prepare_q8r_ref(const float *x, int64_t ldx, int64_t k, int64_t t0, int64_t n, void *X);
// The scalar Q8_R panel kernel (ck_pack.c): per group, the exact int32 sum times d_x,
// summed in f32, times the row's scale. For Q8_R, X is the tile of the first token and
// n_tokens counts from there.
void ck_panel_q8r_ref(int fmt, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                      const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes);
void ck_panel_ref(int q4, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                  const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes);

#if defined(__x86_64__)
// ck_ops_avx2.c
void ck_rmsnorm_avx2(const float *x, const float *w, float *y, int64_t n, float eps);
void ck_swiglu_avx2(float *gate, const float *up, int64_t n);
void ck_rope_avx2(float *x, int64_t heads, int64_t d, const float *cs, const float *sn);
void ck_add_avx2(float *x, const float *y, int64_t n);
void ck_attention_avx2(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                       const float *k, const float *v, int64_t ldkv,
                       float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch);
void ck_panel_avx2(int q4, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                   const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes);
void ck_panel_avx512vnni(int q4, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                         const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes);
void ck_panel_q8r_avx2(int fmt, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                       const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes);
void ck_panel_q8r_avx512vnni(int fmt, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                             const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes);
void ck_prepare_activations_avx2(ck_type weight_type, const float *x, int64_t ldx,
                                 int64_t k, int64_t n_tokens, void *out);
void ck_quantize_q8r_row_avx2(const float *x, int64_t n, float id, int8_t *q);
void ck_prepare_q8r_avx2(const float *x, int64_t ldx, int64_t k, int64_t t0, int64_t n, void *X);
void ck_prepare_q8r_avx512(const float *x, int64_t ldx, int64_t k, int64_t t0, int64_t n, void *X);
void ck_rmsnorm_avx512(const float *x, const float *w, float *y, int64_t n, float eps);
void ck_swiglu_avx512(float *gate, const float *up, int64_t n);
// ck_ops_avx512.c; returns 0 for shapes it does not tile (the caller falls back).
int ck_attention_avx512(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                        const float *k, const float *v, int64_t ldkv,
                        float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch);
#endif

#endif
