import { defineConfig } from "vitest/config";

// The browser test builds the app, then drives Chromium on SwiftShader WebGPU (slow): minutes, not seconds.
export default defineConfig({
  test: { include: ["src/**/*.test.ts"], testTimeout: 300_000, hookTimeout: 300_000 },
});
