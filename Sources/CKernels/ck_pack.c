// Packed weight panels: the layout the SIMD kernels read (ck_internal.h), written once per
// matrix at model load so that no matrix multiply repacks weights again, plus the scalar
// panel kernel that is the reference of the packed path.
//
// Why this layout: the kernels compute 16 rows (AVX-512: one vector, 32-bit lane = row;
// AVX2: two vectors of 8 rows) for a few tokens at a time, 4 consecutive k per lane, so the
// weights are needed as "16 rows x 4 k" vectors. ggml stores each row's block contiguously;
// transposing 4-byte groups of 16 rows gives exactly those vectors with plain loads. The
// packed matrix has the size of the ggml one (fp16 scales, Q4_0 nibbles kept packed), so
// keeping it instead of the file's pages costs no memory.
#include "ck_internal.h"

#include <math.h>
#include <stdlib.h>

static int is_packed_type(ck_type type) { return type == CK_TYPE_Q4_0 || type == CK_TYPE_Q8_0; }

static int panel_format(ck_type type) {
    return type == CK_TYPE_Q4_0 ? CK_FMT_Q4 : type == CK_TYPE_Q8_R ? CK_FMT_Q8R : CK_FMT_Q8;
}

size_t ck_packed_size(ck_type type, int64_t rows, int64_t k) {
    if (!(is_packed_type(type) || type == CK_TYPE_Q8_R) || rows < 0 || k < 0 || k % CK_QK != 0) return 0;
    if (type == CK_TYPE_Q8_R && k % CK_Q8R_GROUP != 0) return 0;
    const int64_t nb = k / CK_QK;
    const int64_t panels = rows / CK_PANEL + (rows % CK_PANEL != 0);
    size_t per = 0, total = 0;
    // nb * 512 + 64 cannot overflow for nb < 2^53; the product with the panel count can.
    per = ck_panel_bytes(panel_format(type), nb);
    if (__builtin_mul_overflow((size_t)panels, per, &total)) return 0;
    return total;
}

void ck_pack_panel(int q4, const void *W, int64_t nb, int64_t row0, int nrows, uint8_t *panel) {
    const size_t sbytes = ck_panel_scale_bytes(nb), qb = ck_panel_block_bytes(q4);
    if (nrows < CK_PANEL) memset(panel, 0, ck_panel_bytes(q4, nb)); // missing rows: zero scales
    else memset(panel + (size_t)nb * 32, 0, sbytes - (size_t)nb * 32); // the scales' padding
    // Row by row, block by block: each ggml row is read sequentially (the file side is the
    // one that comes from DRAM); the 4-byte groups go to their lanes.
    for (int r = 0; r < nrows; r++) {
        if (q4) {
            const ck_block_q4_0 *blk = (const ck_block_q4_0 *)W + (row0 + r) * nb;
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *q = panel + sbytes + (size_t)b * qb + 4 * r;
                uint32_t g[4];
                memcpy(g, blk[b].qs, 16);
                for (int c = 0; c < 4; c++) memcpy(q + 64 * c, &g[c], 4);
                memcpy(panel + (size_t)b * 32 + 2 * r, &blk[b].d, 2);
            }
        } else {
            const ck_block_q8_0 *blk = (const ck_block_q8_0 *)W + (row0 + r) * nb;
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *q = panel + sbytes + (size_t)b * qb + 4 * r;
                uint32_t g[8];
                memcpy(g, blk[b].qs, 32);
                for (int s = 0; s < 8; s++) {
                    const uint32_t w = g[s] ^ 0x80808080u; // w + 128 in each byte
                    memcpy(q + 64 * s, &w, 4);
                }
                memcpy(panel + (size_t)b * 32 + 2 * r, &blk[b].d, 2);
            }
        }
    }
    // Missing rows keep value 0: nibble 8 (Q4_0) / byte 128 (Q8_0), with a zero scale.
    for (int r = nrows; r < CK_PANEL; r++) {
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *q = panel + sbytes + (size_t)b * qb + 4 * r;
            const uint32_t zero = q4 ? 0x88888888u : 0x80808080u;
            for (int c = 0; c < (q4 ? 4 : 8); c++) memcpy(q + 64 * c, &zero, 4);
        }
    }
}

void ck_pack_weights(ck_type type, const void *W, int64_t rows, int64_t k,
                     int64_t panel_begin, int64_t panel_end, void *out) {
    if (!is_packed_type(type) || rows <= 0 || k <= 0 || k % CK_QK != 0) return;
    const int q4 = type == CK_TYPE_Q4_0;
    const int64_t nb = k / CK_QK;
    const int64_t panels = rows / CK_PANEL + (rows % CK_PANEL != 0);
    if (panel_begin < 0) panel_begin = 0;
    if (panel_end > panels) panel_end = panels;
    const size_t pb = ck_panel_bytes(q4, nb);
    for (int64_t p = panel_begin; p < panel_end; p++) {
        const int64_t row0 = p * CK_PANEL;
        const int nrows = (int)(rows - row0 < CK_PANEL ? rows - row0 : CK_PANEL);
        ck_pack_panel(q4, W, nb, row0, nrows, (uint8_t *)out + (size_t)p * pb);
    }
}

// Per-row int8 (CK_TYPE_Q8_R): the row is widened to f32 (ck_dequantize_row) and quantized
// with one scale, d = amax / 127, q = roundf(w / d) (as ggml's Q8_0 quantizer, over the row).
void ck_pack_weights_q8r(ck_type src_type, const void *W, int64_t rows, int64_t k,
                         int64_t panel_begin, int64_t panel_end, void *out) {
    if (rows <= 0 || k <= 0 || k % CK_Q8R_GROUP != 0) return;
    const size_t src_row = ck_row_size(src_type, k);
    if (src_row == 0) return;
    const int64_t nb = k / CK_QK;
    const int64_t panels = rows / CK_PANEL + (rows % CK_PANEL != 0);
    if (panel_begin < 0) panel_begin = 0;
    if (panel_end > panels) panel_end = panels;
    const size_t pb = ck_panel_bytes(CK_FMT_Q8R, nb);
    float *row = malloc((size_t)k * sizeof(float));
    int8_t *qrow = malloc((size_t)k);
    if (!row || !qrow) {
        free(row);
        free(qrow);
        return;
    }
    for (int64_t p = panel_begin; p < panel_end; p++) {
        uint8_t *panel = (uint8_t *)out + (size_t)p * pb;
        memset(panel, 0, 64); // missing rows: zero scales
        for (int r = 0; r < CK_PANEL; r++) {
            const int64_t src = p * CK_PANEL + r;
            float d = 0.0f, id = 0.0f;
            if (src < rows) {
                ck_dequantize_row(src_type, (const uint8_t *)W + (size_t)src * src_row, row, k);
                float amax = 0.0f;
                for (int64_t i = 0; i < k; i++) amax = fmaxf(amax, fabsf(row[i]));
                d = amax / 127.0f;
                id = ck_q8r_inverse(d);
            }
            memcpy(panel + 4 * r, &d, 4);
            if (src >= rows) memset(qrow, 0, (size_t)k);
#if defined(__x86_64__)
            else if (ck_use_avx2()) ck_quantize_q8r_row_avx2(row, k, id, qrow);
#endif
            else
                for (int64_t i = 0; i < k; i++) qrow[i] = (int8_t)roundf(row[i] * id); // half away from zero
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *q = panel + 64 + (size_t)b * CK_Q8_PANEL_BLOCK + 4 * r;
                for (int j = 0; j < CK_QK; j++) q[64 * (j / 4) + (j & 3)] = (uint8_t)(qrow[b * CK_QK + j] + 128);
            }
        }
    }
    free(row);
    free(qrow);
}

void ck_panel_q8r_ref(int fmt, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                      const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes) {
    (void)pf, (void)pf_bytes; // the Q8_R AVX-512 kernel's prefetch plan (ck_matmul.c)
    (void)fmt;
    const int64_t ng = nb / CK_Q8R_BLOCKS;
    for (int r = lane_lo; r < lane_hi; r++) {
        float dw;
        memcpy(&dw, panel + 4 * r, 4);
        for (int64_t t = 0; t < n_tokens; t++) {
            float sum = 0.0f;
            for (int64_t g = kb_begin / CK_Q8R_BLOCKS; g < kb_end / CK_Q8R_BLOCKS; g++) {
                uint8_t *grp = ck_q8r_group(X, ng, t, g);
                int32_t isum = 0;
                for (int j = 0; j < CK_Q8R_GROUP; j++) {
                    const int64_t b = g * CK_Q8R_BLOCKS + j / CK_QK;
                    const int jb = j % CK_QK;
                    const uint8_t w = panel[64 + (size_t)b * CK_Q8_PANEL_BLOCK + 64 * (jb / 4) + 4 * r + (jb & 3)];
                    isum += ((int32_t)w - 128) * (int32_t)ck_q8r_quad(grp, t, j / 4)[j % 4];
                }
                sum += *ck_q8r_d(grp, t) * (float)isum;
            }
            y[t * ldy + r] = kb_begin == 0 ? dw * sum : y[t * ldy + r] + dw * sum;
        }
    }
}

// Signed weight value of (lane r, element j) of block b of a packed panel.
static inline int32_t panel_weight(int q4, const uint8_t *quants, int r, int j) {
    if (q4) {
        const int c = (j & 15) / 4;
        const uint8_t byte = quants[64 * c + 4 * r + (j & 3)];
        return (int32_t)(j < 16 ? byte & 0x0f : byte >> 4) - 8;
    }
    return (int32_t)quants[64 * (j / 4) + 4 * r + (j & 3)] - 128;
}

void ck_panel_ref(int q4, const uint8_t *panel, int64_t nb, int64_t kb_begin, int64_t kb_end,
                  const ck_act *X, int64_t n_tokens, float *y, int64_t ldy, int lane_lo, int lane_hi,
                            const uint8_t *pf, size_t pf_bytes) {
    (void)pf, (void)pf_bytes; // the Q8_R AVX-512 kernel's prefetch plan (ck_matmul.c)
    const size_t sbytes = ck_panel_scale_bytes(nb), qb = ck_panel_block_bytes(q4);
    for (int r = lane_lo; r < lane_hi; r++) {
        for (int64_t t = 0; t < n_tokens; t++) {
            const ck_act *x = X + t * nb;
            float sum = kb_begin == 0 ? 0.0f : y[t * ldy + r];
            for (int64_t b = kb_begin; b < kb_end; b++) {
                const uint8_t *quants = panel + sbytes + (size_t)b * qb;
                int32_t isum = 0;
                for (int j = 0; j < CK_QK; j++) isum += panel_weight(q4, quants, r, j) * (int32_t)x[b].qs[j];
                ck_fp16 d;
                memcpy(&d, panel + (size_t)b * 32 + 2 * r, 2);
                // The order and rounding of ck_matmul_ref: bit-identical results.
                sum += (ck_fp16_to_fp32(d) * x[b].d) * (float)isum;
            }
            y[t * ldy + r] = sum;
        }
    }
}
