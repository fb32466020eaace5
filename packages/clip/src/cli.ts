#!/usr/bin/env node
/**
 * proj-clip: zero-shot image classification with a CLIP checkpoint from the command line.
 *
 *   proj-clip classify cat.png dog.jpg --labels "cat,dog,car" --model ViT-B-32.safetensors
 *   proj-clip classify cat.png --labels "cat,dog" --model m.safetensors --templates "a photo of a {}.|a drawing of a {}."
 *   proj-clip classify cat.png --labels "cat,dog" --model m.safetensors --top-k 1 --json
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import "@proj/tensor-kernels/register";
import { setupBackend } from "@proj/tensor-kernels";
import { loadClip, type ClipModel } from "./clip-model.js";
import { DEFAULT_TEMPLATES, createZeroShotClassifier, type ZeroShotScore } from "./zero-shot.js";

const HELP = `Usage: proj-clip classify <image ...> --labels <l1,l2,...> --model <file.safetensors> [options]

Zero-shot classification: scores each image against the labels with a CLIP model (softmax over the labels of
the scaled cosine similarity between the image and each label's prompts) and prints the labels by score.

Options:
  --labels <list>         comma-separated class labels, e.g. "cat,dog,car" (required)
  --model <file>          CLIP checkpoint, safetensors in OpenAI layout with __metadata__.config (required)
  --templates <list>      prompt templates separated by "|", each with "{}" for the label; several are
                          averaged (prompt ensembling). Default "${DEFAULT_TEMPLATES.join("|")}"
  --top-k <n>             print only the n best labels per image (default: all)
  --json                  print JSON: [{ "image", "scores": [{ "label", "score" }] }], scores in [0, 1]
  --backend <name>        tfjs backend: native, wasm or cpu (default: native when the addon of
                          @proj/tensor-kernels was built at install, else wasm); named on stderr
  -h, --help              show this help
  -v, --version           show the version
Images: PNG or JPEG files, preprocessed as CLIP does (bicubic resize, center crop) at the model's resolution.`;

/** Images classified per batch, to bound memory for long file lists. */
const BATCH_SIZE = 16;

function fail(message: string): never {
  process.stderr.write(`proj-clip: ${message}\n`);
  process.exit(2);
}

function readOrFail(path: string, what: string): Uint8Array {
  try {
    const buffer = readFileSync(path);
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (error) {
    return fail(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

function parseLabels(list: string): string[] {
  const labels = list.split(",").map((label) => label.trim());
  const empty = labels.findIndex((label) => label === "");
  if (empty >= 0) fail(`--labels: label ${empty + 1} of ${labels.length} is empty in ${JSON.stringify(list)}`);
  const duplicate = labels.find((label, i) => labels.indexOf(label) !== i);
  if (duplicate !== undefined) fail(`--labels: duplicate label ${JSON.stringify(duplicate)}`);
  return labels;
}

function parseTemplates(list: string | undefined): readonly string[] {
  if (list === undefined) return DEFAULT_TEMPLATES;
  const templates = list.split("|");
  const bad = templates.find((template) => !template.includes("{}"));
  if (bad !== undefined) fail(`--templates: template ${JSON.stringify(bad)} has no "{}" for the label`);
  return templates;
}

function parseTopK(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const topK = Number(value);
  if (!(/^\d+$/.test(value.trim()) && Number.isInteger(topK) && topK > 0)) fail(`--top-k must be a positive integer, got ${JSON.stringify(value)}`);
  return topK;
}

const formatScores = (image: string, scores: readonly ZeroShotScore[]): string =>
  [image, ...scores.map(({ label, score }) => `  ${(score * 100).toFixed(2).padStart(6)}%  ${label}`)].join("\n");

async function classify(values: Record<string, string | boolean | undefined>, images: string[]): Promise<void> {
  // 1. Check the arguments and read every file before any work.
  const str = (name: string): string | undefined => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  const modelPath = str("model");
  const labelList = str("labels");
  if (modelPath === undefined) fail("classify needs --model <file.safetensors> (--help for usage)");
  if (labelList === undefined) fail('classify needs --labels "label1,label2,..." (--help for usage)');
  if (images.length === 0) fail("classify needs at least one image file (--help for usage)");
  const labels = parseLabels(labelList);
  const templates = parseTemplates(str("templates"));
  const topK = parseTopK(str("top-k"));
  const checkpoint = readOrFail(modelPath, "model file");
  const imageBytes = images.map((path) => readOrFail(path, "image"));

  // 2. Backend and model.
  const backend = await setupBackend(str("backend"));
  process.stderr.write(`proj-clip: backend ${backend}\n`);
  let model: ClipModel;
  try {
    model = await loadClip(checkpoint);
  } catch (error) {
    return fail(`cannot load the model ${modelPath}: ${(error as Error).message}`);
  }

  // 3. Embed the labels once, classify the images in batches, print as we go.
  const classifier = await createZeroShotClassifier(model, labels, { templates });
  const results: { image: string; scores: ZeroShotScore[] }[] = [];
  try {
    for (let start = 0; start < images.length; start += BATCH_SIZE) {
      const batch = imageBytes.slice(start, start + BATCH_SIZE);
      let scores: ZeroShotScore[][];
      try {
        scores = await classifier.classify(batch, { topK });
      } catch (error) {
        // Name the file that fails to decode rather than the batch.
        for (const [i, bytes] of batch.entries()) {
          try {
            await classifier.classify([bytes]);
          } catch (inner) {
            fail(`cannot classify ${images[start + i] ?? ""}: ${(inner as Error).message}`);
          }
        }
        throw error;
      }
      for (const [i, imageScores] of scores.entries()) {
        const image = images[start + i] ?? "";
        if (values.json) results.push({ image, scores: imageScores });
        else process.stdout.write(`${start + i > 0 ? "\n" : ""}${formatScores(image, imageScores)}\n`);
      }
    }
  } finally {
    classifier.dispose();
    model.dispose();
  }
  if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        labels: { type: "string" },
        model: { type: "string" },
        templates: { type: "string" },
        "top-k": { type: "string" },
        json: { type: "boolean" },
        backend: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message} (--help for usage)`);
  }
  const { values, positionals } = parsed;
  if (values.help) return void process.stdout.write(`${HELP}\n`);
  if (values.version) {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    return void process.stdout.write(`${pkg.version}\n`);
  }
  const [command, ...rest] = positionals;
  if (command === undefined) fail("no command given: use `proj-clip classify <image ...> --labels ... --model ...` (--help for usage)");
  if (command !== "classify") fail(`unknown command ${JSON.stringify(command)} (the only command is "classify"; --help for usage)`);
  await classify(values, rest);
}

main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
