/**
 * CLIP-shaped encoders with random weights, built from this package's ops only (the bench cannot import
 * @proj/clip, which sits above it): the same op sequence as clip's vision-transformer.ts / residual-attention-block.ts,
 * so their images/s and texts/s are comparable with CLIP ViT-B/32 elsewhere. bench/onnx-encoders.ts writes the same
 * weights (`Encoder.weights`) and op sequence as an ONNX model, so that the bench times onnxruntime-node on them.
 *
 *   image  pixels [B, 224, 224, 3] → patches [B·49, 3072] (reshape + one rank-4 transpose) → linear 3072→768 (no
 *          bias; conv1) → [class token; patches] + positional embedding → ln_pre → 12 pre-LN residual blocks
 *          (width 768, 12 heads, MLP 3072 with QuickGELU) → ln_post of the class token → projection 768→512.
 *   text   token ids [B, 77] → embedding gather (vocab 49408) + positional embedding → 12 causal blocks (width 512,
 *          8 heads, MLP 2048) → ln_final → the last token's features → projection 512→512.
 * Block: x += out_proj(qkvAttention(linear(ln_1(x), in_proj))) (split into heads, attention, merged: clip's
 * residual-attention-block.ts); x += c_proj(quickGelu(c_fc(ln_2(x)))).
 * About 8.8 GFLOP per image and 6.0 GFLOP per 77-token text (peers.md's count), nearly all in `linear`.
 */
import * as tf from "@tensorflow/tfjs";
import { layerNorm, linear, qkvAttention } from "../src/index.js";
import { randomTensor } from "../src/testing/backends.js";

export interface EncoderConfig {
  width: number;
  layers: number;
  heads: number;
  /** Tokens per sequence (50 for the image: 49 patches and the class token; 77 for text). */
  tokens: number;
  causal: boolean;
  outputDim: number;
}

export const VIT_B_32_IMAGE: EncoderConfig = { width: 768, layers: 12, heads: 12, tokens: 50, causal: false, outputDim: 512 };
export const VIT_B_32_TEXT: EncoderConfig = { width: 512, layers: 12, heads: 8, tokens: 77, causal: true, outputDim: 512 };
export const PATCH = 32;
export const GRID = 7;
export const VOCAB = 49408;

/** One residual block's parameters: [weight, bias] pairs, weights stored [in, out]. */
export interface BlockWeights {
  ln1: [tf.Tensor, tf.Tensor]; // gain [D], bias [D]
  inProj: [tf.Tensor, tf.Tensor]; // [D, 3D], [3D]
  outProj: [tf.Tensor, tf.Tensor]; // [D, D], [D]
  ln2: [tf.Tensor, tf.Tensor];
  fc: [tf.Tensor, tf.Tensor]; // [D, 4D], [4D]
  proj: [tf.Tensor, tf.Tensor]; // [4D, D], [D]
}

/** Every parameter of an encoder (the text encoder also draws classEmbedding and preNorm, and ignores them). */
export interface EncoderWeights {
  blocks: BlockWeights[];
  position: tf.Tensor; // [T, D]
  finalNorm: [tf.Tensor, tf.Tensor]; // ln_post (image) | ln_final (text)
  projection: tf.Tensor; // [D, outputDim]
  embed: tf.Tensor; // conv1 as [3072, D] (image) | token embedding [VOCAB, D] (text)
  classEmbedding: tf.Tensor; // [D]
  preNorm: [tf.Tensor, tf.Tensor]; // ln_pre
}

export interface Encoder {
  kind: "image" | "text";
  config: EncoderConfig;
  /** The parameters, on the backend the encoder was made on (bench/onnx-encoders.ts reads them). */
  weights: EncoderWeights;
  /** Images [B, 224, 224, 3] or token ids [B, 77] (int32) → features [B, outputDim]. */
  forward(input: tf.Tensor): tf.Tensor;
  /** A random input of batch `batch`. */
  input(batch: number): tf.Tensor;
  /** Multiply-adds × 2 per sample (the linear layers and attention's two products). */
  flopsPerSample: number;
  dispose(): void;
}

/** The random-weight encoder on the active backend (weights are created there). */
export function makeEncoder(kind: "image" | "text"): Encoder {
  const config = kind === "image" ? VIT_B_32_IMAGE : VIT_B_32_TEXT;
  const { width: d, layers, heads, tokens, causal, outputDim } = config;
  let seed = kind === "image" ? 1000 : 2000;
  const weight = (rows: number, cols: number) => randomTensor([rows, cols], seed++, 1 / Math.sqrt(rows));
  const vector = (n: number, offset = 0) => randomTensor([n], seed++, 0.02, offset);
  const norm = (): [tf.Tensor, tf.Tensor] => [vector(d, 1), vector(d)];
  const blocks: BlockWeights[] = Array.from({ length: layers }, () => ({
    ln1: norm(),
    inProj: [weight(d, 3 * d), vector(3 * d)],
    outProj: [weight(d, d), vector(d)],
    ln2: norm(),
    fc: [weight(d, 4 * d), vector(4 * d)],
    proj: [weight(4 * d, d), vector(d)],
  }));
  const position = randomTensor([tokens, d], seed++, 0.02);
  const finalNorm = norm();
  const projection = weight(d, outputDim);
  const embed = kind === "image" ? weight(PATCH * PATCH * 3, d) : randomTensor([VOCAB, d], seed++, 0.02); // conv1 as [3072, D] | token embedding
  const classEmbedding = vector(d);
  const preNorm = norm();

  const ln = (x: tf.Tensor, [g, b]: [tf.Tensor, tf.Tensor]) => layerNorm(x, g, b, { epsilon: 1e-5 });
  const block = (x: tf.Tensor, w: BlockWeights): tf.Tensor => {
    const qkv = linear(ln(x, w.ln1), w.inProj[0], w.inProj[1]); // [B, T, 3D]
    const context = qkvAttention(qkv, { heads, causal }); // split into heads, attention, heads merged: [B, T, D]
    const afterAttention = tf.add(x, linear(context, w.outProj[0], w.outProj[1]));
    const hidden = linear(ln(afterAttention, w.ln2), w.fc[0], w.fc[1], { activation: "quickGelu" }); // [B, T, 4D]
    return tf.add(afterAttention, linear(hidden, w.proj[0], w.proj[1]));
  };

  const forward = (input: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      const batch = input.shape[0]!;
      let x: tf.Tensor; // [B, T, D]
      if (kind === "image") {
        const rows = tf.reshape(input, [batch * GRID, PATCH, GRID, PATCH * 3]); // [B·7, 32, 7, 96]
        const patches = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [batch * GRID * GRID, PATCH * PATCH * 3]); // [B·49, 3072]
        const embedded = tf.reshape(linear(patches, embed), [batch, GRID * GRID, d]); // [B, 49, D]
        const classToken = tf.broadcastTo(tf.reshape(classEmbedding, [1, 1, d]), [batch, 1, d]);
        x = ln(tf.add(tf.concat([classToken, embedded], 1), position), preNorm); // [B, 50, D]
      } else {
        x = tf.add(tf.reshape(tf.gather(embed, tf.reshape(input, [-1])), [batch, tokens, d]), position); // [B, 77, D]
      }
      for (const w of blocks) x = block(x, w);
      // Image: the class token (index 0); text: the last token (CLIP takes the end-of-text token's position).
      const pick = kind === "image" ? 0 : tokens - 1;
      const pooled = ln(tf.reshape(tf.slice(x, [0, pick, 0], [batch, 1, d]), [batch, d]), finalNorm); // [B, D]
      return linear(pooled, projection); // [B, outputDim]
    });

  const input = (batch: number): tf.Tensor =>
    kind === "image"
      ? randomTensor([batch, GRID * PATCH, GRID * PATCH, 3], 7 + batch)
      : tf.tensor(Int32Array.from({ length: batch * tokens }, (_, i) => (i * 7919 + batch) % VOCAB), [batch, tokens], "int32");

  const linearFlops = layers * tokens * 2 * (d * 3 * d + d * d + 2 * d * 4 * d);
  const attentionFlops = layers * 4 * tokens * tokens * d;
  const embedFlops = kind === "image" ? 2 * GRID * GRID * PATCH * PATCH * 3 * d : 0;
  return {
    kind,
    config,
    weights: { blocks, position, finalNorm, projection, embed, classEmbedding, preNorm },
    forward,
    input,
    flopsPerSample: linearFlops + attentionFlops + embedFlops + 2 * d * outputDim,
    dispose: () => tf.dispose([...blocks.flatMap((b) => Object.values(b).flat()), position, ...finalNorm, projection, embed, classEmbedding, ...preNorm]),
  };
}
