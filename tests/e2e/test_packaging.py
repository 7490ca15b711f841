"""Installing like a product: the wheel and sdist built from pyproject.toml, the wheel
installed into a clean venv (outside the repository), then ``init``, ``check-config``
and ``run`` until ``/-/ready`` with the shipped config, and a clean stop.

Needs PyPI (through pip's configured index) for the build backend and the
dependencies; it skips, saying so, when pip cannot reach it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.daemon_process import REPO
from tests.helpers import free_port

pytestmark = pytest.mark.slow


def run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the venv, the wheel, the sdist)."""
    base = tmp_path_factory.mktemp("packaging")
    dist = base / "dist"
    built = run(sys.executable, "-m", "build", "--outdir", dist, REPO, cwd=base)
    if built.returncode != 0 and "Could not find a version" in built.stderr + built.stdout:
        pytest.skip("cannot reach a package index for the build backend")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("continuity_monitor-*.whl")
    (sdist,) = dist.glob("continuity_monitor-*.tar.gz")
    venv = base / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=base).returncode == 0
    done = run(venv / "bin/pip", "install", "-q", wheel, cwd=base)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv, wheel, sdist


def test_the_wheel_and_sdist_carry_the_starter_files_and_the_readme(
    installed: tuple[Path, Path, Path],
) -> None:
    _, wheel, sdist = installed
    names = zipfile.ZipFile(wheel).namelist()
    for starter in ("config.toml", "continuity-monitor.service", "continuity-monitor.env"):
        assert f"monitor/starter/{starter}" in names
    assert any(n.endswith(".data/data/share/doc/continuity-monitor/README.md") for n in names)
    assert "monitor/templates/index.html" in names
    assert not any(n.startswith("tests/") for n in names)
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("/README.md") for m in members)
    assert any(m.endswith("/monitor/starter/config.toml") for m in members)


def test_init_check_config_and_run_from_the_installed_wheel(
    installed: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    venv = installed[0]
    program = venv / "bin/continuity-monitor"
    version = run(program, "--version", cwd=tmp_path)
    assert version.stdout == "continuity-monitor 0.1.0\n"

    etc = tmp_path / "etc"
    init = run(program, "init", "--dir", etc, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert init.stdout.splitlines()[:3] == [
        f"wrote {etc / 'config.toml'}",
        f"wrote {etc / 'continuity-monitor.service'}",
        f"wrote {etc / 'continuity-monitor.env'}",
    ]
    again = run(program, "init", "--dir", etc, cwd=tmp_path)
    assert again.returncode == 1 and "not overwriting" in again.stderr

    unit = (etc / "continuity-monitor.service").read_text()
    documentation = next(
        line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("Documentation=")
    )
    assert documentation.startswith("file://")
    assert Path(documentation.removeprefix("file://")).is_file()  # the README, installed
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart={venv}/bin/continuity-monitor run --config {etc}/")
    assert f"EnvironmentFile=-{etc}/continuity-monitor.env" in unit
    env_file = etc / "continuity-monitor.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    token = next(
        line.split("=", 1)[1]
        for line in env_file.read_text().splitlines()
        if line.startswith("CONTINUITY_API_TOKEN=")
    )
    assert len(token) >= 16 and "@" not in token

    checked = run(program, "check-config", "--config", etc / "config.toml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{etc / 'config.toml'}: OK: ")

    port = free_port()
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [
            *(program, "run", "--config", etc / "config.toml"),
            *("--listen", f"127.0.0.1:{port}", "--state-dir", tmp_path / "state"),
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert b"loopback-v4" in page.read()  # the status page and its templates
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        log.close()
    text = (tmp_path / "daemon.log").read_text()
    assert "Traceback" not in text
    assert sum("schema version" in line for line in text.splitlines()) <= 1


def test_the_shipped_copies_are_the_repository_files() -> None:
    """`init` writes what the repository documents (config.toml, the systemd unit)."""
    starter = REPO / "monitor/starter"
    assert (starter / "config.toml").read_text() == (REPO / "config.toml").read_text()
    assert (starter / "continuity-monitor.service").read_text() == (
        REPO / "deploy/systemd/continuity-monitor.service"
    ).read_text()


def test_make_run_installs_only_what_running_needs() -> None:
    makefile = (REPO / "Makefile").read_text()
    rule = makefile.split("$(RUN_STAMP): pyproject.toml\n", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q -e ." in rule and "[test]" not in rule
    assert "\nrun: $(RUN_STAMP)\n" in makefile
