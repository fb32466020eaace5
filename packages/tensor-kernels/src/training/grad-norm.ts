/**
 * Gradient clipping by global norm (Pascanu et al. 2013; PyTorch `torch.nn.utils.clip_grad_norm_`): when the L2 norm
 * of all gradients together exceeds `maxNorm`, every gradient is scaled by maxNorm / (norm + 1e-6).
 */
import * as tf from "@tensorflow/tfjs-core";

export interface ClippedGradients {
  /** The gradients after clipping, by the same names (new tensors, owned by the caller). */
  grads: Map<string, tf.Tensor>;
  /** The global norm before clipping (float32 scalar, owned by the caller). */
  totalNorm: tf.Scalar;
}

/** Clips `grads` to a global L2 norm of at most `maxNorm`. Leaves the inputs alone; computes on the device (no read-back). */
export function clipGradNorm(grads: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>, maxNorm: number): ClippedGradients {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const entries = grads instanceof Map ? [...grads.entries()] : Object.entries(grads);
  const [totalNorm, ...clipped] = tf.tidy(() => {
    const squares = entries.map(([, g]) => tf.sum(tf.square(tf.cast(g, "float32"))));
    const norm = tf.sqrt(squares.length === 0 ? tf.scalar(0) : tf.addN(squares)) as tf.Scalar;
    const scale = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1); // PyTorch: clamp(max_norm / (norm + 1e-6), max=1)
    return [norm, ...entries.map(([, g]) => tf.mul(g, scale))]; // tidy keeps tensors returned in an array, not in a Map
  });
  return { grads: new Map(entries.map(([name], i) => [name, clipped[i]!])), totalNorm: totalNorm as tf.Scalar };
}
