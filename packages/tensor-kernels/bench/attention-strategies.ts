/**
 * Benchmark (not a test): attention on wasm and cpu at CLIP and unCLIP shapes, ms per call and achieved GFLOP/s
 * (causal counts half the products). Compared: "plain", the textbook composition matMul(softmax(scale·Q Kᵀ), V)
 * with tf.softmax (NaN on all −∞ rows); "composition", our fallback `attentionReference` (its −∞-safe softmax costs
 * a few more element-wise passes); and the kernel, on wasm pinned to each strategy and as registered ("auto").
 * Run: npx tsx src/kernels/host/attention-bench.ts [wasm,cpu]
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { ATTENTION_KERNELS } from "../src/registry/attention.js";
import { Attention, attention, attentionReference } from "../src/ops/attention.js";
import { attentionWasmKernel, type AttentionWasmStrategy } from "../src/kernels/wasm/attention.js";

for (const config of ATTENTION_KERNELS) tf.registerKernel(config);

/** Re-registers the wasm kernel pinned to one strategy. */
function pinWasm(strategy: AttentionWasmStrategy): void {
  tf.unregisterKernel(Attention, "wasm");
  tf.registerKernel({ kernelName: Attention, backendName: "wasm", kernelFunc: attentionWasmKernel(strategy) });
}

function median(f: () => tf.Tensor, reps = 15): number {
  for (let i = 0; i < 3; i++) f().dispose();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const y = f();
    y.dataSync();
    times.push(performance.now() - t0);
    y.dispose();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(reps / 2)]!;
}

/** matMul(softmax(scale·Q Kᵀ + causal), V) with tf.softmax. */
function plainComposition(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, causal: boolean): tf.Tensor {
  return tf.tidy(() => {
    const [tq, tk] = [q.shape[2]!, k.shape[2]!];
    let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(q.shape[3]!));
    if (causal) scores = tf.add(scores, tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([tq, tk]), -1, 0)), -1e9));
    return tf.matMul(tf.softmax(scores), v);
  });
}

const shapes = [
  { name: "CLIP ViT-B/32 vision", b: 8, h: 12, tq: 50, tk: 50, d: 64, causal: false },
  { name: "CLIP text, causal", b: 8, h: 8, tq: 77, tk: 77, d: 64, causal: true },
  { name: "ViT-B/32 vision, batch 1", b: 1, h: 12, tq: 50, tk: 50, d: 64, causal: false },
  { name: "text causal, batch 1", b: 1, h: 8, tq: 77, tk: 77, d: 64, causal: true },
  { name: "RN50 attention pool (Tq = 1)", b: 8, h: 32, tq: 1, tk: 50, d: 64, causal: false },
  { name: "unCLIP decoder 16×16 + 81 context", b: 2, h: 8, tq: 256, tk: 337, d: 64, causal: false },
  { name: "unCLIP decoder 8×8, D = 32", b: 2, h: 16, tq: 64, tk: 64, d: 32, causal: false },
  ...[2, 4, 8, 16].map((tq) => ({ name: `sweep Tq = ${tq}`, b: 8, h: 12, tq, tk: 50, d: 64, causal: false })),
];

for (const backend of (process.argv[2] ?? "wasm,cpu").split(",")) {
  await tf.setBackend(backend);
  for (const s of shapes) {
    const q = tf.randomNormal([s.b, s.h, s.tq, s.d]);
    const k = tf.randomNormal([s.b, s.h, s.tk, s.d]);
    const v = tf.randomNormal([s.b, s.h, s.tk, s.d]);
    const flops = 4 * s.b * s.h * s.tq * s.tk * s.d * (s.causal ? 0.5 : 1);
    const rate = (ms: number) => `${ms.toFixed(2)} ms (${(flops / ms / 1e6).toFixed(2)} GFLOP/s)`;
    const strategies = backend === "wasm" ? (["fused", "gemm", "batched", "auto"] as const) : (["auto"] as const);
    const best = new Map<string, number>();
    const keepBest = (name: string, ms: number) => best.set(name, Math.min(ms, best.get(name) ?? Infinity));
    for (let round = 0; round < 2; round++) {
      // Rounds alternate the variants, so that warm-up and heap growth do not favour the later ones.
      keepBest("plain", median(() => plainComposition(q, k, v, s.causal)));
      keepBest("composition", median(() => attentionReference(q, k, v, { causal: s.causal })));
      for (const strategy of strategies) {
        if (backend === "wasm") pinWasm(strategy);
        keepBest(strategy, median(() => attention(q, k, v, { causal: s.causal })));
      }
    }
    const results = [...best].map(([name, ms]) => `${name} ${rate(ms)}`);
    console.log(`${backend} ${s.name} [${s.b},${s.h},${s.tq},${s.d}] Tk=${s.tk}: ${results.join(", ")}`);
    tf.dispose([q, k, v]);
  }
}
