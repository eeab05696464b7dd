// CKernels: ggml-compatible block formats, quantization and matrix-multiply kernels.
//
// This header is the contract between the C kernels and the Swift `Inference` module.
// Every kernel has a portable scalar reference (`*_ref`), which is the oracle in tests;
// the public entry points dispatch at run time to the fastest implementation the CPU
// supports (AVX2/FMA where present) and fall back to the reference elsewhere.
#ifndef DUOGUARD_CKERNELS_H
#define DUOGUARD_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Elements per quantization block (ggml's QK8_0 / QK4_0).
#define CK_QK 32

/// IEEE half-precision bits.
typedef uint16_t ck_fp16;

/// ggml block_q8_0: 34 bytes; value = d * qs[j].
typedef struct {
    ck_fp16 d;
    int8_t qs[CK_QK];
} ck_block_q8_0;

/// ggml block_q4_0: 18 bytes; element j (j < 16) is the low nibble of qs[j], element j + 16
/// its high nibble; value = d * (nibble - 8).
typedef struct {
    ck_fp16 d;
    uint8_t qs[CK_QK / 2];
} ck_block_q4_0;

/// Tensor element types, numbered as ggml's `ggml_type` (and so as GGUF stores them).
typedef enum {
    CK_TYPE_F32 = 0,
    CK_TYPE_F16 = 1,
    CK_TYPE_Q4_0 = 2,
    CK_TYPE_Q8_0 = 8,
    CK_TYPE_BF16 = 30,
    /// Packed-only compute format (no ggml type, never stored in a file): int8 weights with
    /// one f32 scale per row, made at load from any of the types above
    /// (`ck_pack_weights_q8r`); its activations are int8 with one scale per CK_Q8R_GROUP
    /// elements. Keeps a whole group in int32 inside the kernels (docs/kernels.md).
    CK_TYPE_Q8_R = 1000,
} ck_type;

/// Elements per activation scale of CK_TYPE_Q8_R; its rows must be a multiple of it.
#define CK_Q8R_GROUP 128

// --- scalar conversions ----------------------------------------------------------------
float ck_fp16_to_fp32(ck_fp16 h);
ck_fp16 ck_fp32_to_fp16(float f);          // round to nearest even, as ggml/numpy
float ck_bf16_to_fp32(uint16_t b);

// --- rows ------------------------------------------------------------------------------
/// Bytes used by `n` elements of `type` (`n` a multiple of CK_QK for block types); 0 if unknown type.
size_t ck_row_size(ck_type type, int64_t n);
/// Quantize `n` floats (n % CK_QK == 0) exactly as ggml's reference quantizers do (bit-identical).
void ck_quantize_row_q8_0(const float *x, ck_block_q8_0 *y, int64_t n);
void ck_quantize_row_q4_0(const float *x, ck_block_q4_0 *y, int64_t n);
/// Any supported type -> f32.
void ck_dequantize_row(ck_type type, const void *x, float *y, int64_t n);

// --- matrix multiply -------------------------------------------------------------------
/// Y[t * ldy + r] = sum_k W[r, k] * X[t, k] for t in [0, n_tokens), r in [row_begin, row_end).
///
/// W is `rows x k` row-major in `type` (k % CK_QK == 0 for block types).
/// X (the activations) must be prepared with `ck_prepare_activations` for that weight type:
/// for Q8_0/Q4_0 weights it is the activations quantized to Q8_0 per 32-block (as ggml does),
/// for F32/F16/BF16 weights it is the f32 activations themselves. The byte layout of X is
/// internal to CKernels (docs/kernels.md): only `ck_prepare_activations` writes it, and it is
/// valid for both `ck_matmul` and `ck_matmul_ref` whatever implementation is dispatched.
/// Callers split [0, rows) into ranges across threads; each call touches only its rows of Y.
void ck_matmul(ck_type type, const void *W, int64_t k,
               const void *X, int64_t n_tokens,
               float *Y, int64_t ldy, int64_t row_begin, int64_t row_end);
/// The portable scalar reference of `ck_matmul`: the oracle in tests.
void ck_matmul_ref(ck_type type, const void *W, int64_t k,
                   const void *X, int64_t n_tokens,
                   float *Y, int64_t ldy, int64_t row_begin, int64_t row_end);

// --- packed weights: repacked once, at load, into the kernels' layout -------------------
/// Version of the packed byte layouts below (ck_pack_weights, ck_pack_weights_q8r): bump it
/// whenever the bytes a packer writes change, so that packed copies kept outside the process
/// (files mapped by several workers) are not read with the wrong layout. 1: Q8_0/Q4_0 panels;
/// 2: unchanged Q8_0/Q4_0 panels plus CK_TYPE_Q8_R panels; 3: Q8_R rows whose largest value is
/// below 127 x FLT_MIN store a zero inverse scale (ck_q8r_inverse), so their bytes differ from 2.
/// A stored copy must also be keyed by the packed type of each matrix (WeightFormat: the same
/// file packs as Q8_0 or as Q8_R).
#define CK_PACKED_LAYOUT_VERSION 3

/// Rows per packed panel (docs/kernels.md). Row ranges of `ck_matmul_packed` that start on a
/// multiple of it never compute a neighbour's rows.
#define CK_PANEL_ROWS 16

/// Bytes of the packed copy of a `rows x k` Q8_0/Q4_0 matrix: the same as the ggml layout
/// plus the padding of the last panel (and at most 32 B per panel). 0 for other types,
/// negative sizes, k not a multiple of CK_QK, or a size that overflows.
size_t ck_packed_size(ck_type type, int64_t rows, int64_t k);
/// Packs the panels [panel_begin, panel_end) (panel p = rows 16p..16p+15) of W (ggml layout,
/// `rows x k`) into `out`, the start of a ck_packed_size buffer. Disjoint panel ranges may be
/// packed concurrently. The packed layout is the same whatever implementation is dispatched.
void ck_pack_weights(ck_type type, const void *W, int64_t rows, int64_t k,
                     int64_t panel_begin, int64_t panel_end, void *out);
/// Packs panels [panel_begin, panel_end) of W (`rows x k` in `src_type`: F32/F16/BF16/Q8_0/
/// Q4_0, ggml layout) as CK_TYPE_Q8_R (buffer of ck_packed_size(CK_TYPE_Q8_R, rows, k)):
/// each row is dequantized to f32 and quantized again with d = amax(row) / 127,
/// q = roundf(w / d). Requires k % CK_Q8R_GROUP == 0 (else writes nothing).
void ck_pack_weights_q8r(ck_type src_type, const void *W, int64_t rows, int64_t k,
                         int64_t panel_begin, int64_t panel_end, void *out);
/// `ck_matmul` with packed weights `P` (ck_pack_weights): same contract, same results up to
/// float summation order. Any row range works; ranges starting on a multiple of
/// CK_PANEL_ROWS waste no work.
void ck_matmul_packed(ck_type type, const void *P, int64_t k,
                      const void *X, int64_t n_tokens,
                      float *Y, int64_t ldy, int64_t row_begin, int64_t row_end);
/// The scalar reference of `ck_matmul_packed`: bit-identical to `ck_matmul_ref` on the
/// unpacked weights (same integer sums, same float order).
void ck_matmul_packed_ref(ck_type type, const void *P, int64_t k,
                          const void *X, int64_t n_tokens,
                          float *Y, int64_t ldy, int64_t row_begin, int64_t row_end);

/// CK_TYPE_Q8_R weights exist only packed: `ck_matmul`/`ck_matmul_ref` do nothing for them.
/// Bytes that `ck_prepare_activations` writes for `n_tokens` rows of length `k` (0 when
/// the type cannot take rows of length k).
size_t ck_activations_size(ck_type weight_type, int64_t k, int64_t n_tokens);
/// Converts f32 activations (`n_tokens x k`, row stride `ldx` floats) into the layout
/// `ck_matmul` wants for `weight_type` (Q8_0 blocks per token row for quantized weights).
void ck_prepare_activations(ck_type weight_type, const float *x, int64_t ldx,
                            int64_t k, int64_t n_tokens, void *out);

/// `ck_prepare_activations` for tokens [first_token, first_token + n_tokens) of a prepared
/// buffer: `x` is token first_token's row and `out` the start of the whole buffer (sized by
/// ck_activations_size for all its tokens). Disjoint token ranges may be prepared concurrently.
/// Prefer it to offsetting `out` yourself: some layouts interleave tokens (CK_TYPE_Q8_R).
void ck_prepare_activations_at(ck_type weight_type, const float *x, int64_t ldx, int64_t k,
                               int64_t first_token, int64_t n_tokens, void *out);

// --- the other operations of the forward pass (ck_ops.c) --------------------------------
// Each dispatches like ck_matmul (AVX2/FMA where present) and has a scalar `_ref` oracle.

/// y = w * (x * 1/sqrt(mean(x^2) + eps)) over one row of n (transformers' fp32 RMSNorm; the
/// mean of squares is accumulated in double). y may equal x.
void ck_rmsnorm(const float *x, const float *w, float *y, int64_t n, float eps);
void ck_rmsnorm_ref(const float *x, const float *w, float *y, int64_t n, float eps);
/// gate[i] = silu(gate[i]) * up[i] (SwiGLU). The AVX2 exp is within 2 ulp of expf.
void ck_swiglu(float *gate, const float *up, int64_t n);
void ck_swiglu_ref(float *gate, const float *up, int64_t n);
/// Rotates adjacent pairs (x[2i], x[2i+1]) of each of `heads` heads of width d in one row by
/// the angles whose cos/sin are cs[i], sn[i] (i < d/2). Bit-identical to the reference.
void ck_rope(float *x, int64_t heads, int64_t d, const float *cs, const float *sn);
void ck_rope_ref(float *x, int64_t heads, int64_t d, const float *cs, const float *sn);
/// x[i] += y[i].
void ck_add(float *x, const float *y, int64_t n);
void ck_add_ref(float *x, const float *y, int64_t n);
/// Bytes of float scratch `ck_attention(_ref)` needs for `n_keys` keys (32-byte aligned inside).
size_t ck_attention_scratch_size(int64_t n_keys, int64_t d, int64_t group);
/// Causal attention of one KV head of one sequence, for the `group` query heads sharing it.
/// Query i (i < n_queries) is at position first_pos + i, its head g at q[i*ldq + g*d]; it
/// attends to keys/values 0..first_pos+i at k[j*ldkv], v[j*ldkv] (d floats each) with
/// softmax(scale * q.k) and writes out[i*ldo + g*d + e]. `scratch`: ck_attention_scratch_size
/// bytes for n_keys = first_pos + n_queries.
void ck_attention(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                  const float *k, const float *v, int64_t ldkv,
                  float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch);
void ck_attention_ref(const float *q, int64_t ldq, int64_t n_queries, int64_t first_pos,
                      const float *k, const float *v, int64_t ldkv,
                      float *out, int64_t ldo, int64_t d, int64_t group, float scale, float *scratch);

/// Name of the implementation `ck_matmul` dispatches to on this CPU: "avx512vnni" (AVX-512
/// F/BW/VL + VNNI: the matrix multiplies use vpdpbusd on 16 rows; the row-wise kernels stay
/// AVX2), "avx2" (AVX2/FMA/F16C) or "scalar". The environment variable DUOGUARD_KERNELS
/// (read once, at first use) caps it: "scalar" forces the reference, "avx2" the AVX2 kernels.
const char *ck_kernel_name(void);
/// Overrides the dispatch for the whole process (tests, A/B benchmarks): "scalar", "avx2",
/// "avx512vnni" (ignored with return 0 when the CPU lacks it) or NULL to re-detect (honouring
/// DUOGUARD_KERNELS). Returns 1 if the requested implementation is now active. Not meant to
/// be called while other threads are inside ck_matmul/ck_prepare_activations: activations
/// prepared and weights packed under one implementation are valid for every other (the
/// layouts are shared).
int ck_set_kernels(const char *name);

#ifdef __cplusplus
}
#endif

#endif
