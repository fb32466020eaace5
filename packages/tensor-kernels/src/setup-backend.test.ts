import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { setupBackend } from "./setup-backend.js";

describe("setupBackend", () => {
  it("defaults to wasm in Node and says so", async () => {
    expect(await setupBackend()).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
  });

  it("honours a preferred backend", async () => {
    expect(await setupBackend("cpu")).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
  });

  it("falls through an ordered list, reporting why each candidate was skipped", async () => {
    const skipped: string[] = [];
    const name = await setupBackend(["webgpu", "wasm"], { onSkip: (b, why) => skipped.push(`${b}: ${why}`) });
    expect(name).toBe("wasm");
    expect(skipped).toEqual(["webgpu: navigator.gpu is not available"]);
  });

  it("fails with every reason when nothing works", async () => {
    await expect(setupBackend(["tpu", "webgl"])).rejects.toThrow(
      'setupBackend: no backend could be initialised (tpu: no backend named "tpu" is registered; webgl: no backend named "webgl" is registered)',
    );
    await expect(setupBackend([])).rejects.toThrow("the list of preferred backends is empty");
  });
});
