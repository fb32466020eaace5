/**
 * Runs the example end to end as a user would (`node --import tsx src/main.ts …`) on two small images, with tiny
 * random-weight models written to a temporary folder by `writeTinyModels` (@proj/unclip/testing): a ViT CLIP with
 * embedding width 32, TINY_DECODER (16×16), TINY_UPSAMPLER (16 → 32) and TINY_PRIOR over its text tokens. Random
 * weights make the pictures noise; what is checked is the plumbing: the printed classification, the PNG files and their
 * size.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { writeTinyModels } from "@proj/unclip/testing";
import { decode, encode } from "fast-png";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "main.ts");
/** tsx's loader as a file URL: `--import tsx` would resolve from the child's cwd (a temp folder with no node_modules). */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

let dir: string;
let models: Record<"clip" | "decoder" | "upsampler" | "prior", string>;

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", TSX, SCRIPT, ...args], { cwd: dir, encoding: "utf8", timeout: 150_000 });
  // tfjs-backend-wasm rethrows unhandled rejections from its one-line minified module: drop that line from reports.
  const stderr = result.stderr.split("\n").filter((line) => line.length < 1000).join("\n");
  return { status: result.status, stdout: result.stdout, stderr };
}

/** A size×size PNG of one colour with a lighter square in the middle. */
function picture(size: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = Math.abs(x - size / 2) < size / 4 && Math.abs(y - size / 2) < size / 4;
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = inside ? 255 - (255 - rgb[c]!) / 2 : rgb[c]!;
    }
  }
  return encode({ width: size, height: size, data, channels: 3, depth: 8 });
}

beforeAll(async () => {
  await tf.setBackend("wasm");
  dir = mkdtempSync(join(tmpdir(), "proj-example-node-"));
  models = {
    clip: join(dir, "clip.safetensors"),
    decoder: join(dir, "decoder.safetensors"),
    upsampler: join(dir, "upsampler.safetensors"),
    prior: join(dir, "prior.safetensors"),
  };
  await writeTinyModels(dir);
  mkdirSync(join(dir, "photos"));
  writeFileSync(join(dir, "photos", "red.png"), picture(24, [200, 30, 30]));
  writeFileSync(join(dir, "photos", "blue.png"), picture(40, [20, 40, 210]));
  writeFileSync(join(dir, "photos", "notes.txt"), "not an image");
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("examples/node src/main.ts", () => {
  it("classifies the folder, writes variations, the 30/70 blend and a text-to-image as 32×32 PNGs", () => {
    const labels = ["red square", "blue square", "green tree"];
    const result = run(["--images", "photos", "--labels", labels.join(","), "--out", "out", "--count", "2", "--steps", "2", "--models", dir]);
    expect(result.status, result.stderr).toBe(0);

    // The classification: each image's name, then every label with its score, most likely first.
    const lines = result.stdout.split("\n");
    expect(lines).toContain("backend: wasm");
    for (const image of ["blue.png", "red.png"]) {
      const at = lines.indexOf(image);
      expect(at, `${image} in\n${result.stdout}`).toBeGreaterThanOrEqual(0);
      const rows = lines.slice(at + 1, at + 1 + labels.length).map((line) => /^ {2}(\d\.\d{4}) {2}(.+)$/.exec(line));
      expect(rows.every((row) => row !== null), result.stdout).toBe(true);
      const scores = rows.map((row) => Number(row![1]));
      expect([...scores].sort((a, b) => b - a)).toEqual(scores);
      expect(scores.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
      expect(rows.map((row) => row![2]).sort()).toEqual([...labels].sort());
    }

    // The files: 2 variations of each image, the blend (30% red.png, 70% blue.png: images are taken in name order), and
    // the first image's top label from text.
    const written = readdirSync(join(dir, "out")).sort();
    const topLabel = lines[lines.indexOf("blue.png") + 1]!.slice(10).replaceAll(/[^\w-]+/g, "_");
    expect(written).toEqual(
      ["blend-red-30-blue-70.png", "blue-variation-1.png", "blue-variation-2.png", "red-variation-1.png", "red-variation-2.png", `text-${topLabel}.png`].sort(),
    );
    for (const name of written) {
      const png = decode(readFileSync(join(dir, "out", name)));
      expect([png.width, png.height, png.channels], name).toEqual([32, 32, 3]);
    }
  });

  it("names a missing model file", () => {
    const result = run(["--images", "photos", "--labels", "a,b", "--clip", join(dir, "nowhere.safetensors"), "--decoder", models.decoder, "--upsampler", models.upsampler, "--prior", models.prior]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`cannot read the clip model from ${join(dir, "nowhere.safetensors")}`);
    // A typo in an optional model's path fails too (it must not silently drop the upsampler).
    const typo = run(["--images", "photos", "--labels", "a,b", "--clip", models.clip, "--decoder", models.decoder, "--prior", models.prior, "--upsampler", join(dir, "upsampler.safetensor")]);
    expect(typo.status).toBe(1);
    expect(typo.stderr).toContain(`cannot read the upsampler model from ${join(dir, "upsampler.safetensor")}`);
  });
});
