"""The Kubernetes manifests in deploy/k8s/ hold together with the code and the images.

No cluster is needed: every YAML document is parsed and validated against a small hand-written
JSON Schema of its kind (the fields these manifests rely on, with their types), then checked against
what the worker really reads (``pipeline.settings.Settings``), serves (the routes ``agents/web.py``
registers) and what the Dockerfiles build (the ``image:`` names docker-compose.yml gives them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
DEFAULTS = Settings()

_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_LABELS = {**_STRINGS, "minProperties": 1}
_PROBE = {
    "type": "object",
    "required": ["httpGet"],
    "properties": {
        "httpGet": {
            "type": "object",
            "required": ["path", "port"],
            "properties": {"path": {"type": "string"}, "port": {"type": ["string", "integer"]}},
        },
        "periodSeconds": {"type": "integer", "minimum": 1},
        "timeoutSeconds": {"type": "integer", "minimum": 1},
        "failureThreshold": {"type": "integer", "minimum": 1},
    },
}
_QUANTITIES = {"type": "object", "additionalProperties": {"type": ["string", "integer"]}}
_CONTAINER = {
    "type": "object",
    "required": ["name", "image", "ports", "livenessProbe", "readinessProbe", "resources"],
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "command": {"type": "array", "items": {"type": "string"}},
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
                "oneOf": [{"required": ["value"]}, {"required": ["valueFrom"]}],
            },
        },
        "envFrom": {"type": "array", "items": {"type": "object", "required": ["configMapRef"]}},
        "ports": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["containerPort"],
                "properties": {"name": {"type": "string"}, "containerPort": {"type": "integer"}},
            },
        },
        "startupProbe": _PROBE,
        "livenessProbe": _PROBE,
        "readinessProbe": _PROBE,
        "resources": {
            "type": "object",
            "required": ["requests"],
            "properties": {"requests": _QUANTITIES, "limits": _QUANTITIES},
        },
    },
}
SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("v1", "ConfigMap"): {
        "type": "object",
        "required": ["metadata", "data"],
        "properties": {"metadata": _META, "data": _STRINGS},
    },
    ("apps/v1", "Deployment"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["selector", "template"],
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "selector": {
                        "type": "object",
                        "required": ["matchLabels"],
                        "properties": {"matchLabels": _LABELS},
                    },
                    "template": {
                        "type": "object",
                        "required": ["metadata", "spec"],
                        "properties": {
                            "metadata": {
                                "type": "object",
                                "required": ["labels"],
                                "properties": {"labels": _LABELS},
                            },
                            "spec": {
                                "type": "object",
                                "required": ["containers"],
                                "properties": {
                                    "containers": {"type": "array", "minItems": 1, "items": _CONTAINER}
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    ("v1", "Service"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["selector", "ports"],
                "properties": {
                    "selector": _LABELS,
                    "ports": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port", "targetPort"],
                            "properties": {
                                "name": {"type": "string"},
                                "port": {"type": "integer"},
                                "targetPort": {"type": ["string", "integer"]},
                            },
                        },
                    },
                },
            },
        },
    },
    ("policy/v1", "PodDisruptionBudget"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["selector"],
                "properties": {"selector": {"type": "object", "required": ["matchLabels"]}},
                "oneOf": [{"required": ["maxUnavailable"]}, {"required": ["minAvailable"]}],
            },
        },
    },
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers", "minReplicaCount", "maxReplicaCount"],
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {"name": {"type": "string"}},
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                # KEDA reads trigger metadata as strings only.
                                "metadata": _STRINGS,
                            },
                        },
                    },
                },
            },
        },
    },
}


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.rglob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                found.append((path, document))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for _, document in manifests() if document["kind"] == kind]


def deployments() -> dict[str, dict[str, Any]]:
    return {document["metadata"]["name"]: document for document in of_kind("Deployment")}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = only
    return found


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container(deployment)["env"]}


def port_number(deployment: dict[str, Any], port: str | int) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container(deployment)["ports"] if p.get("name") == port]
    return int(number)


def compose_images() -> dict[str, str]:
    """Dockerfile -> the image name docker-compose.yml builds from it."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return {
        service["build"]["dockerfile"]: service["image"]
        for service in compose["services"].values()
        if "build" in service
    }


def web_routes() -> set[str]:
    source = (REPO / "agents" / "web.py").read_text()
    return set(re.findall(r"add_get\(\"(/[^\"]*)\"", source))


def test_every_document_is_a_known_kind_and_valid_against_its_schema() -> None:
    found = manifests()
    kinds = {document.get("kind") for _, document in found}
    assert {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "ScaledObject"} <= kinds
    for path, document in found:
        key = (document.get("apiVersion"), document.get("kind"))
        assert key in SCHEMAS, f"{path.relative_to(REPO)}: no schema for {key}"
        jsonschema.validate(document, SCHEMAS[key])  # raises with the path of the bad field


def test_a_schema_rejects_a_deployment_without_probes() -> None:
    broken = deployments()["streamguard-worker"]
    broken = {**broken, "spec": {**broken["spec"], "template": {**broken["spec"]["template"]}}}
    pod = dict(broken["spec"]["template"]["spec"])
    pod["containers"] = [{k: v for k, v in container(broken).items() if k != "readinessProbe"}]
    broken["spec"]["template"]["spec"] = pod
    with pytest.raises(jsonschema.ValidationError, match="readinessProbe"):
        jsonschema.validate(broken, SCHEMAS[("apps/v1", "Deployment")])


def test_probes_and_ports_match_the_settings_and_the_web_routes() -> None:
    routes = web_routes()
    assert {"/healthz", "/readyz", "/metrics"} <= routes
    for name, deployment in deployments().items():
        spec = container(deployment)
        env = env_of(deployment)
        assert env["STREAMGUARD_WEB_HOST"] == "0.0.0.0", name  # the kubelet probes the pod's IP
        assert int(env["STREAMGUARD_WEB_PORT"]) == DEFAULTS.web_port, name
        assert port_number(deployment, "web") == DEFAULTS.web_port
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = spec[probe]["httpGet"]
            assert get["path"] == path and port_number(deployment, get["port"]) == DEFAULTS.web_port, name
        assert spec["startupProbe"]["httpGet"]["path"] in routes
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) == DEFAULTS.web_port
    (service,) = of_kind("Service")
    (port,) = service["spec"]["ports"]
    assert port["port"] == DEFAULTS.web_port
    for deployment in deployments().values():
        assert port_number(deployment, port["targetPort"]) == DEFAULTS.web_port


def test_environment_is_real_settings_and_the_bootstrap_comes_from_the_config_map() -> None:
    known = {f"STREAMGUARD_{name.upper()}" for name in Settings.model_fields}
    (config_map,) = of_kind("ConfigMap")
    assert "STREAMGUARD_BOOTSTRAP" in config_map["data"]
    assert set(config_map["data"]) <= known, set(config_map["data"]) - known
    for name, deployment in deployments().items():
        spec = container(deployment)
        assert set(env_of(deployment)) <= known, name
        assert "STREAMGUARD_BOOTSTRAP" not in env_of(deployment)  # one place: the config map
        refs = [source["configMapRef"]["name"] for source in spec["envFrom"]]
        assert refs == [config_map["metadata"]["name"]], name
        assert spec["command"] == ["streamguard", "worker"]
        mounts = {m["name"]: m["mountPath"] for m in spec.get("volumeMounts", [])}
        assert env_of(deployment)["STREAMGUARD_DATA_DIR"] in mounts.values()


def test_images_are_the_ones_the_dockerfiles_build() -> None:
    images = compose_images()
    assert images == {"Dockerfile": "streamguard:cpu", "Dockerfile.gpu": "streamguard:gpu"}
    workers = deployments()
    assert container(workers["streamguard-worker"])["image"] == images["Dockerfile"]
    assert container(workers["streamguard-worker-gpu"])["image"] == images["Dockerfile.gpu"]
    for dockerfile in images:
        exposed = re.findall(r"^EXPOSE (\d+)$", (REPO / dockerfile).read_text(), re.MULTILINE)
        assert exposed == [str(DEFAULTS.web_port)], dockerfile


def test_the_gpu_variant_requests_a_gpu_and_the_cpu_one_does_not() -> None:
    workers = deployments()
    gpu = container(workers["streamguard-worker-gpu"])["resources"]
    assert int(gpu["limits"]["nvidia.com/gpu"]) == 1
    assert int(gpu["requests"].get("nvidia.com/gpu", gpu["limits"]["nvidia.com/gpu"])) == 1
    tolerations = workers["streamguard-worker-gpu"]["spec"]["template"]["spec"]["tolerations"]
    assert any(t["key"] == "nvidia.com/gpu" for t in tolerations)
    cpu = container(workers["streamguard-worker"])["resources"]
    assert "nvidia.com/gpu" not in {**cpu.get("requests", {}), **cpu.get("limits", {})}


def test_selectors_match_their_pods_and_the_variants_do_not_share_pods() -> None:
    workers = deployments()
    selected = []
    for name, deployment in workers.items():
        match = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert match.items() <= labels.items(), name
        selected.append(match)
    first, second = selected
    assert first != second and not (first.items() <= second.items() or second.items() <= first.items())
    for kind in ("Service", "PodDisruptionBudget"):
        (document,) = of_kind(kind)
        spec = document["spec"]
        selector = spec["selector"] if kind == "Service" else spec["selector"]["matchLabels"]
        for name, deployment in workers.items():  # both variants: one fleet, one budget
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), (kind, name)
    (budget,) = of_kind("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1


def test_keda_scales_each_deployment_on_the_lag_of_the_workers_group() -> None:
    workers = deployments()
    scaled = {document["spec"]["scaleTargetRef"]["name"]: document for document in of_kind("ScaledObject")}
    assert set(scaled) == set(workers)
    (config_map,) = of_kind("ConfigMap")
    partitions = int(config_map["data"]["STREAMGUARD_PARTITIONS"])
    for name, document in scaled.items():
        spec = document["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions, name
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        topics = sorted(t["metadata"]["topic"] for t in triggers)
        assert topics == sorted(DEFAULTS.input_topics), name
        group = env_of(workers[name])["STREAMGUARD_APP_ID"]
        assert group == DEFAULTS.app_id
        for trigger in triggers:
            meta = trigger["metadata"]
            assert meta["consumerGroup"] == group
            # Resolved by KEDA from the target's environment: the config map's bootstrap.
            assert meta["bootstrapServersFromEnv"] == "STREAMGUARD_BOOTSTRAP"
            assert int(meta["lagThreshold"]) > 0
            assert meta["offsetResetPolicy"] == "earliest"  # as the worker's consumer
            assert meta["allowIdleConsumers"] == "false"
