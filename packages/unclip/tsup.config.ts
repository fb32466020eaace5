import { defineConfig } from "tsup";

export default defineConfig({
  // The `proj-unclip` bin (package.json "bin") is built beside the library; only the library has type declarations.
  // `@proj/unclip/testing` (tiny random models for apps' tests) is an entry of its own, with its declarations.
  entry: { index: "src/index.ts", cli: "src/cli.ts", testing: "src/test-models.ts" },
  format: ["esm"],
  dts: { entry: { index: "src/index.ts", testing: "src/test-models.ts" } },
  sourcemap: true,
  clean: true,
  target: "es2022",
  // The CLI and the library share their code through chunks instead of each bundling a copy.
  splitting: true,
});
