"""``python -m pipeline.models build [--smoke] [--force] [--model-dir DIR]``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="export, train and quantize the classifiers")
    build.add_argument("--smoke", action="store_true", help="tiny, fast build for tests")
    build.add_argument("--force", action="store_true", help="rebuild models that already exist")
    build.add_argument("--model-dir", type=Path, default=Path("models"), help="default: ./models")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from pipeline.models.build import build_models

    started = time.perf_counter()
    metas = build_models(args.model_dir, smoke=args.smoke, force=args.force, progress=not args.quiet)
    summary = {
        kind: {"version": meta["version"], "build_seconds": meta["build_seconds"], "metrics": meta["metrics"]}
        for kind, meta in metas.items()
    }
    json.dump(summary, sys.stdout, indent=2)
    print(f"\ntotal {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
