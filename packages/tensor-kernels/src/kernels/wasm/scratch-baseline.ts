import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
await tf.setBackend("wasm");
function time(f: () => tf.Tensor, reps = 5): number {
  f().dispose();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); const y = f(); y.dataSync(); ts.push(performance.now() - t0); y.dispose(); }
  ts.sort((a, b) => a - b); return ts[Math.floor(ts.length / 2)]!;
}
const n = 512;
const a = tf.randomNormal([n, n]); const b = tf.randomNormal([n, n]);
for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
  const ms = time(() => tf.matMul(a, b, ta, tb));
  console.log(`matmul ${n} tA=${ta} tB=${tb}: ${ms.toFixed(1)} ms ${(2 * n ** 3 / ms / 1e6).toFixed(1)} GFLOP/s`);
}
const t3 = tf.randomNormal([1, n, n]);
console.log("transpose 512x512", time(() => tf.transpose(t3, [0, 2, 1]), 11).toFixed(2), "ms");
const qa = tf.randomNormal([96, 50, 64]); const qb = tf.randomNormal([96, 64, 50]);
let ms = time(() => tf.matMul(qa, qb)); console.log(`batched 96x50x64x50: ${ms.toFixed(2)} ms ${(2 * 96 * 50 * 64 * 50 / ms / 1e6).toFixed(2)} GFLOP/s`);
const qc = tf.randomNormal([96, 50, 50]);
ms = time(() => tf.matMul(qc, qa)); console.log(`batched 96x50x50x64: ${ms.toFixed(2)} ms ${(2 * 96 * 50 * 64 * 50 / ms / 1e6).toFixed(2)} GFLOP/s`);
// conv backprop input
const x = tf.randomNormal([16, 32, 32, 32]); const w = tf.randomNormal([3, 3, 32, 64]);
const dy = tf.randomNormal([16, 32, 32, 64]);
const flops = 2 * 16 * 32 * 32 * 64 * 9 * 32;
ms = time(() => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same")); console.log(`conv2d fwd: ${ms.toFixed(1)} ms ${(flops / ms / 1e6).toFixed(2)} GFLOP/s`);
ms = time(() => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, [16, 32, 32, 32], 1, "same")); console.log(`conv2d backprop input: ${ms.toFixed(1)} ms ${(flops / ms / 1e6).toFixed(2)} GFLOP/s`);
const x5 = tf.randomNormal([8, 50, 3, 12, 64]);
ms = time(() => tf.transpose(x5, [2, 0, 3, 1, 4]), 7); console.log(`rank-5 transpose ${x5.size}: ${ms.toFixed(2)} ms ${(x5.size * 8 / ms / 1e6).toFixed(2)} GB/s`);
