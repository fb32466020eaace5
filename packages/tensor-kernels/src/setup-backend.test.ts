import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { nativeAvailable, nativeUnavailableReason } from "./native/index.js";
import { setupBackend } from "./setup-backend.js";

describe("setupBackend", () => {
  it("defaults to native in Node when the addon is built, else wasm, and says so", async () => {
    const skipped: string[] = [];
    const expected = nativeAvailable ? "native" : "wasm";
    expect(await setupBackend(undefined, { onSkip: (b, why) => skipped.push(`${b}: ${why}`) })).toBe(expected);
    expect(tf.getBackend()).toBe(expected);
    expect(skipped).toEqual(nativeAvailable ? [] : [`native: ${nativeUnavailableReason()}`]);
  });

  it("picks wasm when asked for it", async () => {
    expect(await setupBackend("wasm")).toBe("wasm");
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
