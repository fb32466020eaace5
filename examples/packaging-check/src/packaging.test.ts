/**
 * The published packages as an app meets them (issue #9, "Packaging"):
 *
 *   1. `npm pack` each library (its `files` list decides what ships; the test assumes `npm run build` ran, as turbo's
 *      `test` → `build` dependency does), and check the size budgets on the code: everything but the embedded weights
 *      (`models/*.safetensors`), which are reported beside it.
 *   2. Install the four tarballs into a new app under os.tmpdir() (outside the workspace), offline from the npm cache
 *      (or, when the cache lacks registry metadata, as after a fresh clone's `npm ci`, --prefer-offline),
 *      with the peer dependencies @tensorflow/tfjs-core and @tensorflow/tfjs-backend-wasm, and what examples/web needs
 *      (vite, @tensorflow/tfjs-backend-webgpu, gifenc).
 *   3. In Node ESM, import every public name each package's own `src/index.test.ts` pins, by name, and run one real
 *      call per package (tokenize; layerNorm on wasm; a safetensors round trip; DDIM timesteps).
 *   4. Type-check the same imports against the shipped `.d.ts` files (NodeNext resolution, as an app would).
 *   5. `vite build` examples/web's sources in that app, so the page and its worker are bundled from the installed
 *      tarballs, and check the bundle: no Node-only module, a worker chunk, the packages' models in dist/models/.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as TypeScript from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const workspaceRequire = createRequire(join(REPO_ROOT, "package.json"));

interface LibraryPackage {
  name: string;
  dir: string;
  /** Budget on the packed code (bytes): the tarball without its `models/*.safetensors`; with what it covers. */
  codeBudget: { bytes: number; what: string };
}

const KB = 1000;
const LIBRARIES: readonly LibraryPackage[] = [
  { name: "@proj/tokenizer", dir: "packages/tokenizer", codeBudget: { bytes: 2000 * KB, what: "tokenizer with its vocabulary < 2 MB" } },
  { name: "@proj/tensor-kernels", dir: "packages/tensor-kernels", codeBudget: { bytes: 500 * KB, what: "kernels < 500 kB (no budget in the issue; kept in line with clip and unclip)" } },
  { name: "@proj/clip", dir: "packages/clip", codeBudget: { bytes: 500 * KB, what: "clip code < 500 kB, weights excluded" } },
  { name: "@proj/unclip", dir: "packages/unclip", codeBudget: { bytes: 500 * KB, what: "unclip code < 500 kB, weights excluded" } },
];

/** The embedded weights: left out of the code budgets, reported beside them. */
const isWeights = (path: string): boolean => /^models\/[^/]+\.safetensors$/.test(path);

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

/** What a package ships, split into code (everything but the weights) and weights; bytes. */
interface Sizes {
  codePacked: number;
  codeUnpacked: number;
  weightFiles: number;
  weightBytes: number;
  /** The whole tarball, weights included. */
  tarballPacked: number;
}

/**
 * The packed size of a package without its weights. Weights are float32 arrays that gzip barely shrinks, so "tarball
 * minus weights" cannot be estimated from file sizes; instead the shipped files (npm's own list, `info.files`) except
 * `models/*.safetensors` are copied to `stage/` and packed again with `--dry-run`: npm computes the gzipped size as it
 * would publish it, exactly, and no tarball is written. A package without weights is measured by its tarball as is.
 */
function measure(lib: LibraryPackage, info: Packed, stage: string): Sizes {
  const weights = info.files.filter((f) => isWeights(f.path));
  const code = info.files.filter((f) => !isWeights(f.path));
  const sizes = {
    codeUnpacked: code.reduce((sum, f) => sum + f.size, 0),
    weightFiles: weights.length,
    weightBytes: weights.reduce((sum, f) => sum + f.size, 0),
    tarballPacked: info.size,
  };
  if (weights.length === 0) return { ...sizes, codePacked: info.size };
  for (const file of code) cpSync(join(REPO_ROOT, lib.dir, file.path), join(stage, file.path));
  const result = npm(["pack", "--dry-run", "--json", "--ignore-scripts"], stage);
  if (result.status !== 0) throw new Error(`npm pack --dry-run of ${lib.name} without its weights failed:\n${result.stderr}`);
  const [restaged] = JSON.parse(result.stdout) as Packed[];
  const restagedPaths = restaged!.files.map((f) => f.path).sort();
  const codePaths = code.map((f) => f.path).sort();
  if (JSON.stringify(restagedPaths) !== JSON.stringify(codePaths)) {
    throw new Error(`${lib.name} packed without its weights ships other files than its tarball minus models/*.safetensors:\n${restagedPaths.join(", ")}\nvs\n${codePaths.join(", ")}`);
  }
  return { ...sizes, codePacked: restaged!.size };
}

/** `name@version` as the workspace installed it for `dir` (a workspace folder), so the app gets the same version. */
function workspaceSpec(name: string, dir = ""): string {
  return `${name}@${(createRequire(join(REPO_ROOT, dir, "package.json"))(`${name}/package.json`) as { version: string }).version}`;
}

let work: string;
let app: string;
const packed = new Map<string, Packed>();
const sizes = new Map<string, Sizes>();
let smoke: Record<string, { exported: string[]; check: unknown }>;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "proj-packaging-"));
  const tarballs = join(work, "tarballs");
  app = join(work, "app");
  mkdirSync(tarballs);

  // 1. Pack, and measure code and weights apart.
  for (const lib of LIBRARIES) {
    const dir = join(REPO_ROOT, lib.dir);
    if (!existsSync(join(dir, "dist/index.js"))) throw new Error(`${lib.name} is not built (${lib.dir}/dist missing): run \`npm run build\` first`);
    const result = npm(["pack", "--json", "--pack-destination", tarballs], dir);
    if (result.status !== 0) throw new Error(`npm pack of ${lib.name} failed:\n${result.stderr}`);
    const [info] = JSON.parse(result.stdout) as Packed[];
    packed.set(lib.name, info!);
    sizes.set(lib.name, measure(lib, info!, join(work, "code-only", lib.dir.split("/").pop()!)));
  }

  // 2. Install (offline when the cache can) into an app outside the workspace: the tarballs, their tfjs peers, and
  //    what examples/web needs.
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "packaging-check-app", private: true, type: "module" }, null, 2));
  const registryPackages = [
    workspaceSpec("@tensorflow/tfjs-core"),
    workspaceSpec("@tensorflow/tfjs-backend-wasm"),
    ...["@tensorflow/tfjs-backend-webgpu", "gifenc", "vite"].map((name) => workspaceSpec(name, "examples/web")),
  ];
  const installArgs = ["install", "--no-audit", "--no-fund", ...LIBRARIES.map((lib) => join(tarballs, packed.get(lib.name)!.filename)), ...registryPackages];
  let install = npm([...installArgs, "--offline"], app);
  if (install.status !== 0) {
    // A fresh clone's `npm ci` caches the tarballs of the lockfile but not the registry metadata that resolving a new
    // app needs: fetch what the cache lacks (only the npm registry), as an app's install would.
    install = npm([...installArgs, "--prefer-offline"], app);
    if (install.status !== 0) throw new Error(`${offlineDiagnosis(registryPackages, app)}\n(--prefer-offline failed too)\n${install.stderr}`);
  }

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
  it("stay within their size budgets (packed code, weights excluded), and ship no tests", () => {
    const kB = (bytes: number): string => (bytes / KB).toFixed(0);
    console.log("package sizes (1 kB = 1000 bytes; code = everything but models/*.safetensors, packed as npm publishes it):");
    console.table(
      Object.fromEntries(
        LIBRARIES.map((lib) => {
          const size = sizes.get(lib.name)!;
          const budget = `${kB(lib.codeBudget.bytes)} kB`;
          const weights = size.weightFiles === 0 ? "none" : `${kB(size.weightBytes)} kB (${size.weightFiles} files)`;
          return [lib.name, { "code packed": `${kB(size.codePacked)} kB`, budget, "code unpacked": `${kB(size.codeUnpacked)} kB`, weights, "tarball packed": `${kB(size.tarballPacked)} kB` }];
        }),
      ),
    );
    for (const lib of LIBRARIES) {
      const { codePacked } = sizes.get(lib.name)!;
      expect(codePacked, `${lib.name}: its code packs to ${codePacked} bytes (${kB(codePacked)} kB), over its budget: ${lib.codeBudget.what}`).toBeLessThan(lib.codeBudget.bytes);
      expect(packed.get(lib.name)!.files.map((f) => f.path).filter((p) => p.endsWith(".test.ts")), `${lib.name} ships test files`).toEqual([]);
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
    const tsc = workspaceRequire.resolve("typescript/bin/tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app, encoding: "utf8", timeout: 120_000 });
    expect(`${result.stdout}${result.stderr}`.trim(), "tsc errors in the app").toBe("");
    expect(result.status).toBe(0);
  });
});

// 5. examples/web, bundled by Vite from the installed tarballs.

const ts = workspaceRequire("typescript") as typeof TypeScript;
const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((name) => `node:${name}`)]);
const isNodeBuiltin = (specifier: string): boolean => NODE_BUILTINS.has(specifier) || specifier.startsWith("node:");

/**
 * Third-party modules whose Node-only `require`s (behind their own "am I in Node?" checks) Vite replaces with its empty
 * `__vite-browser-external` stand-in: nothing of Node reaches the browser. Copied from examples/web's
 * app.browser.test.ts (which checks the workspace build the same way); keep the two in step.
 */
const NODE_BRANCHES_ALLOWED: Record<string, string> = {
  "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm.js": "Emscripten glue: fs/path for ENVIRONMENT_IS_NODE",
  "@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js": "Emscripten glue: fs/os/path/perf_hooks/worker_threads for ENVIRONMENT_IS_NODE",
  "@tensorflow/tfjs-core/dist/platforms/platform_node.js": "tfjs-core's Node platform (util), chosen only where process.versions.node exists",
  "seedrandom/seedrandom.js": "tfjs-core's RNG: require('crypto') only under CommonJS",
};

/** The models examples/web/vite.config.ts copies into dist/models/, and the package each one ships in. */
const WEB_MODELS: Record<string, string> = {
  "clip.safetensors": "@proj/clip",
  "prior.safetensors": "@proj/unclip",
  "decoder.safetensors": "@proj/unclip",
  "upsampler.safetensors": "@proj/unclip",
};

/** A tsconfig with its `extends` chain merged in: examples/web's extends ../../tsconfig.base.json, absent outside the workspace. */
function flattenTsconfig(path: string): Record<string, unknown> {
  const { config, error } = ts.readConfigFile(path, ts.sys.readFile) as { config?: Record<string, unknown> & { extends?: unknown; compilerOptions?: object }; error?: unknown };
  if (config === undefined) throw new Error(`${path}: ${JSON.stringify(error)}`);
  const base = typeof config.extends === "string" ? flattenTsconfig(resolve(dirname(path), config.extends)) : {};
  return { ...config, extends: undefined, compilerOptions: { ...(base.compilerOptions as object | undefined), ...config.compilerOptions } };
}

/**
 * The Node-only references in an emitted JS file: an import, re-export, `import()` or `require()` of a Node built-in by
 * a literal specifier, and any `createRequire`. Parsed, not grepped: strings are not code (tfjs-backend-wasm carries
 * its pthread worker's source, which requires worker_threads, as a string), and our packages' Node-only file reads use
 * computed specifiers, which a browser never reaches.
 */
function nodeOnlyReferences(path: string): string[] {
  const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const found: string[] = [];
  const visit = (node: TypeScript.Node): void => {
    let specifier: TypeScript.Node | undefined;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) specifier = node.moduleSpecifier;
    else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === "require"))) specifier = node.arguments[0];
    if (specifier !== undefined && ts.isStringLiteralLike(specifier) && isNodeBuiltin(specifier.text)) found.push(`imports "${specifier.text}"`);
    if (ts.isIdentifier(node) && node.text === "createRequire") found.push("uses createRequire");
    ts.forEachChild(node, visit);
  };
  visit(source);
  return [...new Set(found)];
}

describe("examples/web, built with `vite build` in the app against the installed tarballs", () => {
  let web: string;
  let dist: string;
  /** Every module id in the page's and the worker's bundles, and who imports Vite's stand-in for Node built-ins. */
  let bundle: { ids: string[]; stubImporters: string[] };

  beforeAll(() => {
    // The app's sources as they are in examples/web, less its tests and the test models (public/models-test/, made by
    // its scripts/make-test-models.ts and git-ignored); the tsconfig flattened (see flattenTsconfig).
    const source = join(REPO_ROOT, "examples/web");
    web = join(app, "web");
    dist = join(web, "dist");
    for (const file of ["index.html", "vite.config.ts"]) cpSync(join(source, file), join(web, file));
    cpSync(join(source, "src"), join(web, "src"), { recursive: true, filter: (path) => !path.endsWith(".test.ts") });
    if (existsSync(join(source, "public"))) cpSync(join(source, "public"), join(web, "public"), { recursive: true, filter: (path) => !path.includes("models-test") });
    writeFileSync(join(web, "tsconfig.json"), JSON.stringify(flattenTsconfig(join(source, "tsconfig.json")), null, 2));

    // The app's own config with one recording plugin, through the hook its browser test uses (`webConfig(plugins)`
    // runs them on the page's and the worker's bundles).
    const modulesFile = join(web, "bundle-modules.json");
    writeFileSync(
      join(web, "packaging-check.vite.config.ts"),
      `import { writeFileSync } from "node:fs";
import type { Plugin } from "vite";
import { webConfig } from "./vite.config.ts";

const ids = new Set<string>();
const stubImporters = new Set<string>();
const recordModules: Plugin = {
  name: "record-modules",
  buildEnd() {
    for (const id of this.getModuleIds()) {
      ids.add(id);
      if (id.startsWith("__vite-browser-external")) for (const importer of this.getModuleInfo(id)?.importers ?? []) stubImporters.add(importer);
    }
    writeFileSync(${JSON.stringify(modulesFile)}, JSON.stringify({ ids: [...ids], stubImporters: [...stubImporters] }));
  },
};
export default webConfig([recordModules]);
`,
    );
    // A production build as the app's `npm run build` would make it: not with vitest's NODE_ENV=test.
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (key !== "NODE_ENV" && !key.startsWith("VITEST")) env[key] = value;
    const vite = join(app, "node_modules/vite/bin/vite.js");
    const build = spawnSync(process.execPath, [vite, "build", "--config", "packaging-check.vite.config.ts"], { cwd: web, env, encoding: "utf8", timeout: 180_000 });
    if (build.status !== 0 || !existsSync(modulesFile)) throw new Error(`vite build of examples/web in the app failed (status ${build.status}):\n${build.stdout}\n${build.stderr}`);
    bundle = JSON.parse(readFileSync(modulesFile, "utf8")) as typeof bundle;

    const files = (readdirSync(dist, { recursive: true }) as string[]).filter((file) => statSync(join(dist, file)).isFile()).sort();
    console.log("web bundle (dist/, 1 kB = 1000 bytes):");
    console.table(Object.fromEntries(files.map((file) => [file, `${(statSync(join(dist, file)).size / KB).toFixed(0)} kB`])));
  });

  it("bundles the page and the worker from the installed packages, with no Node-only module", () => {
    for (const lib of LIBRARIES) {
      expect(bundle.ids.some((id) => id.startsWith(join(app, "node_modules", lib.name) + "/")), `${lib.name} bundled from the app's node_modules`).toBe(true);
    }
    // Soft: each check reports what it finds even when another fails.
    expect.soft(bundle.ids.filter((id) => id.startsWith(REPO_ROOT + "/")), "modules bundled from the workspace").toEqual([]);
    expect.soft(bundle.ids.filter(isNodeBuiltin), "Node built-ins in the bundle").toEqual([]);
    const importers = bundle.stubImporters.map((id) => id.replace(/^.*\/node_modules\//, ""));
    expect.soft(importers.filter((id) => !(id in NODE_BRANCHES_ALLOWED)), "modules that reach Vite's stand-in for a Node built-in").toEqual([]);
    const scripts = (readdirSync(dist, { recursive: true }) as string[]).filter((file) => file.endsWith(".js"));
    expect(scripts.length).toBeGreaterThan(0);
    expect.soft(scripts.flatMap((file) => nodeOnlyReferences(join(dist, file)).map((found) => `dist/${file} ${found}`)), "Node-only references in the emitted JS").toEqual([]);
  });

  it("emits the worker as its own chunk, which the page loads", () => {
    const assets = readdirSync(join(dist, "assets"));
    const workers = assets.filter((file) => /^worker-.*\.js$/.test(file));
    expect(workers, "dist/assets/worker-*.js").toHaveLength(1);
    const page = /<script[^>]+src="\.?\/?(assets\/index-[^"]+\.js)"/.exec(readFileSync(join(dist, "index.html"), "utf8"));
    expect(page, "dist/index.html loads assets/index-*.js").not.toBeNull();
    expect(readFileSync(join(dist, page![1]!), "utf8")).toContain(workers[0]);
  });

  it("copies the models that the installed packages ship into dist/models/", () => {
    const shipped = Object.entries(WEB_MODELS).filter(([file, name]) => existsSync(join(app, "node_modules", name, "models", file)));
    console.log(`models in the installed packages: ${shipped.map(([file]) => file).join(", ") || "none yet"}`);
    for (const [file, name] of Object.entries(WEB_MODELS)) {
      const installed = join(app, "node_modules", name, "models", file);
      const copied = join(dist, "models", file);
      if (existsSync(installed)) expect(existsSync(copied) && statSync(copied).size, `dist/models/${file}, ${statSync(installed).size} bytes as in ${name}`).toBe(statSync(installed).size);
      else expect(existsSync(copied), `dist/models/${file} without ${name} shipping it`).toBe(false);
    }
  });
});
