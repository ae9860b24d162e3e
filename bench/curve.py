"""The latency curve and the core-scaling figure: how runs are laid side by side.

Pure functions of the figures the runs produced, so the verdicts can be read (and tested)
apart from the machinery that produced them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Offered rates of the curve, as fractions of the closed-loop maximum just measured.
FRACTIONS = (0.25, 0.5, 0.75, 0.9, 1.0)
TARGET_INGRESS_P99_MS = 20.0
TARGET_E2E_P99_MS = 100.0
TARGET_CORE_SCALING = 1.7


@dataclass(frozen=True)
class Point:
    """One open-loop step of the curve (latencies in milliseconds)."""

    offered: float  # msg/s planned
    achieved: float  # msg/s delivered end to end
    ingress_p50: float
    ingress_p99: float
    e2e_p50: float | None  # from the 202 to the receiver; None without traces
    e2e_p99: float | None
    idle_share: float  # the machine's idle level before the step, 0..1


def rates(maximum: float, fractions: Sequence[float] = FRACTIONS) -> list[float]:
    """The offered rates: ``fractions`` of ``maximum``, at least 1 msg/s each."""
    return [max(1.0, round(maximum * fraction, 1)) for fraction in fractions]


def near_half(points: Sequence[Point], maximum: float) -> Point:
    """The step whose offered rate is closest to half the maximum."""
    if not points:
        raise ValueError("no curve points to choose from")
    return min(points, key=lambda point: abs(point.offered - maximum / 2))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _verdict(ratio: float) -> str:
    return "met" if ratio <= 1.0 else "missed"


def table(points: Sequence[Point], maximum: float, min_idle: float) -> str:
    """The curve as a table, then the half-maximum step against the latency targets."""
    header = (
        f"  {'offered/s':>10}{'achieved/s':>12}{'ingress p50':>13}{'p99 ms':>8}"
        f"{'e2e p50':>10}{'p99 ms':>8}{'idle':>7}"
    )
    lines = [header]
    for point in points:
        lines.append(
            f"  {point.offered:>10,.1f}{point.achieved:>12,.1f}{point.ingress_p50:>13.1f}"
            f"{point.ingress_p99:>8.1f}{_ms(point.e2e_p50):>10}{_ms(point.e2e_p99):>8}"
            f"{point.idle_share:>7.0%}"
        )
    half = near_half(points, maximum)
    ingress = half.ingress_p99 / TARGET_INGRESS_P99_MS
    lines += [
        "",
        f"  at half the maximum ({maximum:,.1f} msg/s closed loop): offered {half.offered:,.1f}/s",
        f"    ingress p99 {half.ingress_p99:.1f} ms = {ingress:.2f} × limit of "
        f"{TARGET_INGRESS_P99_MS:.0f} ms ({_verdict(ingress)})",
    ]
    if half.e2e_p99 is None:
        lines.append("    end-to-end p99 not measured (--latency-sample 0)")
    else:
        e2e = half.e2e_p99 / TARGET_E2E_P99_MS
        lines.append(
            f"    end-to-end p99 (202 → receiver) {half.e2e_p99:.1f} ms = {e2e:.2f} × limit of "
            f"{TARGET_E2E_P99_MS:.0f} ms ({_verdict(e2e)})"
        )
    busy = [point for point in points if point.idle_share < min_idle]
    if busy:
        lines.append(
            f"  NOT VALID: the machine was under {min_idle:.0%} idle before "
            f"{len(busy)} of {len(points)} steps (other work on the cores): run again when quiet"
        )
    return "\n".join(lines)


def scaling(
    one_core: float, two_cores: float, idle_shares: Sequence[float], min_idle: float
) -> str:
    """The 2-core / 1-core end-to-end throughput ratio against the target."""
    ratio = two_cores / one_core
    verdict = "met" if ratio >= TARGET_CORE_SCALING else "missed"
    line = (
        f"1 → 2 cores: end-to-end {one_core:,.0f} → {two_cores:,.0f} msg/s = {ratio:.2f} × "
        f"(target {TARGET_CORE_SCALING:.1f} ×: {verdict})"
    )
    if any(share < min_idle for share in idle_shares):
        line += (
            f"\n  NOT VALID: the machine was under {min_idle:.0%} idle before a run "
            "(other work on the cores): run again when quiet"
        )
    return line
