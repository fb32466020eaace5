/**
 * npm run bench -w @proj/clip [-- --backends wasm[,webgpu,cpu] --runs 5 --profile]
 *
 * CLIP ViT-B/32 throughput with random weights: images/s at batch 1 and 8, texts/s at batch 1 and 8 (77 tokens),
 * the achieved GFLOP/s beside the backend's plain `tf.matMul` GFLOP/s measured in the same run (512³ and the
 * model's own c_fc shape [400, 768]×[768, 3072]), and their ratio. Target (issue #5): on wasm, image encoding at
 * batch 8 reaches ≥ 85% of the matmul figure (the better of the two matmul shapes).
 *
 * The model is the real `VIT_B_32` preset loaded the normal way: a random OpenAI-layout checkpoint (N(0, 0.02)
 * weights, LayerNorm γ ≈ 1) is serialised in memory with `serializeSafetensors` and read back with
 * `clipFromSafetensors`, so the bench runs exactly what `loadClip` builds.
 *
 * Samples are interleaved (matmuls, images, texts, matmuls, …) so that load from other processes hits the model and
 * the matmul baseline alike; each figure is the median of `--runs` samples after one warm-up round. `cpu` (~0.1
 * images/s) and `webgpu` in Node (SwiftShader, a CPU emulation taking minutes) are slow: they run only when named,
 * batch 1 and the 512³ matmul only, `--slow-runs` samples (default 1; no warm-up on cpu): a smoke run, not a
 * measurement. `--profile` prints the kernels that dominate one image forward (`tf.profile`; batch 8, or 1 on the
 * slow backends) with their GFLOP/s.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { clipConfigToJson, clipFromSafetensors, encodeImage, encodeText, parseSafetensors, serializeSafetensors, VIT_B_32, type ClipModel } from "../src/index.js";

const { values } = parseArgs({
  options: {
    backends: { type: "string", default: "wasm" },
    runs: { type: "string", default: "5" },
    "slow-runs": { type: "string", default: "1" },
    profile: { type: "boolean", default: false },
  },
});
const backends = values.backends.split(",").map((b) => b.trim()).filter((b) => b.length > 0);
const runs = Number(values.runs);
const slowRuns = Number(values["slow-runs"]);
if (!(Number.isInteger(runs) && runs >= 1) || !(Number.isInteger(slowRuns) && slowRuns >= 1)) {
  throw new RangeError(`--runs and --slow-runs must be positive integers, got ${values.runs} and ${values["slow-runs"]}`);
}
const SLOW_BACKENDS = new Set(["cpu", "webgpu"]);
const TARGET_RATIO = 0.85;

const config = VIT_B_32;
const W = config.visionWidth; // 768
const P = config.visionPatchSize; // 32
const R = config.imageResolution; // 224
const D = config.transformerWidth; // 512
const E = config.embedDim; // 512
const T = config.contextLength; // 77
const V = config.vocabSize; // 49408
const gridTokens = (R / P) ** 2; // 49 patches
const imageTokens = gridTokens + 1; // 50 with the class token

// ---------------------------------------------------------------------------------------------------------------------
// FLOPs (multiply-adds × 2) of the matmuls and the convolution; LayerNorm, softmax, GELU and adds are left out.

/** One pre-LN transformer block over `tokens` tokens of width `width`: q|k|v, out_proj, c_fc, c_proj, QKᵀ and AV. */
function blockFlops(tokens: number, width: number): number {
  const projections = 2 * tokens * width * (3 * width + width + 4 * width + 4 * width); // in_proj, out_proj, c_fc, c_proj
  const attention = 2 * 2 * tokens * tokens * width; // QKᵀ and AV over all heads (the causal mask is not subtracted)
  return projections + attention;
}
const IMAGE_FLOPS =
  2 * gridTokens * (P * P * 3) * W + // conv1: 49 patches · 3072 inputs · 768 outputs
  config.visionLayers * blockFlops(imageTokens, W) +
  2 * W * E; // proj
const TEXT_FLOPS = config.transformerLayers * blockFlops(T, D) + 2 * D * E; // text_projection

// ---------------------------------------------------------------------------------------------------------------------
// A random ViT-B/32 checkpoint in OpenAI's layout (keys and shapes as `clip.model.CLIP.state_dict()`)

function blockShapes(prefix: string, width: number): [string, number[]][] {
  return [
    [`${prefix}.attn.in_proj_weight`, [3 * width, width]],
    [`${prefix}.attn.in_proj_bias`, [3 * width]],
    [`${prefix}.attn.out_proj.weight`, [width, width]],
    [`${prefix}.attn.out_proj.bias`, [width]],
    [`${prefix}.ln_1.weight`, [width]],
    [`${prefix}.ln_1.bias`, [width]],
    [`${prefix}.mlp.c_fc.weight`, [4 * width, width]],
    [`${prefix}.mlp.c_fc.bias`, [4 * width]],
    [`${prefix}.mlp.c_proj.weight`, [width, 4 * width]],
    [`${prefix}.mlp.c_proj.bias`, [width]],
    [`${prefix}.ln_2.weight`, [width]],
    [`${prefix}.ln_2.bias`, [width]],
  ];
}

function checkpointShapes(): [string, number[]][] {
  const shapes: [string, number[]][] = [
    ["visual.class_embedding", [W]],
    ["visual.positional_embedding", [imageTokens, W]],
    ["visual.conv1.weight", [W, 3, P, P]],
    ["visual.ln_pre.weight", [W]],
    ["visual.ln_pre.bias", [W]],
    ["visual.ln_post.weight", [W]],
    ["visual.ln_post.bias", [W]],
    ["visual.proj", [W, E]],
    ["token_embedding.weight", [V, D]],
    ["positional_embedding", [T, D]],
    ["ln_final.weight", [D]],
    ["ln_final.bias", [D]],
    ["text_projection", [D, E]],
    ["logit_scale", []],
  ];
  for (let i = 0; i < config.visionLayers; i++) shapes.push(...blockShapes(`visual.transformer.resblocks.${i}`, W));
  for (let i = 0; i < config.transformerLayers; i++) shapes.push(...blockShapes(`transformer.resblocks.${i}`, D));
  return shapes;
}

/** Deterministic N(mean, std) values (xorshift32 + Box–Muller). */
function normal(count: number, mean: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  const uniform = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 4294967296; // (0, 1)
  };
  for (let i = 0; i < count; i += 2) {
    const radius = std * Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = mean + radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = mean + radius * Math.sin(angle);
  }
  return out;
}

function randomVitB32(): { model: ClipModel; parameters: number; buildMs: number } {
  const t0 = performance.now();
  const tensors: Parameters<typeof serializeSafetensors>[0] = {};
  let parameters = 0;
  checkpointShapes().forEach(([name, shape], index) => {
    const count = shape.reduce((a, b) => a * b, 1);
    parameters += count;
    const isGain = /(ln_\w+|ln_final)\.weight$/.test(name); // LayerNorm γ around 1, as initialised
    const data = name === "logit_scale" ? Float32Array.of(Math.log(1 / 0.07)) : normal(count, isGain ? 1 : 0, 0.02, 1234 + index);
    tensors[name] = { dtype: "F32", shape, data };
  });
  const bytes = serializeSafetensors(tensors, { format: "pt", config: JSON.stringify(clipConfigToJson(config)) });
  const model = clipFromSafetensors(parseSafetensors(bytes));
  return { model, parameters, buildMs: performance.now() - t0 };
}

// ---------------------------------------------------------------------------------------------------------------------
// Workloads

interface Workload {
  name: string;
  /** Items (images, texts) per call; 0 for the matmul baselines. */
  items: number;
  flops: number;
  run: () => Promise<tf.Tensor>;
  dispose: () => void;
}

function matmulWorkload(m: number, k: number, n: number, label: string): Workload {
  const a = tf.tensor2d(normal(m * k, 0, 1, 7), [m, k]);
  const b = tf.tensor2d(normal(k * n, 0, 0.05, 8), [k, n]);
  return { name: `matMul ${label}`, items: 0, flops: 2 * m * k * n, run: async () => tf.matMul(a, b), dispose: () => tf.dispose([a, b]) };
}

function imageWorkload(model: ClipModel, batch: number): Workload {
  const pixels = tf.tensor4d(normal(batch * R * R * 3, 0, 1, 9), [batch, R, R, 3]);
  return { name: `image, batch ${batch}`, items: batch, flops: batch * IMAGE_FLOPS, run: async () => encodeImage(model, pixels), dispose: () => pixels.dispose() };
}

/** Token rows like `clip.tokenize`: <|startoftext|>, random BPE ids, <|endoftext|> at varying positions, zeros after. */
function textWorkload(model: ClipModel, batch: number): Workload {
  const rows = new Int32Array(batch * T);
  const random = normal(batch * T, 0, 1, 10);
  for (let n = 0; n < batch; n++) {
    const eot = 10 + ((n * 13) % (T - 11)); // 10 … 75
    rows[n * T] = 49406;
    for (let t = 1; t < eot; t++) rows[n * T + t] = Math.floor(Math.abs(random[n * T + t]!) * 10_000) % 49_000;
    rows[n * T + eot] = 49407;
  }
  const ids = tf.tensor2d(rows, [batch, T], "int32");
  return { name: `text, batch ${batch}`, items: batch, flops: batch * TEXT_FLOPS, run: () => encodeText(model, ids), dispose: () => ids.dispose() };
}

/** ms for one call, the result read back; checks that nothing leaks and the output is finite. */
async function sample(workload: Workload): Promise<number> {
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  const y = await workload.run();
  const data = await y.data();
  const ms = performance.now() - t0;
  y.dispose();
  if (tf.memory().numTensors !== before) throw new Error(`${workload.name} leaked ${tf.memory().numTensors - before} tensors`);
  if (!data.every(Number.isFinite)) throw new Error(`${workload.name} produced non-finite values`);
  return ms;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---------------------------------------------------------------------------------------------------------------------
// Backends

async function useBackend(name: string): Promise<string | undefined> {
  if (name === "webgpu") {
    // Dawn (npm `webgpu`) on the SwiftShader Vulkan driver from Debian's chromium, as in @proj/tensor-kernels' tests.
    process.env.VK_ICD_FILENAMES ??= "/usr/lib/chromium/vk_swiftshader_icd.json";
    process.env.NODEVICE_SELECT ??= "1";
    try {
      const specifier = "webgpu"; // optional: only needed for --backends webgpu
      const { create, globals } = (await import(/* @vite-ignore */ specifier)) as { create: (o: string[]) => unknown; globals: object };
      Object.assign(globalThis, globals);
      Object.defineProperty(globalThis, "navigator", { value: { gpu: create([]) }, configurable: true, writable: true });
      await import("@tensorflow/tfjs-backend-webgpu");
    } catch (error) {
      return `webgpu could not be set up: ${(error as Error).message.split("\n")[0]}`;
    }
  }
  try {
    if (!(await tf.setBackend(name))) return `tf.setBackend("${name}") failed`;
  } catch (error) {
    return `tf.setBackend("${name}") threw: ${(error as Error).message.split("\n")[0]}`;
  }
  await tf.ready();
  return undefined;
}

/** Matmul FLOPs of one profiled kernel call, from its shapes (0 for kernels that do no matmul). */
function kernelFlops(name: string, inputs: number[][], output: number[]): number {
  const size = output.reduce((a, b) => a * b, 1);
  const lastOf = (shape: number[] | undefined): number => shape?.[shape.length - 1] ?? 0;
  if (name === "ProjLinear" || name === "ProjLinearNoBias" || name === "_FusedMatMul") return 2 * size * lastOf(inputs[0]);
  if (name === "BatchMatMul") return 2 * size * lastOf(inputs[0]); // untransposed A (the model's only BatchMatMul: proj)
  if (name === "ProjAttention" || name === "ProjMaskedAttention") {
    const [b = 0, h = 0, tq = 0, d = 0] = inputs[0] ?? [];
    return 4 * b * h * tq * (inputs[1]?.[2] ?? 0) * d; // QKᵀ and AV
  }
  if (name === "Conv2D") {
    const [kh = 0, kw = 0, cin = 0] = inputs[1] ?? [];
    return 2 * size * kh * kw * cin;
  }
  return 0;
}

async function profileImages(model: ClipModel, batch: number): Promise<void> {
  const workload = imageWorkload(model, batch);
  const info = await tf.profile(async () => {
    const y = await workload.run();
    await y.data();
    y.dispose();
  });
  workload.dispose();
  const byKernel = new Map<string, { ms: number; calls: number; flops: number }>();
  let total = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0, flops: 0 };
    entry.ms += ms;
    entry.calls += 1;
    entry.flops += kernelFlops(k.name, k.inputShapes, k.outputShapes[0] ?? []);
    byKernel.set(k.name, entry);
    total += ms;
  }
  console.log(`\nProfile, ${tf.getBackend()}, image batch ${batch} (tf.profile, one forward, ${total.toFixed(0)} ms of kernels):`);
  console.log("| kernel | calls | ms | share | GFLOP | GFLOP/s |\n| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const [name, { ms, calls, flops }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) {
    const rate = flops > 0 ? (flops / ms / 1e6).toFixed(1) : "—";
    console.log(`| ${name} | ${calls} | ${ms.toFixed(1)} | ${((100 * ms) / total).toFixed(1)}% | ${(flops / 1e9).toFixed(2)} | ${rate} |`);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Main

console.error(`ViT-B/32: ${(IMAGE_FLOPS / 1e9).toFixed(3)} GFLOP per image, ${(TEXT_FLOPS / 1e9).toFixed(3)} GFLOP per ${T}-token text`);
const header = ["backend", "workload", "ms", "items/s", "GFLOP/s", "matmul GFLOP/s", "ratio", "target"];
const table: string[][] = [];
const notes: string[] = [];

for (const backend of backends) {
  const skipped = await useBackend(backend);
  if (skipped !== undefined) {
    notes.push(`${backend}: skipped (${skipped})`);
    console.error(`${backend}: skipped (${skipped})`);
    continue;
  }
  const slow = SLOW_BACKENDS.has(backend);
  const n = slow ? slowRuns : runs;
  const { model, parameters, buildMs } = randomVitB32();
  console.error(`${backend}: random ViT-B/32 built and loaded in ${(buildMs / 1000).toFixed(1)} s (${(parameters / 1e6).toFixed(1)}M parameters)`);
  const matmuls = [matmulWorkload(512, 512, 512, "512³")];
  if (!slow) matmuls.push(matmulWorkload(8 * imageTokens, W, 4 * W, `[${8 * imageTokens}, ${W}]×[${W}, ${4 * W}]`));
  const models = slow ? [imageWorkload(model, 1), textWorkload(model, 1)] : [imageWorkload(model, 1), imageWorkload(model, 8), textWorkload(model, 1), textWorkload(model, 8)];
  const workloads = [...matmuls, ...models];
  const times = new Map<Workload, number[]>(workloads.map((w) => [w, []]));
  const warmUp = backend === "cpu" ? 0 : 1; // cpu compiles nothing; a warm-up there costs a minute
  for (let round = 1 - warmUp; round <= n; round++) {
    for (const w of workloads) {
      const ms = await sample(w);
      if (round > 0) times.get(w)!.push(ms); // round 0 warms up (wasm heap growth, shader compilation, caches)
      console.error(`  ${backend} ${round === 0 ? "warm-up" : `run ${round}/${n}`} ${w.name}: ${ms.toFixed(1)} ms`);
    }
  }
  const gflops = (w: Workload): number => w.flops / median(times.get(w)!) / 1e6;
  const matmulBest = Math.max(...matmuls.map(gflops));
  for (const w of workloads) {
    const ms = median(times.get(w)!);
    const rate = gflops(w);
    const isTarget = backend === "wasm" && w.name === "image, batch 8";
    const ratio = rate / matmulBest;
    table.push([
      backend,
      w.name,
      ms.toFixed(1),
      w.items > 0 ? ((1000 * w.items) / ms).toFixed(2) : "—",
      rate.toFixed(1),
      w.items > 0 ? matmulBest.toFixed(1) : "—",
      w.items > 0 ? `${(100 * ratio).toFixed(0)}%` : "—",
      isTarget ? `${ratio >= TARGET_RATIO ? "PASS" : "FAIL"} (≥ ${100 * TARGET_RATIO}%)` : "—",
    ]);
  }
  if (values.profile) await profileImages(model, slow ? 1 : 8);
  workloads.forEach((w) => w.dispose());
  model.dispose();
  notes.push(`${backend}: median of ${n} interleaved run${n === 1 ? "" : "s"} after ${warmUp} warm-up${slow ? " (slow backend: batch 1 only, a smoke run)" : ""}`);
}

const widths = header.map((_, i) => Math.max(...[header, ...table].map((r) => r[i]!.length)));
const line = (r: string[]): string => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
console.log(`\n${line(header)}`);
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const r of table) console.log(line(r));
console.log(
  `\nGFLOP counted: ${(IMAGE_FLOPS / 1e9).toFixed(2)} per image, ${(TEXT_FLOPS / 1e9).toFixed(2)} per ${T}-token text (matmuls and conv1). ` +
    `matmul GFLOP/s = the better of the two tf.matMul rows of the same backend; ratio = model GFLOP/s / that.`,
);
for (const note of notes) console.log(note);
