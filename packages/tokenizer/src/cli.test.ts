import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The CLI is tested as users run it: the built bin (turbo builds before testing).
const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const run = (args: string[], input?: string) => execFileSync("node", [cli, ...args], { encoding: "utf8", input });

describe("proj-tokenize", () => {
  it("is built", () => expect(existsSync(cli), `${cli} is missing: run \`npm run build\` first`).toBe(true));

  it("prints ids and tokens of each argument", () => {
    expect(run(["a photo of a cat"])).toBe(
      'text:   "a photo of a cat"\nids:    [320, 1125, 539, 320, 2368]\ntokens: ["a</w>", "photo</w>", "of</w>", "a</w>", "cat</w>"]\n',
    );
  });

  it("reads lines from stdin and prints JSON", () => {
    const out = run(["--json"], "a cat\na dog\n").trim().split("\n").map((l) => JSON.parse(l) as { ids: number[] });
    expect(out.map((o) => o.ids)).toEqual([[320, 2368], [320, 1929]]);
  });

  it("prints clip.tokenize rows and decodes ids", () => {
    expect(run(["--rows", "--context-length", "6", "a cat"])).toContain("row:    [49406, 320, 2368, 49407, 0, 0]");
    expect(run(["--decode", "320", "1125", "539"])).toBe("a photo of \n");
  });

  it("fails with a clear message and exit code 2 on bad input", () => {
    const tooLong = spawnSync("node", [cli, "--rows", "--context-length", "3", "a photo of a cat"], { encoding: "utf8" });
    expect(tooLong.status).toBe(2);
    expect(tooLong.stderr).toContain("too long for context length 3");
    const badFile = spawnSync("node", [cli, "--bpe", "/nonexistent/vocab.txt.gz", "x"], { encoding: "utf8" });
    expect(badFile.status).toBe(2);
    expect(badFile.stderr).toContain("cannot read /nonexistent/vocab.txt.gz");
    const badOption = spawnSync("node", [cli, "--frobnicate"], { encoding: "utf8" });
    expect(badOption.status).toBe(2);
    expect(badOption.stderr).toContain("--frobnicate");
  });
});
