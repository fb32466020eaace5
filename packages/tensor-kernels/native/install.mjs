#!/usr/bin/env node
/**
 * Builds the native addon with node-gyp at `npm install` (the package's install script). It never fails the
 * install: if the build fails it prints one line (the log is in native/build.log) and the package runs on wasm.
 *
 * Then, when nvcc is found (PROJ_NVCC, CUDA_PATH/bin, PATH, /usr/local/cuda/bin), the CUDA build of the kernels
 * (src/*.cu + src/cuda-addon.cc) becomes a second addon, build-cuda/proj_native_cuda.node, linked with cudart
 * statically so it loads on machines without a driver; its log is build-cuda.log. Its failure fails nothing either.
 * PROJ_NATIVE_SKIP_CUDA=1 skips it; PROJ_CUDA_ARCHS="80 90" picks the GPU architectures (default: 75 80 86 89 90,
 * plus compute_90 PTX for newer GPUs).
 *
 * node-gyp: npm's own copy (npm passes its path as npm_config_node_gyp) or one installed beside. Node's headers: an
 * explicit npm_config_nodedir, else the include/node directory of the running Node's install prefix (Debian and
 * NodeSource packages put them in /usr/include/node), so nothing is downloaded.
 *
 *   node native/install.mjs [--verbose] [--cuda-only]     PROJ_NATIVE_SKIP_BUILD=1 skips both builds.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const verbose = process.argv.includes("--verbose");
const log = join(here, "build.log");
const cudaOnly = process.argv.includes("--cuda-only");
const CUDA_SOURCES = ["src/gemm.cu", "src/norm.cu", "src/attention.cu", "src/cuda-addon.cc"];
const DEFAULT_CUDA_ARCHS = "75 80 86 89 90";

function say(line) {
  console.log(`@proj/tensor-kernels: ${line}`);
}

function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js"));
  } catch {
    // not installed as a package: try npm's bundled copy
  }
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"));
  candidates.push(join(prefix, "node_modules/npm/node_modules/node-gyp/bin/node-gyp.js")); // Windows layout
  return candidates.find((p) => p && existsSync(p));
}

/** The directory whose include/node holds Node's headers (node_api.h), or undefined. Also used by sanitize.mjs. */
export function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), "/usr", "/usr/local"];
  return candidates.find((dir) => dir && existsSync(join(dir, "include/node/node_api.h")));
}

function buildCpu(nodeDir) {
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) return say("node-gyp not found: native addon not built; the wasm backend will be used");
  const args = [nodeGyp, "rebuild", ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const started = Date.now();
  const result = spawnSync(process.execPath, args, { cwd: here, encoding: "utf8", stdio: verbose ? "inherit" : "pipe" });
  if (!verbose) writeFileSync(log, `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`);
  if (result.status === 0) return say(`native addon built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const hint = nodeDir ? "" : " (no Node headers found: set npm_config_nodedir)";
  say(`native addon build failed${hint}, see ${log}; the wasm backend will be used`);
}

function findNvcc() {
  const candidates = [process.env.PROJ_NVCC, process.env.CUDA_PATH && join(process.env.CUDA_PATH, "bin/nvcc")];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, "nvcc"));
  candidates.push("/usr/local/cuda/bin/nvcc");
  return candidates.find((p) => p && existsSync(p));
}

/** The CUDA addon: one nvcc command (compile and link), cudart static. */
function buildCuda(nodeDir) {
  if (process.env.PROJ_NATIVE_SKIP_CUDA === "1") return;
  const nvcc = findNvcc();
  if (!nvcc) return; // no CUDA toolkit: nothing to say, the CPU addon is the build
  const cudaLog = join(here, "build-cuda.log");
  if (!nodeDir) return say(`CUDA addon not built (no Node headers found: set npm_config_nodedir)`);
  const archs = (process.env.PROJ_CUDA_ARCHS ?? DEFAULT_CUDA_ARCHS).split(/[\s,;]+/).filter((a) => /^\d+$/.test(a));
  if (archs.length === 0) return say(`CUDA addon not built (PROJ_CUDA_ARCHS names no architecture)`);
  const newest = archs[archs.length - 1];
  const gencode = archs.flatMap((a) => ["-gencode", `arch=compute_${a},code=${a === newest ? `[sm_${a},compute_${a}]` : `sm_${a}`}`]);
  const targets = [...archs.map((a) => `sm_${a}`), `compute_${newest}`].join(",");
  const outDir = join(here, "build-cuda");
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const args = [
    "-std=c++17", "-O3", "-shared", "-cudart", "static", "-Xcompiler", "-Wall,-Wextra,-fPIC",
    `-I${join(nodeDir, "include/node")}`, "-DNODE_GYP_MODULE_NAME=proj_native_cuda", `-DPROJ_CUDA_TARGETS="${targets}"`,
    ...gencode, ...CUDA_SOURCES, "-o", join(outDir, "proj_native_cuda.node"),
  ];
  const started = Date.now();
  const result = spawnSync(nvcc, args, { cwd: here, encoding: "utf8", stdio: "pipe" });
  const text = `${nvcc} ${args.join(" ")}\n${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`;
  writeFileSync(cudaLog, text);
  if (verbose) process.stdout.write(text);
  if (result.status === 0) return say(`CUDA addon built with ${nvcc} for ${targets} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  rmSync(outDir, { recursive: true, force: true });
  say(`CUDA addon build failed, see ${cudaLog}; the native backend runs on the CPU`);
}

function main() {
  if (process.env.PROJ_NATIVE_SKIP_BUILD === "1") return say("PROJ_NATIVE_SKIP_BUILD=1: native addon not built; the wasm backend will be used");
  const nodeDir = findNodeDir();
  if (!cudaOnly) buildCpu(nodeDir);
  try {
    buildCuda(nodeDir);
  } catch (error) {
    say(`CUDA addon not built (${error.message})`);
  }
}

// Run as the install script (not when sanitize.mjs imports findNodeDir).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  try {
    main();
  } catch (error) {
    say(`native addon not built (${error.message}); the wasm backend will be used`);
  }
}
