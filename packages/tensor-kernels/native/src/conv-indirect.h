// Indirect convolution (conv-indirect.cc): conv2d's forward and filter gradient as register-tiled GEMMs that read
// im2col(x) in place through row pointers (no im2col buffer, no packing of A). NHWC, float32, any stride, dilation
// and padding. conv2d.cc decides when to use them.
#pragma once

#include "kernels.h"

namespace projnative {

// y [N, OH, OW, Cout] = act(conv(x, w [FH, FW, Cin, Cout]) + bias); bias may be null.
void conv2d_indirect_forward(const ConvGeometry& g, const float* x, const float* w, float* y, const float* bias,
                             int activation, float alpha);

// dw [FH, FW, Cin, Cout] = Σ over output pixels of x's tap rows ⊗ dy.
void conv2d_indirect_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw);

}  // namespace projnative
