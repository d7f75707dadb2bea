from __future__ import annotations

import pytest

from bench.bench_config import BenchConfig, full_config, quick_config
from bench.systems import OPTIONAL_SYSTEMS, SYSTEMS, system_spec
from pipeline.settings import Settings

CACHE = "STREAMGUARD_MODEL_CACHE_SIZE"


@pytest.mark.parametrize("config", [full_config(), quick_config()])
def test_a_default_run_measures_the_issues_systems_and_no_more(config: BenchConfig) -> None:
    assert config.systems == SYSTEMS
    assert not set(OPTIONAL_SYSTEMS) & set(config.systems)


@pytest.mark.parametrize("config", [full_config(), quick_config()])
def test_the_relay_runs_when_named_at_rates_of_its_own(config: BenchConfig) -> None:
    chosen = config.with_overrides(systems=("relay", "streamguard"))
    assert chosen.systems == ("relay", "streamguard")
    assert chosen.rates["relay"] == chosen.rates["streamguard"]
    assert system_spec("relay").module == "bench.relay"


def test_an_unknown_system_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="relay"):
        quick_config().with_overrides(systems=("kafka_streams",))


@pytest.mark.parametrize("config", [full_config(), quick_config()])
def test_every_default_system_has_rates_and_the_tuned_naive_climbs_as_far_as_naive(
    config: BenchConfig,
) -> None:
    assert all(config.rates[name] for name in config.systems)
    assert config.rates["streamguard_cached"] == config.rates["streamguard"]
    assert set(config.rates["naive"]) <= set(config.rates["naive_tuned"])


@pytest.mark.parametrize("name", ["streamguard", "per_event_onnx", "fixed_window", "model_relay"])
def test_systems_compared_with_the_model_floor_run_without_caches_whatever_the_levers(name: str) -> None:
    # The model floor runs every event through its model: so must the systems held against it.
    assert system_spec(name).env[CACHE] == "0"
    assert system_spec(name, {CACHE: "4096", "STREAMGUARD_SLA_MS": "30"}).env == {
        **system_spec(name).env,
        "STREAMGUARD_SLA_MS": "30",
    }


def test_the_cached_row_is_the_same_worker_with_the_default_caches_or_a_lever_s() -> None:
    cached, headline = system_spec("streamguard_cached"), system_spec("streamguard")
    assert (cached.module, cached.args) == (headline.module, headline.args)
    assert cached.env[CACHE] == str(Settings().model_cache_size) != "0"
    assert system_spec("streamguard_cached", {CACHE: "128"}).env[CACHE] == "128"


def test_the_tuned_naive_app_is_the_naive_app_told_so() -> None:
    naive, tuned = system_spec("naive"), system_spec("naive_tuned")
    assert naive.module == tuned.module == "bench.naive_app"
    assert (naive.args, tuned.args) == ((), ("--tuned",))
    assert CACHE not in naive.env and CACHE not in tuned.env  # torch eager keeps no cache
