/**
 * setupBackend(preferred?) picks and initialises a tfjs backend and says which one it chose:
 * `webgpu` where a WebGPU adapter exists, else `wasm`, else `cpu`. In Node the default order is `native` (our C++
 * addon's kernels on a wasm instance, `@proj/tensor-kernels/native`, when the addon was built at install), else
 * `wasm`, else `cpu`; it skips `webgpu` (Node has no `navigator.gpu` unless the app installs one, e.g. from the
 * `webgpu` package), and `@tensorflow/tfjs-node` cannot be installed offline. `onSkip` reports why a backend was
 * passed over (e.g. "native: the native addon was not built …").
 *
 * A backend package that is not registered yet is imported on demand in Node. In browsers, import the backend
 * packages you want in your app (`import "@tensorflow/tfjs-backend-webgpu"`) so that your bundler includes them.
 */
import { engine, findBackendFactory, setBackend } from "@tensorflow/tfjs-core";

export type BackendName = "webgpu" | "wasm" | "cpu" | (string & {});

const PACKAGES: Record<string, string> = {
  webgpu: "@tensorflow/tfjs-backend-webgpu",
  wasm: "@tensorflow/tfjs-backend-wasm",
  cpu: "@tensorflow/tfjs-backend-cpu",
  native: "@proj/tensor-kernels/native",
};

const isNode = typeof process !== "undefined" && typeof process.versions?.node === "string";

/**
 * Called after setupBackend imports a backend package itself. `@proj/tensor-kernels/register` adds one: kernels
 * that replace a backend's own (wasm's transposed matmuls, conv input gradient) need that backend loaded first.
 */
const backendLoadedHooks: ((backend: string) => void)[] = [];

/** @internal Used by the `register` entry. */
export function onBackendLoaded(hook: (backend: string) => void): void {
  backendLoadedHooks.push(hook);
}

export interface SetupBackendOptions {
  /** Called with each backend that was skipped and why (default: nothing). */
  onSkip?: (backend: string, reason: string) => void;
}

async function ensureRegistered(name: string): Promise<string | undefined> {
  if (findBackendFactory(name) != null) return undefined;
  const pkg = PACKAGES[name];
  if (pkg === undefined) return `no backend named "${name}" is registered`;
  if (!isNode) return `${pkg} is not loaded (import it in your app)`;
  let module: { nativeUnavailableReason?: () => string | undefined };
  try {
    // A computed specifier keeps bundlers from trying to resolve optional backend packages.
    const specifier = pkg;
    module = await import(/* @vite-ignore */ specifier);
  } catch (error) {
    return `${pkg} could not be imported: ${(error as Error).message.split("\n")[0]}`;
  }
  for (const hook of backendLoadedHooks) hook(name);
  if (findBackendFactory(name) != null) return undefined;
  // The native entry registers no backend when its addon is missing, and says why.
  return module.nativeUnavailableReason?.() ?? `${pkg} did not register "${name}"`;
}

async function hasWebGpuAdapter(): Promise<string | undefined> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (!gpu) return "navigator.gpu is not available";
  try {
    return (await gpu.requestAdapter()) ? undefined : "navigator.gpu.requestAdapter() returned no adapter";
  } catch (error) {
    return `requestAdapter failed: ${(error as Error).message}`;
  }
}

/**
 * Initialises the first backend of `preferred` (a name or an ordered list) that works and returns its name.
 * Throws an error listing why each candidate failed when none does.
 */
export async function setupBackend(preferred?: BackendName | readonly BackendName[], options: SetupBackendOptions = {}): Promise<string> {
  const candidates = preferred === undefined ? (isNode ? ["native", "wasm", "cpu"] : ["webgpu", "wasm", "cpu"]) : typeof preferred === "string" ? [preferred] : [...preferred];
  if (candidates.length === 0) throw new RangeError("setupBackend: the list of preferred backends is empty");
  const reasons: string[] = [];
  for (const name of candidates) {
    // tfjs-backend-webgpu registers itself only where navigator.gpu exists, so look for an adapter first.
    let reason = name === "webgpu" ? await hasWebGpuAdapter() : undefined;
    reason ??= await ensureRegistered(name);
    if (reason === undefined) {
      try {
        if (await setBackend(name)) {
          await engine().ready();
          return name;
        }
        reason = "initialisation failed";
      } catch (error) {
        reason = `initialisation failed: ${(error as Error).message}`;
      }
    }
    reasons.push(`${name}: ${reason}`);
    options.onSkip?.(name, reason);
  }
  throw new Error(`setupBackend: no backend could be initialised (${reasons.join("; ")})`);
}
