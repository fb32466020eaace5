/**
 * `preprocess` in a real browser: Chromium (Debian's /usr/bin/chromium, which .ci/run installs) driven by
 * playwright-core runs the bundled src/testing/browser-preprocess-entry.ts on ImageBitmap, HTMLImageElement,
 * HTMLCanvasElement, OffscreenCanvas, ImageData and encoded bytes made from the reference fixture PNGs. Every kind
 * must give exactly the values Node computes from the same bytes (which equal the reference, preprocess.test.ts).
 * PROJ_SKIP_BROWSER=1 skips it, saying so; a missing Chromium is otherwise an error.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import * as tf from "@tensorflow/tfjs";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { preprocess } from "./preprocess.js";

const CHROMIUM = process.env.PROJ_CHROMIUM ?? "/usr/bin/chromium";
const skip = process.env.PROJ_SKIP_BROWSER === "1";
if (skip) console.warn("PROJ_SKIP_BROWSER=1: preprocess is not tested in a browser in this run");

const PNGS = [0, 1, 2].map((i) => readFileSync(fileURLToPath(new URL(`./__fixtures__/clip-reference/preprocess/image_${i}.png`, import.meta.url))));
const SIZE = 64;

describe("browser bundle", () => {
  it("bundles the public entry for browsers with no Node built-in reachable", async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("./index.ts", import.meta.url))],
      bundle: true,
      platform: "browser",
      format: "esm",
      splitting: true,
      outdir: "/tmp/proj-clip-browser-check",
      write: false,
      metafile: true,
      loader: { ".gz": "binary" },
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => p.startsWith("node:") || /(^|\/)(fs|path|url|util|readline|child_process)$/.test(p))).toEqual([]);
    expect(inputs.some((p) => p.endsWith("preprocess.ts"))).toBe(true);
  });
});

describe.skipIf(skip)("preprocess in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set PROJ_CHROMIUM)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("every browser image source gives exactly Node's values, and leaves no tensors", async () => {
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL("./testing/browser-preprocess-entry.ts", import.meta.url))],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      logLevel: "silent",
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.setContent("<!doctype html><title>preprocess</title>");
    await page.addScriptTag({ content: bundle.outputFiles[0]!.text, type: "module" });
    await page.waitForFunction(() => "runPreprocess" in globalThis);
    const result = await page.evaluate(
      ([pngs, size]) => (globalThis as unknown as { runPreprocess: (p: number[][], s: number) => Promise<{ values: Record<string, number[][]>; tensorsBefore: number; tensorsAfter: number }> }).runPreprocess(pngs, size),
      [PNGS.map((b) => Array.from(b)), SIZE] as const,
    );
    await page.close();
    expect(errors).toEqual([]);
    expect(result.tensorsAfter).toBe(result.tensorsBefore);

    await tf.setBackend("cpu");
    const node = await Promise.all(PNGS.map(async (png) => {
      const t = await preprocess(new Uint8Array(png), { size: SIZE });
      const values = Array.from(await t.data());
      t.dispose();
      return values;
    }));
    expect(Object.keys(result.values).sort()).toEqual(["arrayBuffer", "bytes", "htmlCanvasElement", "htmlImageElement", "imageBitmap", "imageData", "offscreenCanvas"]);
    for (const [kind, images] of Object.entries(result.values)) {
      images.forEach((values, i) => {
        expect(values.length, `${kind} image ${i}`).toBe(SIZE * SIZE * 3);
        let maxAbs = 0;
        for (let j = 0; j < values.length; j++) maxAbs = Math.max(maxAbs, Math.abs(values[j]! - node[i]![j]!));
        expect(maxAbs, `${kind} image ${i}: max |browser − node|`).toBe(0);
      });
    }
  });
});
