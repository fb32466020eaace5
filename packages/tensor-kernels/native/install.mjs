#!/usr/bin/env node
/**
 * Builds the native addon with node-gyp at `npm install` (the package's install script). It never fails the
 * install: if the build fails it prints one line (the log is in native/build.log) and the package runs on wasm.
 *
 * node-gyp: npm's own copy (npm passes its path as npm_config_node_gyp) or one installed beside. Node's headers: an
 * explicit npm_config_nodedir, else the include/node directory of the running Node's install prefix (Debian and
 * NodeSource packages put them in /usr/include/node), so nothing is downloaded.
 *
 *   node native/install.mjs [--verbose]     PROJ_NATIVE_SKIP_BUILD=1 skips the build.
 */
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const verbose = process.argv.includes("--verbose");
const log = join(here, "build.log");

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

function findNodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), "/usr", "/usr/local"];
  return candidates.find((dir) => dir && existsSync(join(dir, "include/node/node_api.h")));
}

function main() {
  if (process.env.PROJ_NATIVE_SKIP_BUILD === "1") return say("PROJ_NATIVE_SKIP_BUILD=1: native addon not built; the wasm backend will be used");
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) return say("node-gyp not found: native addon not built; the wasm backend will be used");
  const nodeDir = findNodeDir();
  const args = [nodeGyp, "rebuild", ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const started = Date.now();
  const result = spawnSync(process.execPath, args, { cwd: here, encoding: "utf8", stdio: verbose ? "inherit" : "pipe" });
  if (!verbose) writeFileSync(log, `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`);
  if (result.status === 0) return say(`native addon built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const hint = nodeDir ? "" : " (no Node headers found: set npm_config_nodedir)";
  say(`native addon build failed${hint}, see ${log}; the wasm backend will be used`);
}

try {
  main();
} catch (error) {
  say(`native addon not built (${error.message}); the wasm backend will be used`);
}
