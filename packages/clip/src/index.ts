/**
 * @proj/clip — OpenAI CLIP on TensorFlow.js. In progress (issue #5): checkpoint I/O (safetensors) and the
 * reference-exact image preprocessing are implemented; the encoders, checkpoint key tables and zero-shot API are not
 * yet (see README.md).
 */

// Checkpoints: safetensors read/write (no tensor dependency)
export { SafetensorsError, parseSafetensors, readSafetensors, serializeSafetensors, toFloat32, toInt32 } from "./safetensors.js";
export type { SafetensorsDtype, SafetensorsFile, SafetensorsTensor } from "./safetensors.js";

// Image preprocessing, exact to the reference (Pillow bicubic, center crop, CLIP normalisation)
export {
  CLIP_MEAN,
  CLIP_STD,
  centerCropOffsets,
  clipResizeCrop,
  clipResizedSize,
  decodeImage,
  preprocess,
  resizeBicubic,
} from "./preprocess.js";
export type { BrowserImageSource, ImageInput, PreprocessOptions, RgbImage, RgbImageLike } from "./preprocess.js";
