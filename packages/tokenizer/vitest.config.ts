import { readFileSync } from "node:fs";
import { defineConfig, type Plugin } from "vitest/config";

/** Loads `*.gz` imports as a `Uint8Array`, as the tsup `binary` loader does in the build. */
function binaryGz(): Plugin {
  return {
    name: "binary-gz",
    enforce: "pre",
    load(id) {
      if (!id.endsWith(".gz")) return null;
      const base64 = readFileSync(id).toString("base64");
      return `export default Uint8Array.from(atob(${JSON.stringify(base64)}), (c) => c.charCodeAt(0));`;
    },
  };
}

export default defineConfig({
  plugins: [binaryGz()],
  test: { include: ["src/**/*.test.ts"], testTimeout: 60_000 },
});
