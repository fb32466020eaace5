/**
 * Evaluation metrics on plain arrays (no tensors, so each can be checked by hand): cosine similarity matrices,
 * prompt ensembling, top-k accuracy, retrieval recall@k with several relevant candidates, R-precision, and the chance
 * level of each.
 *
 * Ranks count ties against the query: a relevant candidate is at rank r when r non-relevant candidates score at least
 * as high as the best relevant one. A model whose scores are all equal (a constant embedding) therefore scores 0, never
 * a flattering 100%.
 */

/** A row-major matrix [rows, cols]. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

export function matrix(data: Float32Array | readonly number[], rows: number, cols: number): Matrix {
  if (data.length !== rows * cols) throw new RangeError(`matrix: ${data.length} values do not fill [${rows}, ${cols}]`);
  return { data: data instanceof Float32Array ? data : Float32Array.from(data), rows, cols };
}

/** Rows divided by their L2 norm (a zero row stays zero). */
export function normalizeRows(m: Matrix): Matrix {
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < m.rows; i++) {
    let sum = 0;
    for (let j = 0; j < m.cols; j++) sum += m.data[i * m.cols + j]! ** 2;
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let j = 0; j < m.cols; j++) out[i * m.cols + j] = m.data[i * m.cols + j]! * scale;
  }
  return { data: out, rows: m.rows, cols: m.cols };
}

/** cos(a_i, b_j) for every pair: [A, E] × [B, E] → [A, B]. */
export function cosineMatrix(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.cols) throw new RangeError(`cosineMatrix: widths ${a.cols} and ${b.cols} differ`);
  const an = normalizeRows(a).data, bn = normalizeRows(b).data;
  const E = a.cols;
  const out = new Float32Array(a.rows * b.rows);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < b.rows; j++) {
      let dot = 0;
      for (let e = 0; e < E; e++) dot += an[i * E + e]! * bn[j * E + e]!;
      out[i * b.rows + j] = dot;
    }
  }
  return { data: out, rows: a.rows, cols: b.rows };
}

/** cos(a_i, b_i) row by row: [N, E] × [N, E] → [N]. */
export function rowCosines(a: Matrix, b: Matrix): Float32Array {
  if (a.rows !== b.rows || a.cols !== b.cols) throw new RangeError(`rowCosines: [${a.rows}, ${a.cols}] and [${b.rows}, ${b.cols}] differ`);
  const an = normalizeRows(a).data, bn = normalizeRows(b).data;
  const out = new Float32Array(a.rows);
  for (let i = 0; i < a.rows; i++) {
    let dot = 0;
    for (let e = 0; e < a.cols; e++) dot += an[i * a.cols + e]! * bn[i * a.cols + e]!;
    out[i] = dot;
  }
  return out;
}

/** The mean of the entries off the diagonal of a square matrix (e.g. the mean cosine between distinct images). */
export function meanOffDiagonal(m: Matrix): number {
  if (m.rows !== m.cols || m.rows < 2) throw new RangeError(`meanOffDiagonal: needs a square matrix of side ≥ 2, got [${m.rows}, ${m.cols}]`);
  let sum = 0;
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) if (i !== j) sum += m.data[i * m.cols + j]!;
  return sum / (m.rows * (m.rows - 1));
}

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return values.length === 0 ? NaN : sum / values.length;
}

/**
 * Prompt ensembling (CLIP §3.1.4): rows of `embeddings` grouped by `groups` (group g = the rows with groups[i] = g,
 * groups 0 … G−1, each non-empty) → [G, E], each the normalised mean of its normalised rows.
 */
export function ensembleRows(embeddings: Matrix, groups: ArrayLike<number>, groupCount: number): Matrix {
  if (groups.length !== embeddings.rows) throw new RangeError(`ensembleRows: ${groups.length} group ids for ${embeddings.rows} rows`);
  const normalised = normalizeRows(embeddings).data;
  const E = embeddings.cols;
  const sums = new Float32Array(groupCount * E);
  const counts = new Int32Array(groupCount);
  for (let i = 0; i < embeddings.rows; i++) {
    const g = groups[i]!;
    if (!(g >= 0 && g < groupCount)) throw new RangeError(`ensembleRows: group ${g} of row ${i} is outside [0, ${groupCount})`);
    counts[g]!++;
    for (let e = 0; e < E; e++) sums[g * E + e]! += normalised[i * E + e]!;
  }
  const empty = counts.findIndex((c) => c === 0);
  if (empty >= 0) throw new RangeError(`ensembleRows: group ${empty} has no rows`);
  return normalizeRows({ data: sums, rows: groupCount, cols: E });
}

/**
 * For each query (row of `scores` [Q, C]): the rank (0-based) of its best relevant candidate — the number of
 * non-relevant candidates scoring at least as high. Candidate j is relevant to query q when
 * candidateLabels[j] === queryLabels[q]; a query with no relevant candidate gets rank C (never a hit).
 */
export function ranksOfRelevant(scores: Matrix, queryLabels: ArrayLike<number>, candidateLabels: ArrayLike<number>): Int32Array {
  if (queryLabels.length !== scores.rows || candidateLabels.length !== scores.cols) {
    throw new RangeError(`ranksOfRelevant: ${queryLabels.length} query and ${candidateLabels.length} candidate labels for scores [${scores.rows}, ${scores.cols}]`);
  }
  const ranks = new Int32Array(scores.rows);
  for (let q = 0; q < scores.rows; q++) {
    const row = scores.data.subarray(q * scores.cols, (q + 1) * scores.cols);
    let best = -Infinity, found = false;
    for (let j = 0; j < row.length; j++) {
      if (candidateLabels[j] === queryLabels[q] && (!found || row[j]! > best)) {
        best = row[j]!;
        found = true;
      }
    }
    if (!found) {
      ranks[q] = scores.cols;
      continue;
    }
    let rank = 0;
    for (let j = 0; j < row.length; j++) if (candidateLabels[j] !== queryLabels[q] && !(row[j]! < best)) rank++;
    ranks[q] = rank;
  }
  return ranks;
}

/** The fraction of queries whose best relevant candidate ranks in the top k (see `ranksOfRelevant`). */
export function recallAtK(scores: Matrix, queryLabels: ArrayLike<number>, candidateLabels: ArrayLike<number>, k: number): number {
  return hitRate(ranksOfRelevant(scores, queryLabels, candidateLabels), k);
}

/** The fraction of ranks below k. */
export function hitRate(ranks: ArrayLike<number>, k: number): number {
  if (!(Number.isInteger(k) && k > 0)) throw new RangeError(`hitRate: k must be a positive integer, got ${k}`);
  let hits = 0;
  for (let i = 0; i < ranks.length; i++) if (ranks[i]! < k) hits++;
  return ranks.length === 0 ? NaN : hits / ranks.length;
}

/** Classification: scores [N, L] of N examples over L labels, truth[n] ∈ [0, L) → top-k accuracy. */
export function topKAccuracy(scores: Matrix, truth: ArrayLike<number>, k: number): number {
  const labels = Int32Array.from({ length: scores.cols }, (_, l) => l);
  return recallAtK(scores, truth, labels, k);
}

/**
 * Chance of a hit in the top k when `relevant` of `candidates` are relevant and the order is random:
 * 1 − C(candidates − relevant, k) / C(candidates, k). One relevant: k / candidates.
 */
export function chanceAtK(candidates: number, relevant: number, k: number): number {
  if (relevant <= 0) return 0;
  if (k >= candidates) return 1;
  let miss = 1;
  for (let i = 0; i < k; i++) miss *= Math.max(0, candidates - relevant - i) / (candidates - i);
  return 1 - miss;
}

/**
 * R-precision candidates (as in AttnGAN's and DALL·E's text-to-image evaluation): for each of `queries` (indices
 * into a pool of `poolSize` captions) the query itself first, then `distractors` other pool entries drawn without
 * replacement with `random`, none with the query's label (labels[i] of pool entry i). → [queries.length][1 + distractors].
 */
export function rPrecisionCandidates(queries: readonly number[], labels: ArrayLike<number>, distractors: number, random: () => number): number[][] {
  return queries.map((q) => {
    const others: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] !== labels[q]) others.push(i);
    if (others.length < distractors) throw new RangeError(`rPrecisionCandidates: only ${others.length} captions differ from query ${q}, need ${distractors}`);
    // Partial Fisher–Yates: the first `distractors` entries of a random permutation.
    for (let i = 0; i < distractors; i++) {
      const j = i + Math.floor(random() * (others.length - i));
      [others[i], others[j]] = [others[j]!, others[i]!];
    }
    return [q, ...others.slice(0, distractors)];
  });
}

/**
 * R-precision with one relevant caption: scores [Q, 1 + D] with the query's own caption in column 0 → the fraction
 * of rows where it scores strictly above every distractor.
 */
export function rPrecision(scores: Matrix): number {
  return recallAtK(scores, new Int32Array(scores.rows), Int32Array.from({ length: scores.cols }, (_, j) => (j === 0 ? 0 : 1)), 1);
}

/** Strings → dense ids in order of first appearance, and the distinct strings. */
export function labelIds(values: readonly string[]): { ids: Int32Array; names: string[] } {
  const index = new Map<string, number>();
  const ids = Int32Array.from(values, (value) => {
    let id = index.get(value);
    if (id === undefined) index.set(value, (id = index.size));
    return id;
  });
  return { ids, names: [...index.keys()] };
}
