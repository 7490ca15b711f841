"""Writes the Grafana dashboards of deploy/grafana/dashboards.

    python deploy/grafana/generate.py           # (re)write the JSON files
    python deploy/grafana/generate.py --check   # exit 1 if a file is not what this writes

The JSON files are the product (import them as they are into Grafana 10 or
later, or provision them with ../provisioning). Each is declared by one
``dash_*.py`` module (its rows and panels, in order) from the builders of
``panels.py``, which keep them consistent: one data source reference, one
layout grid, the same variables and value mappings everywhere. Edit there,
run this, commit both; the tests (tests/e2e/test_dashboards.py) fail when the
two differ, and run every panel query of the JSON files against a real
Prometheus.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import dash_health
import dash_overview
import dash_slo
import dash_target
from panels import Json

OUT = Path(__file__).resolve().parent / "dashboards"

DASHBOARDS: dict[str, Callable[[], Json]] = {
    module.FILE: module.build for module in (dash_overview, dash_target, dash_slo, dash_health)
}


def render(build: Callable[[], Json]) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
