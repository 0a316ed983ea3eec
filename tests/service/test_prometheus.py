"""Prometheus for the served model: the alert rules under their unit tests, and a real
Prometheus scraping a real ``fraudops serve`` (``level2/prometheus/``).

``promtool`` and ``prometheus`` are Debian's (``make system-deps`` installs them). The scrape
test uses the session's one HTTP instance (``tests/served.py``), so this module runs on the
worker that holds the shared registry (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from benchmarks._servers import Server, free_port
from tests.served import ROOT

PROMETHEUS = ROOT / "level2" / "prometheus"
RULE_TESTS = ("alerts_test.yml", "alerts_day_test.yml")


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.fail("promtool not found: run `make system-deps` (Debian package prometheus)")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def alert_names(rules: Path) -> set[str]:
    groups = yaml.safe_load(rules.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_every_alert_passes_its_unit_tests_and_the_config_is_valid() -> None:
    tested = promtool("test", "rules", *RULE_TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every alert has a unit test, so none can drift from what its test says it does.
    named = set()
    for name in RULE_TESTS:
        for case in yaml.safe_load((PROMETHEUS / name).read_text())["tests"]:
            named |= {t["alertname"] for t in case.get("alert_rule_test", [])}
    assert named == alert_names(PROMETHEUS / "alerts.yml")


def test_a_changed_threshold_fails_the_rule_tests_by_name(tmp_path: Path) -> None:
    for name in ("alerts.yml", *RULE_TESTS):
        shutil.copy(PROMETHEUS / name, tmp_path / name)
    rules = tmp_path / "alerts.yml"
    text = rules.read_text()
    assert "fraudops_prediction_log_pending) > 50000" in text
    rules.write_text(text.replace("fraudops_prediction_log_pending) > 50000", "...) > 70000"))
    tested = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "FraudopsPredictionLogBacklog" in tested.stdout + tested.stderr


def test_a_broken_rule_file_fails_with_the_rule_named(tmp_path: Path) -> None:
    text = (PROMETHEUS / "alerts.yml").read_text()
    broken = text.replace(
        "expr: sum by (instance) (increase(fraudops_model_reload_failures_total[10m])) > 0",
        "expr: sum by (instance) (increase(fraudops_model_reload_failures_total[10m]) > 0",
    )
    assert broken != text
    (tmp_path / "alerts.yml").write_text(broken)
    checked = promtool("check", "rules", "alerts.yml", cwd=tmp_path)
    assert checked.returncode != 0
    out = checked.stdout + checked.stderr
    assert '"FraudopsModelReloadFailing"' in out and "parse error" in out


def query(prometheus: str, promql: str) -> list[dict]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def until(what: str, probe, timeout: float = 60.0):
    """``probe()`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what}: not seen within {timeout:.0f} s")


@pytest.mark.slow
def test_prometheus_scrapes_the_served_model_and_loads_every_rule(
    http_server, models, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: run `make system-deps` (Debian package prometheus)")
    served = http_server.ready()
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [served.url.split("//")[1]]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    for i in range(3):  # the series every rule reads need predictions to exist
        row = {name: float(v) for name, v in models.X.iloc[i].items()}
        assert httpx.post(f"{served.url}/predict", json=row, timeout=30).status_code == 200

    prometheus = Server(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        dict(os.environ),
        port,
        "/-/ready",
        tmp_path / "prometheus.log",
    )
    try:
        url = prometheus.url
        up = until("the service as a healthy target", lambda: query(url, 'up{job="fraudops"} == 1'))
        assert up[0]["metric"]["instance"] == served.url.split("//")[1]
        info = until(
            "fraudops_model_info of the champion",
            lambda: query(url, f'fraudops_model_info{{version="{models.champion}"}} == 1'),
        )
        assert info[0]["metric"]["alias"] == "champion"
        scored = until(
            "fraudops_predictions_total", lambda: query(url, "sum(fraudops_predictions_total)")
        )
        assert float(scored[0]["value"][1]) >= 3
        # Every series a rule reads is one the service exports (a renamed metric or a bucket
        # BentoML no longer has would leave its alert silent for ever).
        groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        exprs = " ".join(rule["expr"] for group in groups for rule in group["rules"])
        names = set(re.findall(r"\b((?:fraudops|bentoml)_[a-z_]+)\b", exprs))
        assert len(names) >= 9, names
        for name in sorted(names):
            until(f"series {name}", lambda name=name: query(url, f"count({name})"), timeout=15)
        assert query(url, 'count(bentoml_service_request_duration_seconds_bucket{le="0.025"})')
        loaded = httpx.get(f"{url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        healthy = {r["name"] for g in loaded for r in g["rules"] if r.get("health") != "err"}
        assert alert_names(PROMETHEUS / "alerts.yml") <= healthy
    finally:
        prometheus.stop()
    assert prometheus.process.poll() is not None, "prometheus still running after stop()"
