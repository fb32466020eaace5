/**
 * Seeded randomness for sampling: a small counter-based generator that hands out a fresh 32-bit seed per draw, and
 * standard-normal tensors from `tf.randomNormal` with that seed. The same seed and the same sequence of draws give the
 * same numbers on every backend (tfjs draws seeded normals on the host before uploading them).
 *
 * The generator holds one integer and no tensors, so a scheduler or pipeline may keep one.
 */
import * as tf from "@tensorflow/tfjs-core";

/** A deterministic stream of 32-bit seeds (mulberry32), one per noise draw. */
export class RandomGenerator {
  /** The seed this generator started from. */
  readonly seed: number;
  private state: number;

  constructor(seed = 0) {
    if (!Number.isSafeInteger(seed)) throw new Error(`seed must be a safe integer, got ${seed}`);
    this.seed = seed;
    // Fold the high bits in so seeds that differ only above 2^32 still differ.
    this.state = (seed ^ Math.floor(seed / 0x1_0000_0000)) >>> 0;
  }

  /** The next seed in [0, 2^32). */
  nextSeed(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return (z ^ (z >>> 14)) >>> 0;
  }

  /** A float32 tensor of independent N(0, 1) values; each call advances the stream. */
  normal<R extends tf.Rank>(shape: tf.ShapeMap[R]): tf.Tensor<R> {
    return tf.randomNormal<R>(shape, 0, 1, "float32", this.nextSeed());
  }
}

/**
 * N(0, 1) noise of `shape`: from `generator` when it is a `RandomGenerator` (advancing it), or from a fresh generator
 * when it is a seed (so the same seed always gives the same tensor).
 */
export function randomNormal<R extends tf.Rank>(
  shape: tf.ShapeMap[R],
  generator: RandomGenerator | number,
): tf.Tensor<R> {
  const source = typeof generator === "number" ? new RandomGenerator(generator) : generator;
  return source.normal<R>(shape);
}

/** Where a scheduler step takes the standard-normal noise of its stochastic part from. */
export interface StepNoiseOptions {
  /** The noise itself, shaped like the sample (as diffusers' `variance_noise`). */
  noise?: tf.Tensor | undefined;
  /** A generator to draw it from (advanced by the draw). */
  generator?: RandomGenerator | undefined;
  /** A seed to draw it from: the same seed gives the same noise on every call. */
  seed?: number | undefined;
}

/**
 * The noise for one stochastic step: `options.noise` (checked against `shape`), else a draw from `options.generator`,
 * `options.seed` or `fallback`. At most one of noise / generator / seed may be given. Call inside `tf.tidy`.
 */
export function stepNoise(
  shape: readonly number[],
  options: StepNoiseOptions,
  fallback: RandomGenerator,
  caller: string,
): tf.Tensor {
  const given = (["noise", "generator", "seed"] as const).filter((key) => options[key] !== undefined);
  if (given.length > 1) throw new Error(`${caller}: pass only one of noise, generator, seed (got ${given.join(", ")})`);
  if (options.noise !== undefined) {
    if (!tf.util.arraysEqual(options.noise.shape, shape as number[])) {
      throw new Error(`${caller}: noise has shape [${options.noise.shape.join(", ")}] but the sample has [${shape.join(", ")}]`);
    }
    return options.noise;
  }
  return randomNormal(shape as number[], options.generator ?? options.seed ?? fallback);
}
