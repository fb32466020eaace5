/**
 * Checkpoint key layouts. The model loads OpenAI's layout (github.com/openai/CLIP `clip/model.py` state_dict keys:
 * `visual.transformer.resblocks.0.attn.in_proj_weight`, `text_projection`, …). Hugging Face `transformers`'
 * `CLIPModel` stores the same ViT CLIP under other names (`vision_model.encoder.layers.0.self_attn.q_proj.weight`,
 * …), with two layout differences:
 *
 *   - attention: HF has separate `q_proj`/`k_proj`/`v_proj` Linear layers; OpenAI packs them as the rows of
 *     `attn.in_proj_weight` [3·D, D] (q first) and `attn.in_proj_bias` [3·D].
 *   - projections: HF's `visual_projection.weight` / `text_projection.weight` are Linear weights [embed, width];
 *     OpenAI's `visual.proj` / `text_projection` are matrices [width, embed] used as `x @ P`, i.e. the transpose.
 *
 * `HUGGING_FACE_KEYS` is the one table of these renames; `fromHuggingFaceLayout` applies it (bytes only: dtypes are
 * kept, nothing is computed), `toHuggingFaceLayout` inverts it. Hugging Face has no ModifiedResNet CLIP, so the
 * table covers the ViT model only. HF's `CLIPModel` computes the same function as OpenAI's for the OpenAI
 * checkpoints (`hidden_act: "quick_gelu"`, LayerNorm eps 1e-5, causal text mask, pooling at the highest token id).
 */
import type { SafetensorsFile, SafetensorsTensor } from "./safetensors.js";
import { CheckpointError } from "./weights.js";

export type CheckpointLayout = "openai" | "huggingface";

/** One rename. `{i}` stands for a layer index. */
export interface KeyRule {
  /** Hugging Face key; three keys (q, k, v) are concatenated along axis 0 into the one OpenAI key. */
  readonly huggingFace: string | readonly [string, string, string];
  readonly openai: string;
  /** The 2-D tensor is stored transposed: HF Linear [out, in] ↔ OpenAI matrix [in, out]. */
  readonly transpose?: true;
}

/** Renames inside one transformer block, HF `….encoder.layers.{i}.` ↔ OpenAI `….resblocks.{i}.`. */
const BLOCK_RULES: readonly { huggingFace: string | readonly [string, string, string]; openai: string }[] = [
  { huggingFace: ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"], openai: "attn.in_proj_weight" },
  { huggingFace: ["self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"], openai: "attn.in_proj_bias" },
  { huggingFace: "self_attn.out_proj.weight", openai: "attn.out_proj.weight" },
  { huggingFace: "self_attn.out_proj.bias", openai: "attn.out_proj.bias" },
  { huggingFace: "layer_norm1.weight", openai: "ln_1.weight" },
  { huggingFace: "layer_norm1.bias", openai: "ln_1.bias" },
  { huggingFace: "mlp.fc1.weight", openai: "mlp.c_fc.weight" },
  { huggingFace: "mlp.fc1.bias", openai: "mlp.c_fc.bias" },
  { huggingFace: "mlp.fc2.weight", openai: "mlp.c_proj.weight" },
  { huggingFace: "mlp.fc2.bias", openai: "mlp.c_proj.bias" },
  { huggingFace: "layer_norm2.weight", openai: "ln_2.weight" },
  { huggingFace: "layer_norm2.bias", openai: "ln_2.bias" },
];

function blockRules(huggingFacePrefix: string, openaiPrefix: string): KeyRule[] {
  return BLOCK_RULES.map(({ huggingFace, openai }) => ({
    huggingFace:
      typeof huggingFace === "string"
        ? huggingFacePrefix + huggingFace
        : (huggingFace.map((k) => huggingFacePrefix + k) as unknown as [string, string, string]),
    openai: openaiPrefix + openai,
  }));
}

/** Hugging Face `CLIPModel` key → OpenAI CLIP key, for the ViT model. */
export const HUGGING_FACE_KEYS: readonly KeyRule[] = Object.freeze([
  { huggingFace: "logit_scale", openai: "logit_scale" },
  // image tower
  { huggingFace: "vision_model.embeddings.class_embedding", openai: "visual.class_embedding" },
  { huggingFace: "vision_model.embeddings.patch_embedding.weight", openai: "visual.conv1.weight" }, // OIHW in both
  { huggingFace: "vision_model.embeddings.position_embedding.weight", openai: "visual.positional_embedding" },
  { huggingFace: "vision_model.pre_layrnorm.weight", openai: "visual.ln_pre.weight" }, // "layrnorm" (sic) in HF
  { huggingFace: "vision_model.pre_layrnorm.bias", openai: "visual.ln_pre.bias" },
  ...blockRules("vision_model.encoder.layers.{i}.", "visual.transformer.resblocks.{i}."),
  { huggingFace: "vision_model.post_layernorm.weight", openai: "visual.ln_post.weight" },
  { huggingFace: "vision_model.post_layernorm.bias", openai: "visual.ln_post.bias" },
  { huggingFace: "visual_projection.weight", openai: "visual.proj", transpose: true },
  // text tower
  { huggingFace: "text_model.embeddings.token_embedding.weight", openai: "token_embedding.weight" },
  { huggingFace: "text_model.embeddings.position_embedding.weight", openai: "positional_embedding" },
  ...blockRules("text_model.encoder.layers.{i}.", "transformer.resblocks.{i}."),
  { huggingFace: "text_model.final_layer_norm.weight", openai: "ln_final.weight" },
  { huggingFace: "text_model.final_layer_norm.bias", openai: "ln_final.bias" },
  { huggingFace: "text_projection.weight", openai: "text_projection", transpose: true },
] satisfies KeyRule[]);

/** HF buffers with no OpenAI counterpart (the constant 0…T−1 position ids), dropped by the conversion. */
export const HUGGING_FACE_DROPPED_KEYS: readonly RegExp[] = Object.freeze([/^(text|vision)_model\.embeddings\.position_ids$/]);

/** A checkpoint whose key layout cannot be recognised or converted (a `CheckpointError`, like every load problem). */
export class CheckpointLayoutError extends CheckpointError {
  override name = "CheckpointLayoutError";
}

/**
 * The key layout of a checkpoint: `huggingface` when its keys start with `vision_model.`/`text_model.`, `openai`
 * when they include `visual.…`, `token_embedding.weight` or `transformer.…`. Throws when neither or both.
 */
export function detectCheckpointLayout(keys: Iterable<string>): CheckpointLayout {
  let huggingFace: string | undefined;
  let openai: string | undefined;
  for (const key of keys) {
    if (/^(vision_model|text_model|visual_projection)\./.test(key)) huggingFace ??= key;
    else if (/^(visual|transformer)\./.test(key) || key === "token_embedding.weight") openai ??= key;
  }
  if (huggingFace !== undefined && openai !== undefined) {
    throw new CheckpointLayoutError(
      `the checkpoint mixes Hugging Face keys (e.g. ${huggingFace}) and OpenAI keys (e.g. ${openai}); convert it to one layout`,
    );
  }
  if (huggingFace !== undefined) return "huggingface";
  if (openai !== undefined) return "openai";
  throw new CheckpointLayoutError(
    "not a CLIP checkpoint: no OpenAI keys (visual.…, transformer.…, token_embedding.weight) and no Hugging Face keys (vision_model.…, text_model.…)",
  );
}

// ---------------------------------------------------------------------------------------------------------------------
// Conversion (raw bytes; any dtype)

const compiled = new Map<string, RegExp>();

/** `{i}` → a captured layer index; the rest literal. */
function templateRegExp(template: string): RegExp {
  let re = compiled.get(template);
  if (re === undefined) {
    const escaped = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
    re = new RegExp(`^${escaped.replace("{i}", "(\\d+)")}$`);
    compiled.set(template, re);
  }
  return re;
}
const fill = (template: string, index: string | undefined): string => (index === undefined ? template : template.replace("{i}", index));

function matchTemplate(template: string, key: string): { index: string | undefined } | null {
  const m = templateRegExp(template).exec(key);
  return m === null ? null : { index: m[1] };
}

/** A 2-D tensor's bytes with rows and columns swapped (element size from the byte count). */
function transposed(t: SafetensorsTensor, key: string): SafetensorsTensor {
  const [rows, cols] = t.shape;
  if (t.shape.length !== 2 || rows === undefined || cols === undefined) {
    throw new CheckpointLayoutError(`${key}: expected a 2-D tensor to transpose, got shape [${t.shape.join(", ")}]`);
  }
  const size = t.bytes.length / (rows * cols);
  const out = new Uint8Array(t.bytes.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out.set(t.bytes.subarray((r * cols + c) * size, (r * cols + c + 1) * size), (c * rows + r) * size);
    }
  }
  return { dtype: t.dtype, shape: [cols, rows], bytes: out };
}

/** q, k, v → one tensor, concatenated along axis 0 (row-major, so the bytes are simply appended). */
function concatenated(parts: readonly SafetensorsTensor[], keys: readonly string[]): SafetensorsTensor {
  const first = parts[0]!;
  for (const [i, p] of parts.entries()) {
    if (p.dtype !== first.dtype || p.shape.length !== first.shape.length || p.shape.some((d, j) => d !== first.shape[j])) {
      throw new CheckpointLayoutError(
        `${keys.join(", ")} must have one dtype and shape to be packed; ${keys[i]} is ${p.dtype} [${p.shape.join(", ")}], ${keys[0]} ${first.dtype} [${first.shape.join(", ")}]`,
      );
    }
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.bytes.length, 0));
  let offset = 0;
  for (const p of parts) {
    bytes.set(p.bytes, offset);
    offset += p.bytes.length;
  }
  return { dtype: first.dtype, shape: [first.shape[0]! * parts.length, ...first.shape.slice(1)], bytes };
}

/** Axis-0 thirds of a packed tensor (the inverse of `concatenated`). */
function split3(t: SafetensorsTensor, key: string): [SafetensorsTensor, SafetensorsTensor, SafetensorsTensor] {
  const rows = t.shape[0];
  if (rows === undefined || rows % 3 !== 0) throw new CheckpointLayoutError(`${key}: cannot split [${t.shape.join(", ")}] into q, k, v`);
  const third = t.bytes.length / 3;
  const part = (i: number): SafetensorsTensor => ({
    dtype: t.dtype,
    shape: [rows / 3, ...t.shape.slice(1)],
    bytes: t.bytes.slice(i * third, (i + 1) * third),
  });
  return [part(0), part(1), part(2)];
}

/**
 * A Hugging Face `CLIPModel` checkpoint (ViT) in OpenAI's layout, per `HUGGING_FACE_KEYS`. Keys the table does
 * not know are kept under their own names (so the loader reports them as unused); `position_ids` are dropped; a
 * q/k/v triple with a member missing raises an error naming it. Metadata is kept.
 */
export function fromHuggingFaceLayout(file: SafetensorsFile): SafetensorsFile {
  const tensors = new Map<string, SafetensorsTensor>();
  const consumed = new Set<string>();
  const problems: string[] = [];
  for (const key of file.tensors.keys()) {
    if (consumed.has(key) || HUGGING_FACE_DROPPED_KEYS.some((re) => re.test(key))) continue;
    let converted = false;
    for (const rule of HUGGING_FACE_KEYS) {
      const templates = typeof rule.huggingFace === "string" ? [rule.huggingFace] : rule.huggingFace;
      const hit = templates.map((t) => matchTemplate(t, key)).find((m) => m !== null);
      if (hit === undefined) continue;
      const sourceKeys = templates.map((t) => fill(t, hit.index));
      const missing = sourceKeys.filter((k) => !file.tensors.has(k));
      if (missing.length > 0) {
        problems.push(`${missing.join(", ")} (needed with ${key} for ${fill(rule.openai, hit.index)})`);
      } else {
        const parts = sourceKeys.map((k) => file.tensors.get(k)!);
        let tensor = parts.length === 1 ? parts[0]! : concatenated(parts, sourceKeys);
        if (rule.transpose === true) tensor = transposed(tensor, key);
        tensors.set(fill(rule.openai, hit.index), tensor);
      }
      for (const k of sourceKeys) consumed.add(k);
      converted = true;
      break;
    }
    if (!converted) tensors.set(key, file.tensors.get(key)!);
  }
  if (problems.length > 0) throw new CheckpointLayoutError(`Hugging Face CLIP checkpoint: missing ${problems.join("; ")}`);
  return { tensors, metadata: { ...file.metadata } };
}

/** An OpenAI-layout ViT CLIP checkpoint in Hugging Face `CLIPModel`'s layout (the inverse of `fromHuggingFaceLayout`). */
export function toHuggingFaceLayout(file: SafetensorsFile): SafetensorsFile {
  const resnetKey = [...file.tensors.keys()].find((k) => /^visual\.(bn1|layer\d+|attnpool)\./.test(k));
  if (resnetKey !== undefined) {
    throw new CheckpointLayoutError(`a ModifiedResNet CLIP checkpoint (${resnetKey}, …) has no Hugging Face layout; only the ViT does`);
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [key, stored] of file.tensors) {
    const rule = HUGGING_FACE_KEYS.map((r) => ({ r, hit: matchTemplate(r.openai, key) })).find(({ hit }) => hit !== null);
    if (rule === undefined) {
      throw new CheckpointLayoutError(`${key} has no Hugging Face counterpart (only the ViT CLIP model has a Hugging Face layout)`);
    }
    const index = rule.hit!.index;
    const tensor = rule.r.transpose === true ? transposed(stored, key) : stored;
    if (typeof rule.r.huggingFace === "string") {
      tensors.set(fill(rule.r.huggingFace, index), tensor);
    } else {
      const parts = split3(tensor, key);
      rule.r.huggingFace.forEach((t, i) => tensors.set(fill(t, index), parts[i]!));
    }
  }
  return { tensors, metadata: { ...file.metadata } };
}
