#!/usr/bin/env python3
"""Black-Scholes GEX profile and zero-gamma sweep with numpy, the way the popular open-source GEX calculators
compute them (vectorized numpy over the option chain), used by the `compare` harness as a baseline.

Input (chain JSON, written by the harness from dealerflow's engine at one timestamp):
  {"spot_usd", "rate", "grid_steps", "instruments": [{"kind": "call"|"put", "strike", "dealer_position",
   "contract_size", "iv" (fraction), "tau_years"}, ...]}
Computation (timed: one first run, reported apart as the cold run, then `--repeat` runs):
  gamma = n(d1) / (S sigma sqrt(tau)),  d1 = (ln(S/K) + (r + sigma^2/2) tau) / (sigma sqrt(tau));
  GEX per instrument = q * m * gamma * S^2 * 0.01 (USD per 1 % move), summed per strike into call, put, net;
  total GEX(S') on a grid of `grid_steps` equal steps over [0.5 S, 1.5 S] (every sigma and tau held), every sign
  change refined with scipy.optimize.brentq, the root nearest S kept (the lower one on a tie).
Output (results JSON): per-strike call/put/net GEX, the zero-gamma level (null when GEX does not cross zero),
the seconds of the first run and of each later run, and the numpy/scipy versions.

Usage: gex_numpy.py CHAIN.json RESULTS.json [--repeat N]
"""

import argparse
import json
import math
import sys
import time

import numpy as np
import scipy
from scipy.optimize import brentq

INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gamma(spot, strike, iv, tau, rate):
    """Black-Scholes gamma per unit of underlying; `spot` may be a column of spots (broadcast over the chain)."""
    sd = iv * np.sqrt(tau)
    d1 = (np.log(spot / strike) + (rate + 0.5 * iv * iv) * tau) / sd
    return np.exp(-0.5 * d1 * d1) * INV_SQRT_2PI / (spot * sd)


def gex_profile(chain):
    """Per-strike GEX and the zero-gamma level of one chain (the timed part)."""
    s = chain["spot"]
    k, iv, tau, qm, is_call, r = (chain[x] for x in ("strike", "iv", "tau", "qm", "is_call", "rate"))
    gex = qm * gamma(s, k, iv, tau, r) * s * s * 0.01

    strikes, at = np.unique(k, return_inverse=True)
    call = np.bincount(at, weights=np.where(is_call, gex, 0.0), minlength=len(strikes))
    put = np.bincount(at, weights=np.where(is_call, 0.0, gex), minlength=len(strikes))
    net = call + put

    def total_gex(x):
        return float(np.sum(qm * gamma(x, k, iv, tau, r)) * x * x * 0.01)

    steps = chain["grid_steps"]
    xs = 0.5 * s + (s / steps) * np.arange(steps + 1)
    col = xs[:, None]
    fs = (qm * gamma(col, k, iv, tau, r)).sum(axis=1) * xs * xs * 0.01

    best = None

    def consider(root):
        nonlocal best
        if best is None:
            best = root
            return
        db, dr = abs(best - s), abs(root - s)
        if dr < db or (dr == db and root < best):
            best = root

    any_nonzero = bool(np.any(fs != 0.0))
    for i in range(steps):
        fa, fb = fs[i], fs[i + 1]
        if fa == 0.0:
            if any_nonzero:
                consider(float(xs[i]))
            continue
        if fb != 0.0 and (fa < 0.0) != (fb < 0.0):
            consider(brentq(total_gex, xs[i], xs[i + 1], xtol=1e-12, rtol=4.0 * np.finfo(float).eps, maxiter=200))
    if fs[steps] == 0.0 and any_nonzero:
        consider(float(xs[steps]))
    return strikes, call, put, net, best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chain")
    ap.add_argument("results")
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()

    with open(a.chain) as f:
        raw = json.load(f)
    inst = raw["instruments"]
    if not inst:
        sys.exit(f"{a.chain}: the chain has no instruments")
    chain = {
        "spot": float(raw["spot_usd"]),
        "rate": float(raw["rate"]),
        "grid_steps": int(raw["grid_steps"]),
        "strike": np.array([i["strike"] for i in inst], dtype=float),
        "iv": np.array([i["iv"] for i in inst], dtype=float),
        "tau": np.array([i["tau_years"] for i in inst], dtype=float),
        "qm": np.array([i["dealer_position"] * i["contract_size"] for i in inst], dtype=float),
        "is_call": np.array([i["kind"] == "call" for i in inst], dtype=bool),
    }

    t0 = time.perf_counter()
    result = gex_profile(chain)
    first = time.perf_counter() - t0
    runs = []
    for _ in range(max(1, a.repeat)):
        t0 = time.perf_counter()
        result = gex_profile(chain)
        runs.append(time.perf_counter() - t0)
    strikes, call, put, net, zero_gamma = result

    out = {
        "strikes": [
            {
                "strike": float(k),
                "call_gamma_exposure_usd": float(c),
                "put_gamma_exposure_usd": float(p),
                "net_gamma_exposure_usd": float(n),
            }
            for k, c, p, n in zip(strikes, call, put, net)
        ],
        "zero_gamma_level": zero_gamma,
        "runs_s": runs,
        "first_s": first,
        "instruments": len(inst),
        "versions": f"numpy {np.__version__}, scipy {scipy.__version__}, Python {sys.version.split()[0]}",
    }
    with open(a.results, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
