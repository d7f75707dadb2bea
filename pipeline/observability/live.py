"""What the live dashboard shows, kept in memory by the worker. Pure: no Faust, no I/O, no clock.

``LiveState`` holds a bounded ring of recent alerts and a sliding window of time buckets (scores,
SLA misses, alerts, dead letters and a latency histogram per bucket). The hot path only appends and
adds: an alert is kept as the bytes already serialised for Kafka and parsed when the dashboard asks
for it, a latency lands in a fixed log-scale histogram bin, so nothing is sorted or built per event.
Everything is computed in ``snapshot``, which the web server calls about once a second.

Callers pass the time (epoch milliseconds, as ``pipeline.hotpath.lane.now_ms``); tests pass any clock.
Single-threaded by design: the worker calls it from the event loop only.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

__all__ = ["LATENCY_EDGES_MS", "LiveState", "percentile"]

# Log-spaced latency bins: 0.1 ms .. ~77 s, each edge 10% above the previous one, so a percentile
# read from the histogram is within 10% of the true value.
_GROWTH: Final = 1.1
LATENCY_EDGES_MS: Final[tuple[float, ...]] = tuple(0.1 * _GROWTH**i for i in range(143))
_MAX_REASONS: Final = 5


@dataclass(slots=True)
class _Bucket:
    """Counts for one time slot of ``bucket_s`` seconds starting at ``start_s``."""

    start_s: int
    scores: int = 0
    sla_misses: int = 0
    alerts: int = 0
    dead_letters: int = 0
    latency_bins: list[int] | None = None  # allocated on the first score of the slot

    def observe_latency(self, latency_ms: float) -> None:
        bins = self.latency_bins
        if bins is None:
            bins = self.latency_bins = [0] * (len(LATENCY_EDGES_MS) + 1)
        bins[bisect.bisect_left(LATENCY_EDGES_MS, latency_ms)] += 1


def percentile(bins: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a histogram over ``LATENCY_EDGES_MS``: the upper edge of the bin
    holding it (the last bin, open-ended, reports its lower edge). None when the histogram is empty."""
    count = sum(bins)
    if count == 0:
        return None
    rank = max(1, math.ceil(q * count))
    seen = 0
    for index, n in enumerate(bins):
        seen += n
        if seen >= rank:
            return LATENCY_EDGES_MS[min(index, len(LATENCY_EDGES_MS) - 1)]
    return LATENCY_EDGES_MS[-1]  # pragma: no cover - the loop always reaches rank


class LiveState:
    """Recent alerts and sliding-window statistics of one worker."""

    def __init__(self, *, max_alerts: int = 200, window_s: int = 300, bucket_s: int = 2) -> None:
        if max_alerts < 1 or bucket_s < 1 or window_s < bucket_s:
            raise ValueError("need max_alerts >= 1, bucket_s >= 1 and window_s >= bucket_s")
        self.max_alerts = max_alerts
        self.bucket_s = bucket_s
        self.n_buckets = window_s // bucket_s
        self.window_s = self.n_buckets * bucket_s
        self._alerts: deque[tuple[int, str, bytes]] = deque(maxlen=max_alerts)  # (seq, kind, json)
        self._seq = 0
        self._buckets: deque[_Bucket] = deque(maxlen=self.n_buckets)
        self.totals = {"scores": 0, "sla_misses": 0, "alerts": 0, "dead_letters": 0}
        self.alerts_by_severity: dict[str, int] = {}
        self.dead_letters_by_type: dict[str, int] = {}

    # -- hot path ----------------------------------------------------------------------------
    def _bucket(self, now_ms: float) -> _Bucket:
        start = int(now_ms // 1000) // self.bucket_s * self.bucket_s
        buckets = self._buckets
        if buckets and buckets[-1].start_s >= start:
            return buckets[-1]  # the current slot, or the clock went back: count it in the newest
        fresh = _Bucket(start)
        buckets.append(fresh)  # the deque drops the oldest slot
        return fresh

    def observe_score(self, latency_ms: float, sla_met: bool, now_ms: float) -> None:
        """One score handed to the producer."""
        bucket = self._bucket(now_ms)
        bucket.scores += 1
        bucket.observe_latency(latency_ms)
        self.totals["scores"] += 1
        if not sla_met:
            bucket.sla_misses += 1
            self.totals["sla_misses"] += 1

    def observe_alert(self, kind: str, severity: str, record: bytes, now_ms: float) -> None:
        """One alert handed to the producer; ``record`` is its JSON value, parsed only when shown."""
        self._seq += 1
        self._alerts.append((self._seq, kind, record))
        self._bucket(now_ms).alerts += 1
        self.totals["alerts"] += 1
        self.alerts_by_severity[severity] = self.alerts_by_severity.get(severity, 0) + 1

    def observe_dead_letter(self, error_type: str, now_ms: float) -> None:
        self._bucket(now_ms).dead_letters += 1
        self.totals["dead_letters"] += 1
        self.dead_letters_by_type[error_type] = self.dead_letters_by_type.get(error_type, 0) + 1

    # -- reading -----------------------------------------------------------------------------
    @property
    def last_alert_seq(self) -> int:
        """Sequence number of the newest alert (0 before the first)."""
        return self._seq

    def alerts_since(self, seq: int) -> list[dict[str, Any]]:
        """Alerts newer than ``seq``, newest first, as the dashboard shows them (at most the ring)."""
        return [_summary(s, kind, raw) for s, kind, raw in reversed(self._alerts) if s > seq]

    def snapshot(self, now_ms: float) -> dict[str, Any]:
        """Window statistics at ``now_ms``: per-bucket series (oldest first, gaps filled with zeros)
        and totals over the window and since start."""
        newest = int(now_ms // 1000) // self.bucket_s * self.bucket_s
        oldest = newest - (self.n_buckets - 1) * self.bucket_s
        by_start = {b.start_s: b for b in self._buckets if oldest <= b.start_s <= newest}
        merged = [0] * (len(LATENCY_EDGES_MS) + 1)
        series: list[dict[str, Any]] = []
        window = {"scores": 0, "sla_misses": 0, "alerts": 0, "dead_letters": 0}
        for start in range(oldest, newest + 1, self.bucket_s):
            b = by_start.get(start)
            if b is None:
                series.append(_point(start, self.bucket_s, None))
                continue
            series.append(_point(start, self.bucket_s, b))
            window["scores"] += b.scores
            window["sla_misses"] += b.sla_misses
            window["alerts"] += b.alerts
            window["dead_letters"] += b.dead_letters
            if b.latency_bins is not None:
                merged = [x + y for x, y in zip(merged, b.latency_bins, strict=True)]
        # Throughput "now": the last complete slots (the current one is still filling).
        recent = [p["scores"] for p in series[-6:-1]]
        return {
            "now": now_ms,
            "window_s": self.window_s,
            "bucket_s": self.bucket_s,
            "series": series,
            "window": {
                **window,
                "sla_miss_rate": window["sla_misses"] / window["scores"] if window["scores"] else 0.0,
                "p50_ms": percentile(merged, 0.50),
                "p95_ms": percentile(merged, 0.95),
                "p99_ms": percentile(merged, 0.99),
            },
            "throughput_per_s": sum(recent) / (len(recent) * self.bucket_s) if recent else 0.0,
            "totals": dict(self.totals),
            "alerts_by_severity": dict(self.alerts_by_severity),
            "dead_letters_by_type": dict(self.dead_letters_by_type),
            "last_alert_seq": self._seq,
        }


def _point(start_s: int, bucket_s: int, b: _Bucket | None) -> dict[str, Any]:
    if b is None:
        return {"t": start_s * 1000, "scores": 0, "per_s": 0.0, "sla_misses": 0, "alerts": 0,
                "dead_letters": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}  # fmt: skip
    bins = b.latency_bins or []
    return {
        "t": start_s * 1000,
        "scores": b.scores,
        "per_s": b.scores / bucket_s,
        "sla_misses": b.sla_misses,
        "alerts": b.alerts,
        "dead_letters": b.dead_letters,
        "p50_ms": percentile(bins, 0.50),
        "p95_ms": percentile(bins, 0.95),
        "p99_ms": percentile(bins, 0.99),
    }


def _summary(seq: int, kind: str, raw: bytes) -> dict[str, Any]:
    """The fields of an alert record the dashboard shows; a record that does not parse is shown too."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"seq": seq, "kind": kind, "severity": "unknown", "reasons": [], "error": "unreadable record"}
    if not isinstance(record, dict):
        record = {}
    return {
        "seq": seq,
        "kind": kind,
        "alert_id": record.get("alert_id"),
        "event_id": record.get("event_id"),
        "severity": record.get("severity", "unknown"),
        "score": record.get("score"),
        "label": record.get("label"),
        "latency_ms": record.get("latency_ms"),
        "sla_met": record.get("sla_met"),
        "published": (record.get("timestamps") or {}).get("published"),
        "reasons": [_reason(r) for r in _as_list(record.get("reasons"))[:_MAX_REASONS]],
        "event": _event_brief(record.get("event")),
    }


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _reason(reason: object) -> dict[str, Any]:
    if not isinstance(reason, dict):
        return {"rule": str(reason), "detail": "", "drivers": []}
    return {
        "rule": str(reason.get("rule", "")),
        "detail": str(reason.get("detail", "")),
        "drivers": [str(d) for d in _as_list(reason.get("drivers"))][:5],
    }


def _event_brief(event: object) -> dict[str, Any]:
    """A few masked input fields that identify the event on screen."""
    if not isinstance(event, dict):
        return {}
    keys: Iterable[str] = ("text", "amount", "currency", "merchant", "country", "channel", "source")
    brief = {k: event[k] for k in keys if k in event}
    text = brief.get("text")
    if isinstance(text, str) and len(text) > 200:
        brief["text"] = text[:199] + "…"
    return brief
