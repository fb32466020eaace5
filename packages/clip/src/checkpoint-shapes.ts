/**
 * The tensors of a CLIP checkpoint in OpenAI's layout for a given config: every key of the reference model's
 * `state_dict()` (github.com/openai/CLIP `clip/model.py`) with its shape, in the checkpoint layout (`nn.Linear`
 * weights `[out, in]`, convolutions `[out, in, kh, kw]`). Nothing is allocated, so it works for ViT-L/14 as well
 * as for a test model: config inference, random initialisation and documentation use it.
 */
import { isVisionTransformerConfig, type ClipConfig } from "./config.js";

/** key → shape, in the reference `state_dict` order. */
export type CheckpointShapes = Map<string, number[]>;

function addLayerNorm(out: CheckpointShapes, prefix: string, width: number): void {
  out.set(`${prefix}.weight`, [width]);
  out.set(`${prefix}.bias`, [width]);
}

function addResidualBlocks(out: CheckpointShapes, prefix: string, width: number, layers: number): void {
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.resblocks.${i}`;
    out.set(`${p}.attn.in_proj_weight`, [3 * width, width]);
    out.set(`${p}.attn.in_proj_bias`, [3 * width]);
    out.set(`${p}.attn.out_proj.weight`, [width, width]);
    out.set(`${p}.attn.out_proj.bias`, [width]);
    addLayerNorm(out, `${p}.ln_1`, width);
    out.set(`${p}.mlp.c_fc.weight`, [4 * width, width]);
    out.set(`${p}.mlp.c_fc.bias`, [4 * width]);
    out.set(`${p}.mlp.c_proj.weight`, [width, 4 * width]);
    out.set(`${p}.mlp.c_proj.bias`, [width]);
    addLayerNorm(out, `${p}.ln_2`, width);
  }
}

function addBatchNorm(out: CheckpointShapes, prefix: string, channels: number): void {
  out.set(`${prefix}.weight`, [channels]);
  out.set(`${prefix}.bias`, [channels]);
  out.set(`${prefix}.running_mean`, [channels]);
  out.set(`${prefix}.running_var`, [channels]);
  out.set(`${prefix}.num_batches_tracked`, []);
}

/** Every checkpoint key of a CLIP model with `config`, and its shape (see the module comment). */
export function clipCheckpointShapes(config: ClipConfig): CheckpointShapes {
  const out: CheckpointShapes = new Map();
  const embed = config.embedDim;
  if (isVisionTransformerConfig(config)) {
    const width = config.visionWidth;
    const grid = Math.floor(config.imageResolution / config.visionPatchSize);
    out.set("visual.class_embedding", [width]);
    out.set("visual.positional_embedding", [grid * grid + 1, width]);
    out.set("visual.proj", [width, embed]);
    out.set("visual.conv1.weight", [width, 3, config.visionPatchSize, config.visionPatchSize]);
    addLayerNorm(out, "visual.ln_pre", width);
    addResidualBlocks(out, "visual.transformer", width, config.visionLayers);
    addLayerNorm(out, "visual.ln_post", width);
  } else {
    const width = config.visionWidth;
    const stages = config.visionLayers as readonly number[]; // not a ViT: four stage depths
    // stem: three 3×3 convolutions (width/2, width/2, width channels), each with a BatchNorm
    const stem: [number, number][] = [[3, width / 2], [width / 2, width / 2], [width / 2, width]];
    stem.forEach(([inC, outC], i) => {
      out.set(`visual.conv${i + 1}.weight`, [outC, inC, 3, 3]);
      addBatchNorm(out, `visual.bn${i + 1}`, outC);
    });
    let inplanes = width;
    stages.forEach((blocks, stage) => {
      const planes = width << stage;
      for (let j = 0; j < blocks; j++) {
        const p = `visual.layer${stage + 1}.${j}`;
        const stride = j === 0 && stage > 0 ? 2 : 1;
        out.set(`${p}.conv1.weight`, [planes, inplanes, 1, 1]);
        addBatchNorm(out, `${p}.bn1`, planes);
        out.set(`${p}.conv2.weight`, [planes, planes, 3, 3]);
        addBatchNorm(out, `${p}.bn2`, planes);
        out.set(`${p}.conv3.weight`, [4 * planes, planes, 1, 1]);
        addBatchNorm(out, `${p}.bn3`, 4 * planes);
        if (stride > 1 || inplanes !== 4 * planes) {
          out.set(`${p}.downsample.0.weight`, [4 * planes, inplanes, 1, 1]);
          addBatchNorm(out, `${p}.downsample.1`, 4 * planes);
        }
        inplanes = 4 * planes;
      }
    });
    const poolWidth = width * 32;
    const side = Math.floor(config.imageResolution / 32);
    out.set("visual.attnpool.positional_embedding", [side * side + 1, poolWidth]);
    for (const name of ["k_proj", "q_proj", "v_proj"]) {
      out.set(`visual.attnpool.${name}.weight`, [poolWidth, poolWidth]);
      out.set(`visual.attnpool.${name}.bias`, [poolWidth]);
    }
    out.set("visual.attnpool.c_proj.weight", [embed, poolWidth]);
    out.set("visual.attnpool.c_proj.bias", [embed]);
  }
  const textWidth = config.transformerWidth;
  out.set("positional_embedding", [config.contextLength, textWidth]);
  out.set("text_projection", [textWidth, embed]);
  out.set("logit_scale", []);
  addResidualBlocks(out, "transformer", textWidth, config.transformerLayers);
  out.set("token_embedding.weight", [config.vocabSize, textWidth]);
  addLayerNorm(out, "ln_final", textWidth);
  return out;
}
