// The CUDA build of the kernel set (gemm.cu, norm.cu, attention.cu), host-side entry points. Every pointer is a
// device pointer; every launch goes on the default stream and returns once queued (a later cudaMemcpy waits for
// it). Shapes and semantics are those of the CPU kernels (gemm.h, kernels.h), which are their reference: the
// tests run both on the same inputs. cuda-addon.cc copies host spans in and out around these calls.
#pragma once

#include <cstdint>

#include "gemm.h"
#include "kernels.h"

namespace projnative {
namespace cuda {

// `batch` products C = act(op(A)·op(B) [+ C] + bias) as gemm_batched (gemm.h), with device pointers in `g`.
void gemm_batched(const Gemm& g, int batch, int64_t stride_a, int64_t stride_b, int64_t stride_c);

// As layer_norm / group_norm in kernels.h.
void layer_norm(const float* x, const float* gamma, const float* beta, float* out, int64_t rows, int channels,
                float epsilon);
void group_norm(const float* x, const float* gamma, const float* beta, float* out, int samples, int64_t pixels,
                int channels, int groups, float epsilon, bool silu);

// y [rows, n] = softmax of each row of x (y may be x); a row whose maximum is −∞ gives NaN (as tfjs).
void softmax_rows(const float* x, float* y, int64_t rows, int n);

// As attention_forward in kernels.h; `scores` is scratch of batch·heads·queries·keys floats.
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, const float* mask,
                       float* out, float* scores);

// Throws std::runtime_error naming `what` when the last launch failed.
void check_launch(const char* what);

}  // namespace cuda
}  // namespace projnative
