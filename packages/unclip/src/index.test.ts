import { describe, expect, it } from "vitest";
import * as api from "./index.js";

describe("@proj/unclip public surface", () => {
  it("exports exactly these names (the issue's API names included)", () => {
    for (const name of ["sample", "variations", "interpolate", "animate", "textToImage", "slerp", "createPipeline", "mix", "DDPMScheduler", "DDIMScheduler"]) {
      expect(Object.keys(api)).toContain(name);
    }
    expect(Object.keys(api).sort()).toEqual(
      [
        "AttentionBlock", "BETA_SCHEDULES", "Conv2d", "GroupNorm", "LayerNorm", "Linear", "Mlp", "MultiheadAttention", "ResidualAttentionBlock", "COSINE_MAX_BETA", "DDIMScheduler", "DDIM_SCHEDULER_DEFAULTS", "DDPMScheduler",
        "DDPM_SCHEDULER_DEFAULTS", "DECODER_SCHEDULE", "DiffusionPrior", "Module", "ModuleCheckpointError", "PREDICTION_TYPES",
        "PRIOR_FORMAT", "PRIOR_SCHEDULE", "RandomGenerator", "ResnetBlock", "SMALL_DECODER", "SMALL_PRIOR", "SMALL_UPSAMPLER",
        "TIMESTEP_SPACINGS", "TINY_DECODER", "TINY_PRIOR", "TINY_UPSAMPLER", "TRAINING_FORMAT", "UNET_FORMAT", "UNet",
        "VARIANCE_TYPES", "addNoise", "animate", "augmentLowRes", "betasForAlphaBar", "betasForSchedule", "clipEmbedder",
        "conditioningEmbeddings", "cosineAlphaBar", "decoderGuidance", "createPipeline", "downsampleImages", "dropConditioning", "interpolate",
        "loadModuleWeights", "mix", "moduleToSafetensors", "noiseSchedule", "normalizeEmbeddings", "predictEpsilon",
        "predictOriginalSample", "priorConfigFromJson", "randomNormal", "gaussianKernel1d", "randomCrops", "replaceDropped", "upsampleNearest2x", "parameter", "sample", "samplePrior", "slerp", "spacedTimesteps",
        "textToImage", "timestepEmbedding", "trainDecoder", "trainPrior", "trainUpsampler", "trainingTarget", "unetConfigFromJson",
        "validatePriorConfig", "validateUNetConfig", "variations", "velocity", "DEFAULT_MODEL_URLS", "loadPipeline",
        "modelFromTrainingCheckpoint", "MEDIUM_DECODER", "widenUNet", "widenedConfig",
      ].sort(),
    );
  });
});
