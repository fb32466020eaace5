// N-API bindings: unpack arguments and call the kernels. Every argument was checked in TypeScript
// (src/native/addon.ts) before it reaches here — dtypes, shapes, offsets within the buffer — so this file only
// converts values. Tensors are byte offsets into one ArrayBuffer (the wasm backend's heap, or any buffer).
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <exception>

#include "elementwise.h"
#include "gemm.h"
#include "isa.h"
#include "kernels.h"
#include "optimizer.h"
#include "thread-pool.h"

namespace projnative {
namespace {

constexpr size_t kMaxArgs = 24;

struct Args {
  napi_env env;
  napi_value argv[kMaxArgs];
  size_t argc = kMaxArgs;
  uint8_t* base = nullptr;

  Args(napi_env e, napi_callback_info info, bool has_memory) : env(e) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    if (has_memory && argc > 0) {
      void* data = nullptr;
      size_t length = 0;
      napi_get_arraybuffer_info(env, argv[0], &data, &length);
      base = static_cast<uint8_t*>(data);
    }
  }
  double number(size_t i) const {
    double value = 0;
    if (i < argc) napi_get_value_double(env, argv[i], &value);
    return value;
  }
  int64_t integer(size_t i) const { return static_cast<int64_t>(number(i)); }
  int i32(size_t i) const { return static_cast<int>(number(i)); }
  bool flag(size_t i) const { return number(i) != 0; }
  // A float pointer from a byte offset; a negative offset is "absent".
  float* floats(size_t i) const {
    const int64_t offset = integer(i);
    return offset < 0 || base == nullptr ? nullptr : reinterpret_cast<float*>(base + offset);
  }
};

// Runs `body`, turning a C++ exception (std::bad_alloc from a scratch buffer) into a JS error.
template <class F>
napi_value guarded(napi_env env, F body) {
  try {
    body();
  } catch (const std::exception& error) {
    napi_throw_error(env, nullptr, error.what());
  } catch (...) {
    napi_throw_error(env, nullptr, "native kernel failed");
  }
  return nullptr;
}

napi_value make_number(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

napi_value make_string(napi_env env, const char* s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

// gemm(mem, a, b, c, bias, m, n, k, lda, ldb, ldc, transA, transB, accumulate, activation, alpha,
//      batch, strideA, strideB, strideC, reference)
napi_value Gemm_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  Gemm g;
  g.a = args.floats(1);
  g.b = args.floats(2);
  g.c = args.floats(3);
  g.bias = args.floats(4);
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
  const bool reference = args.flag(20);
  g.packed_b = args.i32(21);
  return guarded(env, [&] {
    if (!reference) return gemm_batched(g, batch, sa, sb, sc);
    for (int i = 0; i < batch; i++) {
      Gemm one = g;
      one.a += sa * i;
      one.b += sb * i;
      one.c += sc * i;
      gemm_reference(one);
    }
  });
}

// conv2d(mem, kind, x, w, y, bias, geometry[13 numbers from index 6], activation, alpha)
napi_value Conv2d_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  ConvGeometry g;
  int* fields[] = {&g.batch, &g.in_height, &g.in_width, &g.in_channels, &g.out_height, &g.out_width, &g.out_channels,
                   &g.filter_height, &g.filter_width, &g.stride_height, &g.stride_width, &g.dilation_height,
                   &g.dilation_width, &g.pad_top, &g.pad_left};
  size_t i = 6;
  for (int* field : fields) *field = args.i32(i++);
  const int kind = args.i32(1);
  float* x = args.floats(2);
  float* w = args.floats(3);
  float* y = args.floats(4);
  const float* bias = args.floats(5);
  const int activation = args.i32(i);
  const float alpha = static_cast<float>(args.number(i + 1));
  return guarded(env, [&] {
    if (kind == 0) conv2d_forward(g, x, w, y, bias, activation, alpha);
    if (kind == 1) conv2d_backprop_input(g, x, w, y);   // x = dy, y = dx
    if (kind == 2) conv2d_backprop_filter(g, x, w, y);  // w = dy, y = dw
  });
}

// layerNorm(mem, x, gamma, beta, out, rows, channels, epsilon)
napi_value LayerNorm_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] {
    layer_norm(args.floats(1), args.floats(2), args.floats(3), args.floats(4), args.integer(5), args.i32(6),
               static_cast<float>(args.number(7)));
  });
}

// groupNorm(mem, x, gamma, beta, out, samples, pixels, channels, groups, epsilon, silu)
napi_value GroupNorm_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] {
    group_norm(args.floats(1), args.floats(2), args.floats(3), args.floats(4), args.i32(5), args.integer(6),
               args.i32(7), args.i32(8), static_cast<float>(args.number(9)), args.flag(10));
  });
}

// exp(mem, x, y, n)
napi_value Exp_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] { exp_array(args.floats(1), args.floats(2), args.integer(3)); });
}

// binary(mem, big, small, out, n, ns, op, smallFirst)
napi_value Binary_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] {
    binary_op(args.floats(1), args.floats(2), args.floats(3), args.integer(4), args.integer(5), args.i32(6), args.flag(7));
  });
}

// copyBlocks(mem, src, dst, run, n0, n1, n2, ss0, ss1, ss2, ds0, ds1, ds2): byte offsets, the rest in words
napi_value CopyBlocks_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] {
    const int64_t n[3] = {args.integer(4), args.integer(5), args.integer(6)};
    const int64_t ss[3] = {args.integer(7), args.integer(8), args.integer(9)};
    const int64_t ds[3] = {args.integer(10), args.integer(11), args.integer(12)};
    copy_blocks(reinterpret_cast<const int32_t*>(args.floats(1)), reinterpret_cast<int32_t*>(args.floats(2)), args.integer(3), n, ss, ds);
  });
}

// packB(mem, b, k, n, ldb, transB) → id
napi_value PackB_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  int id = 0;
  napi_value result = guarded(env, [&] { id = gemm_pack_b(args.floats(1), args.i32(2), args.i32(3), args.integer(4), args.flag(5)); });
  return id == 0 ? result : make_number(env, id);
}

// releasePackedB(id)
napi_value ReleasePackedB_(napi_env env, napi_callback_info info) {
  Args args(env, info, false);
  gemm_release_packed_b(args.i32(0));
  return nullptr;
}

// packedBFloats() → floats held by packed B's
napi_value PackedBFloats_(napi_env env, napi_callback_info) { return make_number(env, static_cast<double>(gemm_packed_b_floats())); }

// columnSums(mem, x, out, rows, cols)
napi_value ColumnSums_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] { column_sums(args.floats(1), args.floats(2), args.integer(3), args.integer(4)); });
}

// groupNormGrad(mem, x, gamma, beta, dy, dx, dgamma, dbeta, samples, pixels, channels, groups, epsilon, silu)
napi_value GroupNormGrad_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] {
    group_norm_grad(args.floats(1), args.floats(2), args.floats(3), args.floats(4), args.floats(5), args.floats(6),
                    args.floats(7), args.i32(8), args.integer(9), args.i32(10), args.i32(11),
                    static_cast<float>(args.number(12)), args.flag(13));
  });
}

// attention(mem, q, k, v, mask, out, batch, heads, queries, keys, headSize, scale, causal, ms0, ms1, ms2, ms3)
napi_value Attention_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  AttentionShape s;
  s.batch = args.i32(6);
  s.heads = args.i32(7);
  s.queries = args.i32(8);
  s.keys = args.i32(9);
  s.head_size = args.i32(10);
  s.scale = static_cast<float>(args.number(11));
  s.causal = args.flag(12);
  for (int d = 0; d < 4; d++) s.mask_strides[d] = args.integer(13 + d);
  return guarded(env, [&] { attention_forward(s, args.floats(1), args.floats(2), args.floats(3), args.floats(4), args.floats(5)); });
}

// qkvAttention(mem, qkv, out, batch, heads, tokens, headSize, scale, causal): qkv [B, T, 3·H·D] (q | k | v along
// the last axis, heads in order) → out [B, T, H·D], no mask
napi_value QkvAttention_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  AttentionShape s;
  s.batch = args.i32(3);
  s.heads = args.i32(4);
  s.queries = s.keys = args.i32(5);
  s.head_size = args.i32(6);
  s.scale = static_cast<float>(args.number(7));
  s.causal = args.flag(8);
  for (auto& stride : s.mask_strides) stride = 0;
  const int64_t width = static_cast<int64_t>(s.heads) * s.head_size;
  const AttentionLayout in{s.queries * 3 * width, s.head_size, 3 * width}, out{s.queries * width, s.head_size, width};
  return guarded(env, [&] {
    const float* qkv = args.floats(1);
    attention_forward_strided(s, qkv, qkv + width, qkv + 2 * width, in, in, args.floats(2), out);
  });
}

// attentionGrad(mem, q, k, v, mask, dout, dq, dk, dv, batch, heads, queries, keys, headSize, scale, causal,
//               ms0, ms1, ms2, ms3)
napi_value AttentionGrad_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  AttentionShape s;
  s.batch = args.i32(9);
  s.heads = args.i32(10);
  s.queries = args.i32(11);
  s.keys = args.i32(12);
  s.head_size = args.i32(13);
  s.scale = static_cast<float>(args.number(14));
  s.causal = args.flag(15);
  for (int d = 0; d < 4; d++) s.mask_strides[d] = args.integer(16 + d);
  return guarded(env, [&] {
    attention_backward(s, args.floats(1), args.floats(2), args.floats(3), args.floats(4), args.floats(5),
                       args.floats(6), args.floats(7), args.floats(8));
  });
}

// softmax(mem, x, y, rows, n)
napi_value Softmax_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] { softmax_rows(args.floats(1), args.floats(2), args.integer(3), args.i32(4)); });
}

// activationGrad(mem, x, dy, dx, n, activation)
napi_value ActivationGrad_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  return guarded(env, [&] { activation_grad(args.floats(1), args.floats(2), args.floats(3), args.integer(4), args.i32(5)); });
}

// adamw(mem, param, grad, m, v, n, beta1, beta2, epsilon, stepSize, biasCorrection2, decay)
napi_value AdamW_(napi_env env, napi_callback_info info) {
  Args args(env, info, true);
  AdamWStep s;
  s.beta1 = static_cast<float>(args.number(6));
  s.beta2 = static_cast<float>(args.number(7));
  s.epsilon = static_cast<float>(args.number(8));
  s.step_size = static_cast<float>(args.number(9));
  s.bias_correction2 = static_cast<float>(args.number(10));
  s.decay = static_cast<float>(args.number(11));
  return guarded(env, [&] { adamw_update(args.floats(1), args.floats(2), args.floats(3), args.floats(4), args.integer(5), s); });
}

napi_value SetThreads_(napi_env env, napi_callback_info info) {
  Args args(env, info, false);
  guarded(env, [&] { ThreadPool::instance().set_threads(args.i32(0)); });
  return make_number(env, ThreadPool::instance().threads());
}

napi_value Threads_(napi_env env, napi_callback_info) { return make_number(env, ThreadPool::instance().threads()); }

napi_value Isa_(napi_env env, napi_callback_info) { return make_string(env, isa_name(current_isa())); }

napi_value BestIsa_(napi_env env, napi_callback_info) { return make_string(env, isa_name(detect_isa())); }

// setIsa(name) → whether it was selected
napi_value SetIsa_(napi_env env, napi_callback_info info) {
  Args args(env, info, false);
  char name[16] = {};
  size_t length = 0;
  napi_get_value_string_utf8(env, args.argv[0], name, sizeof name, &length);
  Isa isa;
  napi_value result;
  napi_get_boolean(env, parse_isa(name, &isa) && select_isa(isa), &result);
  return result;
}

// fmaPeak(seconds) → GFLOP/s of one thread
napi_value FmaPeak_(napi_env env, napi_callback_info info) {
  Args args(env, info, false);
  return make_number(env, fma_peak_gflops(args.number(0)));
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor properties[] = {
      {"gemm", nullptr, Gemm_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv2d", nullptr, Conv2d_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNorm_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupNorm", nullptr, GroupNorm_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"exp", nullptr, Exp_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"columnSums", nullptr, ColumnSums_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copyBlocks", nullptr, CopyBlocks_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packB", nullptr, PackB_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"releasePackedB", nullptr, ReleasePackedB_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"packedBFloats", nullptr, PackedBFloats_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"groupNormGrad", nullptr, GroupNormGrad_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"activationGrad", nullptr, ActivationGrad_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attention", nullptr, Attention_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attentionGrad", nullptr, AttentionGrad_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"qkvAttention", nullptr, QkvAttention_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"threads", nullptr, Threads_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"isa", nullptr, Isa_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"bestIsa", nullptr, BestIsa_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setIsa", nullptr, SetIsa_, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fmaPeak", nullptr, FmaPeak_, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

}  // namespace
}  // namespace projnative

NAPI_MODULE(NODE_GYP_MODULE_NAME, projnative::Init)
