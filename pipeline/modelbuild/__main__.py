"""``python -m pipeline.modelbuild build [--smoke] [--force] [--sentiment head|finetune] [--only TARGET]
[--model-dir DIR]`` ``python -m pipeline.modelbuild eval [--model-dir DIR] [--measure]`` and
``python -m pipeline.modelbuild rescore fraud [--model-dir DIR]`` and ``python -m pipeline.modelbuild
import DIR --name NAME [--alert-class LABEL] [--threshold P] [--quantize int8|none] [--force]``.

Targets: ``sentiment``, ``fraud`` (built by default when missing) and ``sentiment-student`` (the
3-layer distilled sentiment model; only with ``--only sentiment-student``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from pipeline.hotpath.artefacts import BUILD_TARGETS, KINDS
from pipeline.modelbuild.build_config import SENTIMENT_METHODS

TARGETS = tuple(BUILD_TARGETS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.modelbuild", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="export, train and quantize the classifiers")
    build.add_argument("--smoke", action="store_true", help="tiny, fast build for tests")
    build.add_argument("--force", action="store_true", help="rebuild models that already exist")
    build.add_argument("--model-dir", type=Path, default=Path("models"), help="default: ./models")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.add_argument(
        "--sentiment",
        choices=SENTIMENT_METHODS,
        default=None,
        help="finetune: every encoder layer trained (~17 min on 2 cores; default of full builds); "
        "head: frozen encoder + trained head (~3 min; default of --smoke)",
    )
    build.add_argument(
        "--only",
        choices=TARGETS,
        action="append",
        help="build only this target (repeatable); default: sentiment and fraud. sentiment-student: "
        "3 of the 6 layers distilled from the fine-tuned model (~17 min; reuses the cached teacher)",
    )
    evaluate = sub.add_parser("eval", help="table of the built models' held-out metrics")
    evaluate.add_argument("--model-dir", type=Path, default=Path("models"), help="default: ./models")
    evaluate.add_argument(
        "--measure", action="store_true", help="measure B1/B16 latency now instead of reading meta.json"
    )
    evaluate.add_argument("--threads", type=int, default=2, help="onnxruntime threads for --measure")
    rescore = sub.add_parser(
        "rescore", help="re-measure a built model on evaluation data whose generator changed (no training)"
    )
    rescore.add_argument("kind", choices=("fraud",), help="fraud: its shifted set (test_shifted)")
    rescore.add_argument("--model-dir", type=Path, default=Path("models"), help="default: ./models")
    imported = sub.add_parser(
        "import",
        help="serve a text classifier in Hugging Face's ONNX layout (model.onnx, tokenizer.json, "
        "config.json with id2label) on the texts lane",
    )
    imported.add_argument("source", type=Path, help="directory with model.onnx, tokenizer.json, config.json")
    imported.add_argument("--name", required=True, help="model directory name under the model dir")
    imported.add_argument("--alert-class", default=None, help="label to alert on (default: negative)")
    imported.add_argument("--threshold", type=float, default=None, help="alert threshold on P(alert class)")
    imported.add_argument(
        "--quantize", choices=("int8", "none"), default="int8", help="default: int8 (static)"
    )
    imported.add_argument("--force", action="store_true", help="replace an existing model of that name")
    imported.add_argument("--model-dir", type=Path, default=Path("models"), help="default: ./models")
    train = sub.add_parser("train", help="train a model of the shipped encoder on your own labelled data")
    train.add_argument(
        "--kind",
        choices=("sentiment", "fraud"),
        required=True,
        help="sentiment: the texts lane (the encoder fine-tuned); fraud: the transactions lane (a head "
        "on the encoder's embeddings and the transaction features)",
    )
    train.add_argument(
        "--data",
        type=Path,
        required=True,
        help='JSON lines: {"text": ..., "label": ...} for sentiment; for fraud, transactions of the '
        'input schema plus "label" (1/0, true/false or "fraud"/"legit")',
    )
    train.add_argument("--name", required=True, help="model directory name under the model dir")
    train.add_argument(
        "--epochs",
        type=float,
        default=None,
        help="most passes over the training split; training stops earlier once validation loss stops "
        "improving (default: sentiment 3, fraud 60)",
    )
    train.add_argument("--alert-class", default=None, help="sentiment: label to alert on (default: negative)")
    train.add_argument(
        "--false-alert-rate",
        type=float,
        default=None,
        help="sentiment: the alert threshold is the lowest cut at which at most this share of the "
        "validation texts of other labels alert (default: 0.05)",
    )
    train.add_argument("--max-steps", type=int, default=None, help=argparse.SUPPRESS)  # tests: a short run
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.add_argument("--force", action="store_true", help="replace an existing model of that name")
    train.add_argument("--model-dir", type=Path, default=Path("models"), help="default: ./models")
    args = parser.parse_args(argv)

    if args.command == "import":
        return _import(args)
    if args.command == "train":
        return _train(args)

    if args.command == "rescore":
        from pipeline.modelbuild.rescore import rescore_shifted

        meta = rescore_shifted(args.model_dir)
        json.dump(
            {"before": meta["rescored"]["before"], "after": meta["metrics"]["test_shifted"]}, sys.stdout
        )
        print()
        return 0

    if args.command == "eval":
        from pipeline.modelbuild.evaluate import print_models_table

        print_models_table(args.model_dir, measure=args.measure, threads=args.threads)
        return 0

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from pipeline.modelbuild.build import build_models

    started = time.perf_counter()
    metas = build_models(
        args.model_dir,
        smoke=args.smoke,
        force=args.force,
        progress=not args.quiet,
        sentiment=args.sentiment,
        kinds=tuple(args.only or KINDS),
    )
    summary = {
        kind: {"version": meta["version"], "build_seconds": meta["build_seconds"], "metrics": meta["metrics"]}
        for kind, meta in metas.items()
    }
    json.dump(summary, sys.stdout, indent=2)
    print(f"\ntotal {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from pipeline.modelbuild.importer import ModelImportError, import_model

    try:
        model = import_model(
            args.source,
            args.model_dir,
            name=args.name,
            alert_class=args.alert_class,
            threshold=args.threshold,
            quantize=args.quantize,
            force=args.force,
        )
    except ModelImportError as exc:
        print(f"streamguard models import: {exc}", file=sys.stderr)
        return 2
    print(f"imported {model.path} (labels {', '.join(model.labels)}; alerts on {model.alert_class})")
    print(f"serve it: STREAMGUARD_SENTIMENT_MODEL={args.name} streamguard run")
    return 0


def _train(args: argparse.Namespace) -> int:
    from pipeline.modelbuild.train_data import TrainingDataError

    try:
        summary = _train_fraud(args) if args.kind == "fraud" else _train_sentiment(args)
    except TrainingDataError as exc:
        print(f"streamguard models train: {exc}", file=sys.stderr)
        return 2
    print(f"trained {args.model_dir / args.name}: {summary}")
    lane = "FRAUD" if args.kind == "fraud" else "SENTIMENT"
    print(f"serve it: STREAMGUARD_{lane}_MODEL={args.name} streamguard run")
    return 0


def _train_sentiment(args: argparse.Namespace) -> str:
    from pipeline.modelbuild.alert_cut import DEFAULT_FALSE_ALERT_RATE
    from pipeline.modelbuild.train_custom import train_text_model
    from pipeline.modelbuild.train_data import read_labelled_texts

    for problem in read_labelled_texts(args.data).problems:
        print(f"{args.data}: skipped {problem}", file=sys.stderr)
    meta = train_text_model(
        args.data,
        args.model_dir,
        name=args.name,
        epochs=3.0 if args.epochs is None else args.epochs,
        alert_class=args.alert_class,
        false_alert_rate=DEFAULT_FALSE_ALERT_RATE if args.false_alert_rate is None else args.false_alert_rate,
        progress=not args.no_progress,
        max_steps=args.max_steps,
        force=args.force,
    )
    test, at = meta["metrics"]["test"], meta["metrics"]["test_at_threshold"]
    return (
        f"test accuracy {test['accuracy']}, macro-F1 {test['macro_f1']} (n {test['n']}), "
        f"alert threshold {meta['threshold']}: {at['recall']:.1%} of {meta['alert_class']} test texts "
        f"alert, {at['false_alerts']:.1%} of the others, "
        f"{meta['training']['seconds_total']} s"
    )


def _train_fraud(args: argparse.Namespace) -> str:
    from pipeline.modelbuild.train_data import TrainingDataError, read_labelled_transactions
    from pipeline.modelbuild.train_fraud import train_fraud_model

    if args.alert_class is not None:
        raise TrainingDataError("--alert-class is for --kind sentiment: a fraud model alerts on fraud")
    if args.false_alert_rate is not None:
        raise TrainingDataError(
            "--false-alert-rate is for --kind sentiment: a fraud model's threshold is its best validation F1"
        )
    for problem in read_labelled_transactions(args.data).problems:
        print(f"{args.data}: skipped {problem}", file=sys.stderr)
    meta = train_fraud_model(
        args.data,
        args.model_dir,
        name=args.name,
        epochs=None if args.epochs is None else max(1, round(args.epochs)),
        progress=not args.no_progress,
        force=args.force,
    )
    at = meta["metrics"]["test_at_threshold"]
    return (
        f"test ROC AUC {at['roc_auc']}, precision {at['precision']} and recall {at['recall']} at the "
        f"threshold {at['threshold']} chosen on validation (n {at['n']}), "
        f"{meta['training']['seconds_total']} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
