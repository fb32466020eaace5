/**
 * Sinusoidal timestep embedding (guided-diffusion `nn.py` `timestep_embedding`; Vaswani et al. 2017 §3.5):
 *   freqs_i = exp(−ln(maxPeriod) · i / half),  i = 0 … half − 1,  half = ⌊dim/2⌋
 *   emb(t) = [cos(t·freqs), sin(t·freqs)]  (cos first, as in guided-diffusion), zero-padded when dim is odd.
 * Timesteps may be fractional (respaced samplers pass the original training step).
 */
import * as tf from "@tensorflow/tfjs-core";

export const DEFAULT_MAX_PERIOD = 10_000;

/** timesteps: [B] (tensor or numbers) → [B, dim]. */
export function timestepEmbedding(timesteps: tf.Tensor1D | readonly number[], dim: number, maxPeriod = DEFAULT_MAX_PERIOD): tf.Tensor2D {
  if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`timestepEmbedding: dim must be a positive integer, got ${dim}`);
  if (!(maxPeriod > 0)) throw new RangeError(`timestepEmbedding: maxPeriod must be positive, got ${maxPeriod}`);
  if (timesteps instanceof tf.Tensor && timesteps.rank !== 1) {
    throw new RangeError(`timestepEmbedding: timesteps must be rank 1 [B], got shape [${timesteps.shape.join(", ")}]`);
  }
  const half = Math.floor(dim / 2);
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(maxPeriod) * i) / half);
  return tf.tidy(() => {
    const t = timesteps instanceof tf.Tensor ? tf.cast(timesteps, "float32") : tf.tensor1d(timesteps.slice(), "float32");
    const args = tf.mul(tf.expandDims(t, 1), tf.tensor2d(freqs, [1, half])); // [B, half]
    const parts = [tf.cos(args), tf.sin(args)];
    if (dim % 2 === 1) parts.push(tf.zeros([t.shape[0]!, 1]));
    return tf.concat(parts, 1) as tf.Tensor2D; // [B, dim]
  });
}
