/**
 * Saving a loaded CLIP model as a safetensors checkpoint in OpenAI's layout (the keys and layouts of the reference
 * `state_dict`), with the config in `__metadata__.config` so that `loadClip` needs no options.
 *
 * The model's property paths mirror the checkpoint keys, so the state dict is a walk over the model; every tensor
 * goes back from the model layout to the checkpoint layout through the inverse of `CHECKPOINT_TRANSFORMS`. One
 * thing cannot be recovered: the ModifiedResNet folds each BatchNorm into the convolution before it at load
 * (modified-resnet.ts), so a ResNet is saved with the folded conv weights and an identity BatchNorm
 * (γ = 1, β = folded bias, running_mean = 0, running_var = 1 − eps, so that γ / √(running_var + eps) = 1). The
 * saved model computes the same function (to float32 rounding), but its BatchNorm tensors differ from the
 * original checkpoint's.
 */
import * as tf from "@tensorflow/tfjs-core";
import { CHECKPOINT_TRANSFORMS, TOKENIZER_METADATA_KEY, type ClipModel } from "./clip-model.js";
import { clipConfigToJson } from "./config.js";
import { BATCH_NORM_EPS, type FoldedConv } from "./modified-resnet.js";
import { serializeSafetensors } from "./safetensors.js";

type StateDict = Parameters<typeof serializeSafetensors>[0];

const isFoldedConv = (node: object): node is FoldedConv =>
  "weight" in node && "bias" in node && "pad" in node && node.weight instanceof tf.Tensor && node.weight.rank === 4;

/** `visual.layer1.0.conv2` → `visual.layer1.0.bn2`; `….downsample` → conv `….downsample.0`, BatchNorm `….downsample.1`. */
function foldedConvKeys(path: string): { conv: string; batchNorm: string } {
  if (path.endsWith(".downsample")) return { conv: `${path}.0`, batchNorm: `${path}.1` };
  const m = /^(.*\.)conv([123])$/.exec(path);
  if (m === null) throw new Error(`saveClip: no BatchNorm key for the folded convolution at ${path}`);
  return { conv: path, batchNorm: `${m[1]}bn${m[2]}` };
}

/** A model tensor waiting to be downloaded in the checkpoint layout. */
interface Pending {
  key: string;
  tensor: tf.Tensor;
}

/** Model-layout tensor → checkpoint layout (the inverse permutation of its `CHECKPOINT_TRANSFORMS` rule); owned by the caller. */
function toCheckpointLayout(key: string, t: tf.Tensor): tf.Tensor {
  const rule = CHECKPOINT_TRANSFORMS.find((r) => r.keys.test(key));
  if (rule === undefined) return tf.clone(t);
  const inverse = new Array<number>(rule.permutation.length);
  rule.permutation.forEach((from, to) => (inverse[from] = to)); // model axis `to` came from checkpoint axis `from`
  return tf.transpose(t, inverse);
}

function walk(node: unknown, path: string, out: StateDict, pending: Pending[]): void {
  const add = (key: string, t: tf.Tensor): void => {
    pending.push({ key, tensor: toCheckpointLayout(key, t) });
  };
  if (node instanceof tf.Tensor) {
    add(path, node);
  } else if (Array.isArray(node)) {
    node.forEach((child, i) => walk(child, `${path}.${i}`, out, pending));
  } else if (typeof node === "object" && node !== null) {
    if (isFoldedConv(node)) {
      const { conv, batchNorm } = foldedConvKeys(path);
      const channels = node.bias.shape[0];
      add(`${conv}.weight`, node.weight);
      add(`${batchNorm}.bias`, node.bias);
      out[`${batchNorm}.weight`] = { dtype: "F32", shape: [channels], data: new Float32Array(channels).fill(1) };
      out[`${batchNorm}.running_mean`] = { dtype: "F32", shape: [channels], data: new Float32Array(channels) };
      out[`${batchNorm}.running_var`] = { dtype: "F32", shape: [channels], data: new Float32Array(channels).fill(1 - BATCH_NORM_EPS) };
      out[`${batchNorm}.num_batches_tracked`] = { dtype: "I64", shape: [], data: new BigInt64Array(1) };
      return;
    }
    for (const [name, child] of Object.entries(node)) {
      if (name === "config") continue; // hyper-parameters, not weights
      walk(child, path === "" ? name : `${path}.${name}`, out, pending);
    }
  }
  // numbers (strides, paddings) are architecture, not weights
}

export interface SaveClipOptions {
  /**
   * Storage type of the floating-point weights: `"F32"` (default, exact) or `"F16"` (half the size; values rounded
   * to nearest-even half precision, as PyTorch's `.half()` does). `logit_scale` and a ResNet's identity BatchNorms
   * stay F32 (the reference's `convert_weights` leaves them in F32 too).
   */
  dtype?: "F32" | "F16";
}

/**
 * A loaded CLIP model (ViT or ModifiedResNet; from either key layout) as safetensors bytes in OpenAI's layout, F32
 * or F16, with `__metadata__` `{ format: "pt", config: <the reference constructor's keyword arguments as JSON> }`.
 * `loadClip(await saveClip(model))` gives a model with the same outputs. Downloads the weights asynchronously (works
 * on every backend, WebGPU included); creates no lasting tensors.
 */
export async function saveClip(model: ClipModel, options: SaveClipOptions = {}): Promise<Uint8Array> {
  const dtype = options.dtype ?? "F32";
  if (dtype !== "F32" && dtype !== "F16") throw new TypeError(`saveClip: dtype must be "F32" or "F16", got ${JSON.stringify(dtype)}`);
  const state: StateDict = {};
  const pending: Pending[] = [];
  try {
    walk(model.visual, "visual", state, pending);
    walk(model.text, "", state, pending);
    for (const { key, tensor } of pending) {
      state[key] = { dtype, shape: [...tensor.shape], data: (await tensor.data()) as Float32Array };
    }
  } finally {
    for (const { tensor } of pending) tensor.dispose();
  }
  state.logit_scale = { dtype: "F32", shape: [], data: new Float32Array([Math.log(model.logitScale)]) };
  const metadata: Record<string, string> = { format: "pt", config: JSON.stringify(clipConfigToJson(model.config)) };
  if (model.tokenizer !== undefined) metadata[TOKENIZER_METADATA_KEY] = model.tokenizer.save("bpe").files["bpe_simple_vocab.txt"];
  return serializeSafetensors(state, metadata);
}
