import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", cli: "src/cli.ts" },
  format: ["esm"],
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
  target: "es2022",
  splitting: true,
  // The default vocabulary (data/*.gz) is embedded as bytes in its own lazily imported chunk, so
  // `ClipTokenizer.load()` works unchanged in Node and in browsers without fs or fetch.
  loader: { ".gz": "binary" },
  esbuildOptions(options) {
    // The embedded vocabulary would otherwise be copied a second time into the source map.
    options.sourcesContent = false;
  },
});
