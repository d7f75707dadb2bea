"""The deployment files hold together: docker-compose.yml, the Dockerfiles, Prometheus and Grafana.

No Docker engine is needed: the files are parsed and checked against each other and against what
the code really exports (``pipeline.observability.metrics.Metrics``) and reads
(``pipeline.settings.Settings``).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline.hotpath.score_cache import ScoreCache
from pipeline.observability.metrics import Metrics
from pipeline.settings import SEVERITIES, Settings

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana" / "provisioning"
TOPICS = ("transactions", "texts", "scores.transactions", "scores.texts", "alerts.fraud", "alerts.sentiment",
          "deadletter")  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


# -- docker-compose.yml ------------------------------------------------------------------------
def test_compose_services_and_images(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert {"kafka", "topics", "worker", "demo", "prometheus", "grafana", "worker-gpu"} <= set(svc)
    assert svc["kafka"]["image"].startswith("apache/kafka:")
    assert svc["topics"]["image"] == svc["kafka"]["image"]
    assert (
        svc["worker"]["image"] == "streamguard:cpu" and svc["worker"]["build"]["dockerfile"] == "Dockerfile"
    )
    assert svc["worker-gpu"]["image"] == "streamguard:gpu"
    assert svc["worker-gpu"]["build"]["dockerfile"] == "Dockerfile.gpu"
    assert svc["demo"]["image"] == "streamguard:cpu"  # built by `worker`, not rebuilt
    for name, service in svc.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"


def test_compose_kafka_is_kraft_and_workers_use_the_internal_listener(compose: dict[str, Any]) -> None:
    svc = services(compose)
    env = svc["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "ZOOKEEPER" not in " ".join(env)
    assert "INTERNAL://kafka:19092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # topics come from `topics`, partitioned
    assert "kafka-data:/var/lib/kafka/data" in svc["kafka"]["volumes"]
    command = "\n".join(svc["topics"]["command"])
    for topic in TOPICS:
        assert re.search(rf"(^|\s){re.escape(topic)}(\s|;)", command), topic
    assert svc["topics"]["restart"] == "no"


def test_compose_healthchecks(compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name in ("kafka", "worker", "worker-gpu", "prometheus", "grafana"):
        check = svc[name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}
        assert {"interval", "timeout", "retries"} <= set(check)
    for name in ("worker", "worker-gpu"):
        test = " ".join(svc[name]["healthcheck"]["test"])
        assert "http://127.0.0.1:6066/healthz" in test
        assert test.split()[1] == "python"  # the slim image has no curl or wget
    assert "9090/-/ready" in " ".join(svc["prometheus"]["healthcheck"]["test"])
    assert "3000/api/health" in " ".join(svc["grafana"]["healthcheck"]["test"])


def test_compose_depends_on_conditions(compose: dict[str, Any]) -> None:
    svc = services(compose)
    expected = {
        "topics": {"kafka": "service_healthy"},
        "worker": {"topics": "service_completed_successfully"},
        "worker-gpu": {"topics": "service_completed_successfully"},
        "demo": {"topics": "service_completed_successfully", "worker": "service_healthy"},
        "prometheus": {"worker": "service_healthy"},
        "grafana": {"prometheus": "service_healthy"},
    }
    for name, wanted in expected.items():
        depends = svc[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        assert {dep: cond["condition"] for dep, cond in depends.items()} == wanted, name


def test_compose_worker_environment_is_real_settings(compose: dict[str, Any]) -> None:
    svc = services(compose)
    known = {f"STREAMGUARD_{name.upper()}" for name in Settings.model_fields}
    for name in ("worker", "worker-gpu", "demo"):
        env = svc[name]["environment"]
        assert env["STREAMGUARD_BOOTSTRAP"] == "kafka:19092"
        assert env["STREAMGUARD_WEB_HOST"] == "0.0.0.0"  # reachable by Prometheus
        assert str(env["STREAMGUARD_WEB_PORT"]) == "6066"
        assert set(env) <= known, set(env) - known
    assert "6066" in [str(p) for p in svc["worker"]["expose"]]
    assert any(str(p).endswith(":6066") for p in svc["worker"]["ports"])  # the dashboard
    assert svc["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"


def interpolate_defaults(text: str) -> str:
    """What compose substitutes when the operator sets nothing: ``${VAR:-default}`` -> default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_every_published_port_is_bound_to_localhost_by_default(compose: dict[str, Any]) -> None:
    """Nothing in the file has authentication (PLAINTEXT Kafka, Grafana's anonymous viewer): no port
    may listen on every interface unless the operator asks for it, with one switch for all."""
    published = {}
    for name, service in services(compose).items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the short syntax with a host address ({port!r})"
            published[name] = port
            assert port.startswith("${STREAMGUARD_BIND:-127.0.0.1}:"), f"{name}: {port}"
            host, host_port, container_port = interpolate_defaults(port).split(":")
            assert host == "127.0.0.1", f"{name}: {port}"
            assert host_port and container_port, f"{name}: {port}"
    assert {"kafka", "worker", "prometheus", "grafana"} <= set(published)
    # Kafka tells its clients where to connect: localhost unless exposed under another name.
    advertised = services(compose)["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://localhost:9092" in interpolate_defaults(advertised)


def test_compose_profiles_and_volumes(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert svc["demo"]["profiles"] == ["demo"]
    assert "produce" in svc["demo"]["command"]
    assert svc["worker-gpu"]["profiles"] == ["gpu"]
    for name in ("kafka", "topics", "worker", "prometheus", "grafana"):
        assert "profiles" not in svc[name], f"{name} must start by default"
    named = set(compose["volumes"])
    for name, service in svc.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"
    grafana_mounts = svc["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana_mounts
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in svc["prometheus"]["volumes"]


def test_prometheus_scrapes_the_worker_port(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (sd,) = job["dns_sd_configs"]
    port = int(services(compose)["worker"]["environment"]["STREAMGUARD_WEB_PORT"])
    assert sd["port"] == port
    assert {"worker", "worker-gpu"} <= set(sd["names"])
    assert job.get("metrics_path", "/metrics") == "/metrics"


# -- Dockerfiles -------------------------------------------------------------------------------
def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """Instructions per build stage, continuation lines joined: [[(INSTRUCTION, args), ...], ...]."""
    text = re.sub(r"\\\n", " ", (REPO / dockerfile).read_text())
    result: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            result.append([])
        result[-1].append((instruction.upper(), args.strip()))
    return result


def pip_installs(stage: list[tuple[str, str]]) -> list[list[str]]:
    """The arguments of every ``pip install`` in the stage's RUN instructions."""
    found = []
    for instruction, args in stage:
        if instruction != "RUN":
            continue
        commands: list[list[str]] = [[]]
        for word in shlex.split(args):  # quotes first: a `;` or `&&` inside a string stays there
            if word in {"&&", ";", "||"}:
                commands.append([])
            else:
                commands[-1].append(word.rstrip(";"))
        for words in commands:
            if words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
                found.append(words[words.index("install") + 1 :])
    return found


def test_cpu_image_serves_the_shipped_models_with_the_cpu_extra_and_no_torch() -> None:
    (runtime,) = stages("Dockerfile")  # one stage: nothing is built or trained in the image
    assert runtime[0][1].startswith("python:3.11")
    text = " ".join(a for _, a in runtime)
    assert "torch" not in text and "[build]" not in text and "models build" not in text
    installs = pip_installs(runtime)
    assert installs == [[".[cpu]"]]
    assert any(i == "RUN" and "pip check" in a for i, a in runtime)
    assert ("COPY", "models models") in runtime and ("ENV", "STREAMGUARD_MODEL_DIR=/app/models") in runtime
    assert ("USER", "streamguard") in runtime
    assert any(i == "HEALTHCHECK" and "/healthz" in a for i, a in runtime)


def test_gpu_image_serves_the_shipped_models_with_the_gpu_extra_and_never_onnxruntime() -> None:
    (runtime,) = stages("Dockerfile.gpu")
    assert runtime[0][1].startswith("nvidia/cuda:12") and "cudnn-runtime" in runtime[0][1]
    installs = pip_installs(runtime)
    assert installs == [[".[gpu]"]]  # pip resolves onnxruntime-gpu, never the CPU package (test_packaging)
    text = " ".join(a for _, a in runtime)
    assert "pip check" in text and "pip show onnxruntime " in text  # fails if the CPU package came in
    assert "torch" not in text and "[build]" not in text and "models build" not in text
    assert ("COPY", "models models") in runtime and ("ENV", "STREAMGUARD_MODEL_DIR=/app/models") in runtime
    assert any(i == "CMD" and "worker" in a for i, a in runtime)


def test_the_build_context_leaves_out_the_local_environment_and_model_cache() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".git", "models/.cache", "bench/results"} <= ignored
    assert "models" not in ignored and not any(line.startswith("models/*") for line in ignored)


# -- Grafana -----------------------------------------------------------------------------------
def exported_metrics() -> dict[str, set[str]]:
    """Every sample name a worker's registry exposes, with its label names, after observing one of
    everything (so labelled families have children)."""
    metrics = Metrics()
    kind = metrics.kind("fraud")
    kind.observe_batch(4, 3.0)
    for severity in SEVERITIES:
        kind.observe_outputs(5.0, False, severity)
    kind.track_queue_depth(lambda: 2)
    metrics.consumed("transactions").inc()
    metrics.observe_dead_letter("transactions", "not_json")
    metrics.set_model_info("fraud", name="m", version="1", provider="CPUExecutionProvider")
    metrics.set_consumer_lag({("transactions", 0): 3})
    metrics.track_cache("fraud", "embeddings", ScoreCache(1))
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((GRAFANA / "dashboards" / "streamguard.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    provider = yaml.safe_load((GRAFANA / "dashboards" / "streamguard.yml").read_text())
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["options"]["path"] == "/etc/grafana/provisioning/dashboards"
    datasource = yaml.safe_load((GRAFANA / "datasources" / "prometheus.yml").read_text())
    (source,) = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090"
    dashboard = json.loads((GRAFANA / "dashboards" / "streamguard.json").read_text())
    assert dashboard["uid"] == "streamguard"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for ref in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert ref == {"type": "prometheus", "uid": source["uid"]}, panel["title"]


def test_every_metric_in_the_grafana_dashboard_is_exported() -> None:
    exported = exported_metrics()
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        names = set(re.findall(r"\bstreamguard_[a-z_]+\b", expr))
        assert names, expr
        for name in names:
            assert name in exported, f"{name} (in {expr!r}) is not exported; exported: {sorted(exported)}"
        used |= names
        # Labels in by (...) exist on the metrics of the expression ("le" on histogram buckets;
        # "instance" and "job" are added by Prometheus).
        labels = set().union(*(exported[n] for n in names)) | {"instance", "job"}
        for group in re.findall(r"\bby \(([^)]*)\)", expr):
            for label in (g.strip() for g in group.split(",")):
                assert label in labels, f"label {label!r} in {expr!r} is not on {sorted(names)}"
    # What the issue asks the dashboard to show.
    for wanted in (
        "streamguard_scores_total",
        "streamguard_latency_ms_bucket",
        "streamguard_sla_misses_total",
        "streamguard_dead_letters_total",
        "streamguard_alerts_total",
        "streamguard_consumer_lag",
        "streamguard_batch_size_bucket",
        "streamguard_inference_ms_bucket",
    ):
        assert wanted in used, wanted
    assert any("histogram_quantile(0.99" in e and "latency_ms_bucket" in e for e in exprs)
    assert any("by (error_type)" in e for e in exprs)
    assert any("severity" in e and "alerts_total" in e for e in exprs)
