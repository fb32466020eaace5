/**
 * Where a checkpoint's architecture comes from when its `__metadata__.config` does not say:
 *
 * - `inferClipConfig(file)`: from the tensor shapes of an OpenAI-layout checkpoint, by the rules of the reference
 *   loader `clip.model.build_model` (github.com/openai/CLIP `clip/model.py`): ViT when `visual.proj` exists, depth by
 *   counting `resblocks.*`, patch size and resolution from `visual.conv1.weight` and the positional embedding, the
 *   ModifiedResNet's stage depths from `visual.layer{1..4}.*` and its resolution from the attention pool's positional
 *   embedding (32× the final grid). Shapes cannot tell the text encoder's head count: like the reference we take
 *   `transformer_width / 64` and refuse widths below 64 (the reference would divide by zero heads there) or not a
 *   multiple of 64 (where its floor would silently pick a head size the model was not trained with).
 * - `clipConfigFromHuggingFace(json)`: from a Hugging Face `CLIPModel` `config.json` (`projection_dim`,
 *   `text_config`, `vision_config`), which does name the head counts.
 */
import { CheckpointError } from "./weights.js";
import { clipConfigFromJson, type ClipConfig } from "./config.js";

/** What `inferClipConfig` reads: the tensors' names and shapes. */
export interface ShapeSource {
  tensors: ReadonlyMap<string, { readonly shape: readonly number[] }>;
}

/** The config `clip.model.build_model` would build for these OpenAI-layout tensors (see the module comment). */
export function inferClipConfig(file: ShapeSource): ClipConfig {
  const problems: string[] = [];
  const keys = [...file.tensors.keys()];
  const shapeOf = (key: string, rank: number): readonly number[] | undefined => {
    const shape = file.tensors.get(key)?.shape;
    if (shape === undefined) problems.push(`missing ${key}`);
    else if (shape.length !== rank) problems.push(`${key} has rank ${shape.length}, expected ${rank}`);
    else return shape;
    return undefined;
  };
  /** Distinct values of the dotted component at `index` among keys starting with `prefix`. */
  const distinct = (prefix: string, index: number): number => new Set(keys.filter((k) => k.startsWith(prefix)).map((k) => k.split(".")[index])).size;
  const squareSide = (tokens: number, key: string): number => {
    const side = Math.round(Math.sqrt(tokens - 1));
    if (side * side + 1 !== tokens) problems.push(`${key} has ${tokens} rows, not a square grid plus one token`);
    return side;
  };

  const vit = file.tensors.has("visual.proj");
  let vision: Record<string, unknown> = {};
  if (vit) {
    const conv1 = shapeOf("visual.conv1.weight", 4); // [width, 3, patch, patch]
    const positional = shapeOf("visual.positional_embedding", 2); // [grid² + 1, width]
    const layers = keys.filter((k) => k.startsWith("visual.") && k.endsWith(".attn.in_proj_weight")).length;
    if (layers === 0) problems.push("no visual.transformer.resblocks.*.attn.in_proj_weight");
    if (conv1 !== undefined && positional !== undefined) {
      const patch = conv1[3]!;
      vision = {
        vision_width: conv1[0],
        vision_layers: layers,
        vision_patch_size: patch,
        image_resolution: patch * squareSide(positional[0]!, "visual.positional_embedding"),
      };
    }
  } else {
    const stages = [1, 2, 3, 4].map((b) => distinct(`visual.layer${b}.`, 2));
    if (stages.some((n) => n === 0)) problems.push(`neither visual.proj (ViT) nor visual.layer1…4 (ModifiedResNet) blocks found`);
    const stem = shapeOf("visual.layer1.0.conv1.weight", 4); // [width, in, 1, 1]
    const positional = shapeOf("visual.attnpool.positional_embedding", 2); // [(R/32)² + 1, 32·width]
    if (stem !== undefined && positional !== undefined) {
      vision = {
        vision_width: stem[0],
        vision_layers: stages,
        vision_patch_size: null,
        image_resolution: 32 * squareSide(positional[0]!, "visual.attnpool.positional_embedding"),
      };
    }
  }
  const projection = shapeOf("text_projection", 2); // [width, embed]
  const positional = shapeOf("positional_embedding", 2); // [context, width]
  const tokenEmbedding = shapeOf("token_embedding.weight", 2); // [vocab, width]
  const lnFinal = shapeOf("ln_final.weight", 1); // [width]
  const textLayers = distinct("transformer.resblocks.", 2);
  if (textLayers === 0) problems.push("no transformer.resblocks.* (text encoder)");
  const width = lnFinal?.[0];
  if (width !== undefined && (width < 64 || width % 64 !== 0)) {
    problems.push(
      `the text width ${width} is not a multiple of 64, so its head count cannot be inferred (the reference assumes ` +
        `width / 64): pass options.config or store __metadata__.config`,
    );
  }
  if (problems.length > 0) throw new CheckpointError(`Cannot infer the CLIP config from the checkpoint's shapes: ${problems.join("; ")}`);
  return clipConfigFromJson({
    ...vision,
    embed_dim: projection![1],
    context_length: positional![0],
    vocab_size: tokenEmbedding![0],
    transformer_width: width,
    transformer_heads: width! / 64,
    transformer_layers: textLayers,
  });
}

/** The parts of a Hugging Face `CLIPConfig` (`config.json`) that define the architecture. */
export interface HuggingFaceClipConfigJson {
  projection_dim?: number;
  text_config?: {
    hidden_size?: number;
    num_attention_heads?: number;
    num_hidden_layers?: number;
    max_position_embeddings?: number;
    vocab_size?: number;
    hidden_act?: string;
    intermediate_size?: number;
  };
  vision_config?: {
    hidden_size?: number;
    num_attention_heads?: number;
    num_hidden_layers?: number;
    patch_size?: number;
    image_size?: number;
    hidden_act?: string;
    intermediate_size?: number;
  };
}

/**
 * A Hugging Face `CLIPModel` config (`config.json`, as an object or its text) as our `ClipConfig`. Missing fields
 * take `CLIPConfig`'s defaults (transformers' `configuration_clip.py`: text 512 wide, 8 heads, 12 layers, 77
 * positions, 49,408 tokens; vision 768 wide, 12 heads, 12 layers, patch 32, 224 px; projection 512). Only what our
 * ViT CLIP can represent is accepted: QuickGELU, an MLP 4× wide and `vision heads = width / 64`; anything else is an
 * error naming the field.
 */
export function clipConfigFromHuggingFace(json: unknown): ClipConfig {
  const value: unknown = typeof json === "string" ? JSON.parse(json) : json;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`A Hugging Face CLIP config must be an object, got ${JSON.stringify(value)}`);
  }
  const config = value as HuggingFaceClipConfigJson;
  const text = config.text_config ?? {};
  const vision = config.vision_config ?? {};
  const t = { width: text.hidden_size ?? 512, heads: text.num_attention_heads ?? 8, layers: text.num_hidden_layers ?? 12 };
  const v = { width: vision.hidden_size ?? 768, heads: vision.num_attention_heads ?? 12 };
  const problems: string[] = [];
  if (v.heads !== Math.floor(v.width / 64)) {
    problems.push(`vision_config.num_attention_heads is ${v.heads}, but OpenAI's ViT uses hidden_size / 64 = ${Math.floor(v.width / 64)} heads`);
  }
  for (const [name, part, width] of [["text_config", text, t.width], ["vision_config", vision, v.width]] as const) {
    const act = part.hidden_act ?? "quick_gelu";
    if (act !== "quick_gelu") problems.push(`${name}.hidden_act is "${act}"; CLIP's blocks use "quick_gelu"`);
    if (part.intermediate_size !== undefined && part.intermediate_size !== 4 * width) {
      problems.push(`${name}.intermediate_size is ${part.intermediate_size}, not 4 × hidden_size = ${4 * width}`);
    }
  }
  if (problems.length > 0) throw new TypeError(`Unsupported Hugging Face CLIP config: ${problems.join("; ")}`);
  return clipConfigFromJson({
    embed_dim: config.projection_dim ?? 512,
    image_resolution: vision.image_size ?? 224,
    vision_layers: vision.num_hidden_layers ?? 12,
    vision_width: v.width,
    vision_patch_size: vision.patch_size ?? 32,
    context_length: text.max_position_embeddings ?? 77,
    vocab_size: text.vocab_size ?? 49408,
    transformer_width: t.width,
    transformer_heads: t.heads,
    transformer_layers: t.layers,
  });
}
