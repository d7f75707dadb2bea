"""``streamguard bench``: its flags (declared here), run, write ``bench/results/<time>/``, print."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

from bench.bench_config import full_config, quick_config
from bench.bench_progress import BenchProgress
from bench.report import write_report
from bench.runner import run_bench
from pipeline.settings import load_settings

DEFAULT_RESULTS = Path("bench/results")


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env takes NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


@contextlib.contextmanager
def _environ(extra: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamguard bench",
        description="StreamGuard vs its broker/model floors and baselines at rising rates.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer rates, shorter runs (< 3 minutes)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON results here")
    parser.add_argument(
        "--out", type=Path, default=None, help="results folder (default bench/results/<time>)"
    )
    parser.add_argument(
        "--systems",
        default=None,
        help=(
            "comma list of streamguard,streamguard_cached,per_event_onnx,fixed_window,naive,naive_tuned; "
            "relay,model_relay: floors"
        ),
    )
    parser.add_argument("--rates", default=None, help="comma list of events/s, for every system")
    parser.add_argument("--duration", type=float, default=None, help="seconds of traffic per rate")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=(
            "environment of every system's worker (lever experiments; systems compared with the "
            "model floor keep STREAMGUARD_MODEL_CACHE_SIZE=0); repeatable"
        ),
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    config = (quick_config() if args.quick else full_config()).with_overrides(
        systems=tuple(args.systems.split(",")) if args.systems else None,
        rates=tuple(float(r) for r in args.rates.split(",")) if args.rates else None,
        duration_s=args.duration,
        extra_env=_env_pairs(args.env),
    )
    out_dir = args.out or DEFAULT_RESULTS / datetime.now().strftime("%Y%m%d-%H%M%S")
    # The model floor runs in this process: it follows --env too (a lever such as another serving
    # model or thread count must move the floor it is compared with).
    with _environ(config.extra_env):
        settings = load_settings()
    # The bars and the table say what happens; client chatter would bury them.
    for name in ("aiokafka", "pipeline.kafka.topics", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    out_dir.mkdir(parents=True, exist_ok=True)
    with BenchProgress(enabled=not args.no_progress and sys.stderr.isatty()) as progress:
        results = asyncio.run(run_bench(config, settings, out_dir, progress))
    print(write_report(results, out_dir, args.json), flush=True)
    print(f"written to {out_dir}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
