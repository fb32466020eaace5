/**
 * The training loop shared by `trainDecoder`, `trainUpsampler` and `trainPrior`: AdamW with linear warm-up then
 * cosine decay, gradient clipping by global norm, an exponential moving average of the weights (what sampling uses),
 * progress, cancellation, and checkpoints that resume exactly.
 *
 * Determinism: every random draw of step k (timesteps, noise, dropout) comes from a seed derived from (seed, k), not
 * from a stream, so a run resumed at step k continues exactly as the uninterrupted run would — given the same batch k.
 * The loop takes one batch per step from `batches`; when resuming at step k, hand it an iterable that starts at
 * batch k (e.g. skip k batches of a seeded loader).
 *
 * Checkpoint (safetensors): `model.<key>` (raw weights), `ema.<key>`, `optimizer.m/<key>`, `optimizer.v/<key>`,
 * `optimizer.step`; `__metadata__` { format: "proj-unclip-training", kind, step, config (the model's JSON) }.
 */
import * as tf from "@tensorflow/tfjs-core";
import { AdamW, ExponentialMovingAverage, clipGradNorm, cosineSchedule } from "@proj/tensor-kernels";
import { CheckpointError, parseSafetensors, serializeSafetensors, toFloat32, toInt32, type SafetensorsFile } from "@proj/clip";
import { seedFor, type Module } from "./module.js";
import { abortError } from "./sample.js";

export interface TrainProgress {
  /** Steps done (after this one), and the target. */
  step: number;
  steps: number;
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  learningRate: number;
  /** Over the steps of this call so far. */
  stepsPerSecond: number;
}

export interface TrainOptions {
  /** Train until this many steps have been taken in total (resumed steps included). */
  steps: number;
  /** Peak learning rate (default 3e-4). */
  learningRate?: number;
  /** Linear warm-up steps (default min(100, ⌊steps / 10⌋)); then cosine decay to `learningRate · minLearningRateRatio`. */
  warmupSteps?: number;
  /** Final learning rate as a fraction of the peak (default 0.1). */
  minLearningRateRatio?: number;
  /** AdamW's decoupled weight decay (default 0; gains, biases and embeddings never decay). */
  weightDecay?: number;
  /** Clip the global gradient norm to this (default 1). */
  maxGradNorm?: number;
  /** EMA decay (default 0.999, with warm-up d_t = min(d, (1 + t)/(10 + t))). */
  emaDecay?: number;
  /** Seed of the per-step random draws (default 0). */
  seed?: number;
  onProgress?: (progress: TrainProgress) => void | Promise<void>;
  /** Aborting stops between two steps: a checkpoint is written (when configured) and the call rejects with an AbortError. */
  signal?: AbortSignal;
  /** Write a checkpoint every `every` steps, after the last step, and on abort. */
  checkpoint?: { every: number; save: (bytes: Uint8Array, step: number) => void | Promise<void> };
  /** A checkpoint of this trainer to continue from (same kind and config). */
  resume?: Uint8Array | SafetensorsFile;
}

export interface TrainResult {
  /** Steps taken in total. */
  step: number;
  /** The loss of each step of this call. */
  losses: number[];
}

export const TRAINING_FORMAT = "proj-unclip-training";

/** The per-step loss: called inside `tf.variableGrads`; `seed` is fixed for (run seed, step). */
export type StepLoss<B> = (batch: B, seed: number) => tf.Scalar;

/** Runs the loop over `module`'s parameters (see the module comment). At the end the module holds the EMA weights. */
export async function trainLoop<B>(
  kind: string,
  module: Module & { config: unknown },
  batches: AsyncIterable<B>,
  loss: StepLoss<B>,
  releaseBatch: (batch: B) => void,
  options: TrainOptions,
): Promise<TrainResult> {
  const what = `train${kind[0]!.toUpperCase()}${kind.slice(1)}`;
  // 1. Check options.
  const { steps } = options;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`${what}: steps must be a positive integer, got ${steps}`);
  const peak = options.learningRate ?? 3e-4;
  if (!(Number.isFinite(peak) && peak > 0)) throw new RangeError(`${what}: learningRate must be a positive number, got ${peak}`);
  const warmupSteps = options.warmupSteps ?? Math.min(100, Math.floor(steps / 10));
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps >= steps) {
    throw new RangeError(`${what}: warmupSteps must be an integer in [0, steps), got ${warmupSteps}`);
  }
  const maxGradNorm = options.maxGradNorm ?? 1;
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`${what}: seed must be an integer, got ${seed}`);
  const every = options.checkpoint?.every;
  if (every !== undefined && (!Number.isInteger(every) || every < 1)) throw new RangeError(`${what}: checkpoint.every must be a positive integer, got ${every}`);
  const schedule = cosineSchedule({ warmupSteps, totalSteps: steps, peak, floor: peak * (options.minLearningRateRatio ?? 0.1) });

  // 2. Optimizer and averages over the named parameters.
  const params = module.namedParameters();
  const keyOf = new Map([...params].map(([key, v]) => [v.name, key]));
  const optimizer = new AdamW(params, { weightDecay: options.weightDecay ?? 0 });
  const ema = new ExponentialMovingAverage(params, { decay: options.emaDecay ?? 0.999, warmup: true });
  const losses: number[] = [];
  let step = 0;
  try {
    if (options.resume !== undefined) step = restore(what, kind, module, optimizer, ema, options.resume);
    if (step >= steps) return { step, losses };
    const save = async (): Promise<void> => {
      if (options.checkpoint !== undefined) await options.checkpoint.save(await checkpointBytes(kind, module, optimizer, ema, step), step);
    };

    // 3. Steps.
    const started = performance.now();
    const iterator = batches[Symbol.asyncIterator]();
    while (step < steps) {
      if (options.signal?.aborted) {
        await save();
        throw abortError(options.signal, what);
      }
      const next = await iterator.next();
      if (next.done === true) throw new RangeError(`${what}: the batches ran out after ${step} steps (of ${steps})`);
      const batch = next.value;
      const learningRate = schedule(step);
      let lossValue: tf.Scalar;
      let normValue: tf.Scalar;
      try {
        const { value, grads } = tf.variableGrads(() => loss(batch, seedFor(seed, `step ${step}`)), [...params.values()]);
        const named = new Map(Object.entries(grads).map(([name, g]) => [keyOf.get(name) ?? name, g]));
        const clipped = clipGradNorm(named, maxGradNorm);
        tf.dispose(Object.values(grads));
        optimizer.step(clipped.grads, learningRate);
        tf.dispose([...clipped.grads.values()]);
        ema.update();
        lossValue = value;
        normValue = clipped.totalNorm;
      } finally {
        releaseBatch(batch);
      }
      const [lossNumber, gradNorm] = [(await lossValue.data())[0]!, (await normValue.data())[0]!];
      tf.dispose([lossValue, normValue]);
      if (!Number.isFinite(lossNumber)) throw new RangeError(`${what}: the loss became ${lossNumber} at step ${step + 1} (lower the learning rate?)`);
      losses.push(lossNumber);
      step++;
      const seconds = (performance.now() - started) / 1000;
      await options.onProgress?.({ step, steps, loss: lossNumber, gradNorm, learningRate, stepsPerSecond: losses.length / seconds });
      if (every !== undefined && (step % every === 0 || step === steps)) await save();
      else if (step === steps) await save();
    }
    return { step, losses };
  } finally {
    // 4. The module keeps the averaged weights (what sampling uses); the checkpoint keeps the raw ones.
    ema.copyTo();
    ema.dispose();
    optimizer.dispose();
  }
}

async function checkpointBytes(kind: string, module: Module & { config: unknown }, optimizer: AdamW, ema: ExponentialMovingAverage, step: number): Promise<Uint8Array> {
  const entries: [string, tf.Tensor][] = [];
  for (const [key, v] of module.namedParameters()) entries.push([`model.${key}`, v]);
  const emaState = ema.exportState(); // copies
  for (const [key, v] of emaState) entries.push([`ema.${key}`, v]);
  const optimizerState = optimizer.exportState(); // copies
  for (const [key, v] of optimizerState) entries.push([`optimizer.${key}`, v]);
  const tensors: Parameters<typeof serializeSafetensors>[0] = {};
  for (const [name, t] of entries) {
    const data = await t.data();
    tensors[name] = t.dtype === "int32" ? { dtype: "I32", shape: [...t.shape], data: data as Int32Array } : { dtype: "F32", shape: [...t.shape], data: data as Float32Array };
  }
  tf.dispose([...optimizerState.values(), ...emaState.values()]);
  return serializeSafetensors(tensors, { format: TRAINING_FORMAT, kind, step: String(step), config: JSON.stringify(module.config) });
}

/** Loads a training checkpoint into the module, optimizer and EMA; returns its step. */
function restore(what: string, kind: string, module: Module & { config: unknown }, optimizer: AdamW, ema: ExponentialMovingAverage, source: Uint8Array | SafetensorsFile): number {
  const file = source instanceof Uint8Array ? parseSafetensors(source) : source;
  const meta = file.metadata;
  if (meta.format !== TRAINING_FORMAT) throw new CheckpointError(`${what}: resume: not a training checkpoint (format ${JSON.stringify(meta.format)}, expected "${TRAINING_FORMAT}")`);
  if (meta.kind !== kind) throw new CheckpointError(`${what}: resume: a ${meta.kind} checkpoint cannot resume ${kind} training`);
  if (meta.config !== JSON.stringify(module.config)) throw new CheckpointError(`${what}: resume: the checkpoint's config ${meta.config} differs from the model's ${JSON.stringify(module.config)}`);
  const step = Number(meta.step);
  const groups = { model: new Map<string, tf.Tensor>(), ema: new Map<string, tf.Tensor>(), optimizer: new Map<string, tf.Tensor>() };
  try {
    for (const [name, t] of file.tensors) {
      const dot = name.indexOf(".");
      const group = groups[name.slice(0, dot) as keyof typeof groups];
      if (group === undefined) throw new CheckpointError(`${what}: resume: unexpected tensor ${name}`);
      group.set(name.slice(dot + 1), t.dtype === "I32" ? tf.tensor(toInt32(t), t.shape, "int32") : tf.tensor(toFloat32(t), t.shape, "float32"));
    }
    const params = module.namedParameters();
    const missing = [...params.keys()].filter((k) => !groups.model.has(k));
    if (missing.length > 0) throw new CheckpointError(`${what}: resume: the checkpoint lacks ${missing.join(", ")}`);
    for (const [key, v] of params) {
      const t = groups.model.get(key)!;
      if (!tf.util.arraysEqual(t.shape, v.shape)) throw new CheckpointError(`${what}: resume: ${key} has shape [${t.shape.join(", ")}], the model [${v.shape.join(", ")}]`);
    }
    for (const [key, v] of params) v.assign(groups.model.get(key)!);
    ema.importState(groups.ema);
    optimizer.importState(groups.optimizer);
  } finally {
    for (const group of Object.values(groups)) tf.dispose([...group.values()]);
  }
  return step;
}
