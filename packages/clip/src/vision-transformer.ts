/**
 * CLIP's VisionTransformer (Radford et al. 2021, §2.4; Dosovitskiy et al. 2020; reference `clip/model.py`):
 *
 *   patches = conv1(image)                       // P×P kernel, stride P, no bias: [N, g, g, W], g = R / P
 *                                                // (computed as a matmul over the patches, `patchEmbedding`)
 *   x = [class_embedding, patches…] + positional_embedding    // [N, g² + 1, W]
 *   x = transformer(ln_pre(x))
 *   features = ln_post(x[:, 0]) @ proj           // class token → [N, embedDim]
 *
 * Images are NHWC. `conv1.weight` arrives through the loader's `take` as HWIO `[P, P, 3, W]` (the loader
 * transposes the checkpoint's OIHW, see `CHECKPOINT_TRANSFORMS` in `clip-model.ts`); `proj` is `[W, embedDim]` in
 * the checkpoint already and used as `x @ proj`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { linear } from "@proj/tensor-kernels";
import { applyLayerNorm, disposeAll, takeLayerNorm, type LayerNormWeights } from "./residual-attention-block.js";
import { Transformer } from "./transformer.js";
import type { TakeWeight } from "./weights.js";

export interface VisionTransformerConfig {
  /** Input side R in pixels; must be a multiple of `patchSize`. */
  inputResolution: number;
  patchSize: number;
  /** Token width W. */
  width: number;
  layers: number;
  heads: number;
  /** Output width (CLIP's embed_dim). */
  outputDim: number;
}

/** Intermediate activations, for debugging against the reference's hooks. */
export type VisionTransformerIntermediates = {
  conv1: tf.Tensor4D; // [N, g, g, W] (NHWC; the reference's is NCHW)
  ln_pre: tf.Tensor3D; // [N, g² + 1, W]
  resblocks: tf.Tensor3D[]; // each [N, g² + 1, W]
  ln_post: tf.Tensor2D; // [N, W]
};

export class VisionTransformer {
  private constructor(
    readonly config: Readonly<VisionTransformerConfig>,
    readonly conv1: { weight: tf.Tensor4D }, // HWIO [P, P, 3, W]
    readonly class_embedding: tf.Tensor1D, // [W]
    readonly positional_embedding: tf.Tensor2D, // [g² + 1, W]
    readonly ln_pre: LayerNormWeights,
    readonly transformer: Transformer,
    readonly ln_post: LayerNormWeights,
    readonly proj: tf.Tensor2D, // [W, embedDim]
  ) {}

  /** `prefix` is the checkpoint path of the module, `visual`. */
  static fromWeights(take: TakeWeight, prefix: string, config: VisionTransformerConfig): VisionTransformer {
    const { inputResolution, patchSize, width, layers, heads, outputDim } = config;
    if (inputResolution % patchSize !== 0) {
      throw new RangeError(`VisionTransformer: input resolution ${inputResolution} is not a multiple of the patch size ${patchSize}`);
    }
    const grid = inputResolution / patchSize;
    return new VisionTransformer(
      Object.freeze({ ...config }),
      { weight: take(`${prefix}.conv1.weight`, [patchSize, patchSize, 3, width]) as tf.Tensor4D },
      take(`${prefix}.class_embedding`, [width]) as tf.Tensor1D,
      take(`${prefix}.positional_embedding`, [grid * grid + 1, width]) as tf.Tensor2D,
      takeLayerNorm(take, `${prefix}.ln_pre`, width),
      Transformer.fromWeights(take, `${prefix}.transformer`, { width, layers, heads, causal: false }),
      takeLayerNorm(take, `${prefix}.ln_post`, width),
      take(`${prefix}.proj`, [width, outputDim]) as tf.Tensor2D,
    );
  }

  /** pixels: [N, R, R, 3] NHWC, normalised → [N, outputDim]. */
  forward(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.run(pixels).features);
  }

  /** Like `forward`, also returning the intermediate activations (the caller disposes all of them). */
  forwardWithIntermediates(pixels: tf.Tensor4D): { features: tf.Tensor2D; intermediates: VisionTransformerIntermediates } {
    return tf.tidy(() => this.run(pixels, true));
  }

  private run(
    pixels: tf.Tensor4D,
    keepIntermediates = false,
  ): { features: tf.Tensor2D; intermediates: VisionTransformerIntermediates } {
    const { inputResolution, patchSize, width } = this.config;
    const [batch, height, imageWidth, channels] = pixels.shape;
    if (height !== inputResolution || imageWidth !== inputResolution || channels !== 3) {
      throw new RangeError(
        `VisionTransformer: expected NHWC images [N, ${inputResolution}, ${inputResolution}, 3], got [${pixels.shape.join(", ")}]`,
      );
    }
    const tokens = this.patchEmbedding(pixels); // [N, g², W], row-major over the grid like torch's flatten
    const grid = inputResolution / patchSize;
    const patches = tf.reshape(tokens, [batch, grid, grid, width]) as tf.Tensor4D; // [N, g, g, W], conv1's output (a view)
    const classToken = tf.broadcastTo(tf.reshape(this.class_embedding, [1, 1, width]), [batch, 1, width]); // [N, 1, W]
    const embedded = tf.add(tf.concat([classToken, tokens], 1), this.positional_embedding); // [N, g² + 1, W]
    const normalized = applyLayerNorm(embedded, this.ln_pre) as tf.Tensor3D;
    const resblocks: tf.Tensor3D[] = [];
    let x = normalized;
    for (const block of this.transformer.resblocks) {
      x = block.forward(x);
      if (keepIntermediates) resblocks.push(x);
    }
    const classOut = tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, width]), [batch, width]); // [N, W]
    const pooled = applyLayerNorm(classOut, this.ln_post) as tf.Tensor2D; // [N, W]
    const features = tf.matMul(pooled, this.proj) as tf.Tensor2D; // [N, embedDim]
    return { features, intermediates: { conv1: patches, ln_pre: normalized, resblocks, ln_post: pooled } };
  }

  /**
   * conv1 (P×P kernel, stride P, no bias) as one matmul over the patches: a stride-P convolution with a P×P kernel
   * sees each pixel once, so cutting the image into patches is a reshape and one rank-4 transpose, and the kernel
   * HWIO [P, P, 3, W] is already the [P·P·3, W] matrix (rows in (kh, kw, c) order, the patch's row-major order).
   * On wasm this runs `linear`'s SIMD GEMM (~1.7× the rate of wasm's Conv2D here, see bench/README.md).
   * pixels [N, R, R, 3] → [N, g², W].
   */
  private patchEmbedding(pixels: tf.Tensor4D): tf.Tensor3D {
    const { inputResolution, patchSize, width } = this.config;
    const batch = pixels.shape[0];
    const grid = inputResolution / patchSize;
    const rowsOfPatches = tf.reshape(pixels, [batch * grid, patchSize, grid, patchSize * 3]); // [N·g, P, g, P·3]
    const patches = tf.reshape(tf.transpose(rowsOfPatches, [0, 2, 1, 3]), [batch * grid * grid, patchSize * patchSize * 3]); // [N·g², P·P·3]
    const kernel = tf.reshape(this.conv1.weight, [patchSize * patchSize * 3, width]); // [P·P·3, W]
    return tf.reshape(linear(patches, kernel), [batch, grid * grid, width]) as tf.Tensor3D;
  }

  dispose(): void {
    this.transformer.dispose();
    disposeAll([this.conv1, this.class_embedding, this.positional_embedding, this.ln_pre, this.ln_post, this.proj]);
  }
}
