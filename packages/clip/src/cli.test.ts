import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseSafetensors, toFloat32, type SafetensorsFile } from "./safetensors.js";

// The CLI is tested as users run it: the built bin (turbo builds before testing; by hand: `npx tsup` in packages/clip).
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const fixture = (path: string): string => fileURLToPath(new URL(`./__fixtures__/clip-reference/${path}`, import.meta.url));
const MODEL = fixture("vit/model.safetensors"); // random-weight ViT, resolution 32
const PNGS = [0, 1, 2].map((i) => fixture(`preprocess/image_${i}.png`));

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("node", [cli, ...args], { encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const read = (path: string): SafetensorsFile => {
  const buffer = readFileSync(path);
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
};

/**
 * Expected scores from the reference outputs alone: softmax over the labels of exp(logit_scale) · cos(image, text)
 * with `image_features_preprocessed` (the reference's features of the PNGs preprocessed at 32) and `text_features`
 * (of the fixture's captions, used here as labels with template "{}").
 */
function referenceScores(captionRows: number[]): number[][] {
  const outputs = read(fixture("vit/outputs.safetensors"));
  const rows = (name: string): number[][] => {
    const t = outputs.tensors.get(name)!;
    const [n, d] = t.shape as [number, number];
    const data = toFloat32(t);
    return Array.from({ length: n }, (_, r) => {
      const v = Array.from(data.subarray(r * d, (r + 1) * d));
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    });
  };
  const logitScale = Math.exp(toFloat32(read(MODEL).tensors.get("logit_scale")!)[0]!);
  const text = rows("text_features");
  return rows("image_features_preprocessed").map((image) => {
    const logits = captionRows.map((c) => logitScale * image.reduce((s, x, d) => s + x * text[c]![d]!, 0));
    const max = Math.max(...logits);
    const e = logits.map((x) => Math.exp(x - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / sum);
  });
}

// Captions 0 and 1 of vit/inputs.safetensors (rows 0 and 1 of text_features); caption 3 has a comma, caption 2 is "".
const CAPTIONS = ["a photo of a cat", "a diagram of a neural network"];

describe("proj-clip", () => {
  it("is built", () => expect(existsSync(cli), `${cli} is missing: run \`npx tsup\` in packages/clip first`).toBe(true));

  it("prints --help and the version", () => {
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("Usage: proj-clip classify <image ...> --labels");
    expect(help.stdout).toContain("--templates");
    expect(run(["--version"]).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("--json scores equal the reference's softmax over labels of the PNGs' logits", () => {
    const labels = CAPTIONS;
    const { status, stdout, stderr } = run(["classify", ...PNGS, "--labels", labels.join(","), "--templates", "{}", "--model", MODEL, "--json"]);
    expect(status, stderr).toBe(0);
    expect(stderr).toMatch(/^proj-clip: backend (native|wasm)\n$/); // said on stderr, so --json stays clean
    const results = JSON.parse(stdout) as { image: string; scores: { label: string; score: number }[] }[];
    expect(results.map((r) => r.image)).toEqual(PNGS);
    const expected = referenceScores([0, 1]);
    results.forEach(({ scores }, i) => {
      expect(scores.map((s) => s.label).sort()).toEqual([...labels].sort());
      expect(scores[0]!.score).toBeGreaterThanOrEqual(scores[1]!.score);
      for (const { label, score } of scores) expect(Math.abs(score - expected[i]![labels.indexOf(label)]!)).toBeLessThan(1e-4);
    });
  });

  it("prints each image with its labels as percentages, best first, cut to --top-k", () => {
    const { status, stdout, stderr } = run(["classify", PNGS[0]!, PNGS[2]!, "--labels", "a photo of a cat, a diagram of a neural network", "--templates", "{}", "--model", MODEL, "--top-k", "1"]);
    expect(status, stderr).toBe(0);
    const expected = referenceScores([0, 1]);
    const best = (row: number[]): string => {
      const i = row[0]! >= row[1]! ? 0 : 1;
      return `${(row[i]! * 100).toFixed(2).padStart(6)}%  ${CAPTIONS[i]}`;
    };
    expect(stdout).toBe(`${PNGS[0]}\n  ${best(expected[0]!)}\n\n${PNGS[2]}\n  ${best(expected[2]!)}\n`);
  });

  it("averages the prompts of several --templates (default: one)", () => {
    const args = ["classify", PNGS[1]!, "--labels", "cat,dog,car", "--model", MODEL, "--json"];
    const scores = (extra: string[]) => (JSON.parse(run([...args, ...extra]).stdout) as { scores: { label: string; score: number }[] }[])[0]!.scores;
    const byDefault = scores([]);
    expect(byDefault).toEqual(scores(["--templates", "a photo of a {}."]));
    const ensembled = scores(["--templates", "a photo of a {}.|a drawing of a {}."]);
    expect(ensembled).toHaveLength(3);
    expect(ensembled).not.toEqual(byDefault);
    expect(ensembled.reduce((s, x) => s + x.score, 0)).toBeCloseTo(1, 5);
  });

  it("fails with a clear message and exit code 2 on bad input", () => {
    const cases: [string[], string][] = [
      [["classify", PNGS[0]!, "--labels", "a,b"], "classify needs --model"],
      [["classify", PNGS[0]!, "--model", MODEL], "classify needs --labels"],
      [["classify", "--labels", "a,b", "--model", MODEL], "classify needs at least one image"],
      [["classify", "/nonexistent/cat.png", "--labels", "a,b", "--model", MODEL], "cannot read image /nonexistent/cat.png"],
      [["classify", PNGS[0]!, "--labels", "a,b", "--model", "/nonexistent/m.safetensors"], "cannot read model file /nonexistent/m.safetensors"],
      [["classify", PNGS[0]!, "--labels", "a,b", "--model", PNGS[1]!], `cannot load the model ${PNGS[1]}`],
      [["classify", fixture("preprocess/preprocess.json"), "--labels", "a,b", "--model", MODEL], "cannot classify"],
      [["classify", PNGS[0]!, "--labels", "a,,b", "--model", MODEL], "--labels: label 2 of 3 is empty"],
      [["classify", PNGS[0]!, "--labels", "a,b,a", "--model", MODEL], '--labels: duplicate label "a"'],
      [["classify", PNGS[0]!, "--labels", "a,b", "--model", MODEL, "--templates", "a photo|{}"], '--templates: template "a photo" has no "{}"'],
      [["classify", PNGS[0]!, "--labels", "a,b", "--model", MODEL, "--top-k", "0"], "--top-k must be a positive integer"],
      [["classify", PNGS[0]!, "--labels", "a,b", "--model", MODEL, "--frobnicate"], "Unknown option '--frobnicate'"],
      [["detect", PNGS[0]!], 'unknown command "detect"'],
      [[], "no command given"],
    ];
    for (const [args, message] of cases) {
      const { status, stderr } = run(args);
      expect(status, args.join(" ")).toBe(2);
      expect(stderr).toMatch(/^proj-clip: /);
      expect(stderr).toContain(message);
    }
  });
});
