#!/usr/bin/env python3
"""Writes the scheduler parity fixtures of @proj/unclip (packages/unclip/src/__fixtures__/schedulers/).

An independent numpy re-implementation of the float32 arithmetic of diffusers' DDPMScheduler and DDIMScheduler
(formulas read from huggingface/diffusers at 58eb52c0, src/diffusers/schedulers/scheduling_{ddpm,ddim}.py; torch and
diffusers are not needed). What it reproduces, and from where:

  - beta tables: torch.linspace(float32) on the CPU (float32 ends and step, first half counted from the start, second
    half from the end, each value rounded once), "scaled_linear" squared in float32, the cosine schedule of
    Nichol & Dhariwal 2021 in float64 capped at 0.999 and rounded to float32;
  - alphas = 1 - betas in float32; alphas_cumprod accumulated in float64 and rounded per entry (torch's CPU cumprod);
  - timesteps: the numpy expressions of `set_timesteps` (this part *is* numpy, so it is diffusers' own arithmetic);
  - step(): every 0-d tensor scalar as np.float32, every tensor op as a float32 array op, in diffusers' order.

The model outputs, initial samples and noises come from numpy's PCG64 with fixed seeds, so the files are byte-stable:
running this script again rewrites them identically.

    python3 tools/make_scheduler_fixtures.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

F = np.float32
OUT_DIR = Path(__file__).resolve().parent.parent / "packages/unclip/src/__fixtures__/schedulers"
GENERATOR = "tools/make_scheduler_fixtures.py (numpy re-implementation of diffusers 58eb52c0 scheduler math, float32)"
SHAPE = (2, 3, 2, 2)


# ---- tables -----------------------------------------------------------------------------------------------------


def torch_linspace_f32(start: float, end: float, steps: int) -> np.ndarray:
    s, e = F(start), F(end)
    if steps == 1:
        return np.array([s], dtype=F)
    step = F(F(e - s) / F(steps - 1))
    halfway = steps // 2
    out = np.empty(steps, dtype=F)
    for i in range(steps):
        # One rounding per value: the float64 product and sum of float32 operands are exact here.
        if i < halfway:
            out[i] = F(float(s) + float(step) * i)
        else:
            out[i] = F(float(e) - float(step) * (steps - i - 1))
    return out


def cosine_betas(n: int, max_beta: float = 0.999) -> np.ndarray:
    def alpha_bar(tau: float) -> float:
        c = math.cos((tau + 0.008) / 1.008 * math.pi / 2)
        return c * c

    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)]).astype(F)


def make_betas(cfg: dict) -> np.ndarray:
    n = cfg["numTrainTimesteps"]
    kind = cfg["betaSchedule"]
    if kind == "linear":
        return torch_linspace_f32(cfg["betaStart"], cfg["betaEnd"], n)
    if kind == "scaled_linear":
        r = torch_linspace_f32(cfg["betaStart"] ** 0.5, cfg["betaEnd"] ** 0.5, n)
        return (r * r).astype(F)
    if kind in ("squaredcos_cap_v2", "cosine"):
        return cosine_betas(n)
    raise ValueError(kind)


def make_tables(cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    betas = make_betas(cfg)
    alphas = (F(1) - betas).astype(F)
    alphas_cumprod = np.cumprod(alphas.astype(np.float64)).astype(F)
    return betas, alphas, alphas_cumprod


# ---- timesteps (diffusers' numpy expressions) -----------------------------------------------------------------------


def set_timesteps(spacing: str, T: int, n: int, offset: int = 0) -> np.ndarray:
    if spacing == "linspace":
        return np.linspace(0, T - 1, n).round()[::-1].copy().astype(np.int64)
    if spacing == "leading":
        ratio = T // n
        ts = (np.arange(0, n) * ratio).round()[::-1].copy().astype(np.int64)
        return ts + offset
    if spacing == "trailing":
        ratio = T / n
        return np.round(np.arange(T, 0, -ratio)).astype(np.int64) - 1
    raise ValueError(spacing)


# ---- steps ------------------------------------------------------------------------------------------------------


def pred_original(ptype: str, out: np.ndarray, x: np.ndarray, a: np.float32) -> np.ndarray:
    b = F(1 - a)
    if ptype == "epsilon":
        return (x - F(np.sqrt(b)) * out) / F(np.sqrt(a))
    if ptype == "v_prediction":
        return F(np.sqrt(a)) * x - F(np.sqrt(b)) * out
    if ptype == "sample":
        return out.copy()
    raise ValueError(ptype)


def ddpm_step(cfg, ac, timesteps, n_inf, out, t, x, noise):
    if n_inf is None:
        prev_t = t - 1
    else:
        idx = list(timesteps).index(t)
        prev_t = -1 if idx == len(timesteps) - 1 else int(timesteps[idx + 1])
    a = ac[t]
    ap = ac[prev_t] if prev_t >= 0 else F(1)
    b = F(1 - a)
    bp = F(1 - ap)
    cur_a = F(a / ap)
    cur_b = F(1 - cur_a)
    x0 = pred_original(cfg["predictionType"], out, x, a)
    if cfg["clipSample"]:
        r = cfg["clipSampleRange"]
        x0 = np.clip(x0, F(-r), F(r))
    c0 = F(F(F(np.sqrt(ap)) * cur_b) / b)
    ct = F(F(F(np.sqrt(cur_a)) * bp) / b)
    prev = c0 * x0 + ct * x
    if t > 0:
        if cfg["varianceType"] == "fixed_small":
            var = max(F(F(bp / b) * cur_b), F(1e-20))
        else:
            var = cur_b
        prev = prev + F(np.sqrt(var)) * noise
    return prev.astype(F), x0.astype(F)


def ddim_step(cfg, ac, final_ac, n_inf, out, t, x, eta, noise, use_clipped):
    T = cfg["numTrainTimesteps"]
    prev_t = t - T // n_inf
    a = ac[t]
    ap = ac[prev_t] if prev_t >= 0 else final_ac
    b = F(1 - a)
    ptype = cfg["predictionType"]
    x0 = pred_original(ptype, out, x, a)
    if ptype == "epsilon":
        eps = out
    elif ptype == "v_prediction":
        eps = F(np.sqrt(a)) * out + F(np.sqrt(b)) * x
    else:
        eps = (x - F(np.sqrt(a)) * x0) / F(np.sqrt(b))
    if cfg["clipSample"]:
        r = cfg["clipSampleRange"]
        x0 = np.clip(x0, F(-r), F(r))
    bp = F(1 - ap)
    var = F(F(bp / b) * F(1 - F(a / ap)))
    std = F(F(eta) * F(np.sqrt(var)))
    if use_clipped:
        eps = (x - F(np.sqrt(a)) * x0) / F(np.sqrt(b))
    direction = F(np.sqrt(F(F(1 - ap) - F(std * std)))) * eps
    prev = F(np.sqrt(ap)) * x0 + direction
    if eta > 0:
        prev = prev + std * noise
    return prev.astype(F), x0.astype(F)


# ---- output -----------------------------------------------------------------------------------------------------


def short(x) -> float:
    """The float32 value as the shortest decimal that reads back to it (so JSON stays small and exact)."""
    x = F(x)
    for p in range(1, 10):
        v = float(f"{float(x):.{p}g}")
        if F(v) == x:
            return v
    return float(x)


def flat(a: np.ndarray) -> list[float]:
    return [short(v) for v in np.asarray(a, dtype=F).ravel()]


def write(name: str, data: dict) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    (OUT_DIR / name).write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUT_DIR / name} ({len(text)} bytes)")


DEFAULTS = {
    "numTrainTimesteps": 1000,
    "betaSchedule": "linear",
    "betaStart": 0.0001,
    "betaEnd": 0.02,
    "predictionType": "epsilon",
    "clipSample": True,
    "clipSampleRange": 1.0,
    "timestepSpacing": "leading",
    "stepsOffset": 0,
}


def tables_fixture() -> dict:
    configs = {
        "linear": {"numTrainTimesteps": 1000, "betaSchedule": "linear", "betaStart": 0.0001, "betaEnd": 0.02},
        "scaled_linear": {"numTrainTimesteps": 1000, "betaSchedule": "scaled_linear", "betaStart": 0.00085, "betaEnd": 0.012},
        "squaredcos_cap_v2": {"numTrainTimesteps": 1000, "betaSchedule": "squaredcos_cap_v2", "betaStart": 0.0001, "betaEnd": 0.02},
        "linear_T50": {"numTrainTimesteps": 50, "betaSchedule": "linear", "betaStart": 0.001, "betaEnd": 0.2},
    }
    cases = []
    for name, cfg in configs.items():
        betas, _, ac = make_tables(cfg)
        cases.append({"name": name, "config": cfg, "betas": flat(betas), "alphasCumprod": flat(ac)})
    return {"generator": GENERATOR, "cases": cases}


def timesteps_fixture() -> dict:
    cases = []
    for T, ns in [(1000, [1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 15, 20, 25, 30, 33, 50, 61, 64, 100, 103, 250, 333, 500, 999, 1000]),
                  (50, [1, 3, 7, 10, 13, 49, 50]), (7, [1, 2, 3, 4, 5, 6, 7])]:
        for spacing in ["leading", "trailing", "linspace"]:
            for n in ns:
                cases.append({"spacing": spacing, "numTrainTimesteps": T, "numInferenceSteps": n, "stepsOffset": 0,
                              "timesteps": set_timesteps(spacing, T, n).tolist()})
    for n in [1, 10, 50, 999]:
        cases.append({"spacing": "leading", "numTrainTimesteps": 1000, "numInferenceSteps": n, "stepsOffset": 1,
                      "timesteps": set_timesteps("leading", 1000, n, 1).tolist()})
    # The number of timesteps diffusers' "trailing" rule gives for every n (numpy's arange sometimes gives n + 1).
    trailing_lengths = [len(set_timesteps("trailing", 1000, n)) for n in range(1, 1001)]
    return {"generator": GENERATOR, "cases": cases, "trailingLengthsT1000": trailing_lengths}


TRAJECTORIES = [
    ("ddpm_linear_epsilon_fixed_small_clip_leading10", "DDPM",
     {"varianceType": "fixed_small"}, 10, 0.0, False),
    ("ddpm_cosine_v_fixed_large_trailing8", "DDPM",
     {"betaSchedule": "squaredcos_cap_v2", "predictionType": "v_prediction", "varianceType": "fixed_large",
      "clipSample": False, "timestepSpacing": "trailing"}, 8, 0.0, False),
    ("ddpm_scaled_linear_sample_offset1_leading7", "DDPM",
     {"betaSchedule": "scaled_linear", "betaStart": 0.00085, "betaEnd": 0.012, "predictionType": "sample",
      "varianceType": "fixed_small", "clipSampleRange": 2.0, "stepsOffset": 1}, 7, 0.0, False),
    ("ddpm_full_chain_T20", "DDPM",
     {"numTrainTimesteps": 20, "betaStart": 0.001, "betaEnd": 0.2, "varianceType": "fixed_small",
      "clipSample": False}, None, 0.0, False),
    ("ddpm_cosine_alias_linspace6", "DDPM",
     {"betaSchedule": "cosine", "varianceType": "fixed_small", "clipSample": False, "timestepSpacing": "linspace"},
     6, 0.0, False),
    ("ddim_linear_epsilon_eta0_offset1_final_alpha0", "DDIM",
     {"setAlphaToOne": False, "stepsOffset": 1}, 10, 0.0, False),
    ("ddim_cosine_v_eta05_trailing10", "DDIM",
     {"betaSchedule": "squaredcos_cap_v2", "predictionType": "v_prediction", "clipSample": False,
      "timestepSpacing": "trailing", "setAlphaToOne": True}, 10, 0.5, False),
    ("ddim_scaled_linear_eta1_linspace7_clipped_output", "DDIM",
     {"betaSchedule": "scaled_linear", "betaStart": 0.00085, "betaEnd": 0.012, "timestepSpacing": "linspace",
      "setAlphaToOne": True}, 7, 1.0, True),
    ("ddim_sample_prediction_eta03_leading5", "DDIM",
     {"predictionType": "sample", "clipSample": False, "setAlphaToOne": True}, 5, 0.3, False),
]


def trajectories_fixture() -> dict:
    cases = []
    for seed, (name, kind, overrides, n_inf, eta, use_clipped) in enumerate(TRAJECTORIES):
        cfg = {**DEFAULTS, **overrides}
        _, _, ac = make_tables(cfg)
        T = cfg["numTrainTimesteps"]
        timesteps = np.arange(T)[::-1] if n_inf is None else set_timesteps(cfg["timestepSpacing"], T, n_inf, cfg["stepsOffset"])
        rng = np.random.default_rng(1000 + seed)
        x = rng.standard_normal(SHAPE, dtype=F)
        samples, outputs, noises, originals = [flat(x)], [], [], []
        final_ac = F(1) if cfg.get("setAlphaToOne", True) else ac[0]
        for t in (int(v) for v in timesteps):
            out = rng.standard_normal(SHAPE, dtype=F)
            stochastic = (t > 0) if kind == "DDPM" else (eta > 0)
            noise = rng.standard_normal(SHAPE, dtype=F) if stochastic else None
            if kind == "DDPM":
                x, x0 = ddpm_step(cfg, ac, timesteps, n_inf, out, t, x, noise)
            else:
                x, x0 = ddim_step(cfg, ac, final_ac, n_inf, out, t, x, eta, noise, use_clipped)
            outputs.append(flat(out))
            noises.append(None if noise is None else flat(noise))
            originals.append(flat(x0))
            samples.append(flat(x))
        cases.append({
            "name": name, "scheduler": kind, "config": overrides, "numInferenceSteps": n_inf, "eta": eta,
            "useClippedModelOutput": use_clipped, "timesteps": [int(v) for v in timesteps],
            "samples": samples, "modelOutputs": outputs, "noises": noises, "predOriginalSamples": originals,
        })
    return {"generator": GENERATOR, "shape": list(SHAPE), "cases": cases}


def forward_fixture() -> dict:
    rng = np.random.default_rng(7)
    cases = []
    for schedule in ["linear", "squaredcos_cap_v2"]:
        cfg = {**DEFAULTS, "betaSchedule": schedule}
        _, _, ac = make_tables(cfg)
        x0 = rng.standard_normal(SHAPE, dtype=F)
        eps = rng.standard_normal(SHAPE, dtype=F)
        ts = [0, 999]
        sa = np.sqrt(ac[ts]).astype(F).reshape(-1, 1, 1, 1)
        s1 = np.sqrt(F(1) - ac[ts]).astype(F).reshape(-1, 1, 1, 1)
        cases.append({"betaSchedule": schedule, "timesteps": ts, "original": flat(x0), "noise": flat(eps),
                      "noisy": flat(sa * x0 + s1 * eps), "velocity": flat(sa * eps - s1 * x0)})
    return {"generator": GENERATOR, "shape": list(SHAPE), "cases": cases}


def main() -> None:
    write("tables.json", tables_fixture())
    write("timesteps.json", timesteps_fixture())
    write("trajectories.json", trajectories_fixture())
    write("forward.json", forward_fixture())


if __name__ == "__main__":
    main()
