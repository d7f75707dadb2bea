from __future__ import annotations

import pytest

from pipeline.bench.config import BenchConfig, full_config, quick_config
from pipeline.bench.systems import OPTIONAL_SYSTEMS, SYSTEMS, system_spec


@pytest.mark.parametrize("config", [full_config(), quick_config()])
def test_a_default_run_measures_the_issues_systems_and_no_more(config: BenchConfig) -> None:
    assert config.systems == SYSTEMS
    assert not set(OPTIONAL_SYSTEMS) & set(config.systems)


@pytest.mark.parametrize("config", [full_config(), quick_config()])
def test_the_relay_runs_when_named_at_rates_of_its_own(config: BenchConfig) -> None:
    chosen = config.with_overrides(systems=("relay", "streamguard"))
    assert chosen.systems == ("relay", "streamguard")
    assert chosen.rates["relay"] == chosen.rates["streamguard"]
    assert system_spec("relay").module == "pipeline.bench.relay"


def test_an_unknown_system_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="relay"):
        quick_config().with_overrides(systems=("kafka_streams",))
