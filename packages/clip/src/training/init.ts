/**
 * A freshly initialised CLIP checkpoint (ViT image encoder) with the reference's initialisation, for training from
 * scratch: `clipFromSafetensors(initClip(config, { seed }), { trainable: true })`.
 *
 * Reference: github.com/openai/CLIP `clip/model.py`, `CLIP.__init__` + `CLIP.initialize_parameters` and
 * `VisionTransformer.__init__`; everything they do not touch keeps PyTorch's default initialisation:
 *
 *   token_embedding.weight                 N(0, 0.02)
 *   positional_embedding                   N(0, 0.01)
 *   text blocks: attn.in_proj_weight       N(0, attn_std),  attn_std = D^-½
 *                attn.out_proj.weight      N(0, proj_std),  proj_std = D^-½ · (2L)^-½
 *                mlp.c_fc.weight           N(0, fc_std),    fc_std = (2D)^-½
 *                mlp.c_proj.weight         N(0, proj_std)
 *   text_projection                        N(0, D^-½)
 *   logit_scale                            log(1 / 0.07)
 *   visual.class_embedding, .positional_embedding, .proj     W^-½ · N(0, 1)   (VisionTransformer.__init__)
 *   PyTorch defaults elsewhere:
 *     visual.conv1.weight (no bias)        U(±1/√fanIn), fanIn = 3·P²     (nn.Conv2d: kaiming_uniform_(a=√5))
 *     vision blocks: attn.in_proj_weight   U(±√(6 / (D + 3D)))            (nn.MultiheadAttention: xavier_uniform_)
 *                    attn.out_proj.weight  U(±1/√D)                       (nn.Linear default)
 *                    mlp.c_fc / c_proj     weight and bias U(±1/√fanIn)   (nn.Linear default)
 *     every block: attn.in_proj_bias, attn.out_proj.bias = 0              (nn.MultiheadAttention._reset_parameters)
 *                  text mlp biases U(±1/√fanIn)                           (nn.Linear default; not re-initialised)
 *     LayerNorm weight 1, bias 0.
 *
 * Values are drawn on the host from a generator seeded by hash(seed, key) (mulberry32 + Box–Muller, as
 * `@proj/unclip`'s Module), so they are the same on every backend and independent of key order.
 */
import { clipCheckpointShapes } from "../checkpoint-shapes.js";
import { clipConfigToJson, isVisionTransformerConfig, type ClipConfig } from "../config.js";
import type { SafetensorsFile } from "../safetensors.js";

export interface InitClipOptions {
  /** Integer seed of every parameter's generator (default 0). */
  seed?: number;
}

type Init = { kind: "normal"; std: number } | { kind: "uniform"; bound: number } | { kind: "constant"; value: number };

/** The reference initialisation of `key` (see the module comment); `shape` in the checkpoint layout. */
function initFor(key: string, shape: readonly number[], config: ClipConfig): Init {
  const textWidth = config.transformerWidth;
  const visionWidth = config.visionWidth;
  const block = /^(visual\.)?transformer\.resblocks\.\d+\.(.+)$/.exec(key);
  if (block !== null) {
    const text = block[1] === undefined;
    const name = block[2]!;
    const fanIn = shape[shape.length - 1]!; // [out, in] for weights
    if (name.startsWith("ln_")) return { kind: "constant", value: name.endsWith("weight") ? 1 : 0 };
    if (name === "attn.in_proj_bias" || name === "attn.out_proj.bias") return { kind: "constant", value: 0 };
    if (text) {
      const layers = config.transformerLayers;
      const attnStd = textWidth ** -0.5;
      const projStd = textWidth ** -0.5 * (2 * layers) ** -0.5;
      const fcStd = (2 * textWidth) ** -0.5;
      if (name === "attn.in_proj_weight") return { kind: "normal", std: attnStd };
      if (name === "attn.out_proj.weight" || name === "mlp.c_proj.weight") return { kind: "normal", std: projStd };
      if (name === "mlp.c_fc.weight") return { kind: "normal", std: fcStd };
    } else if (name === "attn.in_proj_weight") {
      return { kind: "uniform", bound: Math.sqrt(6 / (shape[0]! + shape[1]!)) };
    }
    if (name === "mlp.c_fc.bias") return { kind: "uniform", bound: 1 / Math.sqrt(key.startsWith("visual.") ? visionWidth : textWidth) };
    if (name === "mlp.c_proj.bias") return { kind: "uniform", bound: 1 / Math.sqrt(4 * (key.startsWith("visual.") ? visionWidth : textWidth)) };
    return { kind: "uniform", bound: 1 / Math.sqrt(fanIn) }; // nn.Linear weights of the vision blocks
  }
  switch (key) {
    case "token_embedding.weight":
      return { kind: "normal", std: 0.02 };
    case "positional_embedding":
      return { kind: "normal", std: 0.01 };
    case "text_projection":
      return { kind: "normal", std: textWidth ** -0.5 };
    case "logit_scale":
      return { kind: "constant", value: Math.log(1 / 0.07) };
    case "visual.class_embedding":
    case "visual.positional_embedding":
    case "visual.proj":
      return { kind: "normal", std: visionWidth ** -0.5 };
    case "visual.conv1.weight":
      return { kind: "uniform", bound: 1 / Math.sqrt(3 * (config.visionPatchSize ?? 1) ** 2) };
  }
  if (/(^|\.)ln_\w+\.weight$/.test(key)) return { kind: "constant", value: 1 };
  if (/(^|\.)ln_\w+\.bias$/.test(key)) return { kind: "constant", value: 0 };
  throw new Error(`initClip: no initialisation rule for ${key}`);
}

/**
 * A CLIP checkpoint (OpenAI layout, F32, `__metadata__.config` set) for `config` (ViT only), initialised as the
 * reference initialises a new model (see the module comment). Deterministic per seed; allocates no tensors.
 */
export function initClip(config: ClipConfig, options: InitClipOptions = {}): SafetensorsFile {
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new RangeError(`initClip: seed must be a safe integer, got ${seed}`);
  if (!isVisionTransformerConfig(config)) throw new RangeError("initClip: only ViT configs are supported (visionLayers must be a number)");
  const tensors: SafetensorsFile["tensors"] = new Map();
  for (const [key, shape] of clipCheckpointShapes(config)) {
    const values = drawValues(initFor(key, shape, config), shape.reduce((a, b) => a * b, 1), seedFor(seed, key));
    tensors.set(key, { dtype: "F32", shape, bytes: new Uint8Array(values.buffer) });
  }
  return { tensors, metadata: { format: "pt", config: JSON.stringify(clipConfigToJson(config)) } };
}

function drawValues(init: Init, size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  if (init.kind === "constant") return out.fill(init.value);
  const uniform = uniformGenerator(seed);
  if (init.kind === "uniform") {
    for (let i = 0; i < size; i++) out[i] = (2 * uniform() - 1) * init.bound;
    return out;
  }
  for (let i = 0; i < size; i += 2) {
    // Box–Muller: two independent N(0, 1) draws per pair of uniforms
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(angle) * init.std;
    if (i + 1 < size) out[i + 1] = r * Math.sin(angle) * init.std;
  }
  return out;
}

/** FNV-1a of `key` mixed with `seed`: a 32-bit seed per parameter. */
function seedFor(seed: number, key: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h ^ Math.floor(seed / 2 ** 32), 0x01000193);
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: uniform in [0, 1). */
function uniformGenerator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
