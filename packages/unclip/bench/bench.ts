/**
 * npm run bench -w @proj/unclip [-- --backends wasm,native[,cpu] --runs 3 --steps 25 --decoder medium|small]
 *
 * The embedded-default sizes (MEDIUM_DECODER 32×32 — SMALL_DECODER with `--decoder small` —, SMALL_UPSAMPLER 32→64,
 * SMALL_PRIOR) with random weights:
 * decoder denoising steps/s (batch 2 = one image with guidance), upsampler steps/s, prior steps/s (batch 4 =
 * 2 candidates with guidance), and seconds per sampled 64×64 image: `sample` with `--steps` decoder steps and
 * guidance 3, then 10 upsampler steps; and one decoder training step at batch 16 (issue #6 compares native with wasm,
 * target ≥ 5×). Target (issue #7): < 10 s per 64×64 image on 2 cores with the wasm backend.
 * Each figure is the median of `--runs` after one warm-up; the backends run one after the other.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { DiffusionPrior, SMALL_PRIOR } from "../src/diffusion-prior.js";
import { sample, samplePrior } from "../src/sample.js";
import { UNet } from "../src/unet.js";
import { MEDIUM_DECODER, SMALL_DECODER, SMALL_UPSAMPLER } from "../src/unet-config.js";

const { values } = parseArgs({
  options: {
    backends: { type: "string", default: "wasm,native" },
    runs: { type: "string", default: "3" },
    steps: { type: "string", default: "25" },
    decoder: { type: "string", default: "medium" },
  },
});
const backends = values.backends.split(",").map((b) => b.trim()).filter(Boolean);
const runs = Number(values.runs);
const steps = Number(values.steps);
if (!(Number.isInteger(runs) && runs >= 1 && Number.isInteger(steps) && steps >= 1)) throw new RangeError("--runs and --steps must be positive integers");
const TARGET_SECONDS = 10;
const DECODERS = { small: SMALL_DECODER, medium: MEDIUM_DECODER } as const;
if (!Object.hasOwn(DECODERS, values.decoder)) throw new RangeError(`--decoder must be small or medium, got ${values.decoder}`);
const DECODER = DECODERS[values.decoder as keyof typeof DECODERS];

async function useBackend(name: string): Promise<boolean> {
  if (name === "native") {
    try {
      const specifier = "@proj/tensor-kernels/native";
      await import(/* @vite-ignore */ specifier);
    } catch (error) {
      console.log(`native: not available (${(error as Error).message.split("\n")[0]})`);
      return false;
    }
  }
  try {
    return await tf.setBackend(name);
  } catch (error) {
    console.log(`${name}: failed to initialise (${(error as Error).message.split("\n")[0]})`);
    return false;
  }
}

async function median(fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const rows: string[][] = [];
const trainStepMs = new Map<string, number>();
for (const backend of backends) {
  if (!(await useBackend(backend))) continue;
  const decoder = new UNet(DECODER, { seed: 1 });
  const upsampler = new UNet(SMALL_UPSAMPLER, { seed: 2 });
  const prior = new DiffusionPrior({ ...SMALL_PRIOR, textTokenDim: 0 }, { seed: 3 });
  const E = DECODER.clipEmbedDim;
  const embedding = tf.randomNormal([1, E], 0, 1, "float32", 4) as tf.Tensor2D;
  const text = tf.randomNormal([1, SMALL_PRIOR.clipEmbedDim], 0, 1, "float32", 5) as tf.Tensor2D;
  const before = tf.memory().numTensors;

  // One guided decoder step = a forward pass at batch 2; measured through `sample` with 1 step... and n steps.
  const decoderOnly = await median(async () => tf.dispose(await sample(decoder, { imageEmbeddings: embedding, numInferenceSteps: steps, guidanceScale: 3 })));
  const full = await median(async () =>
    tf.dispose(await sample(decoder, { imageEmbeddings: embedding, numInferenceSteps: steps, guidanceScale: 3, upsampler, upsamplerSteps: 10 })),
  );
  const priorMs = await median(async () => tf.dispose(await samplePrior(prior, { textEmbeddings: text, numInferenceSteps: steps, guidanceScale: 1.5, candidates: 2 })));
  if (tf.memory().numTensors !== before) throw new Error(`bench: ${tf.memory().numTensors - before} tensors leaked`);
  const upsamplerMs = full - decoderOnly;
  // One decoder training step (forward + backward + AdamW-free gradient) at batch 16, the unit of `trainDecoder`.
  const trainBatch = 16;
  const x = tf.randomNormal([trainBatch, DECODER.imageSize, DECODER.imageSize, 3]) as tf.Tensor4D;
  const e = tf.randomNormal([trainBatch, E]) as tf.Tensor2D;
  const target = tf.randomNormal(x.shape);
  const variables = [...decoder.namedParameters().values()];
  const timesteps = Array.from({ length: trainBatch }, (_, i) => (i * 61) % 1000);
  const trainMs = await median(async () => {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(decoder.forward(x, timesteps, { imageEmbeddings: e, checkFinite: false }), target))) as tf.Scalar, variables);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  });
  tf.dispose([x, e, target]);
  trainStepMs.set(backend, trainMs);
  rows.push(
    [backend, `decoder (${DECODER.imageSize}×${DECODER.imageSize}, batch 2, guided)`, (steps / (decoderOnly / 1000)).toFixed(1), "steps/s", "—"],
    [backend, `upsampler (→ ${SMALL_UPSAMPLER.imageSize}×${SMALL_UPSAMPLER.imageSize}, batch 1)`, (10 / (upsamplerMs / 1000)).toFixed(1), "steps/s", "—"],
    [backend, "prior (batch 4: 2 candidates, guided)", (steps / (priorMs / 1000)).toFixed(1), "steps/s", "—"],
    [
      backend,
      `one ${SMALL_UPSAMPLER.imageSize}×${SMALL_UPSAMPLER.imageSize} image (${steps} decoder + 10 upsampler steps)`,
      (full / 1000).toFixed(2),
      "s",
      backend === "wasm" ? (full / 1000 < TARGET_SECONDS ? `PASS (< ${TARGET_SECONDS} s)` : `FAIL (< ${TARGET_SECONDS} s)`) : "—",
    ],
    [backend, `text → image embedding (prior, ${steps} steps)`, (priorMs / 1000).toFixed(2), "s", "—"],
    [
      backend,
      `decoder training step (batch ${trainBatch}, forward + backward)`,
      (trainMs / 1000).toFixed(2),
      "s",
      backend === "native" && trainStepMs.has("wasm") ? `${(trainStepMs.get("wasm")! / trainMs).toFixed(1)}× wasm (target ≥ 5×)` : "—",
    ],
  );
  tf.dispose([embedding, text]);
  decoder.dispose();
  upsampler.dispose();
  prior.dispose();
}

const parameters = (config: ConstructorParameters<typeof UNet>[0]) => {
  const m = new UNet(config);
  const n = m.parameterCount();
  m.dispose();
  return n;
};
console.log(`\nunCLIP embedded-model presets, random weights (decoder ${values.decoder}: ${parameters(DECODER).toLocaleString()} parameters, upsampler ${parameters(SMALL_UPSAMPLER).toLocaleString()}); median of ${runs} after a warm-up\n`);
console.log("| backend | workload | value | unit | target |\n| --- | --- | ---: | --- | --- |");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);
