/**
 * Writes tiny random-weight models to public/models-test/ (or the folder given as the first argument) with
 * `writeTinyModels` of `@proj/unclip/testing`: a ViT CLIP with embedding width 32, TINY_DECODER (16×16),
 * TINY_UPSAMPLER (16 → 32) and TINY_PRIOR over that CLIP's text tokens. Open the app with `?models=models-test` to use
 * them. Random weights make the pictures noise; they exist to develop and test the page, not to look at.
 *
 *   npm run test-models -w @proj/example-web
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { writeTinyModels } from "@proj/unclip/testing";

export const TEST_MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../public/models-test");

/** Writes clip, decoder, upsampler and prior .safetensors into `dir` (`writeTinyModels` of @proj/unclip/testing). */
export async function makeTestModels(dir: string = TEST_MODELS_DIR): Promise<void> {
  await tf.setBackend("wasm");
  await writeTinyModels(dir);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? TEST_MODELS_DIR);
  await makeTestModels(dir);
  console.log(`wrote tiny random models to ${dir}`);
}
