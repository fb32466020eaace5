/**
 * Rasterises Debian's openclipart-svg into the cache `createClipartDataset` reads (.cache/openclipart-64/).
 *
 *   apt-get install openclipart-svg
 *   npm run rasterize:openclipart -w @proj/training-data
 *
 * resvg aborts the process on a few malformed files, so a child process does the rendering from a start index and
 * reports each file on stdout; when it dies, the parent records the file it was on as skipped ("resvg panic") and
 * starts a new child after it.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CLIPART_CACHE_DIRECTORY,
  CLIPART_IMAGE_SIZE,
  CLIPART_SERIES_MIN,
  OPENCLIPART_DIRECTORY,
  clipartKeywords,
  clipartName,
  decodeSvgBytes,
  nameFromFileName,
  parseClipartMetadata,
  rasterizeSvg,
  type ClipartCacheIndex,
  type ClipartItem,
} from "../src/openclipart.js";

const BLOCK_BYTES = CLIPART_IMAGE_SIZE * CLIPART_IMAGE_SIZE * 4;
const partialImages = join(CLIPART_CACHE_DIRECTORY, "images.partial");

/** Regular .svg files below the Debian folder (symlinked duplicates skipped), sorted. */
function listSvgFiles(directory: string): string[] {
  const files: string[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) continue;
      if (stat.isDirectory()) walk(path);
      else if (name.endsWith(".svg")) files.push(path);
    }
  };
  walk(directory);
  return files;
}

/** A child: renders files[start…] into slot = file index, one stdout line per file (written before the next starts). */
function runChild(files: string[], start: number): void {
  const fd = openSync(partialImages, "r+");
  for (let i = start; i < files.length; i++) {
    writeSync(1, `${i}\tbegin\n`);
    let line: string;
    try {
      const svg = decodeSvgBytes(readFileSync(files[i]!));
      const metadata = parseClipartMetadata(svg);
      const name = clipartName(metadata, basename(files[i]!));
      if (name === undefined) {
        line = JSON.stringify({ reason: "no usable title" });
      } else {
        const image = rasterizeSvg(svg);
        if (image === undefined) {
          line = JSON.stringify({ reason: "nothing visible" });
        } else {
          writeSync(fd, image.data, 0, BLOCK_BYTES, i * BLOCK_BYTES);
          line = JSON.stringify({ name, keywords: clipartKeywords(metadata, name) });
        }
      }
    } catch (error) {
      line = JSON.stringify({ reason: `render error: ${(error as Error).message.slice(0, 80)}` });
    }
    writeSync(1, `${i}\tdone\t${line}\n`);
  }
  closeSync(fd);
}

/** Runs a child from `start`; resolves with the per-file results it reported and the index it died on, if any. */
function spawnChild(start: number, results: Map<number, string>): Promise<number | undefined> {
  return new Promise((resolvePromise) => {
    const script = fileURLToPath(import.meta.url);
    const child = spawn(process.execPath, [...process.execArgv, script, "--child", String(start)], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let buffer = "";
    let current: number | undefined;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const [index, state, payload] = buffer.slice(0, newline).split("\t");
        buffer = buffer.slice(newline + 1);
        if (state === "begin") current = Number(index);
        else if (state === "done") {
          results.set(Number(index), payload!);
          current = undefined;
          if (results.size % 500 === 0) process.stderr.write(`  ${results.size} files\n`);
        }
      }
    });
    child.on("close", (code) => resolvePromise(code === 0 ? undefined : current));
  });
}

async function main(): Promise<void> {
  if (!existsSync(OPENCLIPART_DIRECTORY)) {
    throw new Error(`${OPENCLIPART_DIRECTORY} not found: apt-get install openclipart-svg`);
  }
  const files = listSvgFiles(OPENCLIPART_DIRECTORY);
  mkdirSync(CLIPART_CACHE_DIRECTORY, { recursive: true });
  writeFileSync(partialImages, new Uint8Array(files.length * BLOCK_BYTES));
  console.log(`rasterising ${files.length} SVGs from ${OPENCLIPART_DIRECTORY} to ${CLIPART_IMAGE_SIZE}×${CLIPART_IMAGE_SIZE}`);

  const results = new Map<number, string>();
  let start = 0;
  while (start < files.length) {
    const crashedAt = await spawnChild(start, results);
    if (crashedAt === undefined) break;
    results.set(crashedAt, JSON.stringify({ reason: "resvg panic" }));
    start = crashedAt + 1;
  }

  const titleCounts = new Map<string, number>();
  for (const payload of results.values()) {
    const name = (JSON.parse(payload) as { name?: string }).name;
    if (name !== undefined) titleCounts.set(name, (titleCounts.get(name) ?? 0) + 1);
  }
  const index: ClipartCacheIndex = { source: OPENCLIPART_DIRECTORY, size: CLIPART_IMAGE_SIZE, items: [], skipped: [] };
  files.forEach((file, slot) => {
    const path = relative(OPENCLIPART_DIRECTORY, file);
    const result = JSON.parse(results.get(slot) ?? '{"reason":"not reached"}') as
      | { reason: string }
      | { name: string; keywords: string[] };
    if ("reason" in result) {
      index.skipped.push({ path, reason: result.reason });
      return;
    }
    const category = path.split("/")[0]!.replace(/_/g, " ");
    const series = (titleCounts.get(result.name) ?? 0) >= CLIPART_SERIES_MIN;
    const name = series ? (nameFromFileName(basename(file)) ?? result.name) : result.name;
    const item: ClipartItem = { path, category, name, keywords: result.keywords.filter((k) => k !== name), slot };
    index.items.push(item);
  });
  renameSync(partialImages, join(CLIPART_CACHE_DIRECTORY, "images.bin"));
  writeFileSync(join(CLIPART_CACHE_DIRECTORY, "index.json"), JSON.stringify(index));
  const reasons = new Map<string, number>();
  for (const { reason } of index.skipped) reasons.set(reason.split(":")[0]!, (reasons.get(reason.split(":")[0]!) ?? 0) + 1);
  console.log(`${index.items.length} items cached in ${CLIPART_CACHE_DIRECTORY}; skipped:`, Object.fromEntries(reasons));
}

const childAt = process.argv.indexOf("--child");
if (childAt >= 0) runChild(listSvgFiles(OPENCLIPART_DIRECTORY), Number(process.argv[childAt + 1]));
else await main();
