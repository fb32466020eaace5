/**
 * Zero-shot image classification with CLIP (Radford et al. 2021, §3.1.2 "Using CLIP for zero-shot transfer"; the
 * reference notebook `notebooks/Prompt_Engineering_for_ImageNet.ipynb` of github.com/openai/CLIP):
 *
 *   labelFeature_l = normalize( mean_t normalize(encodeText(template_t(label_l))) )   (prompt ensembling, §3.1.4)
 *   p(l | image)   = softmax_l( logitScale · normalize(encodeImage(image)) · labelFeature_l )
 *
 * With one template the ensemble is just the normalised text feature, so `template "{}"` reproduces the reference's
 * `logits_per_image.softmax(dim=-1)`.
 */
import * as tf from "@tensorflow/tfjs-core";
import { encodeImage, encodeText, type ClipModel } from "./clip-model.js";
import { preprocess, type ImageInput } from "./preprocess.js";

export interface ZeroShotScore {
  label: string;
  /** Softmax probability over the labels, in [0, 1]; the scores of all labels sum to 1. */
  score: number;
}

export interface ZeroShotClassifierOptions {
  /**
   * Prompt templates; every `{}` is replaced by the label. The text features of one label's prompts are averaged
   * (prompt ensembling). Default `["a photo of a {}."]`.
   */
  templates?: readonly string[];
}

export interface ClassifyOptions {
  /** Keep only the `topK` most likely labels (a positive integer; more than there are labels keeps all). Default all. */
  topK?: number;
}

export type ZeroShotOptions = ZeroShotClassifierOptions & ClassifyOptions;

/**
 * One image: a preprocessed tensor ([R, R, 3] or [1, R, R, 3], NHWC, normalised as `preprocess` does) or anything
 * `preprocess` accepts (encoded bytes, a path in Node, pixels, a browser image source), preprocessed at the model's
 * resolution.
 */
export type ZeroShotImage = tf.Tensor3D | tf.Tensor4D | ImageInput;

/** Several images: a preprocessed batch [N, R, R, 3], or a list of single images. */
export type ZeroShotImages = tf.Tensor4D | readonly (tf.Tensor3D | ImageInput)[];

export interface ZeroShotClassifier {
  readonly labels: readonly string[];
  /** One list per image, each sorted by descending score. */
  classify(images: ZeroShotImages, options?: ClassifyOptions): Promise<ZeroShotScore[][]>;
  /** Releases the label embeddings (the classifier's only tensor). Calling it twice is harmless. */
  dispose(): void;
}

export const DEFAULT_TEMPLATES: readonly string[] = Object.freeze(["a photo of a {}."]);

// ---------------------------------------------------------------------------------------------------------------------
// Checks

function checkLabels(labels: readonly string[], where: string): void {
  if (!Array.isArray(labels) || labels.length === 0) throw new RangeError(`${where}: the label list is empty`);
  const seen = new Set<string>();
  for (const label of labels) {
    if (typeof label !== "string") throw new TypeError(`${where}: labels must be strings, got ${JSON.stringify(label)}`);
    if (seen.has(label)) throw new RangeError(`${where}: duplicate label ${JSON.stringify(label)}`);
    seen.add(label);
  }
}

function checkTemplates(templates: readonly string[], where: string): void {
  if (!Array.isArray(templates) || templates.length === 0) throw new RangeError(`${where}: the template list is empty`);
  for (const template of templates) {
    if (typeof template !== "string" || !template.includes("{}")) {
      throw new RangeError(`${where}: template ${JSON.stringify(template)} has no "{}" for the label`);
    }
  }
}

function checkTopK(topK: number | undefined, where: string): void {
  if (topK !== undefined && !(Number.isInteger(topK) && topK > 0)) {
    throw new RangeError(`${where}: topK must be a positive integer, got ${String(topK)}`);
  }
}

/** Checks one preprocessed image tensor: [R, R, 3] or (when `batch`) [N, R, R, 3]. */
function checkImageTensor(image: tf.Tensor, resolution: number, where: string): void {
  const { shape } = image;
  const ok =
    (image.rank === 3 || image.rank === 4) &&
    shape.at(-1) === 3 &&
    shape.at(-2) === resolution &&
    shape.at(-3) === resolution &&
    (image.rank === 3 || (shape[0] ?? 0) > 0);
  if (!ok) {
    throw new RangeError(
      `${where}: expected a preprocessed NHWC image [${resolution}, ${resolution}, 3] or batch [N, ${resolution}, ${resolution}, 3] ` +
        `(the model's resolution, 3 channels), got shape [${shape.join(", ")}]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Classifier

/** Rows scaled to unit L2 norm. x: [..., D]. */
const normalize = <T extends tf.Tensor>(x: T): T => tf.div(x, tf.norm(x, 2, -1, true));

/**
 * Embeds `labels` once (one [L, D] tensor of unit-norm, prompt-ensembled label features) and returns a classifier for
 * any number of images. Dispose it when done.
 */
export async function createZeroShotClassifier(
  model: ClipModel,
  labels: readonly string[],
  options: ZeroShotClassifierOptions = {},
): Promise<ZeroShotClassifier> {
  // 1. Check inputs.
  const where = "createZeroShotClassifier";
  checkLabels(labels, where);
  const templates = options.templates ?? DEFAULT_TEMPLATES;
  checkTemplates(templates, where);
  const labelList = Object.freeze([...labels]);

  // 2. Encode every prompt, label-major: row l·T + t is template t filled with label l.
  const prompts = labelList.flatMap((label) => templates.map((template) => template.replaceAll("{}", label)));
  const promptFeatures = await encodeText(model, prompts); // [L·T, D]

  // 3. Ensemble: normalise each prompt, average a label's prompts, normalise again.
  const labelFeatures = tf.tidy(() => {
    const perPrompt = normalize(tf.reshape(promptFeatures, [labelList.length, templates.length, -1])); // [L, T, D]
    return normalize(tf.mean(perPrompt, 1)) as tf.Tensor2D; // [L, D]
  });
  promptFeatures.dispose();

  let disposed = false;
  const resolution = model.config.imageResolution;
  return Object.freeze({
    labels: labelList,
    async classify(images: ZeroShotImages, classifyOptions: ClassifyOptions = {}): Promise<ZeroShotScore[][]> {
      const where = "ZeroShotClassifier.classify";
      if (disposed) throw new Error(`${where}: the classifier was disposed`);
      checkTopK(classifyOptions.topK, where);
      const pixels = await toBatch(images, resolution, where); // [N, R, R, 3]
      let probabilities: Float32Array;
      try {
        const imageFeatures = encodeImage(model, pixels.batch); // [N, D]
        const softmax = tf.tidy(() => {
          const logits = tf.mul(tf.matMul(normalize(imageFeatures), labelFeatures, false, true), model.logitScale); // [N, L]
          return tf.softmax(logits, -1);
        });
        imageFeatures.dispose();
        probabilities = (await softmax.data()) as Float32Array;
        softmax.dispose();
      } finally {
        if (pixels.owned) pixels.batch.dispose();
      }
      const count = labelList.length;
      const keep = Math.min(classifyOptions.topK ?? count, count);
      const results: ZeroShotScore[][] = [];
      for (let n = 0; n * count < probabilities.length; n++) {
        const scores = labelList.map((label, l) => ({ label, score: probabilities[n * count + l] ?? 0 }));
        scores.sort((a, b) => b.score - a.score); // stable: ties keep label order
        results.push(scores.slice(0, keep));
      }
      return results;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      labelFeatures.dispose();
    },
  });
}

/** Images → one preprocessed batch; `owned` when it was created here (and must be disposed here). */
async function toBatch(images: ZeroShotImages, resolution: number, where: string): Promise<{ batch: tf.Tensor4D; owned: boolean }> {
  if (images instanceof tf.Tensor) {
    if (images.rank !== 4) {
      throw new RangeError(`${where}: a tensor of images must be a batch [N, ${resolution}, ${resolution}, 3], got shape [${images.shape.join(", ")}]`);
    }
    checkImageTensor(images, resolution, where);
    return { batch: images, owned: false };
  }
  if (!Array.isArray(images) || images.length === 0) throw new RangeError(`${where}: the image list is empty`);
  const list = images as readonly (tf.Tensor3D | ImageInput)[];
  if (!list.some((image) => image instanceof tf.Tensor)) {
    return { batch: await preprocess([...(list as ImageInput[])], { size: resolution }), owned: true };
  }
  // A mix of tensors and other inputs: preprocess the others together, then stack in the given order.
  for (const image of list) {
    if (image instanceof tf.Tensor) {
      if (image.rank !== 3) {
        throw new RangeError(`${where}: an image tensor in a list must be [${resolution}, ${resolution}, 3], got shape [${image.shape.join(", ")}]`);
      }
      checkImageTensor(image, resolution, where);
    }
  }
  const others = list.filter((image): image is ImageInput => !(image instanceof tf.Tensor));
  const preprocessed = others.length > 0 ? await preprocess(others, { size: resolution }) : undefined;
  const batch = tf.tidy(() => {
    let next = 0;
    const rows = list.map((image) => (image instanceof tf.Tensor ? image : tf.reshape(tf.gather(preprocessed as tf.Tensor4D, next++), [resolution, resolution, 3])));
    return tf.stack(rows) as tf.Tensor4D;
  });
  preprocessed?.dispose();
  return { batch, owned: true };
}

// ---------------------------------------------------------------------------------------------------------------------
// One image

/**
 * Classifies one image among `labels`: softmax over the labels of logitScale · cos(image feature, label feature),
 * sorted by descending score. For many images, `createZeroShotClassifier` embeds the labels only once.
 */
export async function zeroShotClassify(
  model: ClipModel,
  image: ZeroShotImage,
  labels: readonly string[],
  options: ZeroShotOptions = {},
): Promise<ZeroShotScore[]> {
  const where = "zeroShotClassify";
  checkTopK(options.topK, where);
  const resolution = model.config.imageResolution;
  let images: ZeroShotImages;
  if (image instanceof tf.Tensor) {
    checkImageTensor(image, resolution, where);
    if (image.rank === 4 && image.shape[0] !== 1) {
      throw new RangeError(`${where}: expected one image, got a batch of ${image.shape[0]} (use createZeroShotClassifier for batches)`);
    }
    images = image.rank === 4 ? (image as tf.Tensor4D) : [image as tf.Tensor3D];
  } else {
    images = [image];
  }
  const classifier = await createZeroShotClassifier(model, labels, options);
  try {
    const [scores] = await classifier.classify(images, options);
    return scores ?? [];
  } finally {
    classifier.dispose();
  }
}
