"""What counting costs per message: the metric calls one message makes, timed on their own.

``python -m bench.metrics_cost`` makes, in the multi-process mode the hub runs in (files in a
temporary metrics folder), the calls the stages make for one accepted message delivered to
one endpoint: intake (accepted, ingress time), the backbone writes that carry it (the front
door's publish, and a share of the router's and delivery's batched publish_and_commit: one
each, at worst), and delivery (delivered, attempt and end-to-end times).  It prints the CPU
time per message, to set beside the hub's CPU per message from ``bench.e2e``: unlike a
whole-hub comparison, this figure does not drown in the noise of a busy machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from exchange.metrics import collection
from exchange.settings import Settings

SENDERS = ("samr-reg", "samr-reg-gd", "samr-reg-gx")


def per_message_cpu_us(messages: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(home=Path(folder), data_dir=Path(folder) / "var")
        metrics = collection.configure(settings, fresh=True)
        kind = "samr.EnterpriseRegistration"
        started = time.process_time()
        for i in range(messages):
            sender = SENDERS[i % 3]
            metrics.accepted(sender, kind, 0.004)
            metrics.published("embedded", "publish", 0.002)
            metrics.published("embedded", "publish_and_commit", 0.003)  # router
            metrics.delivered(sender, kind, "route", "tax-bureau", 0.005, 0.08)
            metrics.published("embedded", "publish_and_commit", 0.003)  # delivery
        spent = time.process_time() - started
    return spent / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--hub-cpu-ms", type=float, default=None, help="bench.e2e's figure")
    args = parser.parse_args()
    runs = sorted(per_message_cpu_us(args.messages) for _ in range(5))
    median = runs[len(runs) // 2]
    print(
        f"metric calls per message: {median:.1f} µs of CPU (5 runs: {runs[0]:.1f}-{runs[-1]:.1f})"
    )
    if args.hub_cpu_ms:
        share = median / 1000 / args.hub_cpu_ms * 100
        print(f"  = {share:.2f} % of {args.hub_cpu_ms} ms of hub CPU per message")


if __name__ == "__main__":
    main()
