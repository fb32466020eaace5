import { describe, expect, it } from "vitest";
import * as api from "./index.js";

describe("@proj/tensor-kernels public surface", () => {
  it("exports nothing yet: the package is a skeleton (issue #4)", () => {
    // When the first real export lands, list every public name here so the surface stays pinned.
    expect(Object.keys(api).sort()).toEqual([]);
  });
});
