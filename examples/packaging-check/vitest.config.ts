import { defineConfig } from "vitest/config";

// One test that packs, installs and runs four packages: minutes on a loaded 2-core machine, not seconds.
export default defineConfig({
  test: { include: ["src/**/*.test.ts"], testTimeout: 240_000, hookTimeout: 240_000 },
});
