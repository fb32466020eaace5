/**
 * Cosine learning-rate decay with linear warm-up (Loshchilov & Hutter 2017, SGDR, without restarts; as open_clip's
 * `cosine_lr`): a plain function of the step, no tensors.
 *
 *   step < warmupSteps:  peak · (step + 1) / warmupSteps
 *   otherwise:           floor + ½ (1 + cos(π · e / E)) · (peak − floor),  e = step − warmupSteps, E = totalSteps − warmupSteps
 *   step ≥ totalSteps:   floor
 */

export interface CosineScheduleOptions {
  /** Steps of linear warm-up from peak / warmupSteps to peak (0: none). */
  warmupSteps: number;
  /** Total training steps; the rate reaches `floor` here and stays there. */
  totalSteps: number;
  /** The learning rate at the end of warm-up. */
  peak: number;
  /** The final learning rate (default 0). */
  floor?: number;
}

/** Learning rate for step 0, 1, … (see the module comment). */
export function cosineSchedule(options: CosineScheduleOptions): (step: number) => number {
  const { warmupSteps, totalSteps, peak, floor = 0 } = options;
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new RangeError(`cosineSchedule: warmupSteps must be an integer ≥ 0, got ${warmupSteps}`);
  if (!Number.isInteger(totalSteps) || totalSteps <= warmupSteps) {
    throw new RangeError(`cosineSchedule: totalSteps must be an integer > warmupSteps (${warmupSteps}), got ${totalSteps}`);
  }
  if (!(Number.isFinite(peak) && peak >= 0)) throw new RangeError(`cosineSchedule: peak must be a finite number ≥ 0, got ${peak}`);
  if (!(Number.isFinite(floor) && floor >= 0 && floor <= peak)) throw new RangeError(`cosineSchedule: floor must be in [0, peak], got ${floor}`);
  const decaySteps = totalSteps - warmupSteps;
  return (step: number): number => {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`cosineSchedule: step must be an integer ≥ 0, got ${step}`);
    if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
    if (step >= totalSteps) return floor;
    const progress = (step - warmupSteps) / decaySteps;
    return floor + 0.5 * (1 + Math.cos(Math.PI * progress)) * (peak - floor);
  };
}
