"""``continuity-monitor init``: the files a new installation starts from.

Writes, into one directory (``/etc/continuity`` on a server):

- ``config.toml``: the commented reference configuration (loopback targets
  that work on any machine, every other feature as commented examples);
- ``continuity-monitor.service``: the hardened systemd unit, with the paths
  of the Python environment ``init`` runs from and of that directory;
- ``continuity-monitor.env``: the environment file the unit reads for
  ``env:NAME`` secrets, with a freshly made random API token (mode 0600).

Existing files are never overwritten unless asked (``--force``).
"""

from __future__ import annotations

import os
import secrets
import sys
from importlib import resources
from pathlib import Path

STARTER = "starter"
FILES = ("config.toml", "continuity-monitor.service", "continuity-monitor.env")
UNIT_PREFIX = "/opt/continuity-monitor"
UNIT_CONFIG_DIR = "/etc/continuity"


class InitError(Exception):
    """A file cannot be written (one line for the operator)."""


def starter_text(name: str) -> str:
    """A file as shipped inside the package."""
    return resources.files("monitor").joinpath(STARTER, name).read_text(encoding="utf-8")


def render(name: str, directory: Path, prefix: str, token: str) -> str:
    """The shipped file with this installation's paths and secrets."""
    text = starter_text(name)
    if name.endswith(".service"):
        text = text.replace(UNIT_PREFIX, prefix).replace(UNIT_CONFIG_DIR, str(directory))
    return text.replace("@API_TOKEN@", token)


def write_starter(directory: Path, force: bool = False, prefix: str | None = None) -> list[Path]:
    """Write the three files; refuses (before writing any) if one exists and not ``force``."""
    directory = directory.resolve()
    targets = [directory / name for name in FILES]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise InitError(f"not overwriting {', '.join(existing)} (use --force)")
    token = secrets.token_urlsafe(24)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, path in zip(FILES, targets, strict=True):
            text = render(name, directory, prefix or sys.prefix, token)
            mode = 0o600 if name.endswith(".env") else 0o644
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(path, mode)
    except OSError as exc:
        raise InitError(f"cannot write into {directory}: {exc.strerror or exc}") from None
    return targets
