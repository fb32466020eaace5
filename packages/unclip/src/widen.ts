/**
 * Growing a trained U-Net to twice its width without changing what it computes (function-preserving widening,
 * Chen, Goodfellow & Shlens 2016, "Net2Net"), so a larger model starts training where a smaller one stopped.
 *
 * Every activation of C channels (C = a multiple of modelChannels, and the 4C timestep embedding) becomes 2C
 * channels holding each old channel twice, interleaved: new channel j carries old channel ⌊j/2⌋. Then
 *   - a weight axis that produces such an activation (the last axis of a Linear [in, out] or Conv2d [kh, kw, in, out],
 *     a bias, a norm's gain and shift) copies each entry twice;
 *   - a weight axis that reads such an activation (the in axis) splits each entry w in two, w/2 + ε and w/2 − ε: the
 *     two copies of an input are equal, so the sum is unchanged, while ε (seeded, small) makes the copies' weights
 *     differ so that training separates them (identical copies would get identical gradients forever).
 * The interleaving commutes with the U-Net's channel concatenations (skip connections; even-sized blocks) and with
 * block layouts inside one axis (qkv's q | k | v, the scale-shift norm's scale | shift, heads contiguous), and
 * GroupNorm with the same number of groups sees each old group's channels twice: same mean, same variance.
 * Two places need more than that:
 *   - the sinusoidal timestep features (modelChannels wide, cos | sin) are not an activation: the new half-width
 *     frequencies are exp(−ln(P)·j/C) for j < C, whose even entries are the old ones, so old feature i's weights go to
 *     new feature 2i (cos and sin alike) and the odd features get zero weights;
 *   - attention with heads kept (headChannels doubled with the width): a head's q·k sums every old product twice
 *     and its scale 1/√d shrinks by √2, so the logits grow by √2; the q columns (weight and bias) are scaled by 1/√2.
 */
import * as tf from "@tensorflow/tfjs-core";
import { normalGenerator } from "./module.js";
import { UNet } from "./unet.js";
import { validateUNetConfig, type UNetConfig } from "./unet-config.js";

export interface WidenOptions {
  /** Seed of the symmetry-breaking split ε (default 0). */
  seed?: number;
  /** Standard deviation of ε relative to the RMS of each split weight (default 0.05; 0 keeps exact copies). */
  noise?: number;
}

/** The config of `config` widened 2× (modelChannels and headChannels doubled; heads and groups kept). */
export function widenedConfig(config: Readonly<UNetConfig>): UNetConfig {
  return validateUNetConfig({ ...config, modelChannels: 2 * config.modelChannels, headChannels: 2 * config.headChannels });
}

/**
 * A new U-Net of twice the width of `unet` (see `widenedConfig`) whose forward pass equals `unet`'s (up to float
 * rounding). `unet` is left as it was (its weights are read, not moved); the caller owns both.
 */
export function widenUNet(unet: UNet, options: WidenOptions = {}): UNet {
  const seed = options.seed ?? 0;
  const noise = options.noise ?? 0.05;
  if (!Number.isInteger(seed)) throw new RangeError(`widenUNet: seed must be an integer, got ${seed}`);
  if (!(Number.isFinite(noise) && noise >= 0)) throw new RangeError(`widenUNet: noise must be a finite number ≥ 0, got ${noise}`);
  const config = unet.config; // valid, so groups divide every GroupNorm's channels, and then their doubles too
  const wide = new UNet(widenedConfig(config));
  const gaussian = normalGenerator(seed);
  const C = config.modelChannels;
  const oldParameters = unet.namedParameters();
  try {
    for (const [key, target] of wide.namedParameters()) {
      const source = oldParameters.get(key);
      if (source === undefined) throw new Error(`widenUNet: the widened model has ${key}, the source has not (unexpected layout)`);
      const oldShape = source.shape;
      const newShape = target.shape;
      if (oldShape.length !== newShape.length) throw new Error(`widenUNet: ${key} changes rank ([${oldShape.join(", ")}] → [${newShape.join(", ")}])`);
      const widened = newShape.map((n, a) => {
        if (n === oldShape[a]) return false;
        if (n === 2 * oldShape[a]!) return true;
        throw new Error(`widenUNet: ${key} axis ${a} goes from ${oldShape[a]} to ${n}, not ×1 or ×2`);
      });
      const values = source.dataSync() as Float32Array;
      let out: Float32Array;
      if (key === "time_embed.0.weight") {
        out = widenTimestepInput(values, C, oldShape[1]!);
      } else if (oldShape.length === 1) {
        out = widened[0] ? duplicate(values, 1, oldShape[0]!, 1) : Float32Array.from(values);
      } else {
        // [..., in, out]: out axis duplicated, in axis split (leading kernel axes unchanged).
        const inAxis = oldShape.length - 2;
        const lead = oldShape.slice(0, inAxis).reduce((a, b) => a * b, 1);
        const inOld = oldShape[inAxis]!;
        const outOld = oldShape[inAxis + 1]!;
        const w = widened[inAxis + 1] ? duplicate(values, lead * inOld, outOld, 1) : Float32Array.from(values);
        const outNew = widened[inAxis + 1] ? 2 * outOld : outOld;
        out = widened[inAxis] ? split(w, lead, inOld, outNew, noise * rms(values), gaussian) : w;
      }
      if (/\.qkv\.(weight|bias)$/.test(key)) scaleQueries(out, newShape[newShape.length - 1]! / 3, Math.SQRT1_2);
      tf.tidy(() => target.assign(tf.tensor(out, target.shape, "float32")));
    }
  } catch (error) {
    wide.dispose();
    throw error;
  }
  wide.samplingDefaults = { ...unet.samplingDefaults };
  return wide;
}

/** Rows [outer][n][inner] → [outer][2n][inner], each row of n twice in a row. */
function duplicate(values: Float32Array, outer: number, n: number, inner: number): Float32Array {
  const out = new Float32Array(values.length * 2);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < 2 * n; j++) {
      const from = (o * n + (j >> 1)) * inner;
      out.set(values.subarray(from, from + inner), (o * 2 * n + j) * inner);
    }
  }
  return out;
}

/** [lead][in][out] → [lead][2·in][out]: w → (w/2 + ε, w/2 − ε). */
function split(values: Float32Array, lead: number, inOld: number, out: number, std: number, gaussian: () => number): Float32Array {
  const result = new Float32Array(lead * 2 * inOld * out);
  for (let l = 0; l < lead; l++) {
    for (let i = 0; i < inOld; i++) {
      const from = (l * inOld + i) * out;
      const even = (l * 2 * inOld + 2 * i) * out;
      const odd = even + out;
      for (let o = 0; o < out; o++) {
        const half = values[from + o]! / 2;
        const e = std * gaussian();
        result[even + o] = half + e;
        result[odd + o] = half - e;
      }
    }
  }
  return result;
}

/** time_embed.0.weight [C, 4C] → [2C, 8C]: old cos/sin feature i → new 2i, odd features 0; out axis duplicated. */
function widenTimestepInput(values: Float32Array, C: number, outOld: number): Float32Array {
  if (C % 2 !== 0) throw new RangeError(`widenUNet: modelChannels ${C} must be even (cos | sin timestep features)`);
  const half = C / 2;
  const rows = duplicate(values, C, outOld, 1); // [C, 8C]: out axis duplicated
  const outNew = 2 * outOld;
  const result = new Float32Array(2 * C * outNew);
  for (let part = 0; part < 2; part++) {
    for (let i = 0; i < half; i++) {
      const from = (part * half + i) * outNew;
      const to = (part * C + 2 * i) * outNew;
      result.set(rows.subarray(from, from + outNew), to);
    }
  }
  return result;
}

/** Multiplies the q third of qkv's last axis (q | k | v, each `width` wide) by `factor`, in place. */
function scaleQueries(values: Float32Array, width: number, factor: number): void {
  const last = 3 * width;
  for (let row = 0; row < values.length / last; row++) {
    for (let j = 0; j < width; j++) values[row * last + j] = values[row * last + j]! * factor;
  }
}

function rms(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v * v;
  return values.length === 0 ? 0 : Math.sqrt(sum / values.length);
}
