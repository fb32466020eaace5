import { defineConfig } from "vitest/config";

export default defineConfig({
  // Model tests run real forward/backward passes; on a loaded 2-core CI machine a few take more than vitest's 5 s.
  test: { include: ["src/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 },
});
