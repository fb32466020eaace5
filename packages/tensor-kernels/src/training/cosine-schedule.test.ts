import { describe, expect, it } from "vitest";
import { cosineSchedule } from "./cosine-schedule.js";

describe("cosineSchedule", () => {
  it("warms up linearly, then follows half a cosine from peak to floor", () => {
    const lr = cosineSchedule({ warmupSteps: 4, totalSteps: 14, peak: 1e-3, floor: 1e-5 });
    expect([0, 1, 2, 3].map(lr)).toEqual([0.25e-3, 0.5e-3, 0.75e-3, 1e-3]);
    expect(lr(4)).toBeCloseTo(1e-3, 12);
    expect(lr(9)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), 12); // halfway: cos(π/2) = 0
    expect(lr(13)).toBeCloseTo(1e-5 + 0.5 * (1 + Math.cos((Math.PI * 9) / 10)) * (1e-3 - 1e-5), 12);
    expect(lr(14)).toBe(1e-5);
    expect(lr(1000)).toBe(1e-5);
    for (let s = 4; s < 14; s++) expect(lr(s + 1)).toBeLessThanOrEqual(lr(s));
  });

  it("without warm-up starts at the peak; rejects bad options", () => {
    expect(cosineSchedule({ warmupSteps: 0, totalSteps: 10, peak: 2 })(0)).toBe(2);
    expect(() => cosineSchedule({ warmupSteps: 10, totalSteps: 10, peak: 1 })).toThrow(/totalSteps/);
    expect(() => cosineSchedule({ warmupSteps: 0, totalSteps: 10, peak: 1, floor: 2 })).toThrow(/floor/);
    expect(() => cosineSchedule({ warmupSteps: 0, totalSteps: 10, peak: 1 })(-1)).toThrow(/step/);
  });
});
