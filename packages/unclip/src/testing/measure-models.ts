/**
 * Speed of the SMALL_* presets on one backend (not a test; the figures go into the report / README):
 *   npx tsx src/testing/measure-models.ts [backend=wasm] [trainSteps=3]
 * Prints forward times (decoder at batch 2 = one guided step, upsampler at batch 1 and 2, prior at batch 2), a
 * training step of the decoder at batch 32 (Adam), and the estimated time to sample one 64×64 image: 25 guided decoder
 * steps + 25 upsampler steps (+ 25 guided prior steps). Median and minimum of several runs after a warm-up, as wall
 * time and as this process's CPU time (user + system): the tfjs wasm backend runs on one thread in Node, so on a
 * shared, busy machine the CPU time is the better estimate of the wall time on an idle one.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { DiffusionPrior, SMALL_PRIOR } from "../diffusion-prior.js";
import { UNet } from "../unet.js";
import { SMALL_DECODER, SMALL_UPSAMPLER, type UNetConfig } from "../unet-config.js";

const backend = process.argv[2] ?? "wasm";
const trainSteps = Number(process.argv[3] ?? 3);

interface Timing {
  median: number;
  min: number;
  cpuMedian: number;
  cpuMin: number;
}

async function timeIt(run: () => Promise<void>, repeats: number): Promise<Timing> {
  await run();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    await run();
    const used = process.cpuUsage(cpuStart);
    wall.push(performance.now() - start);
    cpu.push((used.user + used.system) / 1000);
  }
  const sorted = (v: number[]) => v.slice().sort((a, b) => a - b);
  const [w, c] = [sorted(wall), sorted(cpu)];
  const mid = Math.floor(repeats / 2);
  return { median: w[mid]!, min: w[0]!, cpuMedian: c[mid]!, cpuMin: c[0]! };
}

function unetInputs(config: UNetConfig, batch: number) {
  return {
    x: tf.randomNormal([batch, config.imageSize, config.imageSize, config.inChannels], 0, 1, "float32", 1) as tf.Tensor4D,
    timesteps: Array.from({ length: batch }, (_, i) => 100 + i),
    inputs: {
      ...(config.clipEmbedDim > 0 ? { imageEmbeddings: tf.randomNormal([batch, config.clipEmbedDim], 0, 0.06, "float32", 2) as tf.Tensor2D, dropImageEmbedding: Array.from({ length: batch }, (_, i) => i % 2 === 1) } : {}),
      ...(config.lowResChannels > 0 ? { lowRes: tf.randomNormal([batch, config.lowResSize, config.lowResSize, config.lowResChannels], 0, 1, "float32", 3) as tf.Tensor4D } : {}),
    },
  };
}

async function forwardMs(unet: UNet, batch: number, repeats = 9) {
  const { x, timesteps, inputs } = unetInputs(unet.config, batch);
  const result = await timeIt(async () => {
    const y = unet.forward(x, timesteps, inputs);
    await y.data();
    y.dispose();
  }, repeats);
  tf.dispose([x, inputs.imageEmbeddings, inputs.lowRes].filter((t) => t !== undefined));
  return result;
}

const fmt = (r: Timing) => `wall ${r.median.toFixed(1)} ms (min ${r.min.toFixed(1)}), CPU ${r.cpuMedian.toFixed(1)} ms (min ${r.cpuMin.toFixed(1)})`;
const seconds = (r: Timing) => `wall ${(r.median / 1000).toFixed(2)} s (min ${(r.min / 1000).toFixed(2)}), CPU ${(r.cpuMedian / 1000).toFixed(2)} s (min ${(r.cpuMin / 1000).toFixed(2)})`;

async function main() {
  await tf.setBackend(backend);
  console.log(`backend ${tf.getBackend()}`);
  const decoder = new UNet(SMALL_DECODER, { seed: 1 });
  const upsampler = new UNet(SMALL_UPSAMPLER, { seed: 1 });
  const prior = new DiffusionPrior(SMALL_PRIOR, { seed: 1 });
  console.log(`SMALL_DECODER ${decoder.parameterCount()} params, SMALL_UPSAMPLER ${upsampler.parameterCount()}, SMALL_PRIOR ${prior.parameterCount()}`);
  const dec2 = await forwardMs(decoder, 2);
  console.log(`decoder forward, batch 2 (one guided step): ${fmt(dec2)}`);
  const up1 = await forwardMs(upsampler, 1);
  const up2 = await forwardMs(upsampler, 2);
  console.log(`upsampler forward, batch 1: ${fmt(up1)}; batch 2: ${fmt(up2)}`);
  const E = SMALL_PRIOR.clipEmbedDim;
  const z = tf.randomNormal([2, E]) as tf.Tensor2D;
  const textEmbeddings = tf.randomNormal([2, E]) as tf.Tensor2D;
  const textTokens = tf.randomNormal([2, 77, SMALL_PRIOR.textTokenDim]) as tf.Tensor3D;
  const prior2 = await timeIt(async () => {
    const y = prior.forward(z, [5, 5], { textEmbeddings, textTokens, dropText: [false, true] });
    await y.data();
    y.dispose();
  }, 9);
  console.log(`prior forward, batch 2 with 77 text tokens: ${fmt(prior2)}`);
  tf.dispose([z, textEmbeddings, textTokens]);
  const steps = 25;
  const estimate = (pick: (t: Timing) => number, withPrior: boolean) =>
    ((steps * (pick(dec2) + pick(up1) + (withPrior ? pick(prior2) : 0))) / 1000).toFixed(2);
  console.log(
    `estimated 64×64 sample, ${steps} steps each, decoder guided + upsampler: wall ${estimate((t) => t.median, false)} s, CPU ${estimate((t) => t.cpuMedian, false)} s; ` +
      `with ${steps} guided prior steps: wall ${estimate((t) => t.median, true)} s, CPU ${estimate((t) => t.cpuMedian, true)} s`,
  );

  if (trainSteps > 0) {
    const batch = 32;
    for (const [name, unet] of [["decoder", decoder], ["upsampler", upsampler]] as const) {
      const { x, timesteps, inputs } = unetInputs(unet.config, batch);
      const noise = tf.randomNormal(x.shape, 0, 1, "float32", 4);
      const optimizer = tf.train.adam(1e-4);
      const variables = [...unet.namedParameters().values()];
      const train = await timeIt(async () => {
        const loss = optimizer.minimize(() => tf.losses.meanSquaredError(noise, unet.forward(x, timesteps, inputs)) as tf.Scalar, true, variables)!;
        await loss.data();
        loss.dispose();
      }, trainSteps);
      console.log(`${name} training step, batch ${batch} at ${unet.config.imageSize}×${unet.config.imageSize} (Adam): ${seconds(train)}`);
      optimizer.dispose();
      tf.dispose([x, noise, inputs.imageEmbeddings, inputs.lowRes].filter((t) => t !== undefined));
    }
    const batch32 = {
      z: tf.randomNormal([batch, E]) as tf.Tensor2D,
      textEmbeddings: tf.randomNormal([batch, E]) as tf.Tensor2D,
      textTokens: tf.randomNormal([batch, 77, SMALL_PRIOR.textTokenDim]) as tf.Tensor3D,
    };
    const optimizer = tf.train.adam(1e-4);
    const variables = [...prior.namedParameters().values()];
    const timesteps = Array.from({ length: batch }, (_, i) => i * 30);
    const train = await timeIt(async () => {
      const loss = optimizer.minimize(
        () => tf.losses.meanSquaredError(batch32.z, prior.forward(batch32.z, timesteps, { textEmbeddings: batch32.textEmbeddings, textTokens: batch32.textTokens })) as tf.Scalar,
        true,
        variables,
      )!;
      await loss.data();
      loss.dispose();
    }, trainSteps);
    console.log(`prior training step, batch ${batch} with 77 text tokens (Adam): ${seconds(train)}`);
    optimizer.dispose();
    tf.dispose(Object.values(batch32));
  }
  for (const m of [decoder, upsampler, prior]) m.dispose();
}

await main();
