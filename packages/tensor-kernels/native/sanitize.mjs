#!/usr/bin/env node
/**
 * Builds the native addon with a sanitizer and runs a command against it (Linux, g++):
 *
 *   npm run sanitize -w @proj/tensor-kernels -- address [-- command …]
 *   npm run sanitize -w @proj/tensor-kernels -- thread  [-- command …]
 *
 * The build goes to native/build-<sanitizer>/proj_native.node (-O1 -g, frame pointers kept). First the thread pool
 * alone is stressed (native/test/pool-stress.cc, 200,000 jobs on 2 threads, built with the same sanitizer). Then
 * the command (by default the native conformance suite, `npx vitest run src/native`) runs with the runtime preloaded
 * into Node (LD_PRELOAD: Node itself is not instrumented), PROJ_NATIVE_ADDON pointing at the build,
 * PROJ_REQUIRE_NATIVE=1, and PROJ_SKIP_WEBGPU=1 (Dawn's Vulkan driver does not start under the preloaded runtime).
 * The exit status is the command's; a sanitizer report goes to stderr and, with exitcode=66, fails the command.
 *
 * What each catches here: `address` — a kernel reading or writing outside the native buffers it allocates
 * (scratch, packed weights), use after free. It cannot see past the end of a tensor inside the wasm heap (one big
 * buffer to it); the TypeScript side checks those extents before every call. `thread` — data races between the
 * pool's threads in our code. Expect the RSS check of the leak test to fail under `address` (its quarantine holds
 * freed memory); nothing else should.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findNodeDir } from "./install.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const SANITIZERS = {
  address: { runtime: "libasan.so", options: ["ASAN_OPTIONS", "detect_leaks=0:exitcode=66"] },
  thread: { runtime: "libtsan.so", options: ["TSAN_OPTIONS", "exitcode=66:report_signal_unsafe=0"] },
};

const argv = process.argv.slice(2);
const split = argv.indexOf("--");
const [sanitizer = "address"] = split < 0 ? argv : argv.slice(0, split);
const command = split < 0 ? ["npx", "vitest", "run", "src/native"] : argv.slice(split + 1);
const spec = SANITIZERS[sanitizer];
if (spec === undefined) {
  console.error(`sanitize: unknown sanitizer "${sanitizer}" (one of ${Object.keys(SANITIZERS).join(", ")})`);
  process.exit(2);
}
if (process.platform !== "linux") {
  console.error(`sanitize: needs Linux and g++ (this is ${process.platform})`);
  process.exit(2);
}

const nodeDir = findNodeDir();
if (nodeDir === undefined) {
  console.error("sanitize: Node's headers (include/node/node_api.h) not found (npm_config_nodedir, beside the node binary, /usr, /usr/local)");
  process.exit(2);
}
const nodeInclude = join(nodeDir, "include/node");
const runtime = spawnSync("g++", [`-print-file-name=${spec.runtime}`], { encoding: "utf8" }).stdout?.trim();
if (!runtime || !existsSync(runtime)) {
  console.error(`sanitize: g++ has no ${spec.runtime} (install g++ and its sanitizer runtimes)`);
  process.exit(2);
}

const out = join(here, `build-${sanitizer}`);
mkdirSync(out, { recursive: true });
const addon = join(out, "proj_native.node");
const sources = readdirSync(join(here, "src")).filter((f) => f.endsWith(".cc") && f !== "cuda-addon.cc").map((f) => join(here, "src", f));
const flags = ["-std=c++17", "-fexceptions", "-O1", "-g", "-fno-omit-frame-pointer", `-fsanitize=${sanitizer}`, "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC", "-pthread", `-I${nodeInclude}`];
console.log(`sanitize: building ${addon} (${sanitizer}, ${sources.length} sources)…`);
const started = Date.now();
const build = spawnSync("g++", [...flags, ...sources, "-o", addon], { stdio: "inherit" });
if (build.status !== 0) {
  console.error(`sanitize: the ${sanitizer} build failed (g++ exit ${build.status})`);
  process.exit(1);
}
// The thread pool alone first (native/test/pool-stress.cc): a quick, focused check of its protocol.
const poolStress = join(out, "pool-stress");
const poolBuild = spawnSync("g++", [...flags.filter((f) => f !== "-shared" && f !== "-fPIC"), join(here, "test/pool-stress.cc"), join(here, "src/thread-pool.cc"), "-o", poolStress], { stdio: "inherit" });
if (poolBuild.status !== 0) {
  console.error(`sanitize: the ${sanitizer} build of test/pool-stress.cc failed (g++ exit ${poolBuild.status})`);
  process.exit(1);
}
const poolRun = spawnSync(poolStress, ["200000", "2"], { stdio: "inherit", env: { ...process.env, [spec.options[0]]: spec.options[1] } });
if (poolRun.status !== 0) {
  console.error(`sanitize: pool-stress failed under ${sanitizer} (exit ${poolRun.status})`);
  process.exit(1);
}
console.log(`sanitize: built and pool-stressed in ${((Date.now() - started) / 1000).toFixed(0)} s; running ${command.join(" ")}`);
const env = {
  ...process.env,
  LD_PRELOAD: [runtime, process.env.LD_PRELOAD].filter(Boolean).join(":"),
  [spec.options[0]]: [spec.options[1], process.env[spec.options[0]]].filter(Boolean).join(":"),
  PROJ_NATIVE_ADDON: addon,
  PROJ_REQUIRE_NATIVE: "1",
  PROJ_SKIP_WEBGPU: "1",
};
const run = spawnSync(command[0], command.slice(1), { stdio: "inherit", env, cwd: process.cwd() });
process.exit(run.status ?? 1);
