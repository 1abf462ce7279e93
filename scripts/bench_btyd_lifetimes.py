#!/usr/bin/env python3
"""The reference for `cargo bench -p embudo-predict --bench btyd`: Python `lifetimes` fitting
BG/NBD on the same data, timed in the same run.

Builds exactly the histories the Rust bench builds (crates/embudo-predict/benches/btyd.rs):
- CDNOW_master.txt, every customer (23,570), calibration up to 1997-09-30 inclusive, time in
  weeks (days / 7); purchases on the same day are one transaction; x = repeat days,
  t_x = last - first, T = calibration end - first;
- 1,000,000 customers resampled from them with replacement: SplitMix64, seed 42,
  index = (next >> 11) mod n, over the customers sorted by id.
It prints the same `btyd-bench` checksum line (sums of x, t_x, T) so that the two sides can be
seen to fit the same data, then the median fit time of `BetaGeoFitter` over --repeats runs.

Usage: python3 scripts/bench_btyd_lifetimes.py [--data ../shared/data/cdnow/CDNOW_master.txt]
Needs: pip install lifetimes (numpy, scipy, pandas come with it).
"""
import argparse
import datetime as dt
import statistics
import time

import numpy as np
from lifetimes import BetaGeoFitter

MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def histories(path):
    cal_end = dt.date(1997, 9, 30).toordinal()
    days = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 4 or not fields[0].isdigit() or not fields[1].isdigit():
                continue  # the header line
            date = int(fields[1])
            day = dt.date(date // 10000, date // 100 % 100, date % 100).toordinal()
            days.setdefault(int(fields[0]), set()).add(day)
    rows = []
    for customer in sorted(days):
        ds = sorted(days[customer])
        first = ds[0]
        if first > cal_end:
            continue
        cal = [d for d in ds if d <= cal_end]
        rows.append((len(cal) - 1, (cal[-1] - first) / 7.0, (cal_end - first) / 7.0))
    return np.array(rows, dtype=float)


def resample(rows, n, seed):
    state = seed
    index = np.empty(n, dtype=np.int64)
    for i in range(n):
        state, z = splitmix64(state)
        index[i] = (z >> 11) % len(rows)
    return rows[index]


def fit_timed(rows, repeats):
    times = []
    for _ in range(repeats):
        model = BetaGeoFitter(penalizer_coef=0.0)
        started = time.perf_counter()
        model.fit(rows[:, 0], rows[:, 1], rows[:, 2])
        times.append(time.perf_counter() - started)
    return model, statistics.median(times), times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/cdnow/CDNOW_master.txt")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--repeats-1m", type=int, default=3)
    a = ap.parse_args()
    master = histories(a.data)
    datasets = [("cdnow_master", master, a.repeats),
                ("resampled_1m", resample(master, 1_000_000, 42), a.repeats_1m)]
    for name, rows, repeats in datasets:
        model, median, times = fit_timed(rows, repeats)
        p = model.params_
        print(f"btyd-bench {name} customers={len(rows)} sum_x={int(rows[:, 0].sum())} "
              f"sum_t_x={rows[:, 1].sum():.4f} sum_age={rows[:, 2].sum():.4f} "
              f"r={p['r']:.10f} alpha={p['alpha']:.10f} a={p['a']:.10f} b={p['b']:.10f}")
        print(f"lifetimes {name}: BetaGeoFitter.fit median {median:.4f} s over {repeats} runs "
              f"({', '.join(f'{t:.3f}' for t in times)})")


if __name__ == "__main__":
    main()
