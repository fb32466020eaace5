/**
 * Trainable-parameter infrastructure: a `Module` holds its `tf.Variable`s in properties whose paths are the
 * checkpoint keys, so listing, initialising, saving and loading all walk the same tree.
 *
 * Key scheme (PyTorch's `state_dict` spelling): a parameter's key is the dotted path of properties from the root
 * module, array elements by index — `input_blocks.1.0.in_layers.0.weight` is
 * `unet.input_blocks[1][0].in_layers[0].weight`. Names follow guided-diffusion / GLIDE (`openai/guided-diffusion`
 * `unet.py`) where a component exists there; positions that hold a parameter-free op in PyTorch (the SiLU in
 * `time_embed.1`) are left empty (`undefined` array slots), so the surviving indices are the reference's.
 *
 * Layouts are tfjs's, not PyTorch's: `Linear.weight` is [in, out] (what `linear` takes), `Conv2d.weight` is
 * [kh, kw, in, out] (what `tf.conv2d` takes). Our checkpoints are written and read in these layouts; a converter
 * from a PyTorch checkpoint would transpose `[out, in]` → `[in, out]` and `[out, in, kh, kw]` → `[kh, kw, in, out]`.
 *
 * Walk order (`namedParameters`) is property definition order, depth first: deterministic for a given class and
 * config. Safetensors files list keys sorted, so the order never reaches a file.
 *
 * Initialisation is deterministic per seed and independent of the walk order: parameter `key` gets its values from a
 * generator seeded by hash(seed, key), so adding a component never changes the initial values of the others.
 */
import * as tf from "@tensorflow/tfjs-core";
import { CheckpointWeights, parseSafetensors, serializeSafetensors, type SafetensorsFile } from "@proj/clip";

/** How a parameter is drawn by `initialise`. */
export type ParameterInit =
  | { kind: "zeros" }
  | { kind: "ones" }
  /** U(−bound, bound); PyTorch's default for `nn.Linear` / `nn.Conv2d` weights and biases is bound = 1/√fanIn. */
  | { kind: "uniform"; bound: number }
  | { kind: "normal"; std: number };

interface ParameterSpec {
  init: ParameterInit;
  /**
   * guided-diffusion's `zero_module`: the last layer of a residual branch starts at zero so each block starts as the
   * identity. `initialise(seed, { zeroOutputs: false })` draws these from `fallback` instead (gradient tests).
   */
  zeroOutput: boolean;
  fallback: ParameterInit;
}

const SPECS = new WeakMap<tf.Variable, ParameterSpec>();
let variableCount = 0;

/**
 * A new trainable float32 variable of `shape`, filled with zeros until `initialise` runs. Its tfjs name is unique
 * in the process (`unclip/<n>`); its checkpoint key is its property path.
 */
export function parameter(shape: readonly number[], init: ParameterInit, options: { zeroOutput?: boolean } = {}): tf.Variable {
  const variable = tf.tidy(() => tf.variable(tf.zeros(shape.slice()), true, `unclip/${variableCount++}`));
  const zeroOutput = options.zeroOutput ?? false;
  SPECS.set(variable, { init: zeroOutput ? { kind: "zeros" } : init, zeroOutput, fallback: init });
  return variable;
}

export interface InitialiseOptions {
  /** Start the residual branches' last layers at zero (guided-diffusion `zero_module`); default true. */
  zeroOutputs?: boolean;
}

/** Error for a checkpoint whose metadata does not describe the model being loaded. */
export class ModuleCheckpointError extends Error {
  override name = "ModuleCheckpointError";
}

/** Base class of every trainable component. Subclasses only define properties; the tree walk does the rest. */
export abstract class Module {
  /** Every parameter by checkpoint key, in walk order (see the header). */
  namedParameters(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    collect(this, "", out, new Set());
    return out;
  }

  /** Total number of scalar parameters. */
  parameterCount(): number {
    let count = 0;
    for (const v of this.namedParameters().values()) count += v.size;
    return count;
  }

  /** Draws every parameter from its init rule with a generator seeded by hash(seed, key). Deterministic. */
  initialise(seed: number, options: InitialiseOptions = {}): this {
    if (!Number.isInteger(seed)) throw new RangeError(`initialise: seed must be an integer, got ${seed}`);
    const zeroOutputs = options.zeroOutputs ?? true;
    for (const [key, variable] of this.namedParameters()) {
      const spec = SPECS.get(variable);
      if (spec === undefined) throw new Error(`initialise: ${key} was not created by parameter()`);
      const init = spec.zeroOutput && !zeroOutputs ? spec.fallback : spec.init;
      const values = drawValues(init, variable.size, seedFor(seed, key));
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, "float32")));
    }
    return this;
  }

  /** Releases every variable. The module must not be used afterwards. */
  dispose(): void {
    for (const v of this.namedParameters().values()) v.dispose();
  }
}

function collect(value: unknown, prefix: string, out: Map<string, tf.Variable>, seen: Set<unknown>): void {
  if (value instanceof tf.Variable) {
    if (out.has(prefix)) throw new Error(`duplicate parameter key ${prefix}`);
    out.set(prefix, value);
    return;
  }
  if (seen.has(value)) return;
  if (Array.isArray(value)) {
    seen.add(value);
    value.forEach((item, i) => collect(item, join(prefix, String(i)), out, seen));
  } else if (value instanceof Module) {
    seen.add(value);
    for (const [name, child] of Object.entries(value)) {
      if (child instanceof tf.Variable || child instanceof Module || Array.isArray(child)) collect(child, join(prefix, name), out, seen);
    }
  }
}

function join(prefix: string, name: string): string {
  return prefix === "" ? name : `${prefix}.${name}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Deterministic random numbers (host side, so every backend starts from the same values)

/** FNV-1a of `key` mixed with `seed`: a 32-bit seed per parameter. */
export function seedFor(seed: number, key: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h ^ Math.floor(seed / 2 ** 32), 0x01000193);
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: uniform in [0, 1). */
export function uniformGenerator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller over mulberry32). */
export function normalGenerator(seed: number): () => number {
  const uniform = uniformGenerator(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

function drawValues(init: ParameterInit, size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  switch (init.kind) {
    case "zeros":
      return out;
    case "ones":
      return out.fill(1);
    case "uniform": {
      const uniform = uniformGenerator(seed);
      for (let i = 0; i < size; i++) out[i] = (2 * uniform() - 1) * init.bound;
      return out;
    }
    case "normal": {
      const normal = normalGenerator(seed);
      for (let i = 0; i < size; i++) out[i] = normal() * init.std;
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Safetensors

export interface SaveOptions {
  /** "F32" (default, bit-exact) or "F16" (half the size; for shipped weights). */
  dtype?: "F32" | "F16";
  /** Extra `__metadata__` entries (strings). */
  metadata?: Record<string, string>;
}

/** Every parameter of `module` as a safetensors file, keys as in `namedParameters`. */
export function moduleToSafetensors(module: Module, options: SaveOptions = {}): Uint8Array {
  const dtype = options.dtype ?? "F32";
  const tensors: Record<string, { dtype: "F32" | "F16"; shape: number[]; data: Float32Array }> = {};
  for (const [key, variable] of module.namedParameters()) {
    tensors[key] = { dtype, shape: variable.shape.slice(), data: variable.dataSync() as Float32Array };
  }
  return serializeSafetensors(tensors, options.metadata);
}

/**
 * Copies a checkpoint into `module`'s variables. Every key and shape is checked first; a checkpoint that does not
 * fit throws one `CheckpointError` (from `@proj/clip`) listing every missing key, shape mismatch and unused key, and
 * leaves the module unchanged.
 */
export function loadModuleWeights(module: Module, file: SafetensorsFile | Uint8Array): void {
  const parsed = file instanceof Uint8Array ? parseSafetensors(file) : file;
  const weights = new CheckpointWeights(parsed);
  const taken: [tf.Variable, tf.Tensor][] = [];
  for (const [key, variable] of module.namedParameters()) taken.push([variable, weights.take(key, variable.shape)]);
  try {
    weights.finish();
    for (const [variable, value] of taken) variable.assign(value);
  } finally {
    tf.dispose(taken.map(([, t]) => t));
  }
}

/** Reads the JSON stored under `__metadata__[key]`, naming the file's kind when absent or malformed. */
export function metadataJson(file: SafetensorsFile, key: string, what: string): unknown {
  const text = file.metadata[key];
  if (text === undefined) throw new ModuleCheckpointError(`${what}: the checkpoint has no __metadata__.${key}`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModuleCheckpointError(`${what}: __metadata__.${key} is not valid JSON (${(error as Error).message})`);
  }
}
