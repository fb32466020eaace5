import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
await tf.setBackend("wasm");
console.log(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"), await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"));
const n = 512; const a = tf.randomNormal([n, n]); const b = tf.randomNormal([n, n]);
for (let r = 0; r < 3; r++) { const t0 = performance.now(); for (let i = 0; i < 20; i++) { const y = tf.matMul(a, b); y.dispose(); } tf.matMul(a,b).dataSync(); const ms = (performance.now() - t0) / 21; console.log(ms, 2 * n ** 3 / ms / 1e6); }
