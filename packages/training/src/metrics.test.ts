import { describe, expect, it } from "vitest";
import {
  chanceAtK,
  cosineMatrix,
  ensembleRows,
  hitRate,
  labelIds,
  matrix,
  meanOffDiagonal,
  ranksOfRelevant,
  recallAtK,
  rowCosines,
  rPrecision,
  rPrecisionCandidates,
  topKAccuracy,
} from "./metrics.js";

describe("cosine similarity", () => {
  it("matrix of every pair, independent of the rows' lengths", () => {
    const a = matrix([1, 0, 0, 2, 3, 4], 3, 2); // (1,0), (0,2), (3,4)
    const b = matrix([2, 0, 1, 1], 2, 2); // (2,0), (1,1)
    const c = cosineMatrix(a, b);
    expect([c.rows, c.cols]).toEqual([3, 2]);
    const s = Math.SQRT1_2;
    const expected = [1, s, 0, s, 0.6, 0.7 * Math.SQRT2]; // (3,4)·(1,1)/(5·√2) = 7/(5√2)
    expect(Array.from(c.data).map((v, i) => v - expected[i]!).every((d) => Math.abs(d) < 1e-6)).toBe(true);
  });

  it("row by row, and the mean off the diagonal", () => {
    expect(Array.from(rowCosines(matrix([1, 0, 0, 1], 2, 2), matrix([1, 1, 0, -3], 2, 2)))).toEqual([expect.closeTo(Math.SQRT1_2, 6), expect.closeTo(-1, 6)]);
    // [[1, .5, .2], [.5, 1, -.2], [.2, -.2, 1]] → off-diagonal (2·.5 + 2·.2 − 2·.2) / 6 = 1/6
    expect(meanOffDiagonal(matrix([1, 0.5, 0.2, 0.5, 1, -0.2, 0.2, -0.2, 1], 3, 3))).toBeCloseTo(1 / 6, 6);
  });

  it("ensembling averages the normalised rows of each group, then normalises", () => {
    // group 0: (3,0) and (0,5) → (1,0) + (0,1) → (1,1)/√2; group 1: (0,−2) → (0,−1)
    const ensembled = ensembleRows(matrix([3, 0, 0, -2, 0, 5], 3, 2), [0, 1, 0], 2);
    expect(Array.from(ensembled.data)).toEqual([expect.closeTo(Math.SQRT1_2, 6), expect.closeTo(Math.SQRT1_2, 6), 0, -1]);
    expect(() => ensembleRows(matrix([1, 0], 1, 2), [0], 2)).toThrow(/group 1 has no rows/);
  });
});

describe("ranks, top-k and recall@k", () => {
  // 3 queries × 4 candidates
  const scores = matrix(
    [
      0.9, 0.1, 0.5, 0.3, // q0: relevant = candidate 0 → rank 0
      0.2, 0.8, 0.7, 0.1, // q1: relevant = candidate 2 → rank 1 (candidate 1 beats it)
      0.4, 0.4, 0.4, 0.1, // q2: relevant = candidate 1, tied with 0 and 2 → rank 2 (ties count against)
    ],
    3,
    4,
  );

  it("top-k accuracy over labels", () => {
    const truth = [0, 2, 1];
    expect(Array.from(ranksOfRelevant(scores, truth, [0, 1, 2, 3]))).toEqual([0, 1, 2]);
    expect(topKAccuracy(scores, truth, 1)).toBeCloseTo(1 / 3, 6);
    expect(topKAccuracy(scores, truth, 2)).toBeCloseTo(2 / 3, 6);
    expect(topKAccuracy(scores, truth, 3)).toBe(1);
  });

  it("with several relevant candidates the best one counts, and the other relevant ones are not in the way", () => {
    // candidate labels: 0 and 2 are both label 7, 1 is 8, 3 is 9
    const candidates = [7, 8, 7, 9];
    // q0 (label 7): best relevant 0.9 → rank 0; q1 (label 7): best relevant 0.7 (cand 2), beaten by 0.8 → rank 1;
    // q2 (label 9): cand 3 at 0.1, three above it → rank 3; a label nobody has → rank 4 (= C, never a hit).
    expect(Array.from(ranksOfRelevant(scores, [7, 7, 9], candidates))).toEqual([0, 1, 3]);
    expect(recallAtK(scores, [7, 7, 9], candidates, 1)).toBeCloseTo(1 / 3, 6);
    expect(recallAtK(scores, [7, 7, 9], candidates, 2)).toBeCloseTo(2 / 3, 6);
    expect(Array.from(ranksOfRelevant(scores, [7, 7, 5], candidates))[2]).toBe(4);
  });

  it("a constant scorer never hits, and k must be a positive integer", () => {
    const flat = matrix(new Float32Array(6).fill(0.3), 2, 3);
    expect(topKAccuracy(flat, [0, 2], 1)).toBe(0);
    expect(topKAccuracy(flat, [0, 2], 3)).toBe(1);
    expect(() => hitRate([0], 0)).toThrow(/positive integer/);
  });

  it("chance: k / C for one relevant, 1 − C(C−r, k)/C(C, k) for r", () => {
    expect(chanceAtK(20, 1, 1)).toBeCloseTo(0.05, 9);
    expect(chanceAtK(100, 1, 5)).toBeCloseTo(0.05, 9);
    // 2 relevant of 4, top 2: miss = C(2,2)/C(4,2) = 1/6
    expect(chanceAtK(4, 2, 2)).toBeCloseTo(5 / 6, 9);
    expect(chanceAtK(4, 4, 1)).toBe(1);
    expect(chanceAtK(4, 1, 5)).toBe(1); // k beyond the candidates: always a hit
  });
});

describe("R-precision", () => {
  it("counts rows whose own caption (column 0) is strictly first", () => {
    const scores = matrix([0.9, 0.1, 0.2, 0.3, 0.5, 0.1, 0.7, 0.7, 0.2], 3, 3); // row 0 hit, row 1 miss
    // row 2: own 0.7, distractors 0.7 (tie: counts against) and 0.2 → miss
    expect(rPrecision(scores)).toBeCloseTo(1 / 3, 6);
  });

  it("draws distinct distractors of another label, the query first, reproducibly", () => {
    const labels = [0, 1, 0, 2, 3, 4]; // entry 2 shares query 0's label: never its distractor
    let state = 1;
    const random = () => ((state = (state * 16807) % 2147483647) / 2147483647);
    const [row] = rPrecisionCandidates([0], labels, 4, random);
    expect(row![0]).toBe(0);
    expect(new Set(row).size).toBe(5);
    expect([...row!.slice(1)].sort()).toEqual([1, 3, 4, 5]);
    expect(() => rPrecisionCandidates([0], labels, 5, random)).toThrow(/only 4 captions differ/);
  });

  it("labels strings in order of first appearance", () => {
    const { ids, names } = labelIds(["b", "a", "b", "c"]);
    expect(Array.from(ids)).toEqual([0, 1, 0, 2]);
    expect(names).toEqual(["b", "a", "c"]);
  });
});
