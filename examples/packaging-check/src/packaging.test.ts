/**
 * The published packages as an app meets them (issue #9, "Packaging"):
 *
 *   1. `npm pack` each library (its `files` list decides what ships; the test assumes `npm run build` ran, as turbo's
 *      `test` → `build` dependency does), and check the size budgets.
 *   2. Install the four tarballs into a new app under os.tmpdir() (outside the workspace), OFFLINE from the npm cache,
 *      with the peer dependencies @tensorflow/tfjs-core and @tensorflow/tfjs-backend-wasm.
 *   3. In Node ESM, import every public name each package's own `src/index.test.ts` pins, by name, and run one real
 *      call per package (tokenize; layerNorm on wasm; a safetensors round trip; DDIM timesteps).
 *   4. Type-check the same imports against the shipped `.d.ts` files (NodeNext resolution, as an app would).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

interface LibraryPackage {
  name: string;
  dir: string;
  /** Budget on the packed tarball (bytes), with what it covers. */
  packedBudget: { bytes: number; what: string };
}

const KB = 1000;
const LIBRARIES: readonly LibraryPackage[] = [
  { name: "@proj/tokenizer", dir: "packages/tokenizer", packedBudget: { bytes: 2000 * KB, what: "tokenizer with its vocabulary < 2 MB" } },
  { name: "@proj/tensor-kernels", dir: "packages/tensor-kernels", packedBudget: { bytes: 500 * KB, what: "kernels < 500 kB (no budget in the issue; kept in line with clip and unclip)" } },
  { name: "@proj/clip", dir: "packages/clip", packedBudget: { bytes: 500 * KB, what: "clip code < 500 kB, weights excluded" } },
  { name: "@proj/unclip", dir: "packages/unclip", packedBudget: { bytes: 500 * KB, what: "unclip code < 500 kB, weights excluded" } },
];

/** The names a package's `src/index.test.ts` pins: the string literals of its `toEqual([...].sort())` list. */
function pinnedNames(dir: string): string[] {
  const path = join(REPO_ROOT, dir, "src/index.test.ts");
  const source = readFileSync(path, "utf8");
  const list = /toEqual\(\s*\[([\s\S]*?)\]\s*\.sort\(\)/.exec(source);
  if (list === null) throw new Error(`${path}: no \`toEqual([...].sort())\` list of exported names found`);
  return [...list[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!).sort();
}

/** npm with the calling npm's per-run settings (npm_config_*, npm_lifecycle_*) removed, except the cache location. */
function npm(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.toLowerCase().startsWith("npm_") || key.toLowerCase() === "npm_config_cache") env[key] = value;
  }
  env.PROJ_NATIVE_SKIP_BUILD = "1"; // @proj/tensor-kernels' install script: no node-gyp build in a throwaway app
  const result = spawnSync("npm", args, { cwd, env, encoding: "utf8", timeout: 180_000 });
  if (result.error) throw new Error(`npm ${args.join(" ")} could not run: ${result.error.message}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** ESM source that imports every pinned name of `lib` by name and fails if one of them is undefined. */
function namedImports(lib: LibraryPackage): string {
  const names = pinnedNames(lib.dir);
  return `import { ${names.join(", ")} } from "${lib.name}";
export const imported = { ${names.join(", ")} };
const missing = Object.keys(imported).filter((name) => imported[name as keyof typeof imported] === undefined);
if (missing.length > 0) throw new Error("imported as undefined: " + missing.join(", "));
`;
}

/**
 * Why an offline install failed: the registry dependencies (the peers asked for, and the libraries' own dependencies)
 * that the npm cache cannot answer for. npm itself often reports only ERESOLVE then.
 */
function offlineDiagnosis(peers: string[], cwd: string): string {
  const wanted = [...peers];
  for (const lib of LIBRARIES) {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, lib.dir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const [name, range] of Object.entries(manifest.dependencies ?? {})) if (!name.startsWith("@proj/")) wanted.push(`${name}@${range}`);
  }
  const uncached = wanted.filter((spec) => npm(["view", spec, "version", "--offline"], cwd).status !== 0);
  if (uncached.length === 0) return "npm install of the tarballs failed (every dependency is in the npm cache):";
  return (
    `npm cannot install the tarballs OFFLINE: not in the npm cache: ${uncached.join(", ")}. ` +
    "Run `npm install` in the workspace once with network access (it fills ~/.npm/_cacache), then rerun this test. npm said:"
  );
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

let work: string;
let app: string;
const packed = new Map<string, Packed>();
let smoke: Record<string, { exported: string[]; check: unknown }>;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "proj-packaging-"));
  const tarballs = join(work, "tarballs");
  app = join(work, "app");
  mkdirSync(tarballs);

  // 1. Pack.
  for (const lib of LIBRARIES) {
    const dir = join(REPO_ROOT, lib.dir);
    if (!existsSync(join(dir, "dist/index.js"))) throw new Error(`${lib.name} is not built (${lib.dir}/dist missing): run \`npm run build\` first`);
    const result = npm(["pack", "--json", "--pack-destination", tarballs], dir);
    if (result.status !== 0) throw new Error(`npm pack of ${lib.name} failed:\n${result.stderr}`);
    const [info] = JSON.parse(result.stdout) as Packed[];
    packed.set(lib.name, info!);
  }

  // 2. Install offline into an app outside the workspace.
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "packaging-check-app", private: true, type: "module" }, null, 2));
  const tfjsVersion = (createRequire(join(REPO_ROOT, "package.json"))("@tensorflow/tfjs-core/package.json") as { version: string }).version;
  const install = npm(
    [
      "install",
      "--offline",
      "--no-audit",
      "--no-fund",
      ...LIBRARIES.map((lib) => join(tarballs, packed.get(lib.name)!.filename)),
      `@tensorflow/tfjs-core@${tfjsVersion}`,
      `@tensorflow/tfjs-backend-wasm@${tfjsVersion}`,
    ],
    app,
  );
  if (install.status !== 0) throw new Error(`${offlineDiagnosis([`@tensorflow/tfjs-core@${tfjsVersion}`, `@tensorflow/tfjs-backend-wasm@${tfjsVersion}`], app)}\n${install.stderr}`);

  // 3. One real call per package, through the namespaces (the named imports are checked one package at a time below).
  writeFileSync(
    join(app, "smoke.mjs"),
    `${LIBRARIES.map((lib, i) => `import * as ns${i} from "${lib.name}";`).join("\n")}
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import "@proj/tensor-kernels/register";
const { ClipTokenizer } = ns0;
const { setupBackend, layerNorm, layerNormReference } = ns1;
const { serializeSafetensors, parseSafetensors, toFloat32 } = ns2;
const { DDIMScheduler } = ns3;

const checks = {};

// @proj/tokenizer: CLIP's ids for a caption
const tokenizer = await ClipTokenizer.load();
checks["@proj/tokenizer"] = { ids: tokenizer.encode("a photo of a cat"), batch: tokenizer.tokenize(["a cat"]).length };

// @proj/tensor-kernels: the fused layerNorm against its reference, on wasm
const backend = await setupBackend("wasm");
const before = tf.memory().numTensors;
const x = tf.tensor2d([[1, 2, 3, 4], [-1, 0, 5, 2]]);
const gamma = tf.tensor1d([1, 0.5, 2, 1]);
const beta = tf.tensor1d([0, 1, 0, -1]);
const fused = layerNorm(x, gamma, beta);
const reference = layerNormReference(x, gamma, beta, 1e-5);
const maxAbsDiff = Math.max(...Array.from(await fused.data(), (v, i) => Math.abs(v - reference.dataSync()[i])));
tf.dispose([x, gamma, beta, fused, reference]);
checks["@proj/tensor-kernels"] = { backend, shape: [2, 4], maxAbsDiff, leaked: tf.memory().numTensors - before };

// @proj/clip: a small safetensors file, serialized and parsed back
const bytes = serializeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) } }, { note: "tiny" });
const file = parseSafetensors(bytes);
checks["@proj/clip"] = { shape: file.tensors.get("w").shape, values: Array.from(toFloat32(file.tensors.get("w"))), note: file.metadata.note };

// @proj/unclip: DDIM's timesteps for 10 steps
const scheduler = new DDIMScheduler();
scheduler.setTimesteps(10);
checks["@proj/unclip"] = { timesteps: scheduler.timesteps };

const names = ${JSON.stringify(LIBRARIES.map((lib) => lib.name))};
const namespaces = [${LIBRARIES.map((_, i) => `ns${i}`).join(", ")}];
const out = {};
names.forEach((name, i) => { out[name] = { exported: Object.keys(namespaces[i]).sort(), check: checks[name] }; });
console.log("SMOKE " + JSON.stringify(out));
`,
  );
  const run = spawnSync(process.execPath, ["smoke.mjs"], { cwd: app, encoding: "utf8", timeout: 120_000 });
  const line = run.stdout.split("\n").find((l) => l.startsWith("SMOKE "));
  if (run.status !== 0 || line === undefined) throw new Error(`node smoke.mjs in the installed app failed (status ${run.status}):\n${run.stderr}`);
  smoke = JSON.parse(line.slice("SMOKE ".length)) as typeof smoke;
});

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe("the published packages, installed from their tarballs", () => {
  it("stay within their size budgets (packed), and ship no tests", () => {
    const rows: string[] = [];
    for (const lib of LIBRARIES) {
      const info = packed.get(lib.name)!;
      const js = info.files.filter((f) => f.path.startsWith("dist/") && f.path.endsWith(".js")).reduce((sum, f) => sum + f.size, 0);
      rows.push(`${lib.name.padEnd(22)} packed ${(info.size / KB).toFixed(0).padStart(5)} kB   unpacked ${(info.unpackedSize / KB).toFixed(0).padStart(5)} kB   dist/*.js ${(js / KB).toFixed(0).padStart(5)} kB   (${info.files.length} files)`);
    }
    console.log(`package sizes (1 kB = 1000 bytes):\n${rows.join("\n")}`);
    for (const lib of LIBRARIES) {
      const info = packed.get(lib.name)!;
      expect(info.size, `${lib.name}: packed ${info.size} bytes; budget: ${lib.packedBudget.what}`).toBeLessThan(lib.packedBudget.bytes);
      expect(info.files.map((f) => f.path).filter((p) => p.endsWith(".test.ts")), `${lib.name} ships test files`).toEqual([]);
    }
  });

  it.each(LIBRARIES.map((lib) => [lib.name, lib] as const))("%s: every name its index.test.ts pins imports by name in Node ESM, and nothing else is exported", (name, lib) => {
    const script = join(app, `import-${lib.dir.split("/").pop()}.mjs`);
    writeFileSync(script, namedImports(lib).replace(" as keyof typeof imported", ""));
    const run = spawnSync(process.execPath, [script], { cwd: app, encoding: "utf8", timeout: 60_000 });
    const error = run.stderr.split("\n").find((l) => /Error/.test(l)) ?? run.stderr;
    expect(run.status, `${name}: ${error}\n(is ${lib.dir}/dist older than its src? run \`npm run build\`)`).toBe(0);
    expect(smoke[name]!.exported).toEqual(pinnedNames(lib.dir));
  });

  it("run one real call each", () => {
    expect(smoke["@proj/tokenizer"]!.check).toEqual({ ids: [320, 1125, 539, 320, 2368], batch: 77 });
    const kernels = smoke["@proj/tensor-kernels"]!.check as { backend: string; maxAbsDiff: number; leaked: number };
    expect(kernels.backend).toBe("wasm");
    expect(kernels.maxAbsDiff).toBeLessThan(1e-5);
    expect(kernels.leaked).toBe(0);
    expect(smoke["@proj/clip"]!.check).toEqual({ shape: [2, 2], values: [1, 2, 3, 4], note: "tiny" });
    const { timesteps } = smoke["@proj/unclip"]!.check as { timesteps: number[] };
    expect(timesteps).toHaveLength(10);
    expect([...timesteps].sort((a, b) => b - a)).toEqual(timesteps);
  });

  it("type-check for an app (NodeNext resolution against the shipped .d.ts files)", () => {
    // One module per package: names such as GroupNorm exist in two packages.
    const files = LIBRARIES.map((lib) => {
      const file = `types-${lib.dir.split("/").pop()}.ts`;
      writeFileSync(join(app, file), namedImports(lib));
      return file;
    });
    writeFileSync(join(app, "types-subpaths.ts"), `import "@proj/tensor-kernels/register";\nimport "@proj/tensor-kernels/native";\n`);
    files.push("types-subpaths.ts");
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
          lib: ["ES2022", "DOM"],
        },
        files,
      }),
    );
    const tsc = createRequire(join(REPO_ROOT, "package.json")).resolve("typescript/bin/tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app, encoding: "utf8", timeout: 120_000 });
    expect(`${result.stdout}${result.stderr}`.trim(), "tsc errors in the app").toBe("");
    expect(result.status).toBe(0);
  });
});
