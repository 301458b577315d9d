"""Alpha dropout against PyTorch's ``torch.nn.AlphaDropout``: the output statistics of both on the
same inputs, printed side by side (a peer comparison, not a test: the tests check our layer against
closed forms, tests/layers/test_alpha_dropout.py).

For standard-normal inputs and SELU-ed standard-normal inputs (both of mean 0 and variance 1), each
keep probability and float32/float64, it prints the output's mean and variance (both should be 0 and
1 within sampling error: the standard errors are printed too), the fraction of units at the dropped
value ``a * alpha' + b`` (expected ``1 - keep_prob``), and, for the kept units, the largest distance
from ``a * x + b`` (the same affine map in both). PyTorch's argument is the DROP probability:
``AlphaDropout(p=1 - keep_prob)``.

Needs PyTorch, which dropout-lab does not depend on; keep it out of the project's environment::

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy scipy tqdm threadpoolctl
    PYTHONPATH=src /tmp/torchvenv/bin/python benchmarks/compare_alpha_dropout.py [--size 4000000]
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import numpy as np

from dropout_lab.layers import SELU_ALPHA, SELU_LAMBDA, alpha_dropout, alpha_dropout_affine, selu_forward

KEEP_PROBS = (0.95, 0.9, 0.8, 0.5)
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA


def statistics(out: np.ndarray, x: np.ndarray, keep_prob: float) -> dict[str, float]:
    """Mean, variance, fraction at the dropped value, and the kept units' largest distance from a x + b."""
    a, b = alpha_dropout_affine(keep_prob)
    values = out.astype(np.float64).ravel()
    dropped_value = out.dtype.type(a * ALPHA_PRIME + b)
    # Within a few units in the last place of the dropped value: PyTorch computes it in its own order.
    at_dropped = np.abs(out - dropped_value) <= 4 * np.spacing(np.abs(dropped_value))
    kept = ~at_dropped
    expected_kept = x[kept].astype(np.float64) * a + b
    return {
        "mean": float(values.mean()),
        "var": float(values.var()),
        "frac_dropped": float(at_dropped.mean()),
        "kept_max_err": float(np.max(np.abs(out[kept].astype(np.float64) - expected_kept))) if kept.any() else 0.0,
    }


def torch_alpha_dropout(torch: Any, x: np.ndarray, keep_prob: float, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    layer = torch.nn.AlphaDropout(p=1.0 - keep_prob)
    layer.train()
    with torch.no_grad():
        out: np.ndarray = layer(torch.from_numpy(x)).numpy()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4_000_000, help="elements per input (default 4,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: see this script's docstring for a separate venv.", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    n = args.size
    print(f"torch {torch.__version__}, numpy {np.__version__}; {n:,} elements per input")
    print(f"standard errors: mean {1 / math.sqrt(n):.1e}, variance about {math.sqrt(2 / n):.1e} (normal inputs)")
    header = f"{'inputs':<12} {'dtype':<8} {'keep':>5} {'impl':<6} {'mean':>10} {'var':>9} {'dropped':>9} "
    print(header + f"{'expected':>9} {'kept err':>9}")
    rng = np.random.default_rng(args.seed)
    for dtype in (np.float32, np.float64):
        z = rng.standard_normal(n).astype(dtype)
        inputs = {"normal": z, "selu(normal)": selu_forward(z)[0]}
        for name, x in inputs.items():
            # The input's own sample moments: the outputs' sampling error sits on top of theirs.
            x64 = x.astype(np.float64)
            print(f"{name:<12} {np.dtype(dtype).name:<8} {'':>5} {'input':<6} {x64.mean():>+10.2e} {x64.var():>9.5f}")
            for keep_prob in KEEP_PROBS:
                ours, _ = alpha_dropout(x, keep_prob, train=True, rng=np.random.default_rng(args.seed + 1))
                theirs = torch_alpha_dropout(torch, x, keep_prob, args.seed + 1)
                for impl, out in (("ours", ours), ("torch", theirs)):
                    if out.dtype != x.dtype:
                        print(f"{impl} returned {out.dtype} for {x.dtype} inputs", file=sys.stderr)
                        return 1
                    s = statistics(out, x, keep_prob)
                    print(f"{name:<12} {np.dtype(dtype).name:<8} {keep_prob:>5} {impl:<6} {s['mean']:>+10.2e} "
                          f"{s['var']:>9.5f} {s['frac_dropped']:>9.5f} {1 - keep_prob:>9.5f} {s['kept_max_err']:>9.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
