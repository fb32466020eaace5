/**
 * What every training script shares: a run directory (runs/<name>/, git-ignored) with the resumable checkpoint, a
 * JSON-lines log of every step and a PNG plot of the loss; the fastest backend available (the native addon, else
 * wasm); a progress bar; Ctrl-C (SIGINT/SIGTERM) turned into an AbortSignal so the trainer writes a checkpoint first.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
import { SingleBar } from "cli-progress";
import { parseSafetensors } from "@proj/clip";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** Where the trained weights that ship live. */
/** Where each finished model is written: inside the package that ships it as its embedded default. */
export const MODEL_FILES = {
  clip: join(REPO_ROOT, "packages/clip/models/clip.safetensors"),
  prior: join(REPO_ROOT, "packages/unclip/models/prior.safetensors"),
  decoder: join(REPO_ROOT, "packages/unclip/models/decoder.safetensors"),
  upsampler: join(REPO_ROOT, "packages/unclip/models/upsampler.safetensors"),
} as const;

export interface RunPaths {
  dir: string;
  checkpoint: string;
  log: string;
  plot: string;
}

export function runPaths(name: string): RunPaths {
  const dir = join(REPO_ROOT, "runs", name);
  mkdirSync(dir, { recursive: true });
  return { dir, checkpoint: join(dir, "checkpoint.safetensors"), log: join(dir, "log.jsonl"), plot: join(dir, "loss.png") };
}

/** The native backend when its addon loads, else wasm; says which. */
export async function chooseBackend(preferred?: string): Promise<string> {
  const order = preferred !== undefined ? [preferred] : ["native", "wasm"];
  for (const name of order) {
    if (name === "native") {
      try {
        const specifier = "@proj/tensor-kernels/native";
        await import(/* @vite-ignore */ specifier);
      } catch (error) {
        console.warn(`native backend unavailable (${(error as Error).message.split("\n")[0]}); using wasm`);
        continue;
      }
    }
    if (await tf.setBackend(name)) return name;
  }
  throw new Error(`no backend of ${order.join(", ")} initialised`);
}

/** The checkpoint to resume from, unless `fresh`. */
export function resumeBytes(paths: RunPaths, fresh: boolean): Uint8Array | undefined {
  if (fresh || !existsSync(paths.checkpoint)) return undefined;
  const buffer = readFileSync(paths.checkpoint);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Writes `bytes` atomically (a crash mid-write leaves the previous file). */
export function writeAtomically(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}

export interface LogEntry {
  step: number;
  loss: number;
  [key: string]: number;
}

export function appendLog(paths: RunPaths, entry: LogEntry): void {
  appendFileSync(paths.log, `${JSON.stringify({ ...entry, time: Date.now() })}\n`);
}

/**
 * Round tick values for an axis over [from, to]: multiples of 1, 2 or 5 × 10^k, the largest such spacing that
 * gives at least `minTicks` of them (the axis's labels; `[from]` when the range is empty).
 */
export function axisTicks(from: number, to: number, minTicks = 5): number[] {
  if (!(Number.isFinite(from) && Number.isFinite(to)) || to <= from) return Number.isFinite(from) ? [from] : [];
  // Spacings 5·10^e, 2·10^e, 10^e, 5·10^(e-1), … from the first power of ten not below the range, downwards.
  for (let exponent = Math.ceil(Math.log10(to - from)); exponent > -300; exponent--) {
    for (const mantissa of [5, 2, 1]) {
      const spacing = mantissa * 10 ** exponent;
      const first = Math.ceil(from / spacing - 1e-9), last = Math.floor(to / spacing + 1e-9); // 1e-9: 0.6 / 0.2 < 3
      if (last - first + 1 >= minTicks) {
        return Array.from({ length: last - first + 1 }, (_, k) => Number(((first + k) * spacing).toPrecision(12)));
      }
    }
  }
  return [from];
}

/** The loss curve of the whole run (all resumed parts), raw and smoothed, log scale, as a PNG (via SVG and resvg). */
export async function writeLossPlot(paths: RunPaths, title: string): Promise<void> {
  if (!existsSync(paths.log)) return;
  const entries = readFileSync(paths.log, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as LogEntry);
  if (entries.length < 2) return;
  const width = 800, height = 400, margin = 50;
  const steps = entries.map((e) => e.step);
  const logs = entries.map((e) => Math.log10(Math.max(e.loss, 1e-8)));
  const [x0, x1] = [Math.min(...steps), Math.max(...steps)];
  const [y0, y1] = [Math.floor(Math.min(...logs) * 4) / 4, Math.ceil(Math.max(...logs) * 4) / 4 || 1];
  const sx = (s: number) => margin + ((s - x0) / Math.max(1, x1 - x0)) * (width - 2 * margin);
  const sy = (v: number) => height - margin - ((v - y0) / Math.max(1e-9, y1 - y0)) * (height - 2 * margin);
  let smooth = logs[0]!;
  const smoothed = logs.map((v) => (smooth = 0.98 * smooth + 0.02 * v));
  const line = (values: number[]) => values.map((v, i) => `${sx(steps[i]!).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
  const ticks: string[] = [];
  for (let v = y0; v <= y1 + 1e-9; v += 0.25) {
    ticks.push(`<line x1="${margin}" x2="${width - margin}" y1="${sy(v)}" y2="${sy(v)}" stroke="#ddd"/><text x="4" y="${sy(v) + 4}" font-size="11">${(10 ** v).toPrecision(2)}</text>`);
  }
  for (const step of axisTicks(x0, x1)) {
    const x = sx(step).toFixed(1);
    ticks.push(`<line x1="${x}" x2="${x}" y1="${margin}" y2="${height - margin}" stroke="#eee"/><text x="${x}" y="${height - margin + 16}" font-size="11" text-anchor="middle">${step.toLocaleString("en-US")}</text>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="white"/>${ticks.join("")}
<polyline fill="none" stroke="#9bd" stroke-width="1" points="${line(logs)}"/><polyline fill="none" stroke="#036" stroke-width="2" points="${line(smoothed)}"/>
<text x="${margin}" y="20" font-size="14">${title}: loss (log scale) over steps ${x0}–${x1}</text><text x="${width - margin - 40}" y="${height - 15}" font-size="11">step</text></svg>`;
  const { Resvg } = await import("@resvg/resvg-js");
  writeFileSync(paths.plot, new Resvg(svg, { font: { loadSystemFonts: true } }).render().asPng());
}

/**
 * An AbortController that SIGINT / SIGTERM abort (the trainer then writes its checkpoint and stops). A second
 * signal quits at once — but only one sent a second or more later: Ctrl-C reaches this process twice, from the
 * terminal's process group and relayed by the tsx wrapper, and that must not skip the checkpoint.
 */
export function abortOnSignals(): AbortController {
  const controller = new AbortController();
  let first = 0;
  const stop = (signal: string) => {
    if (controller.signal.aborted) {
      if (Date.now() - first > 1000) process.exit(130);
      return;
    }
    first = Date.now();
    console.log(`\n${signal}: stopping after this step and writing a checkpoint (again to quit at once)`);
    controller.abort();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  return controller;
}

export function progressBar(title: string, total: number, start: number): SingleBar {
  const bar = new SingleBar({
    format: `${title} [{bar}] {value}/{total} steps | loss {loss} | {rate} steps/s | eta {eta_formatted}`,
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
  });
  bar.start(total, start, { loss: "—", rate: "—" });
  return bar;
}

/** The options every train:* script takes, with its own defaults, plus `extra` ones. */
export function parseTrainingArgs(
  defaults: { steps: number; batchSize: number; learningRate: number; every: number },
  extra: Record<string, { type: "string"; default?: string }> = {},
) {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: String(defaults.steps) },
      "batch-size": { type: "string", default: String(defaults.batchSize) },
      lr: { type: "string", default: String(defaults.learningRate) },
      seed: { type: "string", default: "0" },
      every: { type: "string", default: String(defaults.every) },
      backend: { type: "string" },
      fresh: { type: "boolean", default: false },
      init: { type: "string" },
      ...extra,
    },
  });
  const all = values as Record<string, string | boolean | undefined>;
  const number = (name: string): number => {
    const value = Number(all[name]);
    if (!Number.isFinite(value)) throw new RangeError(`--${name} must be a number, got ${String(all[name])}`);
    return value;
  };
  return {
    values: all,
    steps: number("steps"),
    batchSize: number("batch-size"),
    learningRate: number("lr"),
    seed: number("seed"),
    every: number("every"),
    backend: all.backend as string | undefined,
    fresh: all.fresh === true,
    init: all.init as string | undefined,
  };
}

/**
 * A path given on the command line: npm runs the scripts in the workspace folder, so a relative path means one
 * relative to where npm was started (the repository root for `npm run … -w @proj/training`).
 */
export function fromStart(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

/**
 * `--init <model file>`: a run that starts (no checkpoint to resume) takes its first weights from a model file, e.g.
 * the shipped model, to train it further; `runs/<name>/init.json` remembers the file and its `trainedSteps`, which
 * the shipped model's `trainedSteps` then includes. Returns the file's bytes, or undefined when resuming or not asked.
 */
export function initialModelBytes(paths: RunPaths, init: string | undefined, resuming: boolean): Uint8Array | undefined {
  if (init === undefined || resuming) return undefined;
  const path = fromStart(init);
  if (!existsSync(path)) throw new Error(`--init: no model file at ${path}`);
  const buffer = readFileSync(path);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const steps = Number(parseSafetensors(bytes).metadata.trainedSteps ?? 0);
  writeFileSync(join(paths.dir, "init.json"), `${JSON.stringify({ from: path, trainedSteps: Number.isFinite(steps) ? steps : 0 })}\n`);
  return bytes;
}

/** The steps the run's `--init` model had been trained for (0 for a run started from scratch). */
export function initialSteps(paths: RunPaths): number {
  const file = join(paths.dir, "init.json");
  if (!existsSync(file)) return 0;
  return Number((JSON.parse(readFileSync(file, "utf8")) as { trainedSteps?: number }).trainedSteps ?? 0);
}

/** A progress bar plus the JSON-lines log, fed from a trainer's progress callback. */
export function progressReporter(paths: RunPaths, title: string, steps: number) {
  let bar: SingleBar | undefined;
  return {
    report(progress: { step: number; loss: number; stepsPerSecond: number; accuracy?: number } & Record<string, number>): void {
      const { stepsPerSecond, ...logged } = progress;
      appendLog(paths, logged);
      bar ??= progressBar(title, steps, progress.step - 1);
      const accuracy = progress.accuracy === undefined ? "" : ` acc ${(progress.accuracy * 100).toFixed(0)}%`;
      bar.update(progress.step, { loss: `${progress.loss.toFixed(4)}${accuracy}`, rate: stepsPerSecond.toFixed(2) });
    },
    stop(): void {
      bar?.stop();
    },
  };
}

/** Checkpoint storage for the unCLIP trainers: the run's checkpoint file (atomically) and a fresh loss plot. */
export function checkpointStore(paths: RunPaths, title: string, every: number) {
  return {
    every,
    save: async (bytes: Uint8Array): Promise<void> => {
      writeAtomically(paths.checkpoint, bytes);
      await writeLossPlot(paths, title);
    },
  };
}

/** The unCLIP models a run ships (decoder, upsampler, prior): their training options and their model file. */
export type UnclipModelKind = "decoder" | "upsampler" | "prior";

/**
 * The options every unCLIP train:* script passes its trainer: warm-up (a tenth of the run, at most `maxWarmup`),
 * EMA 0.999, resume bytes, Ctrl-C, progress into the run's log and bar, checkpoints every `args.every` steps.
 */
export function unclipTrainOptions(
  kind: UnclipModelKind,
  paths: RunPaths,
  reporter: ReturnType<typeof progressReporter>,
  args: { steps: number; learningRate: number; seed: number; every: number },
  resume: Uint8Array | undefined,
  maxWarmup = 200,
) {
  return {
    steps: args.steps,
    learningRate: args.learningRate,
    warmupSteps: Math.min(maxWarmup, Math.floor(args.steps / 10)),
    emaDecay: 0.999,
    seed: args.seed,
    resume,
    signal: abortOnSignals().signal,
    onProgress: ({ step, loss, learningRate, gradNorm, stepsPerSecond }: { step: number; loss: number; learningRate: number; gradNorm: number; stepsPerSecond: number }) =>
      reporter.report({ step, loss, learningRate, gradNorm, stepsPerSecond }),
    checkpoint: checkpointStore(paths, kind, args.every),
  };
}

/** Writes a model's weights (F16, with the steps trained) as the file the package ships. */
export function shipModel(kind: UnclipModelKind, model: { toSafetensors(options: { dtype: "F16"; metadata: Record<string, string> }): Uint8Array }, step: number | string): void {
  const total = Number(step) + initialSteps(runPaths(kind));
  writeAtomically(MODEL_FILES[kind], model.toSafetensors({ dtype: "F16", metadata: { trainedSteps: String(Number.isFinite(total) ? total : step) } }));
}

/** Awaits a training run; an abort (Ctrl-C) ends the process after saying where the checkpoint is. */
export async function untilDoneOrStopped<T>(paths: RunPaths, reporter: { stop(): void }, run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (error) {
    if ((error as Error).name === "AbortError") {
      reporter.stop();
      console.log(`stopped; checkpoint at ${paths.checkpoint} (run again to resume)`);
      process.exit(0);
    }
    throw error;
  } finally {
    reporter.stop();
  }
}
