/**
 * An exponential moving average of weights (Polyak averaging; as the EMA that DALL·E 2's decoder and prior sample
 * with, and diffusers' `EMAModel`):
 *
 *   shadow ← d · shadow + (1 − d) · θ         after each optimizer step
 *
 * with d = `decay`, or, with `warmup`, d_t = min(decay, (1 + t) / (10 + t)) so the average is not dominated by the
 * initial weights early on. The averages are variables of their own; `copyTo` writes them into the parameters (for
 * sampling or saving), and the state is exported and imported as named tensors for checkpoints.
 */
import * as tf from "@tensorflow/tfjs-core";

export interface ExponentialMovingAverageOptions {
  /** d (default 0.9999). */
  decay?: number;
  /** Use d_t = min(decay, (1 + t) / (10 + t)) (default false). */
  warmup?: boolean;
}

export class ExponentialMovingAverage {
  readonly decay: number;
  readonly warmup: boolean;
  private readonly shadow = new Map<string, tf.Variable>();
  private updates = 0;

  /** Starts the averages at the current values of `params` (by name). */
  constructor(
    readonly params: ReadonlyMap<string, tf.Variable>,
    options: ExponentialMovingAverageOptions = {},
  ) {
    this.decay = options.decay ?? 0.9999;
    this.warmup = options.warmup ?? false;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new RangeError(`ExponentialMovingAverage: decay must be in [0, 1], got ${this.decay}`);
    for (const [name, param] of params) this.shadow.set(name, tf.variable(param, false));
  }

  /** Number of `update` calls so far (t). */
  get updateCount(): number {
    return this.updates;
  }

  /** The decay the next `update` uses. */
  currentDecay(): number {
    const t = this.updates;
    return this.warmup ? Math.min(this.decay, (1 + t) / (10 + t)) : this.decay;
  }

  /** shadow ← d · shadow + (1 − d) · θ for every parameter. */
  update(): void {
    const d = this.currentDecay();
    for (const [name, shadow] of this.shadow) {
      const param = this.params.get(name)!;
      tf.tidy(() => shadow.assign(tf.add(tf.mul(shadow, d), tf.mul(param, 1 - d))));
    }
    this.updates++;
  }

  /** The average of `name` (a variable owned by this object). */
  average(name: string): tf.Variable | undefined {
    return this.shadow.get(name);
  }

  /** Writes the averages into the parameters (keep a copy first if training goes on: `exportState` of the params). */
  copyTo(params: ReadonlyMap<string, tf.Variable> = this.params): void {
    for (const [name, shadow] of this.shadow) {
      const target = params.get(name);
      if (target === undefined) throw new Error(`ExponentialMovingAverage.copyTo: no parameter ${name}`);
      target.assign(shadow);
    }
  }

  /** The state as named tensors (copies, owned by the caller): `ema/<name>` and `updates` (int32 scalar). */
  exportState(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    out.set("updates", tf.scalar(this.updates, "int32"));
    for (const [name, shadow] of this.shadow) out.set(`ema/${name}`, tf.clone(shadow));
    return out;
  }

  /** Replaces the state with one `exportState` wrote (the tensors stay the caller's); checks every name and shape first. */
  importState(state: ReadonlyMap<string, tf.Tensor>): void {
    const updates = state.get("updates");
    if (updates === undefined || updates.rank !== 0) throw new Error("ExponentialMovingAverage.importState: no scalar `updates` in the state");
    const problems: string[] = [];
    for (const [name, shadow] of this.shadow) {
      const stored = state.get(`ema/${name}`);
      if (stored === undefined) problems.push(`missing ema/${name}`);
      else if (!tf.util.arraysEqual(stored.shape, shadow.shape)) problems.push(`ema/${name} has shape [${stored.shape.join(", ")}], parameter [${shadow.shape.join(", ")}]`);
    }
    for (const key of state.keys()) {
      if (key !== "updates" && !this.shadow.has(key.replace(/^ema\//, ""))) problems.push(`unknown entry ${key}`);
    }
    if (problems.length > 0) throw new Error(`ExponentialMovingAverage.importState: the state does not fit the parameters: ${problems.join("; ")}`);
    for (const [name, shadow] of this.shadow) tf.tidy(() => shadow.assign(tf.cast(state.get(`ema/${name}`)!, "float32")));
    this.updates = updates.dataSync()[0]!;
  }

  /** Releases the averages (not the parameters). */
  dispose(): void {
    for (const shadow of this.shadow.values()) shadow.dispose();
    this.shadow.clear();
  }
}
