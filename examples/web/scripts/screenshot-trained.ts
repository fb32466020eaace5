/**
 * The README's screenshot of the page on the embedded trained models: builds the app, serves dist/ on localhost,
 * drives Chromium (WebGPU on SwiftShader unless --backend wasm) through the five tools on three Google emoji
 * (Apache-2.0, from the emoji-datasource-google dev dependency of the training workspace) and saves
 * screenshots/app-trained.png.
 *
 *   npx tsx examples/web/scripts/screenshot-trained.ts [--backend webgpu|wasm] [--steps 15]
 */
import { existsSync, mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { build } from "vite";
import { webConfig } from "../vite.config.js";
import { CHROMIUM_ARGS, serve } from "./static-server.js";

const { values } = parseArgs({ options: { backend: { type: "string", default: "webgpu" }, steps: { type: "string", default: "15" } } });
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const EMOJI = resolve(ROOT, "../../node_modules/emoji-datasource-google/img/google/64");
const [APPLE, CAT, ROCKET] = ["1f34e", "1f431", "1f680"].map((code) => join(EMOJI, `${code}.png`));
for (const file of [APPLE!, CAT!, ROCKET!]) if (!existsSync(file)) throw new Error(`missing ${file}: run npm ci at the repository root`);

await build({ ...webConfig(), configFile: false, logLevel: "warn" });
const server = await serve(join(ROOT, "dist"));
const browser = await chromium.launch({ executablePath: process.env.PROJ_CHROMIUM ?? "/usr/bin/chromium", args: [...CHROMIUM_ARGS] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on("pageerror", (error) => console.error(`page error: ${error.message}`));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await page.goto(`${origin}/${values.backend === "wasm" ? "?backend=wasm" : ""}`);
  await page.waitForFunction(() => document.body.dataset.state !== "loading", undefined, { timeout: 300_000 });
  console.log(`backend ${await page.textContent("#backend")}; ${await page.textContent("#load-status")}`);
  await page.fill("#steps", values.steps);

  const run = async (button: string): Promise<void> => {
    const started = Date.now();
    await page.click(button);
    await page.waitForFunction(() => document.body.dataset.state === "busy", undefined, { timeout: 10_000 });
    await page.waitForFunction(() => document.body.dataset.state !== "busy", undefined, { timeout: 600_000 });
    console.log(`${button}: ${await page.textContent("#status")} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  };
  await page.setInputFiles("#classify-file", CAT!);
  await page.fill("#labels", "a cat face, a dog face, a red apple, a rocket, a grinning face");
  await run("#classify-run");
  await page.setInputFiles("#variations-file", APPLE!);
  await page.fill("#variations-count", "4");
  await run("#variations-run");
  await page.setInputFiles("#blend-file-a", APPLE!);
  await page.setInputFiles("#blend-file-b", ROCKET!);
  await page.click("#blend-preset");
  await run("#blend-run");
  await page.setInputFiles("#animate-file", CAT!);
  await page.fill("#animate-frames", "8");
  await run("#animate-run");
  await page.fill("#prompt", "a red apple");
  await run("#text-run");
  mkdirSync(join(ROOT, "screenshots"), { recursive: true });
  await page.screenshot({ path: join(ROOT, "screenshots", "app-trained.png"), fullPage: true });
  console.log("wrote screenshots/app-trained.png");
} finally {
  await browser.close();
  server.close();
}
