/**
 * The built app in a real browser: `vite build` with the tiny random models of scripts/make-test-models.ts, dist/
 * served on localhost, Debian's /usr/bin/chromium driven by playwright-core, headless with SwiftShader's WebGPU
 * adapter (a real WebGPU device on a CPU-only machine). It classifies a fixture image and compares the page's scores
 * with Node's `zeroShotClassify` on the same model and bytes (the top label of random weights is arbitrary, the
 * numbers are not), renders variations and a 30/70 blend and checks that the canvases are not blank and differ
 * between seeds, checks that cancel stops the work, and saves screenshots in screenshots/.
 * PROJ_SKIP_BROWSER=1 skips the browser part, saying so; a missing Chromium is otherwise an error.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { loadClip, zeroShotClassify } from "@proj/clip";
import { chromium, type Browser, type Page } from "playwright-core";
import { build, type Plugin } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_MODELS_DIR, makeTestModels } from "../scripts/make-test-models.js";
import { CHROMIUM_ARGS, serve } from "../scripts/static-server.js";
import { webConfig } from "../vite.config.js";

const CHROMIUM = process.env.PROJ_CHROMIUM ?? "/usr/bin/chromium";
const skip = process.env.PROJ_SKIP_BROWSER === "1";
if (skip) console.warn("PROJ_SKIP_BROWSER=1: the web example is built but not run in a browser");

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "dist");
const SCREENSHOTS = join(ROOT, "screenshots");
const FIXTURES = resolve(ROOT, "../../packages/clip/src/__fixtures__/clip-reference/preprocess");
const IMAGE_A = join(FIXTURES, "image_1.png");
const IMAGE_B = join(FIXTURES, "image_2.png");
const LABELS = ["cat", "dog", "red apple", "a blue square"];
const STEPS = 2;

/** Every module id in the page's and the worker's bundles, and who imports Vite's empty stand-in for Node built-ins. */
const moduleIds = new Set<string>();
const stubImporters = new Set<string>();
const recordModules: Plugin = {
  name: "record-modules",
  buildEnd() {
    for (const id of this.getModuleIds()) {
      moduleIds.add(id);
      if (id.startsWith("__vite-browser-external")) for (const importer of this.getModuleInfo(id)?.importers ?? []) stubImporters.add(importer);
    }
  },
};

/**
 * Third-party modules whose Node-only `require`s (behind their own "am I in Node?" checks) Vite replaces with an empty
 * stub: nothing of Node reaches the browser, and these branches never run there. Each with its reason.
 */
const NODE_BRANCHES_ALLOWED: Record<string, string> = {
  "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm.js": "Emscripten glue: fs/path for ENVIRONMENT_IS_NODE",
  "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js": "Emscripten glue: fs/os/path/perf_hooks/worker_threads for ENVIRONMENT_IS_NODE",
  "@tensorflow/tfjs-core/dist/platforms/platform_node.js": "tfjs-core's Node platform (util), chosen only where process.versions.node exists",
  "seedrandom/seedrandom.js": "tfjs-core's RNG: require('crypto') only under CommonJS",
};

beforeAll(async () => {
  await makeTestModels(TEST_MODELS_DIR);
  await build({ ...webConfig([recordModules]), configFile: false, logLevel: "warn" });
});

describe("vite build", () => {
  it("bundles the page and the worker with no Node-only module", () => {
    const nodeOnly = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
    const ids = [...moduleIds];
    expect(ids.some((id) => id.includes("@proj/clip") || id.includes("packages/clip/"))).toBe(true);
    expect(ids.some((id) => id.includes("tensor-kernels"))).toBe(true);
    expect(ids.filter((id) => nodeOnly.has(id) || id.startsWith("node:"))).toEqual([]);
    // Vite replaces a Node built-in that a browser bundle reaches with `__vite-browser-external`: only the listed
    // third-party branches may reach it; none of our packages (their Node-only file reads use computed specifiers).
    const importers = [...stubImporters].map((id) => id.replace(/^.*\/node_modules\//, ""));
    expect(importers.filter((id) => !(id in NODE_BRANCHES_ALLOWED))).toEqual([]);
    expect(existsSync(join(DIST, "models-test", "clip.safetensors"))).toBe(true);
  });
});

describe.skipIf(skip)("the web example in Chromium (WebGPU on SwiftShader)", () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  let origin: string;
  const errors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set PROJ_CHROMIUM)`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await serve(DIST);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    // No network beyond the test server.
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await page.route("**/*", (route) => (route.request().url().startsWith(origin) ? route.continue() : route.abort()));
    await page.goto(`${origin}/?models=models-test`);
    await page.waitForFunction(() => document.body.dataset.state !== "loading", undefined, { timeout: 120_000 });
    await page.fill("#steps", String(STEPS));
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => (server === undefined ? done(undefined) : server.close(done)));
  });

  /** Clicks a tool's button and waits for the job to end; returns the status text. */
  async function runTool(button: string): Promise<string> {
    await page.click(button);
    await page.waitForFunction(() => document.body.dataset.state === "busy", undefined, { timeout: 10_000 });
    await page.waitForFunction(() => document.body.dataset.state !== "busy", undefined, { timeout: 240_000 });
    const status = await page.locator("#status");
    expect(await status.getAttribute("data-state"), await status.textContent() ?? "").toBe("done");
    return (await status.textContent()) ?? "";
  }

  function shownScores(on: Page): Promise<{ label: string; score: number }[]> {
    return on.$$eval("#scores .bar", (rows) => rows.map((row) => ({ label: (row as HTMLElement).dataset.label!, score: Number((row as HTMLElement).dataset.score) })));
  }

  /** Node's `zeroShotClassify` (wasm backend) on the same model file, image bytes and labels. */
  async function nodeScores(): Promise<{ label: string; score: number }[]> {
    await tf.setBackend("wasm");
    const clip = await loadClip(new Uint8Array(readFileSync(join(TEST_MODELS_DIR, "clip.safetensors"))));
    try {
      return await zeroShotClassify(clip, new Uint8Array(readFileSync(IMAGE_A)), LABELS);
    } finally {
      clip.dispose();
    }
  }

  function expectNodeScores(shown: { label: string; score: number }[], node: { label: string; score: number }[]): void {
    expect(shown.map((s) => s.label)).toEqual(node.map((s) => s.label));
    for (const [i, { score }] of node.entries()) expect(Math.abs(shown[i]!.score - score), `${shown[i]!.label}: page ${shown[i]!.score}, node ${score}`).toBeLessThan(1e-4);
  }

  /** RGBA bytes of the canvases in `selector`. */
  function canvases(selector: string): Promise<number[][]> {
    return page.$$eval(selector, (elements) =>
      (elements as HTMLCanvasElement[]).map((canvas) => Array.from(canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data)),
    );
  }

  function notBlank(rgba: number[]): void {
    const rgb = rgba.filter((_, i) => i % 4 !== 3);
    const mean = rgb.reduce((a, b) => a + b, 0) / rgb.length;
    const spread = Math.sqrt(rgb.reduce((a, b) => a + (b - mean) ** 2, 0) / rgb.length);
    expect(spread, "pixel standard deviation").toBeGreaterThan(5);
  }

  function meanAbsDifference(a: number[], b: number[]): number {
    expect(a.length).toBe(b.length);
    return a.reduce((sum, value, i) => sum + Math.abs(value - b[i]!), 0) / a.length;
  }

  it("loads the models on WebGPU", async () => {
    expect(await page.textContent("#backend")).toBe("webgpu");
    expect(await page.textContent("#load-status")).toContain("models: clip, decoder, upsampler, prior");
    expect(errors).toEqual([]);
  });

  it("classifies a fixture image with Node's scores (within 1e-4)", async () => {
    await page.setInputFiles("#classify-file", IMAGE_A);
    await page.fill("#labels", LABELS.join(", "));
    await runTool("#classify-run");
    const shown = await shownScores(page);
    await page.screenshot({ path: join(SCREENSHOTS, "classify.png") });

    expectNodeScores(shown, await nodeScores());
  });

  it("classifies with the same scores on the wasm backend (?backend=wasm)", async () => {
    const wasmPage = await browser.newPage();
    try {
      await wasmPage.route("**/*", (route) => (route.request().url().startsWith(origin) ? route.continue() : route.abort()));
      await wasmPage.goto(`${origin}/?models=models-test&backend=wasm`);
      await wasmPage.waitForFunction(() => document.body.dataset.state !== "loading", undefined, { timeout: 120_000 });
      expect(await wasmPage.textContent("#backend")).toBe("wasm");
      await wasmPage.setInputFiles("#classify-file", IMAGE_A);
      await wasmPage.fill("#labels", LABELS.join(", "));
      await wasmPage.click("#classify-run");
      await wasmPage.waitForFunction(() => document.querySelectorAll("#scores .bar").length > 0, undefined, { timeout: 120_000 });
      expectNodeScores(await shownScores(wasmPage), await nodeScores());
    } finally {
      await wasmPage.close();
    }
  });

  it("renders variations that are not blank and differ between seeds", async () => {
    await page.setInputFiles("#variations-file", IMAGE_A);
    await page.fill("#variations-count", "2");
    await page.fill("#seed", "1");
    await runTool("#variations-run");
    const seed1 = await canvases("#variations-out canvas");
    await page.fill("#seed", "2");
    await runTool("#variations-run");
    const seed2 = await canvases("#variations-out canvas");
    await page.screenshot({ path: join(SCREENSHOTS, "variations.png") });
    expect(seed1).toHaveLength(2);
    expect(seed2).toHaveLength(2);
    for (const rgba of [...seed1, ...seed2]) notBlank(rgba);
    expect(meanAbsDifference(seed1[0]!, seed2[0]!)).toBeGreaterThan(2);
    expect(meanAbsDifference(seed1[0]!, seed1[1]!)).toBeGreaterThan(2); // two variations of one run differ too
  });

  it("renders a 30/70 blend that is not blank and differs between seeds", async () => {
    await page.setInputFiles("#blend-file-a", IMAGE_A);
    await page.setInputFiles("#blend-file-b", IMAGE_B);
    await page.fill("#blend-weight", "0.8");
    await page.click("#blend-preset");
    expect(await page.inputValue("#blend-weight")).toBe("0.3");
    await page.fill("#seed", "1");
    await runTool("#blend-run");
    const seed1 = await canvases("#blend-out canvas");
    await page.fill("#seed", "2");
    await runTool("#blend-run");
    const seed2 = await canvases("#blend-out canvas");
    expect(seed1).toHaveLength(1);
    notBlank(seed1[0]!);
    notBlank(seed2[0]!);
    expect(meanAbsDifference(seed1[0]!, seed2[0]!)).toBeGreaterThan(2);
    await page.screenshot({ path: join(SCREENSHOTS, "blend.png") });
  });

  it("cancel stops the work between two steps", async () => {
    await page.setInputFiles("#animate-file", IMAGE_B);
    await page.fill("#animate-frames", "8");
    await page.fill("#steps", "50");
    await page.evaluate(() => (document.body.dataset.steps = "0"));
    await page.click("#animate-run");
    await page.waitForFunction(() => Number(document.body.dataset.steps) >= 2, undefined, { timeout: 120_000 });
    // The page stays responsive while the worker computes: a round trip to the main thread takes milliseconds.
    const started = Date.now();
    await page.evaluate(() => document.title);
    expect(Date.now() - started, "main-thread round trip while busy (ms)").toBeLessThan(1000);
    await page.click("#cancel");
    await page.waitForFunction(() => document.body.dataset.state !== "busy", undefined, { timeout: 60_000 });
    expect(await page.getAttribute("#status", "data-state")).toBe("cancelled");
    const stepsAtCancel = Number(await page.evaluate(() => document.body.dataset.steps));
    expect(stepsAtCancel).toBeLessThan(50 * 8); // far from done
    await new Promise((done) => setTimeout(done, 3000));
    expect(Number(await page.evaluate(() => document.body.dataset.steps))).toBe(stepsAtCancel); // nothing runs on
    await page.screenshot({ path: join(SCREENSHOTS, "cancelled.png") });
    await page.fill("#steps", String(STEPS));
  });

  it("animates (frames as they render, then a GIF) and draws from text", async () => {
    await page.fill("#animate-frames", "4");
    await runTool("#animate-run");
    expect(await page.getAttribute("#animate-gif", "hidden")).toBeNull();
    const gifBytes = await page.evaluate(async () => Array.from(new Uint8Array(await (await fetch((document.getElementById("animate-gif") as HTMLAnchorElement).href)).arrayBuffer()).slice(0, 6)));
    expect(String.fromCharCode(...gifBytes)).toBe("GIF89a");
    await runTool("#text-run");
    const text = await canvases("#text-out canvas");
    expect(text).toHaveLength(1);
    notBlank(text[0]!);
    await page.screenshot({ path: join(SCREENSHOTS, "app.png"), fullPage: true });
    expect(errors).toEqual([]);
  });
});
