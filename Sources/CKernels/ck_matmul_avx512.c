// AVX-512 VNNI kernels for the packed panels (ck_internal.h), compiled with per-function
// target attributes and called only after a run-time CPU check (ck_cpu.c).
//
// Why a second SIMD level: on CPUs with AVX-512 VNNI (Intel Ice Lake and later, AMD Zen 4
// and later) one vpdpbusd multiplies 64 unsigned x signed byte pairs and adds them in groups
// of 4 into 16 int32 lanes: 64 MACs per instruction, where AVX2 needs vpmaddubsw + vpmaddwd
// (or vpaddw) for 32. It also makes Q8_0 as cheap as Q4_0: the panel stores w + 128
// (unsigned), and the activations carry -128 * sum(x) (ck_act.corr), so signed x signed
// needs no sign trick and no widening.
//
// The tile: one panel = 16 rows = one zmm (32-bit lane = row, 4 consecutive k per lane) for T
// tokens. Per block of 32 k, each token's int32 accumulator starts at its correction and gets
// 8 vpdpbusd (Q4_0: 4 chunks of 64 B, low nibbles = elements 4c.., high = 16+4c.., unpacked
// with and / shift, each reused for T tokens); then it is converted and FMA'd with
// d_w (16 lanes, fp16 in the panel) * d_x (broadcast) into the f32 accumulator. The
// activation values are broadcast straight from memory as vpdpbusd's second operand. The
// exact integer part never overflows: |sum| <= 32 * 255 * 128 per block.
#include "ck_internal.h"

#if defined(__x86_64__)

#include <immintrin.h>

#ifndef CK_T512
#define CK_T512 10 // tokens per tile: 10 independent vpdpbusd chains (latency 5, 2 per cycle)
#endif
#define CK_T512MAX 12

static inline int32_t load_i32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

// 16 rows x T tokens over blocks [kb0, kb0 + kc); lanes outside `mask` are neither loaded nor stored.
// `next`: the panel after this one (same layout), whose blocks [kb0, kb0 + kc) are prefetched
// into L2 while this tile runs (NULL: no prefetch). The weights stream from DRAM once per
// forward pass and the hardware prefetchers stop at 4 KB pages, so without this the first
// token tile of every panel chunk waits on memory.
CK_INLINE512 void tile512(const uint8_t *panel, const uint8_t *next, size_t sbytes, int64_t kb0, int kc, const ck_act *x,
                          int64_t nb, float *y, int64_t ldy, __mmask16 mask, int first, const int q4, const int T) {
    __m512 acc[CK_T512MAX];
    for (int t = 0; t < T; t++)
        acc[t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, y + t * ldy);
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    const size_t qb = q4 ? CK_Q4_PANEL_BLOCK : CK_Q8_PANEL_BLOCK;
    for (int64_t b = kb0; b < kb0 + kc; b++) {
        const uint8_t *q = panel + sbytes + (size_t)b * qb;
        const ck_act *xb = x + b;
        if (next) {
            const uint8_t *nq = next + sbytes + (size_t)b * qb;
            for (size_t line = 0; line < qb; line += 64) _mm_prefetch((const char *)(nq + line), _MM_HINT_T1);
            if ((b & 1) == 0) _mm_prefetch((const char *)(next + (size_t)b * 32), _MM_HINT_T1);
        }
        __m512i isum[CK_T512MAX];
        for (int t = 0; t < T; t++) isum[t] = _mm512_set1_epi32(xb[t * nb].corr);
        if (q4) {
            for (int c = 0; c < 4; c++) {
                const __m512i v = _mm512_load_si512((const void *)(q + 64 * c));
                const __m512i lo = _mm512_and_si512(v, m0f);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
                for (int t = 0; t < T; t++) {
                    isum[t] = _mm512_dpbusd_epi32(isum[t], lo, _mm512_set1_epi32(load_i32(xb[t * nb].qs + 4 * c)));
                    isum[t] = _mm512_dpbusd_epi32(isum[t], hi, _mm512_set1_epi32(load_i32(xb[t * nb].qs + 16 + 4 * c)));
                }
            }
        } else {
            for (int s = 0; s < 8; s++) {
                const __m512i w = _mm512_load_si512((const void *)(q + 64 * s));
                for (int t = 0; t < T; t++)
                    isum[t] = _mm512_dpbusd_epi32(isum[t], w, _mm512_set1_epi32(load_i32(xb[t * nb].qs + 4 * s)));
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(panel + (size_t)b * 32)));
        for (int t = 0; t < T; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(xb[t * nb].d)), acc[t]);
    }
    for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(y + t * ldy, mask, acc[t]);
}

typedef void (*tile512_fn)(const uint8_t *, const uint8_t *, size_t, int64_t, int, const ck_act *, int64_t, float *,
                           int64_t, __mmask16, int);

#define TILE512(Q, T)                                                                                        \
    CK_512 static void t512_##Q##_##T(const uint8_t *panel, const uint8_t *next, size_t sbytes, int64_t kb0,   \
                                      int kc, const ck_act *x, int64_t nb, float *y, int64_t ldy,             \
                                      __mmask16 mask, int first) {                                            \
        tile512(panel, next, sbytes, kb0, kc, x, nb, y, ldy, mask, first, Q, T);                               \
    }
#define TILE512_ALL(Q) \
    TILE512(Q, 1) TILE512(Q, 2) TILE512(Q, 3) TILE512(Q, 4) TILE512(Q, 5) TILE512(Q, 6) \
    TILE512(Q, 7) TILE512(Q, 8) TILE512(Q, 9) TILE512(Q, 10) TILE512(Q, 11) TILE512(Q, 12)
TILE512_ALL(0)
TILE512_ALL(1)

CK_512 void ck_panel_avx512vnni(int q4, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                                const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes) {
    (void)pf, (void)pf_bytes; // the Q8_R AVX-512 kernel's prefetch plan (ck_matmul.c)
    static const tile512_fn tq8[CK_T512MAX + 1] = {0, t512_0_1, t512_0_2, t512_0_3, t512_0_4, t512_0_5, t512_0_6,
                                                   t512_0_7, t512_0_8, t512_0_9, t512_0_10, t512_0_11, t512_0_12};
    static const tile512_fn tq4[CK_T512MAX + 1] = {0, t512_1_1, t512_1_2, t512_1_3, t512_1_4, t512_1_5, t512_1_6,
                                                   t512_1_7, t512_1_8, t512_1_9, t512_1_10, t512_1_11, t512_1_12};
    const tile512_fn *tab = q4 ? tq4 : tq8;
    const size_t sbytes = ck_panel_scale_bytes(nb);
    const __mmask16 mask = (__mmask16)(((1u << lane_hi) - 1u) & ~((1u << lane_lo) - 1u));
    const int kc = (int)(kb_end - kb_begin);
    // Prefetching past the last panel is harmless (prefetches never fault).
    const uint8_t *next = panel + ck_panel_bytes(q4, nb);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += CK_T512) {
        const int T = (int)(n_tokens - t0 < CK_T512 ? n_tokens - t0 : CK_T512);
        tab[T](panel, t0 == 0 ? next : NULL, sbytes, kb_begin, kc, X + t0 * nb, nb, y + t0 * ldy, ldy, mask, kb_begin == 0);
    }
}

// ---- CK_TYPE_Q8_R: per-row int8 weights, activations with one scale per 128 -------------
//
// Why a format: with Q8_0/Q4_0 every 32-block of every (row, token) needs its own float
// scaling (convert, scale product, FMA: 3 ops per 8 vpdpbusd on the same two vector ports),
// which caps the tile at ~73-79% of the vpdpbusd rate. With one weight scale per row and one
// activation scale per 128, a group is 32 vpdpbusd into one int32 accumulator, then convert
// and one FMA with the broadcast group scale (2 ops per 32); the row scale is applied once per
// chunk of k, at the store. |isum| <= 128 * 255 * 128 per group: exact.
// T <= CK_Q8R_TILE tokens of one activation tile: 12 int32 + 12 f32 accumulators and the
// weight vector fit the 32 registers (14 spilled: -55%); 12 chains instead of 10 keep both
// vpdpbusd ports busy despite its latency (5).
// `pf`, `pf_lines`: cache lines of the next panel to prefetch into L2 during this tile, spread
// evenly over its groups (the panel driver gives each tile of a panel its share).
CK_INLINE512 void tile512_q8r(const uint8_t *panel, const uint8_t *pf, int pf_lines, int64_t kb0, int kc, const uint8_t *xt,
                              int64_t ng, float *y, int64_t ldy, __mmask16 mask, int first, const int T) {
    __m512 acc[CK_Q8R_TILE];
    for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b0 = kb0; b0 < kb0 + kc; b0 += CK_Q8R_BLOCKS) {
        const uint8_t *q = panel + 64 + (size_t)b0 * CK_Q8_PANEL_BLOCK;
        const uint8_t *grp = xt + (size_t)(b0 / CK_Q8R_BLOCKS) * CK_Q8R_GROUP_BYTES;
        (void)ng;
        if (pf_lines > 0) { // this group's share of the tile's prefetch lines
            const int groups = (kc + CK_Q8R_BLOCKS - 1) / CK_Q8R_BLOCKS, g = (int)((b0 - kb0) / CK_Q8R_BLOCKS);
            const int l0 = pf_lines * g / groups, l1 = pf_lines * (g + 1) / groups;
            for (int line = l0; line < l1; line++) _mm_prefetch((const char *)(pf + 64 * (size_t)line), _MM_HINT_T1);
        }
        __m512i isum[CK_Q8R_TILE];
        for (int t = 0; t < T; t++) isum[t] = _mm512_set1_epi32(load_i32(grp + 4 * CK_Q8R_TILE + 4 * t));
        for (int quad = 0; quad < CK_Q8R_GROUP / 4; quad++) {
            // quad 8b + s of the group: chunk s of block b0 + b
            const __m512i w = _mm512_load_si512((const void *)(q + 64 * quad));
            const uint8_t *xq = grp + 8 * CK_Q8R_TILE + quad * CK_Q8R_QUAD_STRIDE;
            for (int t = 0; t < T; t++) isum[t] = _mm512_dpbusd_epi32(isum[t], w, _mm512_set1_epi32(load_i32(xq + 4 * t)));
        }
        for (int t = 0; t < T; t++) {
            float d;
            memcpy(&d, grp + 4 * t, 4);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_set1_ps(d), acc[t]);
        }
    }
    const __m512 dw = _mm512_load_ps((const void *)panel);
    for (int t = 0; t < T; t++) {
        const __m512 v = first ? _mm512_mul_ps(acc[t], dw)
                               : _mm512_fmadd_ps(acc[t], dw, _mm512_maskz_loadu_ps(mask, y + t * ldy));
        _mm512_mask_storeu_ps(y + t * ldy, mask, v);
    }
}

typedef void (*tile512r_fn)(const uint8_t *, const uint8_t *, int, int64_t, int, const uint8_t *, int64_t, float *,
                            int64_t, __mmask16, int);
#define TILE512R(T)                                                                                              \
    CK_512 static void t512r_##T(const uint8_t *panel, const uint8_t *pf, int pf_lines, int64_t kb0, int kc,       \
                                 const uint8_t *xt, int64_t ng, float *y, int64_t ldy, __mmask16 mask, int first) { \
        tile512_q8r(panel, pf, pf_lines, kb0, kc, xt, ng, y, ldy, mask, first, T);                                 \
    }
TILE512R(1) TILE512R(2) TILE512R(3) TILE512R(4) TILE512R(5) TILE512R(6)
TILE512R(7) TILE512R(8) TILE512R(9) TILE512R(10) TILE512R(11) TILE512R(12)
_Static_assert(CK_Q8R_TILE == 12, "one tile function per token count");

CK_512 void ck_panel_q8r_avx512vnni(int fmt, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                                    const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes) {
    (void)fmt;
    static const tile512r_fn tab[CK_Q8R_TILE + 1] = {0, t512r_1, t512r_2, t512r_3, t512r_4, t512r_5, t512r_6,
                                                     t512r_7, t512r_8, t512r_9, t512r_10, t512r_11, t512r_12};
    const __mmask16 mask = (__mmask16)(((1u << lane_hi) - 1u) & ~((1u << lane_lo) - 1u));
    const int kc = (int)(kb_end - kb_begin);
    const int64_t ng = nb / CK_Q8R_BLOCKS;
    // The next panel's lines, spread over all token tiles of this one: issued in one burst in
    // the first tile (as before), 256 lines of a 16 KB chunk overran the core's line fill
    // buffers and stalled that tile on DRAM latency; spread, they go at the rate compute uses them.
    const int64_t tiles = (n_tokens + CK_Q8R_TILE - 1) / CK_Q8R_TILE, lines = pf ? (int64_t)((pf_bytes + 63) / 64) : 0;
    for (int64_t t0 = 0, i = 0; t0 < n_tokens; t0 += CK_Q8R_TILE, i++) {
        const int T = (int)(n_tokens - t0 < CK_Q8R_TILE ? n_tokens - t0 : CK_Q8R_TILE);
        const int64_t l0 = lines * i / tiles, l1 = lines * (i + 1) / tiles;
        tab[T](panel, pf ? pf + 64 * l0 : NULL, (int)(l1 - l0), kb_begin, kc, ck_q8r_group(X, ng, t0, 0), ng, y + t0 * ldy, ldy,
               mask, kb_begin == 0);
    }
}

// Q8_R activations with AVX-512 (bit-identical to ck_prepare_q8r_ref, as the AVX2 one is).
// Why: the AVX2 quantizer was ~3.4% of a 64-token forward pass (perf, 1B Q8_R); a 128-value
// group is 8 zmm here (amax, scale, round half away from zero, vpmovsdb to 16 bytes = 4 quads)
// where AVX2 needed 16 ymm, a pack/permute chain and a scratch copy per 32-block.
CK_512 void ck_prepare_q8r_avx512(const float *x, int64_t ldx, int64_t k, int64_t t0, int64_t n, void *X) {
    const int64_t ng = k / CK_Q8R_GROUP;
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    const __m512i signbit = _mm512_set1_epi32((int)0x80000000u);
    for (int64_t i = 0; i < n; i++) {
        const int64_t t = t0 + i;
        for (int64_t g = 0; g < ng; g++) {
            const float *xg = x + i * ldx + g * CK_Q8R_GROUP;
            uint8_t *grp = ck_q8r_group(X, ng, t, g);
            __m512 v[CK_Q8R_GROUP / 16];
            __m512 m = _mm512_setzero_ps();
            for (int j = 0; j < CK_Q8R_GROUP / 16; j++) {
                v[j] = _mm512_loadu_ps(xg + 16 * j);
                m = _mm512_max_ps(m, _mm512_abs_ps(v[j]));
            }
            const float d = _mm512_reduce_max_ps(m) / 127.0f;
            const __m512 vid = _mm512_set1_ps(ck_q8r_inverse(d));
            __m512i sum = _mm512_setzero_si512();
            for (int j = 0; j < CK_Q8R_GROUP / 16; j++) {
                const __m512 s = _mm512_mul_ps(v[j], vid);
                const __m512 tr = _mm512_roundscale_ps(s, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
                const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(s, tr)), half, _CMP_GE_OQ);
                // +-1 with the sign of s where the fraction is at least one half (roundf).
                const __m512 step = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(one),
                                                                        _mm512_and_si512(_mm512_castps_si512(s), signbit)));
                const __m512i q = _mm512_cvttps_epi32(_mm512_mask_add_ps(tr, up, tr, step));
                const __m128i b = _mm512_cvtsepi32_epi8(q); // saturating, as the reference's int8 store
                sum = _mm512_add_epi32(sum, _mm512_cvtepi8_epi32(b));
                int32_t lanes[4];
                _mm_storeu_si128((__m128i *)(void *)lanes, b);
                for (int qq = 0; qq < 4; qq++) memcpy(ck_q8r_quad(grp, t, 4 * j + qq), &lanes[qq], 4);
            }
            *ck_q8r_d(grp, t) = d;
            *ck_q8r_corr(grp, t) = -128 * _mm512_reduce_add_epi32(sum);
        }
    }
}

#endif
