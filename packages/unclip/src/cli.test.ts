import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { DEFAULT_TEMPLATES } from "@proj/clip";
import { decode as decodePng, encode as encodePng } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MODEL_URLS } from "./default-models.js";
import { writeTinyModels } from "./test-models.js";
import { maxDifference } from "./testing/helpers.js";

// The CLI is tested as users run it: the built bin (turbo builds before testing; by hand: `npx tsup` in packages/unclip),
// on tiny random models (decoder 16×16, upsampler 16 → 32) with 2 denoising steps.
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const FAST = ["--steps", "2", "--upsampler-steps", "2", "--prior-steps", "2"];
const FAST_NO_PRIOR = ["--steps", "2", "--upsampler-steps", "2"];
const SIZE = 32; // the tiny upsampler's output

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onStderr` sees stderr as it arrives and may signal the child. */
function run(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    // PROJ_UNCLIP_CHECK_TENSORS: the CLI reports live tensors before loading and after disposing.
    const child = spawn("node", [cli, ...args], { env: { ...process.env, PROJ_UNCLIP_CHECK_TENSORS: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      onStderr?.(stderr, child);
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs the CLI and expects success with a balanced tensor count. */
async function ok(args: string[]): Promise<Result> {
  const result = await run(args);
  expect(result.status, `${args.join(" ")}\n${result.stderr}`).toBe(0);
  expect(result.stderr).toMatch(/^proj-unclip: backend (native|wasm|cpu)\n/);
  expect(result.stderr).toMatch(/live tensors (\d+) before, \1 after/);
  return result;
}

interface Png {
  width: number;
  height: number;
  data: Uint8Array;
}

function readPng(path: string): Png {
  const png = decodePng(readFileSync(path));
  expect(png.channels).toBe(3);
  expect(png.depth).toBe(8);
  return { width: png.width, height: png.height, data: png.data as Uint8Array };
}

/** Pixels of tile i of a grid of `columns` SIZE×SIZE tiles. */
function tile(png: Png, i: number, columns: number): number[] {
  const out: number[] = [];
  const x0 = (i % columns) * SIZE;
  const y0 = Math.floor(i / columns) * SIZE;
  for (let y = 0; y < SIZE; y++) out.push(...png.data.subarray(((y0 + y) * png.width + x0) * 3, ((y0 + y) * png.width + x0 + SIZE) * 3));
  return out;
}


/** Walks a GIF's blocks: logical screen size, image (frame) count, and whether it has the NETSCAPE2.0 loop extension. */
function readGif(bytes: Uint8Array): { width: number; height: number; frames: number; loops: boolean } {
  const text = (from: number, length: number): string => String.fromCharCode(...bytes.subarray(from, from + length));
  expect(text(0, 6)).toBe("GIF89a");
  const colorTable = (flags: number): number => (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
  let p = 13 + colorTable(bytes[10]!);
  const skipSubBlocks = (): void => {
    while (bytes[p] !== 0) p += bytes[p]! + 1;
    p++;
  };
  let frames = 0;
  let loops = false;
  for (;;) {
    const block = bytes[p++];
    if (block === 0x3b) break; // trailer
    if (block === 0x21) {
      // extension: label, then sub-blocks (the application extension's first one holds its name)
      if (bytes[p++] === 0xff && text(p + 1, 11) === "NETSCAPE2.0") loops = true;
      skipSubBlocks();
    } else if (block === 0x2c) {
      // image descriptor (9 bytes), local colour table, LZW minimum code size, image data sub-blocks
      frames++;
      p += 9 + colorTable(bytes[p + 8]!) + 1;
      skipSubBlocks();
    } else {
      throw new Error(`unexpected GIF block 0x${block?.toString(16)} at ${p - 1}`);
    }
  }
  return { width: bytes[6]! | (bytes[7]! << 8), height: bytes[8]! | (bytes[9]! << 8), frames, loops };
}

let dir: string;
let models: string; // all four models
let noPrior: string; // clip and decoder only
let imageA: string;
let imageB: string;
const out = (name: string): string => join(dir, name);

/** A width×height RGB PNG of a smooth pattern. */
function writePatternPng(path: string, width: number, height: number, phase: number): void {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width;
      data[i + 1] = 128 + 127 * Math.sin(phase + y / 3);
      data[i + 2] = ((x + y) * 40 + phase * 90) % 256;
    }
  }
  writeFileSync(path, encodePng({ width, height, data, channels: 3, depth: 8 }));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "proj-unclip-cli-"));
  models = join(dir, "models");
  noPrior = join(dir, "models-no-prior");
  await tf.setBackend("cpu");
  await writeTinyModels(models);
  await writeTinyModels(noPrior, { prior: false, upsampler: false });
  imageA = out("a.png");
  imageB = out("b.png");
  writePatternPng(imageA, 24, 20, 0); // not square: CLIP's preprocessing crops
  writePatternPng(imageB, 16, 16, 2);
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("proj-unclip", () => {
  it("is built", () => expect(existsSync(cli), `${cli} is missing: run \`npx tsup\` in packages/unclip first`).toBe(true));

  it("prints --help for the tool and every command, and the version", async () => {
    const help = await run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: proj-unclip <command>");
    for (const command of ["classify", "generate", "variations", "blend", "animate", "demo"]) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    const specific: Record<string, string[]> = {
      classify: ["--labels", "--templates", "--top-k", "--json", "--models"],
      generate: ["--count", "--out", "--prior-steps", "--seed", "--steps", "--guidance", "--eta", "--backend", "--models"],
      variations: ["--count", "--out", "--seed", "--steps", "--guidance"],
      blend: ["--weights", "--out", "--seed"],
      animate: ["--frames", "--fps", "--mode", "--out", "--seed"],
      demo: ["--out", "--count", "--frames", "--seed"],
    };
    const helps = await Promise.all(Object.keys(specific).map((command) => run([command, command === "demo" ? "-h" : "--help"])));
    for (const [i, [command, options]] of Object.entries(specific).entries()) {
      expect(helps[i]!.status).toBe(0);
      expect(helps[i]!.stdout).toMatch(new RegExp(`^Usage: proj-unclip ${command} `));
      for (const option of options) expect(helps[i]!.stdout, `${command} --help`).toContain(option);
    }
    expect(helps[0]!.stdout).toContain(`"${DEFAULT_TEMPLATES.join("|")}"`); // classify's default, as @proj/clip has it
    const version = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    expect((await run(["--version"])).stdout).toBe(`${version.version}\n`);
  });

  it("generate writes a grid of count images; the same seed gives the same images, another seed others", async () => {
    const generate = (seed: number, count: number, file: string) =>
      ok(["generate", "a red", "apple", "--count", String(count), "--seed", String(seed), "--models", models, ...FAST, "--out", out(file)]);
    const first = await generate(1, 4, "g1.png");
    expect(first.stderr).toContain(`wrote 4 images of "a red apple" to ${out("g1.png")}`);
    await generate(1, 4, "g1-again.png");
    await generate(2, 4, "g2.png");
    const [g1, again, g2] = ["g1.png", "g1-again.png", "g2.png"].map((f) => readPng(out(f)));
    expect([g1!.width, g1!.height]).toEqual([2 * SIZE, 2 * SIZE]); // 2 × 2
    expect(again!.data).toEqual(g1!.data);
    expect(maxDifference(tile(g1!, 0, 2), tile(g2!, 0, 2))).toBeGreaterThan(10);
    expect(maxDifference(tile(g1!, 0, 2), tile(g1!, 1, 2))).toBeGreaterThan(10); // each image its own noise

    await generate(1, 3, "g3.png"); // 2 × 2 with the last cell empty (white)
    const g3 = readPng(out("g3.png"));
    expect([g3.width, g3.height]).toEqual([2 * SIZE, 2 * SIZE]);
    expect(tile(g3, 3, 2).every((v) => v === 255)).toBe(true);
  });

  it("variations writes ⌈√count⌉ columns; without an upsampler the images are the decoder's 16×16", async () => {
    await ok(["variations", imageA, "--count", "5", "--models", models, ...FAST_NO_PRIOR, "--out", out("v5.png")]);
    const v5 = readPng(out("v5.png"));
    expect([v5.width, v5.height]).toEqual([3 * SIZE, 2 * SIZE]);
    expect(maxDifference(tile(v5, 0, 3), tile(v5, 1, 3))).toBeGreaterThan(10);

    await ok(["variations", imageA, "--count", "2", "--models", noPrior, ...FAST_NO_PRIOR, "--out", out("v2.png")]);
    const v2 = readPng(out("v2.png"));
    expect([v2.width, v2.height]).toEqual([2 * 16, 16]);
  });

  it("blend writes one image per weight in a strip, weights of image B", async () => {
    await ok(["blend", imageA, imageB, "--weights", "0,0.3,0.7,1", "--models", models, ...FAST_NO_PRIOR, "--out", out("strip.png")]);
    const strip = readPng(out("strip.png"));
    expect([strip.width, strip.height]).toEqual([4 * SIZE, SIZE]);
    // (Frames share the decoder's and the upsampler's noise, so with random models they differ only a little: that
    // A and B decode differently is checked below, on the decoder's output with strong guidance.)

    // A at weight 0 of (A, B) is A at weight 1 of (B, A), decoded from the same noise: the same picture up to
    // rounding. Strong guidance amplifies what the embedding changes in the random decoder's output.
    const swapped = ["--models", noPrior, ...FAST_NO_PRIOR, "--guidance", "8"];
    await ok(["blend", imageA, imageB, "--weights", "0,1", ...swapped, "--out", out("ab.png")]);
    await ok(["blend", imageB, imageA, "--weights", "1,0.5,0", ...swapped, "--out", out("ba.png")]);
    const [ab, ba] = [readPng(out("ab.png")), readPng(out("ba.png"))];
    expect([ba.width, ba.height]).toEqual([3 * 16, 16]);
    const tile16 = (png: Png, i: number): number[] => Array.from({ length: 16 }, (_, y) => [...png.data.subarray((y * png.width + i * 16) * 3, (y * png.width + i * 16 + 16) * 3)]).flat();
    expect(maxDifference(tile16(ab, 0), tile16(ab, 1))).toBeGreaterThan(10); // A and B decode differently
    expect(maxDifference(tile16(ab, 0), tile16(ba, 0))).toBeLessThanOrEqual(2);
    expect(maxDifference(tile16(ab, 1), tile16(ba, 2))).toBeLessThanOrEqual(2);
  });

  it("animate writes a looping GIF with one frame per --frames", async () => {
    const { stderr } = await ok(["animate", imageA, "--frames", "3", "--fps", "12", "--models", models, ...FAST_NO_PRIOR, "--out", out("loop.gif")]);
    expect(stderr).toContain(`wrote a 3-frame animation of ${imageA} to ${out("loop.gif")}`);
    expect(readGif(new Uint8Array(readFileSync(out("loop.gif"))))).toEqual({ width: SIZE, height: SIZE, frames: 3, loops: true });
  });

  it("classify prints labels by score, or JSON with scores summing to 1", async () => {
    const json = await ok(["classify", imageA, imageB, "--labels", "cat, dog,car", "--json", "--models", models]);
    const results = JSON.parse(json.stdout) as { image: string; scores: { label: string; score: number }[] }[];
    expect(results.map((r) => r.image)).toEqual([imageA, imageB]);
    for (const { scores } of results) {
      expect(scores.map((s) => s.label).sort()).toEqual(["car", "cat", "dog"]);
      expect(scores.reduce((sum, s) => sum + s.score, 0)).toBeCloseTo(1, 5);
      expect(scores[0]!.score).toBeGreaterThanOrEqual(scores[1]!.score);
    }
    const text = await ok(["classify", imageA, "--labels", "cat,dog,car", "--top-k", "1", "--templates", "a photo of a {}.|a drawing of a {}.", "--models", models]);
    expect(text.stdout).toMatch(new RegExp(`^${imageA.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n +\\d+\\.\\d\\d%  (cat|dog|car)\n$`));
  });

  it("demo writes every example and an index.html whose links all exist", async () => {
    const folder = out("demo");
    await ok(["demo", "--out", folder, "--count", "1", "--frames", "2", "--models", models, ...FAST]);
    const html = readFileSync(join(folder, "index.html"), "utf8");
    const links = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => decodeURI(m[1]!));
    expect(links.length).toBeGreaterThanOrEqual(10);
    for (const link of links) {
      expect(link, "relative links").not.toMatch(/^(\/|[a-z]+:)/);
      expect(existsSync(join(folder, link)), link).toBe(true);
    }
    for (const kind of ["generate-", "variations-", "blend-", "animate-"]) expect(links.some((l) => l.startsWith(kind)), kind).toBe(true);
    expect(html).toContain("<figcaption>&quot;a red apple&quot;</figcaption>");
    expect(readPng(join(folder, "generate-a-rocket.png")).width).toBe(SIZE); // --count 1
    expect(readGif(new Uint8Array(readFileSync(join(folder, "animate-a-grinning-face.gif")))).frames).toBe(2);
    // The generated images classified among the prompts: every prompt, scores over all four labels summing to 1.
    const classified = JSON.parse(readFileSync(join(folder, "classify.json"), "utf8")) as { image: string; prompt: string; scores: { label: string; score: number }[] }[];
    expect(classified.map((c) => c.prompt)).toEqual(["a red apple", "a grinning face", "a cat face", "a rocket"]);
    for (const { image, scores } of classified) {
      expect(existsSync(join(folder, image)), image).toBe(true);
      expect(scores.map((s) => s.label).sort()).toEqual(["a cat face", "a grinning face", "a red apple", "a rocket"]);
      expect(scores.reduce((sum, s) => sum + s.score, 0)).toBeCloseTo(1, 5);
      for (let i = 1; i < scores.length; i++) expect(scores[i]!.score).toBeLessThanOrEqual(scores[i - 1]!.score);
    }
    expect(html).toContain("Zero-shot classification among the 4 prompts");
  });

  it("stops on SIGINT through the abort signal: exit 130, nothing written", async () => {
    const file = out("interrupted.png");
    let sent = false;
    const result = await run(["generate", "a rocket", "--count", "8", "--steps", "1000", "--models", models, "--out", file], (stderr, child) => {
      if (!sent && stderr.includes("backend")) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    expect(result.stderr).toContain("proj-unclip: SIGINT: stopping");
    expect(result.stderr).toContain("proj-unclip: interrupted by SIGINT");
    expect(result.status).toBe(130);
    expect(existsSync(file)).toBe(false);
  });

  it("without --models uses the embedded default models (a 64×64 image from the 32×32 decoder and the upsampler)", async () => {
    for (const name of ["clip", "prior", "decoder", "upsampler"] as const) expect(existsSync(fileURLToPath(DEFAULT_MODEL_URLS[name])), name).toBe(true);
    const result = await run(["variations", imageA, "--count", "1", "--steps", "1", "--upsampler-steps", "1", "--out", out("default.png")]);
    expect(result.status, result.stderr).toBe(0);
    const png = decodePng(readFileSync(out("default.png")));
    expect([png.width, png.height]).toEqual([64, 64]);
  });

  it("fails with a clear message and exit code 2 on bad input", async () => {
    const notImage = out("notes.txt");
    writeFileSync(notImage, "not an image");
    const brokenPng = out("broken.png");
    writeFileSync(brokenPng, Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    const onlyClip = out("only-clip");
    mkdirSync(onlyClip);
    writeFileSync(join(onlyClip, "clip.safetensors"), readFileSync(join(models, "clip.safetensors")));
    const badClip = out("bad-clip");
    mkdirSync(badClip);
    writeFileSync(join(badClip, "clip.safetensors"), readFileSync(imageA));
    writeFileSync(join(badClip, "decoder.safetensors"), readFileSync(join(models, "decoder.safetensors")));
    const m = ["--models", models];
    const cases: [string[], string][] = [
      // commands and options
      [[], "no command given"],
      [["paint", "x"], 'unknown command "paint"'],
      [["--seed", "1", "generate", "x"], "the command comes first"],
      [["generate", "x", "--frobnicate", ...m], "generate: Unknown option '--frobnicate'"],
      [["classify", imageA, "--labels", "a,b", "--count", "2", ...m], "classify: Unknown option '--count'"],
      // missing arguments
      [["generate", ...m], "generate needs a prompt"],
      [["variations", ...m], "variations takes one image, got 0"],
      [["blend", imageA, ...m], "blend takes two images, got 1"],
      [["animate", ...m], "animate needs at least one image"],
      [["classify", imageA, ...m], "classify needs --labels"],
      [["classify", "--labels", "a,b", ...m], "classify needs at least one image"],
      // files
      [["variations", "/nonexistent/cat.png", ...m], "cannot read image /nonexistent/cat.png"],
      [["classify", notImage, "--labels", "a,b", ...m], `${notImage} is not a PNG or JPEG image`],
      [["variations", brokenPng, ...m], `cannot decode image ${brokenPng}`],
      [["generate", "x", "--out", out("x.gif"), ...m], "--out must name a .png file"],
      [["animate", imageA, "--out", out("x.png"), ...m], "--out must name a .gif file"],
      [["generate", "x", "--out", "/nonexistent/dir/x.png", ...m], "--out: the folder /nonexistent/dir does not exist"],
      // numbers
      [["generate", "x", "--count", "0", ...m], '--count must be a positive integer, got "0"'],
      [["variations", imageA, "--count=-2", ...m], '--count must be a positive integer, got "-2"'],
      [["variations", imageA, "--count", "2.5", ...m], '--count must be a positive integer, got "2.5"'],
      [["generate", "x", "--count", "many", ...m], '--count must be a positive integer, got "many"'],
      [["generate", "x", "--steps", "0", ...m], "--steps must be a positive integer"],
      [["generate", "x", "--seed=-1", ...m], "--seed must be an integer ≥ 0"],
      [["generate", "x", "--guidance=-1", ...m], "--guidance must be a number ≥ 0"],
      [["generate", "x", "--guidance", "strong", ...m], '--guidance must be a number ≥ 0, got "strong"'],
      [["variations", imageA, "--eta=-0.5", ...m], '--eta must be a number ≥ 0, got "-0.5"'],
      [["blend", imageA, imageB, "--weights", "0,1.5", ...m], "--weights: 1.5 is outside [0, 1]"],
      [["blend", imageA, imageB, "--weights=-0.1,1", ...m], "--weights: -0.1 is outside [0, 1]"],
      [["blend", imageA, imageB, "--weights", "0,half", ...m], '--weights: "half" is not a number'],
      [["blend", imageA, imageB, "--weights", "0,,1", ...m], '--weights: "" is not a number'],
      [["animate", imageA, "--frames", "1", ...m], "--frames must be an integer ≥ 2"],
      [["animate", imageA, "--mode", "spin", ...m], '--mode must be loop or drift, got "spin"'],
      [["classify", imageA, "--labels", "a,,b", ...m], "--labels: label 2 of 3 is empty"],
      [["classify", imageA, "--labels", "a,b", "--top-k", "0", ...m], "--top-k must be a positive integer"],
      [["classify", imageA, "--labels", "a,b", "--templates", "a photo|{}", ...m], '--templates: template "a photo" has no "{}"'],
      // models
      [["generate", "x", "--models", noPrior], `generate turns text into images and needs a prior model, but the models in ${noPrior} have none (no prior.safetensors)`],
      [["demo", "--out", out("demo-no-prior"), "--models", noPrior], "demo turns text into images and needs a prior model"],
      [["variations", imageA, "--models", out("nowhere")], `--models: ${out("nowhere")} is not a folder`],
      [["variations", imageA, "--models", onlyClip], `--models ${onlyClip}: missing ${join(onlyClip, "decoder.safetensors")}`],
      [["variations", imageA, "--models", badClip, ...FAST_NO_PRIOR, "--out", out("never.png")], `cannot load the models in ${badClip}: `],
      [["classify", imageA, "--labels", "a,b", "--backend", "abacus", ...m], "--backend: "],
    ];
    // A few at a time: each is a Node process that loads tfjs.
    const results: Result[] = [];
    for (let start = 0; start < cases.length; start += 4) results.push(...(await Promise.all(cases.slice(start, start + 4).map(([args]) => run(args)))));
    for (const [i, [args, message]] of cases.entries()) {
      const { status, stdout, stderr } = results[i]!;
      const label = `proj-unclip ${args.join(" ")}\n${stderr}`;
      expect(status, label).toBe(2);
      expect(stderr, label).toMatch(/(^|\n)proj-unclip: /);
      expect(stderr.split("\n").find((line) => line.startsWith("proj-unclip: ") && !line.startsWith("proj-unclip: backend")), label).toContain(message);
      expect(stdout, label).toBe("");
    }
    expect(existsSync(out("never.png"))).toBe(false);
    expect(existsSync(out("demo-no-prior"))).toBe(false); // checked before creating the folder
  });
});
