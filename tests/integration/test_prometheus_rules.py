"""deploy/prometheus: rule files, example config and rule unit tests, judged by promtool.

``promtool check rules`` and ``check config`` validate the files,
``promtool test rules`` runs the unit tests in deploy/prometheus/tests, and
a real Prometheus loading the rules says which rules exist, so that every one
of them must have a unit test that expects it to fire (alerts) or to produce
samples (recording rules). Mutated copies of the rules must fail the unit
tests, which shows the tests look at what the rules compute.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.prometheus_peer import PROMTOOL, PrometheusPeer

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((DEPLOY / "rules").glob("*.yml"))
TEST_FILES = sorted((DEPLOY / "tests").glob("*.test.yml"))

pytestmark = pytest.mark.needs("prometheus", "promtool")


def promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def test_the_files_are_there() -> None:
    names = {p.name for p in RULE_FILES} | {p.name for p in TEST_FILES}
    assert {"continuity-recording.yml", "continuity-alerts.yml"} <= names
    assert {"recording.test.yml", "alerts.test.yml"} <= names


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rule_file: Path) -> None:
    result = promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_example_scrape_config_passes_promtool_check_config() -> None:
    result = promtool("check", "config", str(DEPLOY / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def loaded_rules(tmp_path: Path) -> dict[str, str]:
    """Rule name -> type ("alerting"/"recording"), as a real Prometheus loads them."""
    with PrometheusPeer(tmp_path, rule_files=RULE_FILES) as prom:
        groups = prom.rule_groups()
    rules = {rule["name"]: rule["type"] for group in groups for rule in group["rules"]}
    assert rules, "Prometheus loaded no rules"
    return rules


def test_every_rule_has_a_unit_test(tmp_path: Path) -> None:
    tests = "\n".join(p.read_text() for p in TEST_FILES)
    untested = []
    for name, kind in loaded_rules(tmp_path).items():
        if kind == "alerting":
            # a case that expects the alert to fire (exp_alerts with entries)
            pattern = rf"alertname: {re.escape(name)}\n\s*exp_alerts:\n\s*- exp_labels:"
        else:
            # a case that evaluates the recorded series and expects samples
            pattern = (
                rf"- expr: {re.escape(name)}\b.*\n\s*eval_time: .*\n\s*exp_samples:\n\s*- labels:"
            )
        if not re.search(pattern, tests):
            untested.append(name)
    assert untested == [], f"rules without a unit test: {untested}"


# (rule file, text in it, replacement): each mutation changes what a rule
# computes; the unit tests must notice.
MUTATIONS = [
    ("continuity-alerts.yml", "expr: continuity_target_up == 0", "expr: continuity_target_up < 2"),
    ("continuity-alerts.yml", "/ 86400 < 14 >= 3", "/ 86400 < 14"),
    ("continuity-alerts.yml", 'window="5m"} > 14.4', 'window="5m"} > 1'),
    ("continuity-alerts.yml", 'window="30m"} > 6', 'window="30m"} > 1'),
    ("continuity-alerts.yml", "for: 2m", "for: 0m"),
    ("continuity-alerts.yml", "> 600", "> 60"),
    ("continuity-alerts.yml", "continuity_store_available == 0", "continuity_store_available < 2"),
    ("continuity-alerts.yml", "for: 3m", "for: 5m"),
    (
        "continuity-alerts.yml",
        "unless continuity_scheduler_skipped_runs_total offset 10m",
        "unless continuity_scheduler_skipped_runs_total",
    ),
    (
        "continuity-recording.yml",
        '{state="unreachable"} == 1) * 4',
        '{state="unreachable"} == 1) * 5',
    ),
    ("continuity-recording.yml", "avg by (province, window)", "max by (province, window)"),
    ("continuity-recording.yml", "min by (slo)", "max by (slo)"),
]


@pytest.mark.parametrize(("file", "old", "new"), MUTATIONS)
def test_a_mutated_rule_fails_its_unit_tests(tmp_path: Path, file: str, old: str, new: str) -> None:
    copy = tmp_path / "prometheus"
    shutil.copytree(DEPLOY, copy)
    rule_file = copy / "rules" / file
    text = rule_file.read_text()
    assert text.count(old) == 1, f"mutation target {old!r} not unique in {file}"
    rule_file.write_text(text.replace(old, new))
    assert promtool("check", "rules", str(rule_file)).returncode == 0  # still valid
    result = promtool("test", "rules", *(str(copy / "tests" / p.name) for p in TEST_FILES))
    assert result.returncode != 0, f"unit tests still pass with {new!r}:\n{result.stdout}"
