import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// The public entry must bundle for browsers: no Node built-in may be reachable from it (the CLI is separate).
describe("browser bundle", () => {
  it("bundles src/index.ts for the browser without any Node-only module", async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL("./index.ts", import.meta.url))],
      bundle: true,
      platform: "browser",
      format: "esm",
      splitting: true,
      outdir: "/tmp/proj-tokenizer-browser-check",
      write: false,
      metafile: true,
      loader: { ".gz": "binary" },
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => p.startsWith("node:") || /(^|\/)(fs|path|url|util|readline|child_process)$/.test(p))).toEqual([]);
    expect(inputs.some((p) => p.endsWith("bpe_simple_vocab_16e6.txt.gz"))).toBe(true);
    // The vocabulary is a separate chunk, loaded only by ClipTokenizer.load().
    const entry = result.outputFiles.find((f) => /index\.js$/.test(f.path))!;
    expect(entry.contents.length).toBeLessThan(200_000);
  });
});
