/**
 * The addon's thread pool on its own, under ThreadSanitizer: native/test/pool-stress.cc (many back-to-back jobs of
 * 1–64 tasks, workers restarted now and then) built with g++ -fsanitize=thread and run for 100,000 jobs on 2 and 3
 * threads. It must report no data race and no wrong task slot. This is the regression test of the pool's
 * job-setup race (a worker could claim a task of a job still being set up; issue 6's crashes), which TSan reported
 * on every run of the old pool (5–6 races per 200,000 jobs) while a plain build almost never shows it.
 *
 * Needs g++ and its libtsan (Debian's g++ has both); without them it is skipped, saying so.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const nativeDir = fileURLToPath(new URL("../../native/", import.meta.url));
const tsanRuntime = spawnSync("g++", ["-print-file-name=libtsan.so"], { encoding: "utf8" });
const hasTsan = tsanRuntime.status === 0 && tsanRuntime.stdout.trim().startsWith("/") && process.platform === "linux";
const reason = hasTsan ? "" : " (skipped: needs Linux, g++ and libtsan to build the pool under ThreadSanitizer)";

describe(`the native thread pool under ThreadSanitizer${reason}`, () => {
  const dir = mkdtempSync(join(tmpdir(), "pool-stress-"));
  const binary = join(dir, "pool-stress");
  beforeAll(() => {
    if (!hasTsan) return;
    const build = spawnSync("g++", ["-std=c++17", "-O1", "-g", "-fsanitize=thread", "-pthread", join(nativeDir, "test/pool-stress.cc"), join(nativeDir, "src/thread-pool.cc"), "-o", binary], { encoding: "utf8" });
    if (build.status !== 0) throw new Error(`g++ could not build native/test/pool-stress.cc under -fsanitize=thread:\n${build.stderr}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(!hasTsan).each([2, 3])("runs 100,000 jobs on %i threads without a race or a wrong task", (threads) => {
    const run = spawnSync(binary, ["100000", String(threads)], { encoding: "utf8", env: { ...process.env, TSAN_OPTIONS: "exitcode=66" } });
    const races = (run.stderr.match(/WARNING: ThreadSanitizer/g) ?? []).length;
    expect(races, run.stderr.slice(0, 4000)).toBe(0);
    expect(run.stdout).toContain(`100000 jobs on ${threads} threads, 0 wrong slots`);
    expect(run.status).toBe(0);
  });
});
