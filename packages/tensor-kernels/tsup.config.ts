import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", register: "src/register.ts", native: "src/native/index.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  // One copy of each module across the three entries (index, register, native): the native entry registers hooks
  // (e.g. the in-place AdamW update) into modules the index entry uses.
  splitting: true,
});
