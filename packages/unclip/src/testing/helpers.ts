/** Test helpers for the unCLIP models (not part of the package). */
import * as tf from "@tensorflow/tfjs";
import type { Module } from "../module.js";
import { normalGenerator } from "../module.js";

/** ‖ours − ref‖ / ‖ref‖. */
/** The largest absolute elementwise difference of two equally long arrays. */
export function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`maxDifference: lengths ${a.length} and ${b.length} differ`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export function relativeError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (ours.length !== ref.length) throw new Error(`size ${ours.length} ≠ ${ref.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < ref.length; i++) {
    diff += (ours[i]! - ref[i]!) ** 2;
    norm += ref[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** A float32 tensor of N(0, std²) values from a host generator: the same numbers on every backend. */
export function seededNormal(shape: number[], seed: number, std = 1): tf.Tensor {
  const normal = normalGenerator(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => normal() * std), shape);
}

/** Reads `t` and disposes it. */
export async function take(t: tf.Tensor): Promise<Float32Array> {
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return data;
}

/** Gradients of `loss` with respect to every parameter of `module`, by checkpoint key, read back. */
export function gradientsByKey(module: Module, loss: () => tf.Scalar): { value: number; grads: Map<string, Float32Array> } {
  const params = module.namedParameters();
  const { value, grads } = tf.variableGrads(loss, [...params.values()]);
  const out = new Map<string, Float32Array>();
  // A parameter off the loss's path (e.g. the null embedding when no row is dropped) gets no gradient: zeros.
  for (const [key, v] of params) out.set(key, (grads[v.name]?.dataSync() as Float32Array | undefined) ?? new Float32Array(v.size));
  const result = value.dataSync()[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return { value: result, grads: out };
}

/**
 * Checks the gradient of `loss` along `directions` random directions against central finite differences:
 * (L(θ + εd) − L(θ − εd)) / 2ε (Richardson-extrapolated) vs ∇L·d. Returns the worst relative error.
 */
export function directionalDerivativeError(module: Module, loss: () => tf.Scalar, options: { epsilon: number; directions: number; seed: number }): number {
  const params = module.namedParameters();
  const { grads } = gradientsByKey(module, loss);
  let worst = 0;
  for (let k = 0; k < options.directions; k++) {
    const normal = normalGenerator(options.seed + k);
    const direction = new Map<string, Float32Array>();
    let analytic = 0;
    for (const [key, v] of params) {
      const d = Float32Array.from({ length: v.size }, () => normal());
      direction.set(key, d);
      const g = grads.get(key)!;
      for (let i = 0; i < d.length; i++) analytic += g[i]! * d[i]!;
    }
    const original = new Map([...params].map(([key, v]) => [key, v.dataSync().slice() as Float32Array]));
    const lossAt = (sign: number): number => { // L(θ + sign·ε·d)
      for (const [key, v] of params) {
        const base = original.get(key)!;
        const d = direction.get(key)!;
        tf.tidy(() => v.assign(tf.tensor(base.map((x, i) => x + sign * options.epsilon * d[i]!), v.shape)));
      }
      const value = tf.tidy(loss);
      const out = value.dataSync()[0]!;
      value.dispose();
      return out;
    };
    // Richardson extrapolation of the central difference D(h) = L'·d + c·h² + O(h⁴): (4·D(h/2) − D(h)) / 3 cancels
    // the h² term, so a step large enough for float32 rounding not to matter stays accurate.
    const central = (h: number) => (lossAt(h) - lossAt(-h)) / (2 * h * options.epsilon);
    const numeric = (4 * central(0.5) - central(1)) / 3;
    for (const [key, v] of params) tf.tidy(() => v.assign(tf.tensor(original.get(key)!, v.shape)));
    worst = Math.max(worst, Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-6));
  }
  return worst;
}

/**
 * A fixed-noise denoising loss for tests: x_t = √ᾱ x₀ + √(1 − ᾱ) ε with the cosine schedule's ᾱ at `t` of 1000
 * (Nichol & Dhariwal 2021 eq. 17, written out here so the model tests need no scheduler), loss = mean((model − ε)²).
 */
export function cosineAlphaBar(t: number, steps = 1000, s = 0.008): number {
  const f = (u: number) => Math.cos(((u / steps + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  return f(t) / f(0);
}

/** x_t for images x0 [B, …] with noise [B, …] at per-row timesteps. */
export function noised(x0: tf.Tensor, noise: tf.Tensor, timesteps: number[]): tf.Tensor {
  return tf.tidy(() => {
    const shape = [timesteps.length, ...x0.shape.slice(1).map(() => 1)];
    const a = tf.tensor(timesteps.map((t) => Math.sqrt(cosineAlphaBar(t))), shape);
    const b = tf.tensor(timesteps.map((t) => Math.sqrt(1 - cosineAlphaBar(t))), shape);
    return tf.add(tf.mul(x0, a), tf.mul(noise, b));
  });
}
