import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "./src/native/index.ts";
import { linear } from "./src/index.ts";
import { setNativeThreads } from "./src/native/index.ts";
await tf.setBackend("native"); setNativeThreads(1);
for (const [m, n, k, act] of [[50, 3072, 768, "quickGelu"], [50, 3072, 768, undefined], [50, 768, 3072, undefined], [50,2304,768,undefined]] as const) {
  const ws = Array.from({ length: 12 }, () => tf.randomNormal([k, n]));
  const b = tf.randomNormal([n]);
  const x = tf.randomNormal([1, m, k]);
  for (const read of [false, true]) {
  let best = 1e9;
  for (let r = 0; r < 60; r++) {
    const t0 = performance.now();
    const y = linear(x, ws[r % 12]!, b, act ? { activation: act } : {});
    if (read) y.dataSync(); else (tf.backend() as any).wasm; 
    const dt = performance.now() - t0; y.dispose(); if (dt < best) best = dt;
  }
  console.log(m, n, k, act, read ? "read" : "noread", best.toFixed(3), "ms", (2 * m * n * k / best / 1e6).toFixed(1), "GFLOP/s");
  }
}
