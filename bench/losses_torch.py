"""PyTorch eager baselines for bench/losses.sh: the same forward + backward as
`plumb bench`, and a memcpy of the same number of bytes (the bandwidth floor).

Prints one JSON object: {"torch_ms": ..., "floor_ms": ..., "bytes": ...}.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def timed(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def pairwise(rows, generator):
    def logps():
        return -1.0 - torch.rand(rows, generator=generator) * 200.0
    pc, pr = logps().requires_grad_(), logps().requires_grad_()
    rc, rr = logps(), logps()
    lc = 1.0 + torch.floor(torch.rand(rows, generator=generator) * 200.0)
    lr = 1.0 + torch.floor(torch.rand(rows, generator=generator) * 200.0)
    return pc, pr, rc, rr, lc, lr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--loss", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(1234)
    beta = 0.1

    if args.loss in ("dpo", "ipo", "simpo"):
        pc, pr, rc, rr, lc, lr = pairwise(args.rows, generator)
        grads = 2
        if args.loss == "dpo":
            inputs = 4

            def step():
                pc.grad = pr.grad = None
                h = beta * ((pc - rc) - (pr - rr))
                rows = -F.logsigmoid(h)
                rows.mean().backward()
        elif args.loss == "ipo":
            inputs = 6

            def step():
                pc.grad = pr.grad = None
                d = (pc - rc) / lc - (pr - rr) / lr
                rows = (d - 1.0 / (2.0 * beta)) ** 2
                rows.mean().backward()
        else:
            inputs = 4
            b, gamma = 2.0, 0.5

            def step():
                pc.grad = pr.grad = None
                rows = -F.logsigmoid(b * (pc / lc - pr / lr) - gamma)
                rows.mean().backward()
        read = inputs * args.rows * 4
        written = grads * args.rows * 4
    elif args.loss == "ppo_clip":
        n = args.rows * args.tokens
        logp = (-torch.rand(n, generator=generator) * 5.0).requires_grad_()
        old = -torch.rand(n, generator=generator) * 5.0
        adv = torch.rand(n, generator=generator) * 4.0 - 2.0
        mask = (torch.rand(n, generator=generator) < 0.9).float()
        eps = 0.2

        def step():
            logp.grad = None
            ratio = torch.exp(torch.clamp(logp - old, -20.0, 20.0))
            loss_t = -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv)
            ((loss_t * mask).sum() / mask.sum()).backward()
        read = 4 * n * 4
        written = n * 4
    else:
        raise SystemExit(f"no baseline for {args.loss}")

    torch_ms = timed(step, args.runs)
    # The floor: moving the same number of bytes (read + written) once.
    half = (read + written) // 8
    src = torch.rand(half)
    dst = torch.empty_like(src)
    floor_ms = timed(lambda: dst.copy_(src), args.runs)
    print(json.dumps({"torch_ms": torch_ms, "floor_ms": floor_ms, "bytes": read + written}))


if __name__ == "__main__":
    main()
