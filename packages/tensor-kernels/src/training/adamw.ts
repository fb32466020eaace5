/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2; PyTorch `torch.optim.AdamW`)
 * over named `tf.Variable`s. For each parameter θ with gradient g at step t (counting from 1), learning rate η and
 * weight decay λ:
 *
 *   θ ← θ − η·λ·θ                          // decoupled decay, only where the decay mask says so
 *   m ← β₁·m + (1 − β₁)·g                  // first moment ("exp_avg")
 *   v ← β₂·v + (1 − β₂)·g²                 // second moment ("exp_avg_sq")
 *   θ ← θ − η · (m / (1 − β₁ᵗ)) / (√(v / (1 − β₂ᵗ)) + ε)
 *
 * The learning rate is an argument of every `step`, so a schedule (`cosineSchedule`) stays a plain function and the
 * optimizer holds no schedule. The state (m and v per parameter, and the step count) is exported and imported as
 * named tensors so a trainer can write it into a checkpoint beside the weights.
 */
import * as tf from "@tensorflow/tfjs-core";

export interface AdamWOptions {
  /** β₁, β₂ (default 0.9, 0.999 as PyTorch; CLIP used 0.9, 0.98 for its ViTs). */
  betas?: readonly [number, number];
  /** ε (default 1e-8; CLIP used 1e-6 for its ViTs). */
  epsilon?: number;
  /** λ, decoupled weight decay (default 0.01 as PyTorch; CLIP used 0.2). */
  weightDecay?: number;
  /**
   * Which parameters decay (default `defaultWeightDecayMask`: no decay on gains, biases, embeddings, 1-D parameters
   * and the logit scale, as CLIP and open_clip train).
   */
  decayMask?: (name: string, shape: readonly number[]) => boolean;
}

/**
 * open_clip's exclusion rule (`main.py`: `p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in
 * n`), plus every embedding (token, positional and class embeddings): these parameters do not decay.
 */
export function defaultWeightDecayMask(name: string, shape: readonly number[]): boolean {
  if (shape.length < 2) return false;
  return !/(^|[._])(bias|ln_\w*|ln\d*|bn\d*|norm\w*|gain|logit_scale)($|[._])|embedding/.test(name);
}

/** What a backend-specific AdamW update receives besides θ, g, m and v. */
export interface AdamWUpdate {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  /** t of the bias corrections, from 1. */
  step: number;
  /** λ for this parameter (0 when it does not decay). */
  weightDecay: number;
}

/**
 * An in-place AdamW update for one parameter on a particular backend (the `native` entry registers one that runs
 * in the addon). Returns false, changing nothing, when it does not apply; `AdamW.step` then takes its plain step.
 */
export type AdamWAccelerator = (param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, update: AdamWUpdate) => boolean;

const accelerators: AdamWAccelerator[] = [];

/** @internal Used by `@proj/tensor-kernels/native`: registers an in-place AdamW update tried before the plain one. */
export function registerAdamWAccelerator(accelerator: AdamWAccelerator): void {
  if (!accelerators.includes(accelerator)) accelerators.push(accelerator);
}

/** Named tensors of an optimizer's state: `m/<name>`, `v/<name>` and `step` (int32 scalar). */
export type OptimizerState = Map<string, tf.Tensor>;

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private readonly decays = new Map<string, boolean>();
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private steps = 0;

  /** `params`: the trainable variables by name (e.g. checkpoint key); names key gradients and state. */
  constructor(
    readonly params: ReadonlyMap<string, tf.Variable>,
    options: AdamWOptions = {},
  ) {
    const [beta1, beta2] = options.betas ?? [0.9, 0.999];
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    for (const [label, value] of [["β₁", beta1], ["β₂", beta2]] as const) {
      if (!(value >= 0 && value < 1)) throw new RangeError(`AdamW: ${label} must be in [0, 1), got ${value}`);
    }
    if (!(this.epsilon > 0)) throw new RangeError(`AdamW: epsilon must be > 0, got ${this.epsilon}`);
    if (!(this.weightDecay >= 0)) throw new RangeError(`AdamW: weightDecay must be ≥ 0, got ${this.weightDecay}`);
    const mask = options.decayMask ?? defaultWeightDecayMask;
    for (const [name, variable] of params) {
      if (variable.dtype !== "float32") throw new TypeError(`AdamW: parameter ${name} is ${variable.dtype}, expected float32`);
      this.decays.set(name, mask(name, variable.shape));
    }
  }

  /** Steps taken (t of the bias correction). */
  get stepCount(): number {
    return this.steps;
  }

  /** Whether the parameter `name` takes weight decay. */
  decaysWeight(name: string): boolean {
    return this.decays.get(name) ?? false;
  }

  /**
   * One update with learning rate η. `grads` by parameter name; a parameter without a gradient is left alone (no
   * decay either, as PyTorch skips parameters whose grad is None). A gradient for an unknown name, or of the wrong
   * shape, throws before anything changes. Creates no lasting tensors beyond the moments (made on first use).
   */
  step(grads: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>, learningRate: number): void {
    if (!Number.isFinite(learningRate) || learningRate < 0) throw new RangeError(`AdamW.step: learningRate must be a finite number ≥ 0, got ${learningRate}`);
    const entries = grads instanceof Map ? [...grads.entries()] : Object.entries(grads);
    for (const [name, grad] of entries) {
      const param = this.params.get(name);
      if (param === undefined) throw new Error(`AdamW.step: gradient for unknown parameter ${name}`);
      if (!tf.util.arraysEqual(param.shape, grad.shape)) {
        throw new Error(`AdamW.step: gradient of ${name} has shape [${grad.shape.join(", ")}], parameter [${param.shape.join(", ")}]`);
      }
    }
    this.steps++;
    const t = this.steps;
    const { beta1, beta2, epsilon } = this;
    const biasCorrection1 = 1 - beta1 ** t;
    const biasCorrection2 = 1 - beta2 ** t;
    for (const [name, grad] of entries) {
      const param = this.params.get(name)!;
      const m = this.moment(this.m, name, param);
      const v = this.moment(this.v, name, param);
      const decay = this.decays.get(name)! ? learningRate * this.weightDecay : 0;
      if (grad.dtype === "float32") {
        const update = { beta1, beta2, epsilon, learningRate, step: t, weightDecay: this.decays.get(name)! ? this.weightDecay : 0 };
        if (accelerators.some((accelerate) => accelerate(param, grad, m, v, update))) continue;
      }
      tf.tidy(() => {
        const g = tf.cast(grad, "float32");
        const mNext = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const vNext = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const denominator = tf.add(tf.sqrt(tf.div(vNext, biasCorrection2)), epsilon);
        const update = tf.div(tf.mul(mNext, learningRate / biasCorrection1), denominator);
        const decayed = decay === 0 ? param : tf.mul(param, 1 - decay);
        m.assign(mNext);
        v.assign(vNext);
        param.assign(tf.sub(decayed, update));
      });
    }
  }

  private moment(store: Map<string, tf.Variable>, name: string, param: tf.Variable): tf.Variable {
    let moment = store.get(name);
    if (moment === undefined) {
      moment = tf.tidy(() => tf.variable(tf.zerosLike(param), false));
      store.set(name, moment);
    }
    return moment;
  }

  /**
   * The state as named tensors (copies, owned by the caller): `m/<name>` and `v/<name>` for every parameter that has
   * taken a step, and `step` (int32 scalar).
   */
  exportState(): OptimizerState {
    const out: OptimizerState = new Map();
    out.set("step", tf.scalar(this.steps, "int32"));
    for (const [name, m] of this.m) out.set(`m/${name}`, tf.clone(m));
    for (const [name, v] of this.v) out.set(`v/${name}`, tf.clone(v));
    return out;
  }

  /**
   * Replaces the state with `state` (as `exportState` writes it; the tensors stay the caller's). Every name and
   * shape is checked before anything changes.
   */
  importState(state: ReadonlyMap<string, tf.Tensor>): void {
    const step = state.get("step");
    if (step === undefined || step.rank !== 0) throw new Error("AdamW.importState: no scalar `step` in the state");
    const problems: string[] = [];
    const moments: [Map<string, tf.Variable>, string, tf.Tensor][] = [];
    for (const [key, tensor] of state) {
      if (key === "step") continue;
      const match = /^([mv])\/(.+)$/.exec(key);
      const param = match === null ? undefined : this.params.get(match[2]!);
      if (match === null || param === undefined) {
        problems.push(`unknown entry ${key}`);
      } else if (!tf.util.arraysEqual(param.shape, tensor.shape)) {
        problems.push(`${key} has shape [${tensor.shape.join(", ")}], parameter [${param.shape.join(", ")}]`);
      } else {
        moments.push([match[1] === "m" ? this.m : this.v, match[2]!, tensor]);
      }
    }
    if (problems.length > 0) throw new Error(`AdamW.importState: the state does not fit the parameters: ${problems.join("; ")}`);
    const steps = step.dataSync()[0]!;
    if (!Number.isInteger(steps) || steps < 0) throw new Error(`AdamW.importState: step must be an integer ≥ 0, got ${steps}`);
    this.disposeState();
    for (const [store, name, tensor] of moments) {
      store.set(name, tf.tidy(() => tf.variable(tf.cast(tensor, "float32"), false)));
    }
    this.steps = steps;
  }

  private disposeState(): void {
    for (const moment of [...this.m.values(), ...this.v.values()]) moment.dispose();
    this.m.clear();
    this.v.clear();
  }

  /** Releases the moments (not the parameters). */
  dispose(): void {
    this.disposeState();
  }
}
