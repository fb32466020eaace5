/** vitest setup: fail any test during which the WebGPU device reported an error (e.g. a WGSL compile error). */
import { afterEach, expect } from "vitest";
import { takeWebGpuErrors } from "./backends.js";

afterEach(async () => {
  // Errors arrive asynchronously from the device; give the queue a turn.
  await new Promise((resolve) => setTimeout(resolve, 0));
  expect(takeWebGpuErrors(), "WebGPU device errors").toEqual([]);
});
