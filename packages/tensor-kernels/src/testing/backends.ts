/**
 * Test support: initialises every backend the conformance suite runs on — `cpu`, `wasm`, `native` (the addon's
 * kernels on a wasm instance, when the addon was built) and `webgpu` (Dawn from the `webgpu` npm package on the
 * SwiftShader Vulkan driver that Debian's `chromium` installs). A missing WebGPU adapter is an error, not a skip,
 * unless PROJ_SKIP_WEBGPU=1 is set (then the reason is printed). A missing addon is a skip with its reason printed
 * (the addon is optional: a failed compile at install must leave a working package); PROJ_REQUIRE_NATIVE=1 makes
 * it an error.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
// The backend alone, not the `native` entry: that would also run this copy of `register`, and a package whose code
// loads the published `register` (clip) would then have our kernels registered twice.
import { nativeUnavailableReason } from "../native/addon.js";
import { registerNativeBackend } from "../native/backend.js";

const nativeAvailable = registerNativeBackend();

export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

let ready: Promise<string[]> | undefined;
const webGpuErrors: string[] = [];

/** WGSL compile and validation errors are otherwise silent (the output stays zero): collect and return them. */
export function takeWebGpuErrors(): string[] {
  return webGpuErrors.splice(0);
}

async function setupWebGpu(): Promise<void> {
  process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
  process.env.NODEVICE_SELECT ??= "1"; // silences Mesa's device-select layer where mesa-vulkan-drivers is installed
  const { create, globals } = (await import("webgpu")) as unknown as {
    create: (options: string[]) => GPU;
    globals: Record<string, unknown>;
  };
  Object.assign(globalThis, globals);
  const gpu = create([]);
  Object.defineProperty(globalThis, "navigator", { value: { gpu }, configurable: true, writable: true });
  await import("@tensorflow/tfjs-backend-webgpu");
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error(`No WebGPU adapter: is chromium installed (${SWIFTSHADER_ICD})?`);
}

/**
 * Names of the backends available to the suite (by default cpu, wasm, native and webgpu), initialised once per process.
 * `only` restricts the set (the GPU benchmark runs webgpu alone).
 */
export function initBackends(only?: readonly string[]): Promise<string[]> {
  ready ??= (async () => {
    const names = ["cpu", "wasm"].filter((n) => only === undefined || only.includes(n));
    if (only === undefined || only.includes("native")) {
      if (nativeAvailable) {
        names.push("native");
      } else if (process.env.PROJ_REQUIRE_NATIVE === "1") {
        throw new Error(`PROJ_REQUIRE_NATIVE=1 but the native addon is not available: ${nativeUnavailableReason()}`);
      } else {
        console.warn(`native backend not tested in this run: ${nativeUnavailableReason()}`);
      }
    }
    if (only === undefined || only.includes("webgpu")) {
      if (process.env.PROJ_SKIP_WEBGPU === "1") {
        console.warn("PROJ_SKIP_WEBGPU=1: the webgpu backend is not tested in this run");
      } else {
        await setupWebGpu();
        names.push("webgpu");
      }
    }
    for (const name of names) {
      if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
      if (name === "webgpu") {
        const device = (tf.backend() as unknown as { device: GPUDevice }).device;
        device.addEventListener("uncapturederror", (event) => {
          webGpuErrors.push((event as GPUUncapturedErrorEvent).error.message);
        });
      }
    }
    await tf.setBackend(names[0] ?? "cpu");
    return names;
  })();
  return ready;
}

export async function useBackend(name: string): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} failed to initialise`);
  await tf.ready();
}

/** Norm-wise relative error max|a − e| / max|e| of two arrays. NaN anywhere gives NaN, failing every `≤`. */
export function relativeErrorOf(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`size ${actual.length} ≠ ${expected.length}`);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    if (!(err <= worst)) worst = err;
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return worst / Math.max(scale, 1e-30);
}

/** `relativeErrorOf` for tensors (read back); `expected` may be a plain array, e.g. a float64 reference. */
export async function relativeError(actual: tf.Tensor, expected: tf.Tensor | ArrayLike<number>): Promise<number> {
  return relativeErrorOf(await actual.data(), expected instanceof tf.Tensor ? await expected.data() : expected);
}

/** Deterministic pseudo-random float32 tensor (values in [−scale, scale) plus an offset). */
export function randomTensor(shape: number[], seed: number, scale = 1, offset = 0): tf.Tensor {
  let s = seed >>> 0 || 1;
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    values[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 2 * scale + offset;
  }
  return tf.tensor(values, shape, "float32");
}

/** Number of compiled WebGPU pipelines whose cache key starts with `shaderKeyPrefix` (our programs' `shaderKey`). */
export function compiledPipelines(shaderKeyPrefix: string): number {
  const cache = (tf.findBackend("webgpu") as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache;
  return Object.keys(cache).filter((key) => key.startsWith(shaderKeyPrefix)).length;
}
