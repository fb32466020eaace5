// N-API bindings of the CUDA build (proj_native_cuda.node, compiled by nvcc at install when it is present; see
// install.mjs). The same calls as addon.cc, with the same arguments — byte offsets into one host ArrayBuffer —
// so src/native/addon.ts checks them once and sends a kernel to either addon: here each call copies its input
// spans to the device, runs the kernel (gemm.cu, norm.cu, attention.cu) and copies its output spans back.
//
// cudart is linked statically and finds the driver (libcuda) itself on the first CUDA call, so this file loads on
// a machine without a GPU or driver; `status()` then reports why there is no device and no kernel can run.
// State: one grow-only device workspace that every call carves its operands from (calls come from the JS thread,
// one at a time).
#include <cuda_runtime.h>
#include <node_api.h>

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda.h"

#ifndef PROJ_CUDA_TARGETS
#define PROJ_CUDA_TARGETS "unknown"
#endif

namespace projnative {
namespace {

constexpr size_t kMaxArgs = 24;

void check(cudaError_t error, const char* what) {
  if (error != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(error));
}

struct Args {
  napi_env env;
  napi_value argv[kMaxArgs];
  size_t argc = kMaxArgs;
  uint8_t* base = nullptr;

  Args(napi_env e, napi_callback_info info) : env(e) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    void* data = nullptr;
    size_t length = 0;
    if (argc > 0) napi_get_arraybuffer_info(env, argv[0], &data, &length);
    base = static_cast<uint8_t*>(data);
  }
  double number(size_t i) const {
    double value = 0;
    if (i < argc) napi_get_value_double(env, argv[i], &value);
    return value;
  }
  int64_t integer(size_t i) const { return static_cast<int64_t>(number(i)); }
  int i32(size_t i) const { return static_cast<int>(number(i)); }
  bool flag(size_t i) const { return number(i) != 0; }
};

// The device workspace: grows to the largest call so far, never shrinks (freed at exit).
struct Workspace {
  char* data = nullptr;
  size_t bytes = 0;
  char* reserve(size_t want) {
    if (want <= bytes) return data;
    if (data != nullptr) check(cudaFree(data), "cudaFree");
    data = nullptr;
    bytes = 0;
    check(cudaMalloc(&data, want), "cudaMalloc (device workspace)");
    bytes = want;
    return data;
  }
};

Workspace& workspace() {
  static Workspace w;
  return w;
}

// The host spans of one call and where each lives in the workspace: inputs copied in before the kernel, outputs
// copied back after it, scratch never copied. A negative offset is an absent operand (nullptr).
class Transfer {
 public:
  explicit Transfer(uint8_t* host) : host_(host) {}
  // Declares a span of `floats` floats at byte `offset`; returns its handle for `device()`.
  int span(int64_t offset, int64_t floats, bool upload, bool download) {
    spans_.push_back({offset, floats, upload, download, total_});
    if (offset >= 0) total_ += (static_cast<size_t>(floats) * sizeof(float) + 255) / 256 * 256;
    return static_cast<int>(spans_.size()) - 1;
  }
  // Reserves the workspace and uploads the inputs.
  void upload() {
    base_ = workspace().reserve(total_ == 0 ? 256 : total_);
    for (const Span& s : spans_) {
      if (s.offset >= 0 && s.upload && s.floats > 0) {
        check(cudaMemcpy(base_ + s.at, host_ + s.offset, s.floats * sizeof(float), cudaMemcpyHostToDevice), "upload");
      }
    }
  }
  float* device(int handle) const {
    const Span& s = spans_[handle];
    return s.offset < 0 ? nullptr : reinterpret_cast<float*>(base_ + s.at);
  }
  // Copies the outputs back (cudaMemcpy waits for the kernels).
  void download() {
    for (const Span& s : spans_) {
      if (s.offset >= 0 && s.download && s.floats > 0) {
        check(cudaMemcpy(host_ + s.offset, base_ + s.at, s.floats * sizeof(float), cudaMemcpyDeviceToHost), "download");
      }
    }
  }

 private:
  struct Span {
    int64_t offset, floats;
    bool upload, download;
    size_t at;
  };
  uint8_t* host_;
  char* base_ = nullptr;
  size_t total_ = 0;
  std::vector<Span> spans_;
};

template <class F>
napi_value guarded(napi_env env, F body) {
  try {
    body();
  } catch (const std::exception& error) {
    napi_throw_error(env, nullptr, error.what());
  } catch (...) {
    napi_throw_error(env, nullptr, "cuda kernel failed");
  }
  return nullptr;
}

// Floats spanned by a [rows, cols] matrix with row stride ld, repeated `batch` times `stride` floats apart.
int64_t extent(int64_t rows, int64_t cols, int64_t ld, int batch, int64_t stride) {
  if (rows == 0 || cols == 0) return 0;
  return stride * (batch - 1) + (rows - 1) * ld + cols;
}

// gemm(mem, a, b, c, bias, m, n, k, lda, ldb, ldc, transA, transB, accumulate, activation, alpha,
//      batch, strideA, strideB, strideC) — as addon.cc
napi_value Gemm_(napi_env env, napi_callback_info info) {
  Args args(env, info);
  return guarded(env, [&] {
    Gemm g;
    g.m = args.i32(5);
    g.n = args.i32(6);
    g.k = args.i32(7);
    g.lda = args.integer(8);
    g.ldb = args.integer(9);
    g.ldc = args.integer(10);
    g.trans_a = args.flag(11);
    g.trans_b = args.flag(12);
    g.accumulate = args.flag(13);
    g.activation = args.i32(14);
    g.alpha = static_cast<float>(args.number(15));
    const int batch = args.i32(16);
    const int64_t sa = args.integer(17), sb = args.integer(18), sc = args.integer(19);
    Transfer t(args.base);
    const int a = t.span(args.integer(1), g.trans_a ? extent(g.k, g.m, g.lda, batch, sa) : extent(g.m, g.k, g.lda, batch, sa), true, false);
    const int b = t.span(args.integer(2), g.trans_b ? extent(g.n, g.k, g.ldb, batch, sb) : extent(g.k, g.n, g.ldb, batch, sb), true, false);
    // C is uploaded too: with `accumulate` it is read, and with ldc > n the gaps must come back unchanged.
    const int c = t.span(args.integer(3), extent(g.m, g.n, g.ldc, batch, sc), true, true);
    const int bias = t.span(args.integer(4), g.n, true, false);
    t.upload();
    g.a = t.device(a);
    g.b = t.device(b);
    g.c = t.device(c);
    g.bias = t.device(bias);
    cuda::gemm_batched(g, batch, sa, sb, sc);
    t.download();
  });
}

// layerNorm(mem, x, gamma, beta, out, rows, channels, epsilon)
napi_value LayerNorm_(napi_env env, napi_callback_info info) {
  Args args(env, info);
  return guarded(env, [&] {
    const int64_t rows = args.integer(5);
    const int channels = args.i32(6);
    Transfer t(args.base);
    const int x = t.span(args.integer(1), rows * channels, true, false);
    const int gamma = t.span(args.integer(2), channels, true, false);
    const int beta = t.span(args.integer(3), channels, true, false);
    const int out = t.span(args.integer(4), rows * channels, false, true);
    t.upload();
    cuda::layer_norm(t.device(x), t.device(gamma), t.device(beta), t.device(out), rows, channels,
                     static_cast<float>(args.number(7)));
    t.download();
  });
}

// groupNorm(mem, x, gamma, beta, out, samples, pixels, channels, groups, epsilon, silu)
napi_value GroupNorm_(napi_env env, napi_callback_info info) {
  Args args(env, info);
  return guarded(env, [&] {
    const int samples = args.i32(5);
    const int64_t pixels = args.integer(6);
    const int channels = args.i32(7);
    const int64_t size = samples * pixels * channels;
    Transfer t(args.base);
    const int x = t.span(args.integer(1), size, true, false);
    const int gamma = t.span(args.integer(2), channels, true, false);
    const int beta = t.span(args.integer(3), channels, true, false);
    const int out = t.span(args.integer(4), size, false, true);
    t.upload();
    cuda::group_norm(t.device(x), t.device(gamma), t.device(beta), t.device(out), samples, pixels, channels,
                     args.i32(8), static_cast<float>(args.number(9)), args.flag(10));
    t.download();
  });
}

// softmax(mem, x, y, rows, n)
napi_value Softmax_(napi_env env, napi_callback_info info) {
  Args args(env, info);
  return guarded(env, [&] {
    const int64_t rows = args.integer(3);
    const int n = args.i32(4);
    Transfer t(args.base);
    const int x = t.span(args.integer(1), rows * n, true, false);
    const int y = t.span(args.integer(2), rows * n, false, true);
    t.upload();
    cuda::softmax_rows(t.device(x), t.device(y), rows, n);
    t.download();
  });
}

// attention(mem, q, k, v, mask, out, batch, heads, queries, keys, headSize, scale, causal, ms0, ms1, ms2, ms3)
napi_value Attention_(napi_env env, napi_callback_info info) {
  Args args(env, info);
  return guarded(env, [&] {
    AttentionShape s;
    s.batch = args.i32(6);
    s.heads = args.i32(7);
    s.queries = args.i32(8);
    s.keys = args.i32(9);
    s.head_size = args.i32(10);
    s.scale = static_cast<float>(args.number(11));
    s.causal = args.flag(12);
    for (int d = 0; d < 4; d++) s.mask_strides[d] = args.integer(13 + d);
    const int64_t bh = static_cast<int64_t>(s.batch) * s.heads;
    const int64_t mask_floats = (s.batch - 1) * s.mask_strides[0] + (s.heads - 1) * s.mask_strides[1] +
                                (s.queries - 1) * s.mask_strides[2] + (s.keys - 1) * s.mask_strides[3] + 1;
    Transfer t(args.base);
    const int q = t.span(args.integer(1), bh * s.queries * s.head_size, true, false);
    const int k = t.span(args.integer(2), bh * s.keys * s.head_size, true, false);
    const int v = t.span(args.integer(3), bh * s.keys * s.head_size, true, false);
    const int mask = t.span(args.integer(4), mask_floats, true, false);
    const int out = t.span(args.integer(5), bh * s.queries * s.head_size, false, true);
    const int scores = t.span(0, bh * s.queries * s.keys, false, false);  // scratch
    t.upload();
    cuda::attention_forward(s, t.device(q), t.device(k), t.device(v), t.device(mask), t.device(out),
                            t.device(scores));
    t.download();
  });
}

napi_value set_named(napi_env env, napi_value object, const char* name, napi_value value) {
  napi_set_named_property(env, object, name, value);
  return object;
}

napi_value number(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

napi_value string(napi_env env, const char* s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

// status() → { runtimeVersion, targets, devices, error?, name?, computeCapability?, memoryBytes? }
napi_value Status_(napi_env env, napi_callback_info) {
  napi_value result;
  napi_create_object(env, &result);
  set_named(env, result, "runtimeVersion", number(env, CUDART_VERSION));
  set_named(env, result, "targets", string(env, PROJ_CUDA_TARGETS));
  int devices = 0;
  const cudaError_t error = cudaGetDeviceCount(&devices);
  if (error != cudaSuccess) {
    set_named(env, result, "devices", number(env, 0));
    set_named(env, result, "error", string(env, cudaGetErrorString(error)));
    cudaGetLastError();  // clear it
    return result;
  }
  set_named(env, result, "devices", number(env, devices));
  int driver = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess) set_named(env, result, "driverVersion", number(env, driver));
  cudaDeviceProp prop;
  if (devices > 0 && cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
    set_named(env, result, "name", string(env, prop.name));
    set_named(env, result, "computeCapability", number(env, prop.major + prop.minor / 10.0));
    set_named(env, result, "memoryBytes", number(env, static_cast<double>(prop.totalGlobalMem)));
  }
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor properties[] = {
      {"gemm", nullptr, Gemm_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNorm_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupNorm", nullptr, GroupNorm_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attention", nullptr, Attention_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"status", nullptr, Status_, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

}  // namespace
}  // namespace projnative

NAPI_MODULE(NODE_GYP_MODULE_NAME, projnative::Init)
