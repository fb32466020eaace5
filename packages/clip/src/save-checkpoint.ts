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
import { CHECKPOINT_TRANSFORMS, type ClipModel } from "./clip-model.js";
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

/** Model-layout tensor → checkpoint layout (the inverse permutation of its `CHECKPOINT_TRANSFORMS` rule). */
function toCheckpointLayout(key: string, t: tf.Tensor): { shape: number[]; data: Float32Array } {
  const rule = CHECKPOINT_TRANSFORMS.find((r) => r.keys.test(key));
  if (rule === undefined) return { shape: [...t.shape], data: t.dataSync() as Float32Array };
  const inverse = new Array<number>(rule.permutation.length);
  rule.permutation.forEach((from, to) => (inverse[from] = to)); // model axis `to` came from checkpoint axis `from`
  const stored = tf.transpose(t, inverse);
  const result = { shape: [...stored.shape], data: stored.dataSync() as Float32Array };
  stored.dispose();
  return result;
}

function walk(node: unknown, path: string, out: StateDict): void {
  const add = (key: string, t: tf.Tensor): void => {
    out[key] = { dtype: "F32", ...toCheckpointLayout(key, t) };
  };
  if (node instanceof tf.Tensor) {
    add(path, node);
  } else if (Array.isArray(node)) {
    node.forEach((child, i) => walk(child, `${path}.${i}`, out));
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
      walk(child, path === "" ? name : `${path}.${name}`, out);
    }
  }
  // numbers (strides, paddings) are architecture, not weights
}

/**
 * A loaded CLIP model (ViT or ModifiedResNet; from either key layout) as safetensors bytes in OpenAI's layout, F32,
 * with `__metadata__` `{ format: "pt", config: <the reference constructor's keyword arguments as JSON> }`.
 * `loadClip(saveClip(model))` gives a model with the same outputs. Creates no lasting tensors.
 */
export function saveClip(model: ClipModel): Uint8Array {
  const state: StateDict = {};
  walk(model.visual, "visual", state);
  walk(model.text, "", state);
  state.logit_scale = { dtype: "F32", shape: [], data: new Float32Array([Math.log(model.logitScale)]) };
  return serializeSafetensors(state, { format: "pt", config: JSON.stringify(clipConfigToJson(model.config)) });
}
