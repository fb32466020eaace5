/**
 * Test support for the trainer: a tiny ViT CLIP config and a synthetic image–caption set of coloured shapes
 * ("a red square", "a blue circle", …), with a word-level vocabulary small enough for a tiny token embedding.
 */
import type { ClipConfig } from "../config.js";

/** Tiny ViT CLIP: 16×16 images in 4×4 patches, width 64 (one head) × 2; text width 32 × 2, context 8, vocabulary 12. */
export const TINY_TRAINING_CONFIG: Readonly<ClipConfig> = Object.freeze({
  embedDim: 32,
  imageResolution: 16,
  visionLayers: 2,
  visionWidth: 64,
  visionPatchSize: 4,
  contextLength: 8,
  vocabSize: 12,
  transformerWidth: 32,
  transformerHeads: 2,
  transformerLayers: 2,
});

export const COLOURS = { red: [1, 0.1, 0.1], green: [0.1, 0.9, 0.1], blue: [0.15, 0.2, 1], yellow: [1, 0.95, 0.1] } as const;
export const SHAPES = ["square", "circle", "triangle", "cross"] as const;
type Colour = keyof typeof COLOURS;
type Shape = (typeof SHAPES)[number];

// Word-level vocabulary: 0 padding, 1 <|startoftext|>, 2 "a", 3–6 colours, 7–10 shapes, 11 <|endoftext|> (the
// largest id, as the text encoder pools at the argmax).
const WORDS: Record<string, number> = { a: 2, red: 3, green: 4, blue: 5, yellow: 6, square: 7, circle: 8, triangle: 9, cross: 10 };
const START = 1;
const END = 11;

/** Word-level token rows [N, 8] for captions such as "a red square". */
export function tokenizeCaptions(captions: readonly string[]): Int32Array {
  const T = TINY_TRAINING_CONFIG.contextLength;
  const out = new Int32Array(captions.length * T);
  captions.forEach((caption, n) => {
    const ids = [START, ...caption.split(" ").map((w) => WORDS[w] ?? 0), END];
    if (ids.length > T) throw new Error(`caption too long: ${caption}`);
    out.set(ids, n * T);
  });
  return out;
}

function inside(shape: Shape, x: number, y: number): boolean {
  // x, y in [-1, 1] relative to the shape's centre and size
  switch (shape) {
    case "square":
      return Math.abs(x) <= 0.8 && Math.abs(y) <= 0.8;
    case "circle":
      return x * x + y * y <= 0.8;
    case "triangle":
      return y >= -0.9 && y <= 0.9 && Math.abs(x) <= (y + 0.9) / 2;
    case "cross":
      return (Math.abs(x) <= 0.3 && Math.abs(y) <= 1) || (Math.abs(y) <= 0.3 && Math.abs(x) <= 1);
  }
}

/** mulberry32 in [0, 1). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticPairs {
  images: Float32Array; // [N, 16, 16, 3] NHWC, values in [−1, 1]
  captions: string[];
}

/**
 * The 16 colour × shape pairs (in a fixed order, or `count` of them cycling through it), each drawn at a jittered
 * place and size on a grey background with a little noise; `seed` picks the jitter, `jitter` scales it (1: centre
 * within ±1.5 px, size 4–6 px; 0: every image of a pair the same apart from the noise).
 */
export function syntheticPairs(seed: number, count = 16, jitter = 1): SyntheticPairs {
  const R = TINY_TRAINING_CONFIG.imageResolution;
  const rand = random(seed);
  const colours = Object.keys(COLOURS) as Colour[];
  const images = new Float32Array(count * R * R * 3);
  const captions: string[] = [];
  for (let n = 0; n < count; n++) {
    const colour = colours[n % 4]!;
    const shape = SHAPES[Math.floor(n / 4) % 4]!;
    captions.push(`a ${colour} ${shape}`);
    const size = 5 + (rand() - 0.5) * 2 * jitter;
    const cx = R / 2 + (rand() - 0.5) * 3 * jitter;
    const cy = R / 2 + (rand() - 0.5) * 3 * jitter;
    for (let y = 0; y < R; y++) {
      for (let x = 0; x < R; x++) {
        const hit = inside(shape, (x + 0.5 - cx) / size, (y + 0.5 - cy) / size);
        for (let c = 0; c < 3; c++) {
          const value = hit ? COLOURS[colour][c]! : 0.5;
          images[((n * R + y) * R + x) * 3 + c] = 2 * value - 1 + (rand() - 0.5) * 0.1;
        }
      }
    }
  }
  return { images, captions };
}
