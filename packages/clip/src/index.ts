/**
 * @proj/clip — OpenAI CLIP on TensorFlow.js at reference parity: safetensors checkpoints (OpenAI / open_clip and
 * Hugging Face layouts), exact preprocessing, ViT and ModifiedResNet image encoders, the text encoder, zero-shot
 * classification. See README.md for what is still missing.
 */

// Zero-shot classification
export { DEFAULT_TEMPLATES, createZeroShotClassifier, zeroShotClassify } from "./zero-shot.js";
export type {
  ClassifyOptions,
  ZeroShotClassifier,
  ZeroShotClassifierOptions,
  ZeroShotImage,
  ZeroShotImages,
  ZeroShotOptions,
  ZeroShotScore,
} from "./zero-shot.js";

// Models
export { clipFromSafetensors, clipLogits, encodeImage, encodeText, encodeTextTokens, loadClip, CHECKPOINT_TRANSFORMS, DEFAULT_CLIP_URL, TOKENIZER_METADATA_KEY } from "./clip-model.js";
export type { ClipConfigSource, ClipModel, LoadClipOptions, TextEncoding } from "./clip-model.js";
export { clipConfigFromHuggingFace, inferClipConfig } from "./config-inference.js";
export { clipCheckpointShapes } from "./checkpoint-shapes.js";
export type { CheckpointShapes } from "./checkpoint-shapes.js";
export type { HuggingFaceClipConfigJson, ShapeSource } from "./config-inference.js";
export {
  clipConfigDifferences,
  clipConfigFromJson,
  clipConfigToJson,
  isVisionTransformerConfig,
  visionHeads,
  RN101,
  RN50,
  RN50x16,
  RN50x4,
  RN50x64,
  VIT_B_16,
  VIT_B_32,
  VIT_L_14,
  VIT_L_14_336,
} from "./config.js";
export type { ClipConfig, ClipConfigJson, VisionTransformerClipConfig } from "./config.js";
export { VisionTransformer } from "./vision-transformer.js";
export type { VisionTransformerConfig, VisionTransformerIntermediates } from "./vision-transformer.js";
export { TextTransformer } from "./text-transformer.js";
export type { TextTransformerConfig, TextTransformerIntermediates } from "./text-transformer.js";
export { Transformer } from "./transformer.js";
export type { TransformerConfig } from "./transformer.js";
export { ResidualAttentionBlock } from "./residual-attention-block.js";
export type { ResidualAttentionBlockConfig } from "./residual-attention-block.js";
export { ModifiedResNet } from "./modified-resnet.js";
export type { ModifiedResNetConfig, ModifiedResNetIntermediates } from "./modified-resnet.js";
export { AttentionPool2d } from "./attention-pool.js";
export type { AttentionPool2dConfig } from "./attention-pool.js";
export { CheckpointError, CheckpointWeights } from "./weights.js";
export {
  CheckpointLayoutError,
  HUGGING_FACE_DROPPED_KEYS,
  HUGGING_FACE_KEYS,
  detectCheckpointLayout,
  fromHuggingFaceLayout,
  toHuggingFaceLayout,
} from "./checkpoint-layouts.js";
export type { CheckpointLayout, KeyRule } from "./checkpoint-layouts.js";
export { saveClip } from "./save-checkpoint.js";
export type { SaveClipOptions } from "./save-checkpoint.js";
export type { TakeWeight } from "./weights.js";

// Contrastive training (ViT CLIP): initialisation, loss, gradient caching, the trainer, data-parallel workers
export { initClip } from "./training/init.js";
export type { InitClipOptions } from "./training/init.js";
export { MAX_LOGIT_SCALE, contrastiveAccuracy, contrastiveLoss } from "./training/contrastive-loss.js";
export { backpropagateEmbeddingGradients, contrastiveGradients, embedWithoutGradients, embeddingGradients } from "./training/grad-cache.js";
export type { ContrastiveBatch, ContrastiveGradients, ContrastiveGradientsOptions } from "./training/grad-cache.js";
export { trainClip } from "./training/clip-trainer.js";
export type { ClipBatchSource, ClipTrainingBatch, TrainClipCheckpoint, TrainClipOptions, TrainClipProgress, TrainClipResult } from "./training/clip-trainer.js";
export { restoreTrainingCheckpoint, serializeTrainableClip, serializeTrainingCheckpoint, weightsOfTrainingCheckpoint } from "./training/training-checkpoint.js";
export type { TrainingPosition } from "./training/training-checkpoint.js";
export { DataParallelClip } from "./training/data-parallel.js";
export type { DataParallelOptions } from "./training/data-parallel.js";
export { takeAsVariables } from "./weights.js";

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
