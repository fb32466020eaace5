import { defineConfig } from "tsup";

export default defineConfig({
  // The `proj-clip` bin (package.json "bin") is built beside the library; only the library has type declarations.
  // The data-parallel trainer's worker is an entry of its own: workers load it by URL next to the built code.
  entry: { index: "src/index.ts", cli: "src/cli.ts", "data-parallel-worker": "src/training/data-parallel-worker.ts" },
  format: ["esm"],
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  target: "es2022",
  // The CLI and the library share their code through chunks instead of each bundling a copy.
  splitting: true,
});
