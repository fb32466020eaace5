import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    setupFiles: ["src/testing/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One process at a time: the WebGPU device (SwiftShader) and the wasm heap are per process and heavy.
    fileParallelism: false,
  },
});
