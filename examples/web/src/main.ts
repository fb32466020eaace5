/**
 * The page: five tools over one worker (worker.ts) that owns the models. This file only handles the DOM: images in
 * (drop or pick), jobs out, progress, pictures and scores back.
 *
 * URL parameters: `?models=<folder>` reads the models from another folder (default `models`, the repository's
 * trained defaults; `models-test` holds tiny random ones from `npm run test-models`), `?backend=wasm` skips WebGPU.
 */
import { GIFEncoder, applyPalette, quantize } from "gifenc";
import type { FromWorker, Job, Picture, ToWorker, WorkerImage } from "./protocol.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
const post = (message: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(message, transfer);

// ---------------------------------------------------------------------------------------------------------------------
// Images in: drop or pick. PNG and JPEG go to the worker as bytes (decoded there exactly as in Node), others as bitmaps.

const files = new Map<string, File>();

for (const drop of document.querySelectorAll<HTMLLabelElement>(".drop")) {
  const input = $<HTMLInputElement>(drop.dataset.input!);
  const show = (file: File): void => {
    files.set(input.id, file);
    const img = drop.querySelector("img")!;
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(file);
    drop.querySelector("span")!.textContent = file.name;
  };
  input.addEventListener("change", () => input.files?.[0] && show(input.files[0]));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer?.files[0];
    if (file) show(file);
  });
}

async function workerImage(inputId: string): Promise<{ image: WorkerImage; transfer: Transferable[] }> {
  const file = files.get(inputId);
  if (file === undefined) throw new Error("pick an image first");
  if (file.type === "image/png" || file.type === "image/jpeg") {
    const bytes = new Uint8Array(await file.arrayBuffer());
    return { image: { bytes }, transfer: [bytes.buffer] };
  }
  const bitmap = await createImageBitmap(file);
  return { image: { bitmap }, transfer: [bitmap] };
}

// ---------------------------------------------------------------------------------------------------------------------
// Jobs out, one at a time, with progress and cancel.

let nextId = 1;
let current: { id: number; tool: Job["tool"]; onImage?: (index: number, picture: Picture) => void; onDone?: () => void } | undefined;

function setStatus(text: string, state: "" | "done" | "cancelled" | "error" | "running"): void {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = state;
}

async function start(tool: Job["tool"], make: () => Promise<{ job: Job; transfer: Transferable[] }>, handlers: Omit<NonNullable<typeof current>, "id" | "tool"> = {}): Promise<void> {
  if (current !== undefined) return;
  let job: { job: Job; transfer: Transferable[] };
  try {
    job = await make();
  } catch (error) {
    setStatus((error as Error).message, "error");
    return;
  }
  current = { id: nextId++, tool, ...handlers };
  document.body.dataset.state = "busy";
  $<HTMLButtonElement>("cancel").disabled = false;
  $<HTMLProgressElement>("progress").value = 0;
  $("progress-label").textContent = "";
  setStatus(`${tool}…`, "running");
  post({ type: "run", id: current.id, job: job.job }, job.transfer);
}

function finish(text: string, state: "done" | "cancelled" | "error"): void {
  current?.onDone?.();
  current = undefined;
  document.body.dataset.state = "ready";
  $<HTMLButtonElement>("cancel").disabled = true;
  setStatus(text, state);
}

$("cancel").addEventListener("click", () => {
  if (current !== undefined) post({ type: "cancel", id: current.id });
});

const settings = (): { steps: number; seed: number } => ({ steps: Number($<HTMLInputElement>("steps").value), seed: Number($<HTMLInputElement>("seed").value) });

function canvasOf(picture: Picture, canvas: HTMLCanvasElement = document.createElement("canvas")): HTMLCanvasElement {
  canvas.width = picture.width;
  canvas.height = picture.height;
  canvas.getContext("2d")!.putImageData(new ImageData(picture.rgba as Uint8ClampedArray<ArrayBuffer>, picture.width, picture.height), 0, 0);
  return canvas;
}

/** Shows each finished picture in `outId` as it arrives (the output is cleared when the job starts). */
function showPictures(outId: string): { onImage: (index: number, picture: Picture) => void } {
  const out = $(outId);
  out.replaceChildren();
  return { onImage: (index, picture) => out.append(Object.assign(canvasOf(picture), { title: `#${index + 1}` })) };
}

// Classify: a bar per label, most likely first.
$("classify-run").addEventListener("click", () => {
  const labels = $<HTMLInputElement>("labels").value.split(",").map((label) => label.trim()).filter((label) => label !== "");
  void start("classify", async () => {
    if (labels.length === 0) throw new Error("type some labels, separated by commas");
    const { image, transfer } = await workerImage("classify-file");
    return { job: { tool: "classify", image, labels: [...new Set(labels)] }, transfer };
  });
});

function showScores(scores: { label: string; score: number }[]): void {
  $("scores").replaceChildren(
    ...scores.map(({ label, score }) => {
      const row = document.createElement("div");
      row.className = "bar";
      row.dataset.label = label;
      row.dataset.score = String(score);
      const name = Object.assign(document.createElement("span"), { textContent: label });
      const track = document.createElement("div");
      const fill = Object.assign(document.createElement("div"), { className: "fill" });
      fill.style.width = `${(100 * score).toFixed(1)}%`;
      track.append(fill);
      row.append(name, track, Object.assign(document.createElement("span"), { textContent: score.toFixed(4) }));
      return row;
    }),
  );
}

$("variations-run").addEventListener("click", () => {
  void start(
    "variations",
    async () => {
      const { image, transfer } = await workerImage("variations-file");
      return { job: { tool: "variations", image, count: Number($<HTMLInputElement>("variations-count").value), settings: settings() }, transfer };
    },
    showPictures("variations-out"),
  );
});

// Blend: the slider is B's share (interpolate's weight); the preset is the mission's 30/70.
const weight = $<HTMLInputElement>("blend-weight");
weight.addEventListener("input", () => ($("blend-weight-value").textContent = Number(weight.value).toFixed(2)));
$("blend-preset").addEventListener("click", () => {
  weight.value = "0.3";
  weight.dispatchEvent(new Event("input"));
});
$("blend-run").addEventListener("click", () => {
  void start(
    "blend",
    async () => {
      const a = await workerImage("blend-file-a");
      const b = await workerImage("blend-file-b");
      return { job: { tool: "blend", imageA: a.image, imageB: b.image, weight: Number(weight.value), settings: settings() }, transfer: [...a.transfer, ...b.transfer] };
    },
    showPictures("blend-out"),
  );
});

// Animation: frames drawn as they render, then looped; the GIF link appears when all are done.
let loopTimer: ReturnType<typeof setInterval> | undefined;
$("animate-run").addEventListener("click", () => {
  const canvas = $<HTMLCanvasElement>("animate-canvas");
  const link = $<HTMLAnchorElement>("animate-gif");
  const frames: Picture[] = [];
  clearInterval(loopTimer);
  link.hidden = true;
  void start(
    "animate",
    async () => {
      const { image, transfer } = await workerImage("animate-file");
      return { job: { tool: "animate", image, frames: Number($<HTMLInputElement>("animate-frames").value), settings: settings() }, transfer };
    },
    {
      onImage: (index, picture) => {
        frames[index] = picture;
        canvasOf(picture, canvas);
      },
      onDone: () => {
        if (frames.length < 2 || frames.some((frame) => frame === undefined)) return;
        let f = 0;
        loopTimer = setInterval(() => canvasOf(frames[(f = (f + 1) % frames.length)]!, canvas), 125);
        if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
        link.href = URL.createObjectURL(new Blob([gif(frames, 125) as Uint8Array<ArrayBuffer>], { type: "image/gif" }));
        link.hidden = false;
      },
    },
  );
});

/** A looping GIF of the frames, `delay` ms each. */
function gif(frames: Picture[], delay: number): Uint8Array {
  const encoder = GIFEncoder();
  for (const { rgba, width, height } of frames) {
    const palette = quantize(rgba, 256);
    encoder.writeFrame(applyPalette(rgba, palette), width, height, { palette, delay, repeat: 0 });
  }
  encoder.finish();
  return encoder.bytes();
}

$("text-run").addEventListener("click", () => {
  const prompt = $<HTMLInputElement>("prompt").value;
  void start("textToImage", async () => ({ job: { tool: "textToImage", prompt, settings: settings() }, transfer: [] }), showPictures("text-out"));
});

// ---------------------------------------------------------------------------------------------------------------------
// Messages back.

const fetched = new Map<string, { loaded: number; total: number | undefined }>();

worker.addEventListener("message", (event: MessageEvent<FromWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "backend":
      $("backend").textContent = message.backend;
      $("backend").title = message.skipped.join("\n");
      document.body.dataset.backend = message.backend;
      break;
    case "fetch": {
      fetched.set(message.model, { loaded: message.loaded, total: message.total });
      const all = [...fetched.values()];
      const loaded = all.reduce((sum, f) => sum + f.loaded, 0);
      const total = all.reduce((sum, f) => sum + (f.total ?? f.loaded), 0);
      $<HTMLProgressElement>("load-progress").value = total === 0 ? 0 : loaded / total;
      $("load-status").textContent = `fetching models: ${(loaded / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB`;
      break;
    }
    case "loaded":
      $<HTMLProgressElement>("load-progress").value = 1;
      $("load-status").textContent =
        `models: ${message.models.join(", ")} (${message.seconds.toFixed(1)} s)` + (message.missing.length > 0 ? `; missing: ${message.missing.join(", ")}` : "");
      document.body.dataset.state = "ready";
      break;
    case "progress":
      if (message.id !== current?.id) break;
      $<HTMLProgressElement>("progress").value = message.step / message.of;
      $("progress-label").textContent = `${message.stage} ${message.step}/${message.of}`;
      document.body.dataset.steps = String(Number(document.body.dataset.steps ?? 0) + 1);
      break;
    case "scores":
      if (message.id === current?.id) showScores(message.scores);
      break;
    case "image":
      if (message.id === current?.id) current.onImage?.(message.index, message.picture);
      break;
    case "done":
      if (message.id === current?.id) finish(`${current.tool} done in ${message.seconds.toFixed(1)} s`, "done");
      break;
    case "cancelled":
      if (message.id === current?.id) finish(`${current.tool} cancelled`, "cancelled");
      break;
    case "error":
      if (message.id === undefined) {
        $("load-status").textContent = message.message;
        document.body.dataset.state = "error";
      } else if (message.id === current?.id) finish(message.message, "error");
      break;
  }
});

const modelsFolder = params.get("models") ?? "models";
post({ type: "load", baseUrl: new URL(modelsFolder, location.href).href.replace(/\/$/, ""), preferWasm: params.get("backend") === "wasm" });
