import { defineConfig } from "vitest/config";

// End-to-end runs of the script in a child process (tsx start-up, wasm start-up, tiny models): tens of seconds.
export default defineConfig({
  test: { include: ["src/**/*.test.ts"], testTimeout: 240_000, hookTimeout: 240_000 },
});
