// The kernels built on GEMM, one file each: conv2d.cc (forward and both gradients), norm.cc (layer norm, group norm
// with SiLU), attention.cc (scaled dot-product attention forward and backward). Float32, row-major, NHWC.
#pragma once

#include <cstdint>

namespace projnative {

struct ConvGeometry {
  int batch, in_height, in_width, in_channels, out_height, out_width, out_channels;
  int filter_height, filter_width, stride_height, stride_width, dilation_height, dilation_width, pad_top, pad_left;
};

// y [N, OH, OW, Cout] = act(conv(x [N, H, W, Cin], w [FH, FW, Cin, Cout]) + bias [Cout]); bias may be null.
void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, float* y, const float* bias, int activation,
                    float alpha);
// dx [N, H, W, Cin] from dy [N, OH, OW, Cout] and w.
void conv2d_backprop_input(const ConvGeometry& g, const float* dy, const float* w, float* dx);
// dw [FH, FW, Cin, Cout] from x and dy.
void conv2d_backprop_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw);

// out [rows, C] = (x − mean) / √(var + ε) · γ + β over the last axis.
void layer_norm(const float* x, const float* gamma, const float* beta, float* out, int64_t rows, int channels,
                float epsilon);
// NHWC group norm: x [N, P pixels, C], statistics per (sample, group of C/G channels); then SiLU if `silu`.
void group_norm(const float* x, const float* gamma, const float* beta, float* out, int samples, int64_t pixels,
                int channels, int groups, float epsilon, bool silu);

// Its gradient: dx, dgamma [C], dbeta [C] from dy (through the SiLU when `silu`); statistics recomputed.
void group_norm_grad(const float* x, const float* gamma, const float* beta, const float* dy, float* dx, float* dgamma,
                     float* dbeta, int samples, int64_t pixels, int channels, int groups, float epsilon, bool silu);

struct AttentionShape {
  int batch, heads, queries, keys, head_size;
  float scale;
  bool causal;
  int64_t mask_strides[4];  // element strides of the mask read as [B, H, Tq, Tk] (0 on broadcast axes)
};
// Element strides of q, k, v or out as [B, H, T, D] with D contiguous: [H·T·D, T·D, D] for the [B, H, T, D] layout,
// [T·3HD, D, 3HD] for q, k or v inside a packed [B, T, 3·H·D] projection, [T·HD, D, HD] for an output [B, T, H·D].
struct AttentionLayout {
  int64_t batch, head, row;
};
// out = softmax(scale · q kᵀ (+ causal −∞)) v per (batch, head), q/k/v/out at any layout with contiguous rows (no mask).
void attention_forward_strided(const AttentionShape& s, const float* q, const float* k, const float* v,
                               const AttentionLayout& q_layout, const AttentionLayout& kv_layout, float* out,
                               const AttentionLayout& out_layout);
// out [B, H, Tq, D] = softmax(scale · q kᵀ + mask (+ causal −∞)) v; rows with every score −∞ give zeros.
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
                       float* out);
// Its gradient: dq [B, H, Tq, D], dk and dv [B, H, Tk, D] from dout [B, H, Tq, D]; P recomputed per head.
void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
                        const float* dout, float* dq, float* dk, float* dv);

}  // namespace projnative
