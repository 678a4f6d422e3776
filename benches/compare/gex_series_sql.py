#!/usr/bin/env python3
"""A GEX time series the way a practitioner builds one from a ClickHouse history store: SQL for the positions
and market inputs, then the numpy calculator of gex_numpy.py once per sample. Used by the `compare` harness as
the baseline of `dealerflow replay --every 1m / 1s`.

SQL (ClickHouse HTTP interface, TabSeparated; tables written by `dealerflow sync-clickhouse`), eight queries per
run, so the number of queries does not grow with the number of samples:
  - dealer position per instrument as of the first sample time t0 (-sum of signed taker amounts, trades FINAL,
    fixed point), with each instrument's kind, strike, expiry and contract size;
  - the trades after t0 up to the last sample time, in (exchange time, log seq) order;
  - the latest mark IV per instrument as of t0, and the mark-IV rows after t0 (mark_iv FINAL);
  - the latest trade IV > 0 per instrument as of t0 (the trades after t0 carry theirs);
  - the latest index price as of t0, and the index ticks after t0 (index_prices FINAL);
  - the index price of the latest trade as of t0 (the spot of a log without index ticks; the trades after t0
    carry theirs).
Per sample t (ascending): apply the rows with time <= t, then price every instrument of the currency with a
non-zero dealer position and expiry > t: sigma = latest mark IV, else latest trade IV > 0 (the selection rule of
docs/FORMULAS.md section 3 without its last fallback, an IV implied from the trade's mark price), tau =
(expiry - t) / (365 d), spot = latest index price, else the index price of the latest trade; then gex_numpy.gex_profile: per-strike GEX and the
zero-gamma level.

Timed (the first run reported apart as the cold run, then `--repeat` runs): the SQL round trips with parsing,
and the per-sample loop over the first `--limit` samples (all when 0); the harness extrapolates the loop to every
sample when it is limited.

Usage: gex_series_sql.py URL DATABASE CURRENCY INDEX FROM_MS TO_MS EVERY_MS RESULTS.json [--limit N] [--repeat N]
"""

import argparse
import importlib.util
import json
import math
import os
import sys
import time
import urllib.parse
import urllib.request

import numpy as np

MS_PER_YEAR = 365.0 * 86_400_000.0

_spec = importlib.util.spec_from_file_location(
    "gex_numpy", os.path.join(os.path.dirname(os.path.abspath(__file__)), "gex_numpy.py")
)
gex_numpy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gex_numpy)


def query(url, database, sql):
    """Rows of a query as lists of strings (TabSeparated)."""
    req = urllib.request.Request(
        url.rstrip("/") + "/?" + urllib.parse.urlencode({"database": database}),
        data=(sql + " FORMAT TabSeparated").encode(),
    )
    user = os.environ.get("CLICKHOUSE_USER")
    if user:
        req.add_header("X-ClickHouse-User", user)
        req.add_header("X-ClickHouse-Key", os.environ.get("CLICKHOUSE_PASSWORD", ""))
    with urllib.request.urlopen(req) as r:
        text = r.read().decode()
    return [line.split("\t") for line in text.splitlines()]


def fetch(a, t0, t1):
    """The eight queries (module docs)."""
    cur = a.currency.replace("'", "")
    idx = a.index.replace("'", "")
    signed = "if(taker_side = 'buy', -amount_raw, amount_raw)"
    q = lambda sql: query(a.url, a.database, sql)  # noqa: E731
    return {
        "positions": q(
            f"SELECT instrument, any(option_kind), any(strike), any(expiry_ms), any(contract_size), sum({signed}) "
            f"FROM trades FINAL WHERE currency = '{cur}' AND ts_exchange_ms <= {t0} GROUP BY instrument"
        ),
        "trades": q(
            f"SELECT ts_exchange_ms, instrument, option_kind, strike, expiry_ms, contract_size, {signed}, "
            f"ifNull(iv, 0), index_price FROM trades FINAL WHERE currency = '{cur}' AND ts_exchange_ms > {t0} "
            f"AND ts_exchange_ms <= {t1} ORDER BY ts_exchange_ms, log_seq"
        ),
        "marks": q(
            f"SELECT instrument, argMax(mark_iv, (ts_exchange_ms, log_seq)) FROM mark_iv FINAL "
            f"WHERE currency = '{cur}' AND ts_exchange_ms <= {t0} AND mark_iv > 0 GROUP BY instrument"
        ),
        "mark_rows": q(
            f"SELECT ts_exchange_ms, instrument, mark_iv FROM mark_iv FINAL WHERE currency = '{cur}' "
            f"AND ts_exchange_ms > {t0} AND ts_exchange_ms <= {t1} AND mark_iv > 0 ORDER BY ts_exchange_ms, log_seq"
        ),
        "trade_ivs": q(
            f"SELECT instrument, argMax(assumeNotNull(iv), (ts_exchange_ms, log_seq)) FROM trades FINAL "
            f"WHERE currency = '{cur}' AND ts_exchange_ms <= {t0} AND iv > 0 GROUP BY instrument"
        ),
        "spot": q(
            f"SELECT argMax(price_usd, (ts_exchange_ms, log_seq)) FROM index_prices FINAL "
            f"WHERE index_name = '{idx}' AND ts_exchange_ms <= {t0}"
        ),
        "trade_spot": q(
            f"SELECT argMax(index_price, (ts_exchange_ms, log_seq)), count() FROM trades FINAL "
            f"WHERE currency = '{cur}' AND ts_exchange_ms <= {t0}"
        ),
        "ticks": q(
            f"SELECT ts_exchange_ms, price_usd FROM index_prices FINAL WHERE index_name = '{idx}' "
            f"AND ts_exchange_ms > {t0} AND ts_exchange_ms <= {t1} ORDER BY ts_exchange_ms, log_seq"
        ),
    }


def series(rows, times, grid_steps, keep):
    """The per-sample loop (module docs). Returns the samples' results (all kept when `keep`)."""
    meta, pos, mark, tiv = {}, {}, {}, {}
    for name, kind, strike, expiry, size, q in rows["positions"]:
        meta[name] = (kind == "call", float(strike), int(expiry), float(size))
        pos[name] = int(q)
    for name, iv in rows["marks"]:
        mark[name] = float(iv)
    for name, iv in rows["trade_ivs"]:
        tiv[name] = float(iv)
    index_spot = float(rows["spot"][0][0]) if rows["spot"] and rows["spot"][0][0] not in ("", "0") else None
    ts = rows["trade_spot"]
    trade_spot = float(ts[0][0]) if ts and ts[0][1] != "0" else None
    trades = [
        (int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), float(r[7]), float(r[8])) for r in rows["trades"]
    ]
    marks = [(int(r[0]), r[1], float(r[2])) for r in rows["mark_rows"]]
    ticks = [(int(r[0]), float(r[1])) for r in rows["ticks"]]
    it = im = ix = 0
    out = []
    for t in times:
        while it < len(trades) and trades[it][0] <= t:
            _, name, kind, strike, expiry, size, q, iv, trade_spot = trades[it]
            if name not in meta:
                meta[name] = (kind == "call", float(strike), int(expiry), float(size))
            pos[name] = pos.get(name, 0) + q
            if iv > 0.0:
                tiv[name] = iv
            it += 1
        while im < len(marks) and marks[im][0] <= t:
            mark[marks[im][1]] = marks[im][2]
            im += 1
        while ix < len(ticks) and ticks[ix][0] <= t:
            index_spot = ticks[ix][1]
            ix += 1
        spot = index_spot if index_spot is not None else trade_spot
        if spot is None:
            continue
        live = []
        for name, q in pos.items():
            is_call, strike, expiry, size = meta[name]
            if q == 0 or expiry <= t:
                continue
            sigma = mark.get(name) or tiv.get(name)
            if sigma is None:
                continue
            live.append((strike, sigma, (expiry - t) / MS_PER_YEAR, q / 1e8 * size, is_call))
        if not live:
            continue
        arr = np.array(live, dtype=float)
        chain = {
            "spot": spot,
            "rate": 0.0,
            "grid_steps": grid_steps,
            "strike": arr[:, 0],
            "iv": arr[:, 1],
            "tau": arr[:, 2],
            "qm": arr[:, 3],
            "is_call": arr[:, 4] != 0.0,
        }
        strikes, call, put, net, zero_gamma = gex_numpy.gex_profile(chain)
        if keep:
            out.append(
                {
                    "at_ms": t,
                    "instruments": len(live),
                    "strikes": strikes.tolist(),
                    "call": call.tolist(),
                    "put": put.tolist(),
                    "net": net.tolist(),
                    "zero_gamma_level": zero_gamma,
                }
            )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name in ("url", "database", "currency", "index"):
        ap.add_argument(name)
    for name in ("from_ms", "to_ms", "every_ms"):
        ap.add_argument(name, type=int)
    ap.add_argument("results")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--grid-steps", type=int, default=200)
    a = ap.parse_args()

    first = -(-a.from_ms // a.every_ms) * a.every_ms
    times = list(range(first, a.to_ms + 1, a.every_ms))
    if not times:
        sys.exit("no sample time in the window")
    looped = times[: a.limit] if a.limit > 0 else times
    runs = []
    result = None
    for i in range(1 + max(1, a.repeat)):
        t0 = time.perf_counter()
        rows = fetch(a, times[0], times[-1])
        t1 = time.perf_counter()
        samples = series(rows, looped, a.grid_steps, keep=(i == 0))
        t2 = time.perf_counter()
        runs.append({"sql_s": t1 - t0, "loop_s": t2 - t1})
        if i == 0:
            result = samples
    out = {
        "samples": result,
        "times": len(times),
        "looped": len(looped),
        "cold": runs[0],
        "runs": runs[1:],
        "versions": f"numpy {np.__version__}, Python {sys.version.split()[0]}",
    }
    with open(a.results, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
