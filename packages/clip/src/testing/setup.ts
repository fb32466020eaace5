/** vitest setup: fail any test during which the WebGPU device reported an error (a WGSL compile error, say). */
import { afterEach, expect } from "vitest";
import { takeWebGpuErrors } from "./backends.js";

afterEach(async () => {
  await new Promise((resolve) => setTimeout(resolve, 0)); // errors arrive asynchronously from the device
  expect(takeWebGpuErrors(), "WebGPU device errors").toEqual([]);
});
