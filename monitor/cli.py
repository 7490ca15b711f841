"""``continuity-monitor`` command line: run, check-config, probe, report.

Every expected failure (bad config, port in use, no ICMP permission) ends
with one clear message on stderr and a non-zero exit code, never a
traceback. Exit codes: 0 success, 1 invalid input or a failed check,
2 usage errors (argparse's own).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from monitor import logfmt
from monitor.config import ConfigError, load_config
from monitor.daemon import Daemon, Overrides, StartupError
from monitor.probe_once import CheckOutcome, run_once
from monitor.report import FORMATS, Options
from monitor.report import run as run_report
from monitor.shard import Shard, parse_shard, select
from probes.base import ProbeSetupError

log = logging.getLogger("continuity-monitor")

SHARD_HELP = "monitor only shard I of N (from 0) of the targets; overrides monitor.shard"


def _shard_arg(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="continuity-monitor",
        description="Watch telecom and postal services; export continuity metrics; alert.",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="default: info",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument(
        "--config", type=Path, default=Path("config.toml"), help="default: config.toml"
    )
    run.add_argument("--listen", metavar="HOST:PORT", help="override monitor.listen")
    run.add_argument("--state-dir", metavar="DIR", help="override monitor.state_dir")
    run.add_argument("--shard", metavar="I/N", type=_shard_arg, help=SHARD_HELP)

    check = sub.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("--config", type=Path, default=Path("config.toml"))

    probe = sub.add_parser("probe", help="run the checks of some targets once and print results")
    probe.add_argument("--config", type=Path, default=Path("config.toml"))
    probe.add_argument("targets", nargs="*", metavar="TARGET", help="target names (default: all)")
    probe.add_argument("--format", choices=["text", "json"], default="text")
    probe.add_argument("--shard", metavar="I/N", type=_shard_arg, help=SHARD_HELP)

    report = sub.add_parser("report", help="availability report over a period, from the history")
    report.add_argument("--config", type=Path, default=Path("config.toml"))
    report.add_argument("--state-dir", metavar="DIR", help="override monitor.state_dir")
    report.add_argument("--since", required=True, help="YYYY-MM-DD (midnight) or RFC 3339")
    report.add_argument("--until", required=True, help="YYYY-MM-DD or RFC 3339, not included")
    report.add_argument(
        "--group-by", metavar="operator|province|site|label:NAME", help="default: no groups"
    )
    report.add_argument("--format", choices=FORMATS, default="md", help="default: md")
    report.add_argument("--output", type=Path, metavar="FILE", help="default: stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Control characters escaped and URLs redacted in every logged value.
    logfmt.install(args.log_level.upper(), sys.stderr)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "check-config":
            return _check_config(args.config, sys.stdout, sys.stderr)
        if args.command == "report":
            options = Options(
                config=args.config,
                since=args.since,
                until=args.until,
                state_dir=args.state_dir,
                group_by=args.group_by,
                format=args.format,
                output=args.output,
            )
            return run_report(options, stdout=sys.stdout, stderr=sys.stderr)
        return _probe(args, sys.stdout)
    except StartupError as exc:
        print(f"continuity-monitor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    overrides = Overrides(listen=args.listen, state_dir=args.state_dir, shard=args.shard)
    daemon = Daemon(args.config, overrides)
    asyncio.run(daemon.run())
    return 0


def _check_config(path: Path, out: TextIO, err: TextIO) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(
                f"{path}: {issue}" if not str(issue).startswith(str(path)) else str(issue), file=err
            )
        count = len(exc.issues)
        print(f"{count} error{'s' if count != 1 else ''}; the configuration is not valid", file=err)
        return 1
    checks = sum(len(t.checks) for t in config.targets)
    print(f"{path}: OK: {len(config.targets)} targets, {checks} checks", file=out)
    return 0


def _probe(args: argparse.Namespace, out: TextIO) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise StartupError(f"invalid configuration {args.config}:\n{exc}") from None
    whole = config
    shard = args.shard or (parse_shard(config.monitor.shard) if config.monitor.shard else None)
    if shard is not None:
        config = select(config, shard).config
    names = list(args.targets) or [t.name for t in config.targets]
    unknown = [n for n in names if whole.target(n) is None]
    if unknown:
        raise StartupError("unknown target(s): " + ", ".join(unknown))
    elsewhere = [n for n in names if config.target(n) is None]
    if elsewhere:
        raise StartupError(f"not in shard {shard}: " + ", ".join(elsewhere))
    targets = [t for n in names if (t := config.target(n)) is not None]
    try:
        outcomes = asyncio.run(run_once(config, targets))
    except ProbeSetupError as exc:
        raise StartupError(str(exc)) from None
    for outcome in outcomes:
        out.write(_format(outcome, args.format))
    return 0 if all(o.result.ok for o in outcomes) else 1


def _format(outcome: CheckOutcome, fmt: str) -> str:
    result = outcome.result
    if fmt == "json":
        record = {
            "target": outcome.target,
            "check": outcome.kind,
            "ok": result.ok,
            "reason": result.reason,
            "message": result.message,
            "duration_seconds": round(result.duration, 6),
            "started": result.started,
            "values": dict(result.values),
        }
        return json.dumps(record, sort_keys=False) + "\n"
    status = "OK  " if result.ok else "FAIL"
    values = " ".join(f"{k}={_short(v)}" for k, v in result.values.items())
    detail = f" {result.message}" if result.message and not result.ok else ""
    return (
        f"{status} {outcome.target} {outcome.kind} {result.reason} "
        f"{result.duration * 1000:.1f}ms{detail}{' ' + values if values else ''}\n"
    )


def _short(value: float) -> str:
    return f"{value:.6g}"


if __name__ == "__main__":
    sys.exit(main())
