/**
 * @proj/unclip — the unCLIP (DALL·E 2) decoder, upsampler and prior on TensorFlow.js: noise schedules and
 * DDPM/DDIM schedulers with diffusers' config names, the models, their training loops, sampling, and the
 * image-manipulation API (variations, blends, looping animations, text-to-image, mixing). See README.md.
 */

// The image-manipulation API
export { animate, clipEmbedder, createPipeline, interpolate, mix, slerp, textToImage, variations } from "./pipeline.js";
export type {
  AnimateOptions,
  DecodeOptions,
  ImageEmbedder,
  InterpolateOptions,
  MixItem,
  MixOptions,
  Pipeline,
  PipelineComponents,
  TextEmbedding,
  TextToImageOptions,
  VariationsOptions,
} from "./pipeline.js";

// The embedded default models
export { DEFAULT_MODEL_URLS, loadPipeline } from "./default-models.js";
export type { LoadPipelineOptions, LoadedPipeline, ModelSource, PipelineModelName, PipelineSources } from "./default-models.js";

// Sampling
export { DECODER_SCHEDULE, PRIOR_SCHEDULE, conditioningEmbeddings, decoderGuidance, normalizeEmbeddings, sample, samplePrior } from "./sample.js";
export type { CommonSampleOptions, SampleOptions, SamplePriorOptions, SampleProgress, Scheduler } from "./sample.js";

// Training
export { trainDecoder, trainUpsampler } from "./train-decoder.js";
export type { DecoderBatch, TrainDecoderOptions, TrainUpsamplerOptions, UpsamplerBatch } from "./train-decoder.js";
export { trainPrior } from "./train-prior.js";
export type { PriorBatch, TrainPriorOptions } from "./train-prior.js";
export { TRAINING_FORMAT } from "./trainer.js";
export { modelFromTrainingCheckpoint } from "./training-checkpoint.js";
export type { ModelFromTrainingCheckpointOptions } from "./training-checkpoint.js";
export type { TrainOptions, TrainProgress, TrainResult } from "./trainer.js";

// Models
export { UNet, UNET_FORMAT } from "./unet.js";
export type { SamplingDefaults } from "./unet.js";
export type { UNetInputs, UNetOptions } from "./unet.js";
export { MEDIUM_DECODER, SMALL_DECODER, SMALL_UPSAMPLER, TINY_DECODER, TINY_UPSAMPLER, unetConfigFromJson, validateUNetConfig } from "./unet-config.js";
export type { UNetConfig } from "./unet-config.js";
export { widenUNet, widenedConfig } from "./widen.js";
export type { WidenOptions } from "./widen.js";
export { DiffusionPrior, PRIOR_FORMAT, SMALL_PRIOR, TINY_PRIOR, priorConfigFromJson, validatePriorConfig } from "./diffusion-prior.js";
export type { DiffusionPriorConfig, DiffusionPriorInputs } from "./diffusion-prior.js";
export { ResnetBlock } from "./resnet-block.js";
export type { ResnetBlockConfig } from "./resnet-block.js";
export { AttentionBlock } from "./attention-block.js";
export type { AttentionBlockConfig, AttentionContext } from "./attention-block.js";
export { timestepEmbedding } from "./timestep-embedding.js";
export { augmentLowRes, downsampleImages, gaussianKernel1d, randomCrops } from "./upsampler.js";
export type { AugmentLowResOptions } from "./upsampler.js";
export { dropConditioning, replaceDropped } from "./conditioning.js";
export { upsampleNearest2x } from "./unet.js";

// Building blocks for custom modules (trainable, checkpoint-key parameter paths)
export { Module, ModuleCheckpointError, loadModuleWeights, moduleToSafetensors, parameter } from "./module.js";
export type { InitialiseOptions, ParameterInit, SaveOptions } from "./module.js";
export { Conv2d, GroupNorm, LayerNorm, Linear } from "./layers.js";
export type { Conv2dOptions, LinearOptions } from "./layers.js";
export { Mlp, MultiheadAttention, ResidualAttentionBlock } from "./transformer.js";

// Noise schedules and schedulers (diffusers' names and numbers)
export { DDPMScheduler, DDPM_SCHEDULER_DEFAULTS, VARIANCE_TYPES } from "./ddpm-scheduler.js";
export type { DDPMSchedulerConfig, DDPMSchedulerOptions, DDPMStepOptions, VarianceType } from "./ddpm-scheduler.js";
export { DDIMScheduler, DDIM_SCHEDULER_DEFAULTS } from "./ddim-scheduler.js";
export type { DDIMSchedulerConfig, DDIMSchedulerOptions, DDIMStepOptions } from "./ddim-scheduler.js";
export {
  BETA_SCHEDULES,
  COSINE_MAX_BETA,
  PREDICTION_TYPES,
  TIMESTEP_SPACINGS,
  addNoise,
  betasForAlphaBar,
  betasForSchedule,
  cosineAlphaBar,
  noiseSchedule,
  predictEpsilon,
  predictOriginalSample,
  spacedTimesteps,
  trainingTarget,
  velocity,
} from "./noise-schedule.js";
export type {
  BetaSchedule,
  NoiseScheduleConfig,
  NoiseScheduleTables,
  PredictionType,
  SchedulerOutput,
  TimestepSpacing,
  TimestepsLike,
} from "./noise-schedule.js";
export { RandomGenerator, randomNormal } from "./random.js";
export type { StepNoiseOptions } from "./random.js";
