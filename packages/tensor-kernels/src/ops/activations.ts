/**
 * The activations our fused kernels apply in their epilogues, in three forms that must agree:
 *   - tfjs compositions (`quickGelu`, `gelu`, `silu` and their derivatives `…Derivative`), used by the plain
 *     fallback compositions and by the gradients;
 *   - host scalars (`quickGeluScalar`, …), used by the cpu/wasm epilogues and by the float64 test references;
 *   - WGSL (`activationWgsl`), baked into WebGPU programs.
 *
 *   quickGelu(x) = x·σ(1.702x)                 (CLIP's QuickGELU: `x * torch.sigmoid(1.702 * x)`)
 *   gelu(x)      = x·Φ(x) = ½x·(1 + erf(x/√2))  (the exact erf form: PyTorch `nn.GELU()` with approximate="none")
 *   silu(x)      = x·σ(x)                      (Elfwing et al. 2018; `nn.SiLU`)
 * with σ the logistic sigmoid, Φ the standard normal CDF and φ(x) = exp(−x²/2)/√(2π) its density:
 *   quickGelu'(x) = s + 1.702·x·s·(1 − s),  s = σ(1.702x)
 *   gelu'(x)      = Φ(x) + x·φ(x)
 *   silu'(x)      = s·(1 + x·(1 − s)),      s = σ(x)
 */
import { add, erf as erfOp, exp, mul, neg, sigmoid, square, sub, tidy } from "@tensorflow/tfjs-core";
import type { Tensor } from "@tensorflow/tfjs-core";

export const ACTIVATIONS = ["quickGelu", "gelu", "silu"] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export function isActivation(value: unknown): value is Activation {
  return typeof value === "string" && (ACTIVATIONS as readonly string[]).includes(value);
}

/** CLIP's QuickGELU slope. */
export const QUICK_GELU_ALPHA = 1.702;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

// ---------------------------------------------------------------------------------------------------------------
// tfjs compositions

export function quickGelu(x: Tensor): Tensor {
  return tidy(() => mul(x, sigmoid(mul(x, QUICK_GELU_ALPHA))));
}

export function gelu(x: Tensor): Tensor {
  return tidy(() => mul(mul(x, 0.5), add(1, erfOp(mul(x, Math.SQRT1_2)))));
}

export function silu(x: Tensor): Tensor {
  return tidy(() => mul(x, sigmoid(x)));
}

export function quickGeluDerivative(x: Tensor): Tensor {
  return tidy(() => {
    const s = sigmoid(mul(x, QUICK_GELU_ALPHA));
    return add(s, mul(mul(x, QUICK_GELU_ALPHA), mul(s, sub(1, s))));
  });
}

export function geluDerivative(x: Tensor): Tensor {
  return tidy(() => {
    const cdf = mul(add(1, erfOp(mul(x, Math.SQRT1_2))), 0.5); // Φ(x)
    const pdf = mul(exp(mul(neg(square(x)), 0.5)), INV_SQRT_2PI); // φ(x)
    return add(cdf, mul(x, pdf));
  });
}

export function siluDerivative(x: Tensor): Tensor {
  return tidy(() => {
    const s = sigmoid(x);
    return mul(s, add(1, mul(x, sub(1, s))));
  });
}

/** act(x) as a tfjs composition; `"none"` returns x itself (not a copy). */
export function applyActivation(x: Tensor, activation: Activation | "none"): Tensor {
  switch (activation) {
    case "none":
      return x;
    case "quickGelu":
      return quickGelu(x);
    case "gelu":
      return gelu(x);
    case "silu":
      return silu(x);
  }
}

/** act'(x) as a tfjs composition (not called for `"none"`, whose derivative is 1). */
export function activationDerivative(x: Tensor, activation: Activation): Tensor {
  switch (activation) {
    case "quickGelu":
      return quickGeluDerivative(x);
    case "gelu":
      return geluDerivative(x);
    case "silu":
      return siluDerivative(x);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Host scalars (float64)

/**
 * Chebyshev coefficients c₀…c₁₇ (c₀ already halved) of g(t) = ln(erfc(x)/t) + x² on t = 1/(1 + x/2) ∈ (0, 1],
 * in the variable s = 2t − 1, so that for x ≥ 0
 *   erfc(x) = t·exp(−x² + Σ cⱼ Tⱼ(s))
 * (the form of Numerical Recipes 3rd ed. §6.2.2, `Erf::erfccheb`; coefficients computed afresh). An error δ in g is
 * a relative error δ in erfc, so the absolute error of erf = 1 − erfc is at most δ. Truncated after c₁₇ (|c₁₈| ≈
 * 6.9e-12): the worst absolute error of `erf` in float64 is 5.8e-12 (at x = 0), measured against mpmath on 36,000
 * points of [−8, 8]; the test pins it below 1e-10 at tabulated values. In f32 (WGSL, and the SIMD module of the
 * wasm kernel, which stops at c₁₁) the same sum is exact to f32 rounding.
 *
 * Generator (Python, mpmath, 40 digits; N = 64 Chebyshev nodes):
 *   g = lambda t: -log(2*sqrt(pi)) if t == 0 else log(erfc(2/t - 2)/t) + (2/t - 2)**2
 *   s_k = cos(pi*(k + 1/2)/N);  c_j = 2/N * sum_k g((s_k + 1)/2) * cos(pi*j*(k + 1/2)/N);  c_0 /= 2
 */
export const ERF_CHEBYSHEV: readonly number[] = [
  -0.6513268598908547, 0.6419697923564902, 0.019476473204185836, -0.009561514786808632, -0.0009465953444820369,
  0.00036683949785276145, 4.252332480690777e-5, -2.0278578112534242e-5, -1.6242900046470256e-6,
  1.3036558355805232e-6, 1.5626441722066142e-8, -8.523809591492654e-8, 6.5290544390988515e-9, 5.059343495551469e-9,
  -9.91364156493033e-10, -2.273651222931836e-10, 9.646791102015527e-11, 2.3940380830391146e-12,
];

const C = Float64Array.from(ERF_CHEBYSHEV);
const LAST = C.length - 1;

/** The error function to ≤ 1e-10 absolute (5.8e-12 measured); JS has no Math.erf. */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const s = 2 * t - 1;
  const s2 = 2 * s;
  // Clenshaw's recurrence for Σ_{j≥1} cⱼ Tⱼ(s) = s·b₁ − b₂.
  let b1 = 0;
  let b2 = 0;
  for (let j = LAST; j > 0; j--) {
    const b = C[j]! + s2 * b1 - b2;
    b2 = b1;
    b1 = b;
  }
  const erfc = t * Math.exp(-z * z + C[0]! + s * b1 - b2);
  return x < 0 ? erfc - 1 : 1 - erfc;
}

export function sigmoidScalar(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function quickGeluScalar(x: number): number {
  return x / (1 + Math.exp(-QUICK_GELU_ALPHA * x));
}

export function geluScalar(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

export function siluScalar(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function quickGeluDerivativeScalar(x: number): number {
  const s = sigmoidScalar(QUICK_GELU_ALPHA * x);
  return s + QUICK_GELU_ALPHA * x * s * (1 - s);
}

export function geluDerivativeScalar(x: number): number {
  return 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

export function siluDerivativeScalar(x: number): number {
  const s = sigmoidScalar(x);
  return s * (1 + x * (1 - s));
}

/** The host scalar of `activation` (identity for `"none"`). */
export function activationScalar(activation: Activation | "none"): (x: number) => number {
  switch (activation) {
    case "none":
      return (x) => x;
    case "quickGelu":
      return quickGeluScalar;
    case "gelu":
      return geluScalar;
    case "silu":
      return siluScalar;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// WGSL

/** A JS number as a WGSL float literal (always with a `.` or exponent, so it is not an integer). */
function wgslFloat(v: number): string {
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/**
 * WGSL of `fn erfcApprox(a : f32) -> f32` for a ≥ 0: the same Chebyshev sum as `erf`, unrolled, in f32.
 * erfc rather than erf so that gelu can avoid the cancellation in 1 + erf(x) for negative x.
 */
export function erfcWgsl(): string {
  const steps = [];
  for (let j = LAST; j > 0; j--) steps.push(`  b = ${wgslFloat(C[j]!)} + s2 * b1 - b2; b2 = b1; b1 = b;`);
  return `
fn erfcApprox(a : f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * a);
  let s = 2.0 * t - 1.0;
  let s2 = 2.0 * s;
  var b1 = 0.0;
  var b2 = 0.0;
  var b = 0.0;
${steps.join("\n")}
  return t * exp(-a * a + ${wgslFloat(C[0]!)} + s * b1 - b2);
}`;
}

/**
 * WGSL of `fn activate(v : f32) -> f32` for `activation` (plus `erfcApprox` for gelu). The result is a constant of
 * the program, so callers must put `activation` in their shaderKey.
 */
export function activationWgsl(activation: Activation | "none"): string {
  switch (activation) {
    case "none":
      return `fn activate(v : f32) -> f32 { return v; }`;
    case "quickGelu":
      return `fn activate(v : f32) -> f32 { return v / (1.0 + exp(${wgslFloat(-QUICK_GELU_ALPHA)} * v)); }`;
    case "gelu":
      // ½v(1 + erf(v/√2)) = v − h for v ≥ 0 and h for v < 0, with h = ½v·erfc(|v|/√2): no cancellation.
      return `${erfcWgsl()}
fn activate(v : f32) -> f32 {
  let h = 0.5 * v * erfcApprox(abs(v) * ${wgslFloat(Math.SQRT1_2)});
  return select(h, v - h, v >= 0.0);
}`;
    case "silu":
      return `fn activate(v : f32) -> f32 { return v / (1.0 + exp(-v)); }`;
  }
}
