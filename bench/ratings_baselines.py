"""Baselines for bench/ratings.sh: choix and scikit-learn fit the same
Bradley-Terry model on the same votes; each fit is timed (CSV parsing
included, as for `plumb rank`) and compared with plumb's abilities.

Usage: ratings_baselines.py VOTES.csv PLUMB.json
Prints one JSON object per baseline: {"tool", "seconds", "max_abs_diff"}.
"""
import csv
import json
import sys
import time

import numpy as np


def load(path):
    items, index, winners, losers = [], {}, [], []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for a, b, w in reader:
            for x in (a, b):
                if x not in index:
                    index[x] = len(items)
                    items.append(x)
            ia, ib = index[a], index[b]
            if w == "a":
                winners.append(ia)
                losers.append(ib)
            elif w == "b":
                winners.append(ib)
                losers.append(ia)
    return items, np.array(winners), np.array(losers)


def centred(x):
    return x - x.mean()


def main():
    votes, plumb_json = sys.argv[1], sys.argv[2]
    with open(plumb_json) as f:
        ours = {r["item"]: r["ability"] for r in json.load(f)["items"]}

    def report(tool, seconds, items, theta):
        theta = centred(np.asarray(theta, dtype=float))
        diff = max(abs(theta[i] - ours[name]) for i, name in enumerate(items))
        print(json.dumps({"tool": tool, "seconds": seconds, "max_abs_diff": diff}))

    # choix: the iterative Luce spectral ranking (its fastest exact-MLE method).
    import choix

    start = time.perf_counter()
    items, winners, losers = load(votes)
    data = list(zip(winners.tolist(), losers.tolist()))
    theta = choix.ilsr_pairwise(len(items), data, alpha=0.0, tol=1e-10, max_iter=10000)
    report("choix.ilsr_pairwise", time.perf_counter() - start, items, theta)

    # scikit-learn: logistic regression on a sparse ±1 design, no intercept, no penalty.
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    items, winners, losers = load(votes)
    n, m = len(winners), len(items)
    # Each vote twice (winner−loser → 1 and loser−winner → 0) keeps both classes.
    rows = np.concatenate([np.arange(n), np.arange(n), n + np.arange(n), n + np.arange(n)])
    cols = np.concatenate([winners, losers, losers, winners])
    vals = np.concatenate([np.ones(n), -np.ones(n), np.ones(n), -np.ones(n)])
    design = sparse.csr_matrix((vals, (rows, cols)), shape=(2 * n, m))
    target = np.concatenate([np.ones(n), np.zeros(n)])
    model = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-10, max_iter=10000, solver="lbfgs")
    model.fit(design, target)
    report("sklearn.LogisticRegression", time.perf_counter() - start, items, model.coef_[0])


if __name__ == "__main__":
    main()
