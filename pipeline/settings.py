"""One frozen settings object, read from ``STREAMGUARD_*`` environment variables.

Every component receives this object explicitly; nothing reads the environment on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SEVERITIES = ("low", "medium", "high", "critical")

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
DeadLetterRaw = Literal["full", "masked", "omit"]


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error must never echo a value (the SASL password among them).
    model_config = SettingsConfigDict(
        env_prefix="STREAMGUARD_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    # --- broker -----------------------------------------------------------------------------
    bootstrap: str | None = Field(
        default=None, description="host:port of an existing Kafka; unset starts the embedded broker"
    )
    broker_port: int = Field(default=9092, description="port of the embedded broker")
    partitions: int = Field(default=4, ge=1, description="partitions of topics created at start")
    fetch_max_wait_ms: int = Field(
        default=5, ge=0, description="consumer fetch wait; Faust's hard-coded 1,500 ms costs ~700 ms/event"
    )
    idle_fetch_max_wait_ms: int = Field(
        default=25, ge=0, description="fetch wait after 1 s without events: less idle CPU, first event waits"
    )
    session_timeout_s: float = Field(
        default=6.0, gt=0, description="consumer group session; join takes ~half"
    )
    heartbeat_interval_s: float = Field(default=0.5, gt=0, description="consumer group heartbeat")
    rebalance_timeout_s: float = Field(default=10.0, gt=0, description="consumer group rebalance limit")

    # --- broker security (TLS, SASL) ----------------------------------------------------------
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, as Kafka names them"
    )
    ssl_cafile: Path | None = Field(
        default=None, description="PEM CA bundle that signed the broker's certificate; unset: system trust"
    )
    ssl_certfile: Path | None = Field(default=None, description="PEM client certificate (mutual TLS)")
    ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of the client certificate (mutual TLS)"
    )
    ssl_check_hostname: bool = Field(
        default=True, description="check the broker certificate names the host connected to"
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols only)"
    )
    sasl_username: str | None = Field(default=None, description="SASL user name")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password; never printed or logged"
    )

    # --- topics (contract names) ------------------------------------------------------------
    topic_transactions: str = Field(default="transactions", description="input: card/payment transactions")
    topic_texts: str = Field(default="texts", description="input: monitoring text")
    topic_scores_transactions: str = Field(
        default="scores.transactions", description="a score per transaction"
    )
    topic_scores_texts: str = Field(default="scores.texts", description="a score per text")
    topic_alerts_fraud: str = Field(default="alerts.fraud", description="fraud alerts")
    topic_alerts_sentiment: str = Field(default="alerts.sentiment", description="negative-sentiment alerts")
    topic_deadletter: str = Field(default="deadletter", description="inputs that cannot be scored, with why")

    # --- latency and batching ---------------------------------------------------------------
    sla_ms: float = Field(default=20.0, gt=0, description="budget from ingestion to publication")
    max_batch: int = Field(default=32, ge=1, description="largest model mini-batch")
    batch_mode: Literal["adaptive", "deadline"] = Field(
        default="adaptive",
        description="adaptive: run at once while the model keeps up, else batch up to the SLA deadline; "
        "deadline: always batch up to the SLA deadline",
    )
    publish_margin_ms: float = Field(
        default=2.0, ge=0, description="time kept back for serialising and handing to the producer"
    )
    queue_size: int = Field(default=2048, ge=1, description="bounded queue of events awaiting a batch")
    overload_policy: Literal["queue", "shed"] = Field(
        default="queue",
        description="queue: score every event with the model, accept SLA misses; shed: while a lane "
        "is behind, score with a cheap fallback marked degraded (nothing is dropped)",
    )
    max_message_bytes: int = Field(default=1_000_000, ge=1, description="larger inputs are dead letters")
    deadletter_raw: DeadLetterRaw = Field(
        default="full",
        description="what a dead letter keeps of the input: full (raw bytes and key, to replay), masked "
        "(personal data masked), omit (only the error and source coordinates)",
    )

    # --- inference --------------------------------------------------------------------------
    model_dir: Path = Field(default=Path("models"), description="where built models are cached")
    fraud_model: str = Field(
        default="fraud", description="serving model for transactions: a directory in model_dir"
    )
    sentiment_model: str = Field(
        default="sentiment",
        description="serving model for texts: a directory in model_dir (`sentiment-student`: 3 layers)",
    )
    inference_threads: int = Field(default=1, ge=1, description="onnxruntime intra-op threads per lane")
    inference_per_lane: bool = Field(
        default=True,
        description="each lane (fraud, sentiment) runs its model on its own thread; else they take turns",
    )
    max_tokens: int = Field(default=128, ge=8, description="texts are truncated to this many tokens")
    gpu_device: int = Field(default=0, ge=0, description="CUDA device a GPU worker runs its models on")
    tensorrt: bool = Field(
        default=False,
        description="run the GPU graphs on TensorRT where onnxruntime has it (engines built on first start)",
    )
    model_cache_size: int = Field(
        default=4096,
        ge=0,
        description="texts each model keeps by text: sentiment scores, fraud embeddings (0: no cache)",
    )

    # --- rules ------------------------------------------------------------------------------
    fraud_threshold: float = Field(default=0.5, ge=0, le=1, description="fraud score that alerts")
    sentiment_threshold: float = Field(
        default=0.7, ge=0, le=1, description="probability of negative that alerts"
    )
    severity_bands: dict[str, float] = Field(
        default={"medium": 0.8, "high": 0.9, "critical": 0.97},
        description="score at or above which an alert is raised to this severity (JSON)",
    )
    large_amount: float = Field(
        default=5000.0, ge=0, description="transactions at or above this amount alert on their own"
    )
    watch_terms: tuple[str, ...] = Field(
        default=("outage", "breach", "fraud", "scam", "lawsuit", "hacked"),
        description="terms that raise a negative text's alert one severity (JSON list)",
    )

    # --- worker -----------------------------------------------------------------------------
    app_id: str = Field(
        default="streamguard", description="consumer group id; workers sharing it share the load"
    )
    web_host: str = Field(default="127.0.0.1", description="address of the worker's web server")
    web_port: int = Field(
        default=6066, ge=0, le=65535, description="worker web port; a taken port moves to the next free one"
    )
    data_dir: Path | None = Field(default=None, description="Faust data dir; default is a temp dir")
    log_level: str = Field(default="info", description="debug, info, warning, error")

    # --- demo producer ----------------------------------------------------------------------
    demo_rate: float = Field(default=20.0, gt=0, description="events per second of the demo producer")
    demo_bad_ratio: float = Field(default=0.02, ge=0, le=1, description="share of malformed demo events")

    @field_validator("severity_bands")
    @classmethod
    def _known_severities(cls, bands: dict[str, float]) -> dict[str, float]:
        unknown = set(bands) - set(SEVERITIES)
        if unknown:
            raise ValueError(f"unknown severities {sorted(unknown)}; use {SEVERITIES}")
        return bands

    @model_validator(mode="after")
    def _security_fits_protocol(self) -> Settings:
        protocol = self.security_protocol
        uses_sasl = protocol.startswith("SASL_")
        uses_ssl = protocol.endswith("SSL")
        sasl_given = {
            "STREAMGUARD_SASL_MECHANISM": self.sasl_mechanism,
            "STREAMGUARD_SASL_USERNAME": self.sasl_username,
            "STREAMGUARD_SASL_PASSWORD": self.sasl_password,
        }
        if uses_sasl:
            missing = [name for name, value in sasl_given.items() if not value]
            if missing:
                raise ValueError(f"STREAMGUARD_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        else:
            stray = [name for name, value in sasl_given.items() if value]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but STREAMGUARD_SECURITY_PROTOCOL={protocol} does not use "
                    "SASL; choose SASL_PLAINTEXT or SASL_SSL"
                )
        ssl_files = {
            "STREAMGUARD_SSL_CAFILE": self.ssl_cafile,
            "STREAMGUARD_SSL_CERTFILE": self.ssl_certfile,
            "STREAMGUARD_SSL_KEYFILE": self.ssl_keyfile,
        }
        if not uses_ssl:
            stray = [name for name, value in ssl_files.items() if value is not None]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but STREAMGUARD_SECURITY_PROTOCOL={protocol} does not use "
                    "TLS; choose SSL or SASL_SSL"
                )
            return self
        # No CA file means the system trust store: right for a broker with a public certificate.
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError(
                "STREAMGUARD_SSL_KEYFILE needs STREAMGUARD_SSL_CERTFILE (the client certificate)"
            )
        for name, path in ssl_files.items():
            if path is not None and not path.is_file():
                raise ValueError(f"{name}={path} is not a readable file")
        return self

    @property
    def client_bootstrap(self) -> str:
        """Where clients connect: the configured Kafka, else the embedded broker's port on this host."""
        return self.bootstrap or f"127.0.0.1:{self.broker_port}"

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.topic_transactions, self.topic_texts)

    @property
    def output_topics(self) -> tuple[str, ...]:
        return (
            self.topic_scores_transactions,
            self.topic_scores_texts,
            self.topic_alerts_fraud,
            self.topic_alerts_sentiment,
            self.topic_deadletter,
        )


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags, tests) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
