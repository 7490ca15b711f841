"""``continuity-monitor`` command line.

Commands on the host: ``run``, ``check-config``, ``probe``, ``report``,
``init``; commands against a running daemon (``monitor.cli_client``):
``maintenance``, ``silence``, ``ack``, ``status``.

Every expected failure (bad config, port in use, no ICMP permission) ends
with one clear message on stderr and a non-zero exit code, never a
traceback. Exit codes: 0 success, 1 invalid input or a failed check,
2 usage errors (argparse's own).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from monitor import cli_client as client
from monitor import logfmt
from monitor.contract import ProbeSetupError
from monitor.daemon import Daemon, Overrides, StartupError
from monitor.engine.config import ConfigError, load_config
from monitor.engine.heap import pin_malloc_thresholds
from monitor.engine.shard import select
from monitor.engine.shard_spec import Shard, parse_shard
from monitor.history.report import FORMATS, Options
from monitor.history.report import run as run_report
from monitor.i18n import detail_words, reason_word, texts
from monitor.init_files import InitError, write_starter
from monitor.probe_once import CheckOutcome, run_once
from monitor.web import units

log = logging.getLogger("continuity-monitor")

SHARD_HELP = "monitor only shard I of N (from 0) of the targets; overrides monitor.shard"


def _shard_arg(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def version() -> str:
    try:
        return importlib.metadata.version("continuity-monitor")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _common() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["debug", "info", "warning", "error"],
        help="default: info",
    )
    return common


def _client_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config",
        type=Path,
        default=Path("config.toml"),
        help="read [monitor] listen and [web] api_token from it (default: config.toml)",
    )
    options.add_argument("--url", help=f"the daemon's URL (default: ${client.ENV_URL}, config)")
    options.add_argument("--token", help=f"API token (default: ${client.ENV_TOKEN}, config)")
    return options


def _until_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--for", dest="for_", metavar="DURATION", help="such as 30m, 2h, 1d")
    parser.add_argument("--until", metavar="TIME", help="RFC 3339, such as 2026-12-01T02:00+07:00")
    parser.add_argument("--comment", default="", help="why (shown on the status page)")


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="continuity-monitor",
        description="Watch telecom and postal services; export continuity metrics; alert.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon", parents=[common])
    run.add_argument(
        "--config", type=Path, default=Path("config.toml"), help="default: config.toml"
    )
    run.add_argument("--listen", metavar="HOST:PORT", help="override monitor.listen")
    run.add_argument("--state-dir", metavar="DIR", help="override monitor.state_dir")
    run.add_argument("--shard", metavar="I/N", type=_shard_arg, help=SHARD_HELP)

    check = sub.add_parser("check-config", help="validate a config file and exit", parents=[common])
    check.add_argument("--config", type=Path, default=Path("config.toml"))

    probe = sub.add_parser(
        "probe", help="run the checks of some targets once and print results", parents=[common]
    )
    probe.add_argument("--config", type=Path, default=Path("config.toml"))
    probe.add_argument("targets", nargs="*", metavar="TARGET", help="target names (default: all)")
    probe.add_argument("--format", choices=["text", "json"], default="text")
    probe.add_argument("--shard", metavar="I/N", type=_shard_arg, help=SHARD_HELP)

    report = sub.add_parser(
        "report", help="availability report over a period, from the history", parents=[common]
    )
    report.add_argument("--config", type=Path, default=Path("config.toml"))
    report.add_argument("--state-dir", metavar="DIR", help="override monitor.state_dir")
    report.add_argument("--since", required=True, help="YYYY-MM-DD (midnight) or RFC 3339")
    report.add_argument("--until", required=True, help="YYYY-MM-DD or RFC 3339, not included")
    report.add_argument(
        "--group-by", metavar="operator|province|site|label:NAME", help="default: no groups"
    )
    report.add_argument("--format", choices=FORMATS, default="md", help="default: md")
    report.add_argument("--output", type=Path, metavar="FILE", help="default: stdout")

    init = sub.add_parser(
        "init",
        help="write a commented starter config, the systemd unit and an environment file",
        parents=[common],
    )
    init.add_argument("--dir", type=Path, default=Path("."), help="where to write (default: .)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    _add_client_commands(sub, common)
    return parser


def _add_client_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    parents = [common, _client_options()]
    maintenance = sub.add_parser("maintenance", help="maintenance windows of a running daemon")
    msub = maintenance.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = msub.add_parser("add", help="open a one-off window now", parents=parents)
    add.add_argument("targets", nargs="*", metavar="TARGET")
    add.add_argument("--match", action="append", default=[], metavar="LABEL=VALUE")
    _until_options(add)
    msub.add_parser("list", help="every window, from the config and the API", parents=parents)
    end = msub.add_parser("end", help="end a window made through the API", parents=parents)
    end.add_argument("id", metavar="ID")

    silence = sub.add_parser("silence", help="alert silences of a running daemon")
    ssub = silence.add_subparsers(dest="action", required=True, metavar="ACTION")
    sadd = ssub.add_parser("add", help="hold back matching notifications", parents=parents)
    sadd.add_argument("--match", action="append", default=[], metavar="LABEL=VALUE")
    _until_options(sadd)
    ssub.add_parser("list", help="every silence", parents=parents)
    expire = ssub.add_parser("expire", help="end a silence now", parents=parents)
    expire.add_argument("id", metavar="ID")

    reload = sub.add_parser(
        "reload", help="reload the daemon's config; fails if the file is refused", parents=parents
    )
    reload.add_argument("--pid", type=int, help="send SIGHUP to it when there is no API token")

    ack = sub.add_parser("ack", help="acknowledge a firing alert", parents=parents)
    ack.add_argument("fingerprint", metavar="FINGERPRINT")

    status = sub.add_parser(
        "status", help="what is down, unreachable or in maintenance", parents=parents
    )
    status.add_argument("--all", action="store_true", help="every target, also those up")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Control characters escaped and URLs redacted in every logged value.
    logfmt.install(getattr(args, "log_level", "info").upper(), sys.stderr)
    command = args.command if args.command in _COMMANDS else "client"
    try:
        return _COMMANDS[command](args, sys.stdout)
    except (StartupError, client.ClientError, InitError) as exc:
        print(f"continuity-monitor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _report(args: argparse.Namespace, out: TextIO) -> int:
    options = Options(
        config=args.config,
        since=args.since,
        until=args.until,
        state_dir=args.state_dir,
        group_by=args.group_by,
        format=args.format,
        output=args.output,
    )
    return run_report(options, stdout=out, stderr=sys.stderr)


def _run(args: argparse.Namespace, _: TextIO) -> int:
    # The daemon's process only: a scrape's texts go back to the system once freed.
    pin_malloc_thresholds()
    overrides = Overrides(listen=args.listen, state_dir=args.state_dir, shard=args.shard)
    daemon = Daemon(args.config, overrides)
    asyncio.run(daemon.run())
    return 0


def _init(args: argparse.Namespace, out: TextIO) -> int:
    for path in write_starter(args.dir, force=args.force):
        out.write(f"wrote {path}\n")
    out.write(
        f"next: edit {args.dir / 'config.toml'}, then "
        f"`continuity-monitor check-config --config {args.dir / 'config.toml'}`\n"
    )
    return 0


_ClientCall = Callable[[client.Client, argparse.Namespace, TextIO], int]
_CLIENT: dict[tuple[str, str | None], _ClientCall] = {
    ("maintenance", "add"): lambda api, a, out: client.maintenance_add(
        api, out, targets=a.targets, match=a.match, for_=a.for_, until=a.until, comment=a.comment
    ),
    ("maintenance", "list"): lambda api, _, out: client.maintenance_list(api, out),
    ("maintenance", "end"): lambda api, a, out: client.maintenance_end(api, a.id, out),
    ("silence", "add"): lambda api, a, out: client.silence_add(
        api, out, match=a.match, for_=a.for_, until=a.until, comment=a.comment
    ),
    ("silence", "list"): lambda api, _, out: client.silence_list(api, out),
    ("silence", "expire"): lambda api, a, out: client.silence_expire(api, a.id, out),
    ("reload", None): lambda api, a, out: client.reload(api, a.pid, out),
    ("ack", None): lambda api, a, out: client.ack(api, a.fingerprint, out),
    ("status", None): lambda api, a, out: client.status(api, out, show_all=a.all),
}


def _client_command(args: argparse.Namespace, out: TextIO) -> int:
    """The commands that talk to a running daemon (``monitor.cli_client``)."""
    endpoint = client.endpoint_from(args.config, args.url, args.token, os.environ)
    call = _CLIENT[(args.command, getattr(args, "action", None))]
    return call(client.Client(endpoint), args, out)


def _check_config_command(args: argparse.Namespace, out: TextIO) -> int:
    return _check_config(args.config, out, sys.stderr)


def _check_config(path: Path, out: TextIO, err: TextIO) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            shown = issue.located()
            print(shown if shown.startswith(str(path)) else f"{path}: {shown}", file=err)
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
    words = texts(config.monitor.language)
    for outcome in outcomes:
        out.write(_format(outcome, args.format, words))
    if args.format == "text":
        out.write(verdict(outcomes, words))
    return 0 if all(o.result.ok for o in outcomes) else 1


def _format(outcome: CheckOutcome, fmt: str, t: Mapping[str, str]) -> str:
    """One result: a JSON record (codes, seconds) or a line in the config's language."""
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
    status = t["cli.probe.ok" if result.ok else "cli.probe.fail"]
    reason = "" if result.ok else f" ({reason_word(result.reason, t)})"
    detail = f": {detail_words(result.message, t)}" if result.message and not result.ok else ""
    values = ", ".join(
        f"{t.get('value.' + key, units.label(key))} {units.amount(key, value, t)}"
        for key, value in sorted(result.values.items())
    )
    line = t["cli.probe.line"].format(
        status=status,
        target=outcome.target,
        check=outcome.kind,
        reason=reason,
        duration=units.seconds(result.duration, t),
    )
    return f"{line}{detail}{' (' + values + ')' if values else ''}\n"


def verdict(outcomes: Sequence[CheckOutcome], t: Mapping[str, str]) -> str:
    """One line that says whether everything passed, also when it did."""
    failed = [o for o in outcomes if not o.result.ok]
    count, targets = len(outcomes), len({o.target for o in outcomes})
    checks = t["cli.probe.checks_one"] if count == 1 else t["cli.probe.checks"].format(count=count)
    where = (
        t["cli.probe.targets_one"] if targets == 1 else t["cli.probe.targets"].format(count=targets)
    )
    if not failed:
        return t["cli.probe.all_ok"].format(checks=checks, targets=where) + "\n"
    names = ", ".join(f"{o.target} {o.kind} ({reason_word(o.result.reason, t)})" for o in failed)
    line = t["cli.probe.failed"].format(
        failed=len(failed), checks=checks, targets=where, names=names
    )
    return line + "\n"


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "run": _run,
    "check-config": _check_config_command,
    "report": _report,
    "init": _init,
    "probe": _probe,
    "client": _client_command,
}


if __name__ == "__main__":
    sys.exit(main())
