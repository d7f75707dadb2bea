"""``streamguard``: one console script, subcommands, lazy imports so ``--help`` is instant."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger("streamguard")


def _settings() -> Settings:
    from pipeline.settings import load_settings

    return load_settings()


@contextlib.contextmanager
def _broker_for(settings: Settings) -> Iterator[str]:
    """The configured Kafka if STREAMGUARD_BOOTSTRAP is set, else a freshly started embedded one."""
    if settings.bootstrap:
        yield settings.bootstrap
        return
    from pipeline.errors import BrokerError
    from pipeline.tooling.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=settings.broker_port)
    try:
        bootstrap = broker.start()
    except BrokerError as exc:
        if "in use" not in str(exc).lower():
            raise
        log.warning("port %d is taken; starting the embedded broker on a free port", settings.broker_port)
        broker = EmbeddedBroker(port=0)
        bootstrap = broker.start()
    log.info("embedded broker (Tansu, memory storage) at %s", bootstrap)
    try:
        yield bootstrap
    finally:
        broker.stop()


def _ensure_models(settings: Settings) -> None:
    from pipeline.hotpath.artefacts import is_built

    missing = [kind for kind in ("fraud", "sentiment") if not is_built(settings.model_dir, kind)]
    if not missing:
        return
    log.info("models missing (%s): building them once into %s", ", ".join(missing), settings.model_dir)
    from pipeline.modelbuild.build import build_models

    build_models(settings.model_dir)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops `run` the same way Ctrl-C does


# -- commands ---------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.tooling.supervise import spawn, stop_all

    settings = _settings()
    code = 0
    try:
        _ensure_models(settings)
        with _broker_for(settings) as bootstrap:
            env = {"STREAMGUARD_BOOTSTRAP": bootstrap}
            children = [spawn(["worker"], env)]
            try:
                if not args.no_demo:
                    children.append(spawn(["produce", "--rate", str(args.rate)], env))
                print(_banner(settings, bootstrap), flush=True)
                while all(child.poll() is None for child in children):
                    time.sleep(0.5)
                code = next(c.returncode for c in children if c.returncode is not None) or 1
                log.error("a child process exited with code %s; stopping everything", code)
            finally:
                stop_all(children)
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
    return code


def _banner(settings: Settings, bootstrap: str) -> str:
    hint = "" if bootstrap == settings.client_bootstrap else f"STREAMGUARD_BOOTSTRAP={bootstrap} "
    return (
        f"\nStreamGuard is running on {bootstrap}. In another shell:\n"
        f"  {hint}.venv/bin/streamguard tail {settings.topic_alerts_fraud}       # fraud alerts\n"
        f"  {hint}.venv/bin/streamguard tail {settings.topic_alerts_sentiment}   # sentiment alerts\n"
        f"  {hint}.venv/bin/streamguard tail {settings.topic_deadletter}         # malformed input\n"
        f"Metrics: http://{settings.web_host}:{settings.web_port}/metrics "
        "(health /healthz, ready /readyz; the worker logs the port if it had to move)\n"
        "Ctrl-C stops everything.\n"
    )


def cmd_broker(args: argparse.Namespace) -> int:
    from pipeline.tooling.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=args.port)
    print(f"embedded broker at {broker.start()} (memory storage); Ctrl-C stops it", flush=True)
    try:
        while broker.is_running():
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    from agents.worker import run_worker

    settings = _settings()
    run_worker(settings, settings.client_bootstrap)
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from pipeline.tooling.demo import produce

    settings = _settings()
    rate = args.rate if args.rate is not None else settings.demo_rate
    try:
        sent = asyncio.run(
            produce(
                settings,
                settings.client_bootstrap,
                rate=rate,
                count=args.count,
                file=args.file,
                topic=args.topic,
                seed=args.seed,
            )
        )
    except KeyboardInterrupt:
        return 0
    print(f"sent {sent} events", flush=True)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from pipeline.kafka.security import aiokafka_security
    from pipeline.tooling.tail import tail

    settings = _settings()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            tail(
                settings.client_bootstrap,
                args.topic,
                from_beginning=args.from_beginning,
                limit=args.limit,
                raw=args.raw,
                security=aiokafka_security(settings),
            )
        )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """``models build|eval|rescore|import ...``: the model build's own parser, with the configured
    model dir."""
    from pipeline.modelbuild.__main__ import main as models_main

    argv = list(args.rest)
    if argv and argv[0] in ("build", "eval", "rescore", "import", "train") and "--model-dir" not in argv:
        argv += ["--model-dir", str(_settings().model_dir)]
    return models_main(argv)


def cmd_bench(args: argparse.Namespace) -> int:
    """``bench ...``: the top-level ``bench/`` package's own parser. Benchmarks are not part of the
    product: they run from a source checkout, and an installed wheel says so instead of failing."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "bench" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))  # the console script's sys.path starts at its bin/ folder
    try:
        from bench.main import main as bench_main
    except ModuleNotFoundError as exc:
        if exc.name != "bench":
            raise
        log.error("streamguard bench runs from a source checkout: no bench/ package next to %s", checkout)
        return 2
    return bench_main(args.rest)


# -- parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamguard",
        description="Real-time NLP alerting on Kafka. Settings come from STREAMGUARD_* env vars.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="broker (unless STREAMGUARD_BOOTSTRAP is set) + worker + demo")
    run.add_argument("--no-demo", action="store_true", help="do not start the demo producer")
    run.add_argument("--rate", type=float, default=20.0, help="demo events per second")
    run.set_defaults(func=cmd_run)

    broker = sub.add_parser("broker", help="run only the embedded broker")
    broker.add_argument("--port", type=int, default=9092)
    broker.set_defaults(func=cmd_broker)

    worker = sub.add_parser("worker", help="run one scoring worker")
    worker.set_defaults(func=cmd_worker)

    produce = sub.add_parser("produce", help="demo producer: generated events, or a JSONL file")
    produce.add_argument("--rate", type=float, default=None, help="events per second")
    produce.add_argument("--count", type=int, default=None, help="stop after this many events")
    produce.add_argument("--file", type=Path, default=None, help="send the lines of this JSONL file")
    produce.add_argument("--topic", default=None, help="topic for --file lines (default: by content)")
    produce.add_argument("--seed", type=int, default=0)
    produce.set_defaults(func=cmd_produce)

    tail = sub.add_parser("tail", help="print records of a topic as they arrive")
    tail.add_argument("topic")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--limit", type=int, default=None, help="stop after this many records")
    tail.add_argument("--raw", action="store_true", help="print JSON lines")
    tail.set_defaults(func=cmd_tail)

    # Two tools bring their own parser (flags next to the code that runs them): the rest of the
    # command line goes to it, and so does --help.
    models = sub.add_parser(
        "models",
        add_help=False,
        help="build, evaluate or import classifiers: `models build [--smoke] [--force] [--sentiment "
        "finetune|head] [--only KIND]`, `models eval [--measure]`, `models import DIR --name NAME` "
        "(see `models --help`)",
    )
    models.set_defaults(func=cmd_models, takes_rest=True)

    bench = sub.add_parser(
        "bench",
        add_help=False,
        help="StreamGuard vs broker/model floors and baselines at rising rates (`--quick`: < 3 min); "
        "from a source checkout (see `bench --help`)",
    )
    bench.set_defaults(func=cmd_bench, takes_rest=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "takes_rest", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    # Ctrl-C and SIGTERM stop every command the same way, even when started with SIGINT ignored
    # (a background job of a non-interactive shell); the worker's Faust loop installs its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    from pipeline.errors import StreamGuardError

    try:
        result: int = args.func(args)
    except StreamGuardError as exc:
        # Our errors say what is wrong and what to do: one line, not a traceback. A retriable one
        # (broker unreachable) exits 1 so a supervisor retries; anything else needs a person: 2.
        log.error("%s", exc)
        return 1 if exc.retriable else 2
    return result


if __name__ == "__main__":
    sys.exit(main())
