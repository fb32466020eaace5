import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", register: "src/register.ts", native: "src/native/index.ts" },
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
});
