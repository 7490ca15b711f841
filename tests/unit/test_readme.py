"""The README stands alone and stays true: every command, API answer and template
variable it must document is there, and the webhook signature example verifies a
body signed the way the webhook channel signs it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import re
from pathlib import Path

from alerts.channels.mqtt import MqttSettings
from alerts.templates import alert_view, context, sample_notifications
from monitor.cli import build_parser

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_no_pointer_to_documents_outside_the_repository() -> None:
    assert "DESIGN.md" not in README and "shared folder" not in README


def _choices(words: list[str]) -> list[str]:
    """The sub-commands after ``words``, as the parser lists them for a wrong one."""
    errors = io.StringIO()
    with contextlib.redirect_stderr(errors), contextlib.suppress(SystemExit):
        build_parser().parse_args([*words, "no-such-command"])
    found = re.search(r"invalid choice: .*?\(choose from (.*)\)", errors.getvalue())
    return [c.strip(" '") for c in found.group(1).split(",")] if found else []


def _commands(prefix: tuple[str, ...] = ()) -> list[str]:
    out = []
    for name in _choices(list(prefix)):
        nested = _commands((*prefix, name))
        out += nested or [" ".join((*prefix, name))]
    return out


def test_every_command_is_in_the_cli_reference() -> None:
    commands = _commands()
    assert "maintenance add" in commands and "silence expire" in commands
    for command in commands:
        assert f"| `{command}" in README or f"`{command} " in README, command


def test_every_template_variable_is_documented() -> None:
    firing = sample_notifications()[0]
    ctx = context(firing, language="en", timezone="UTC", instance="x")
    for name in ctx:
        assert f"`{name}`" in README, name
    for name in alert_view(firing.alerts[0], "en", "UTC"):
        assert f"`{name}`" in README, name


def test_the_signature_example_verifies_a_signed_body() -> None:
    block = re.search(r"```python\n(import hashlib, hmac\n.*?)```", README, re.S)
    assert block is not None
    namespace: dict[str, object] = {}
    exec(block.group(1), namespace)
    verified = namespace["verified"]
    body, secret = b'{"version": "1"}', b"s3cret"
    # as alerts/channels/webhook.py signs: sha256=<hex HMAC-SHA256 of the body>
    header = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert verified(body, header, secret) is True  # type: ignore[operator]
    assert verified(body + b" ", header, secret) is False  # type: ignore[operator]


def test_mqtt_defaults_in_the_readme_are_the_channels() -> None:
    fields = MqttSettings.model_fields
    for name in ("topic", "state_topic", "status_topic"):
        assert f"`{name}` (`{fields[name].default}`" in README, name
    assert fields["command_topic"].default is None  # off unless configured, with a secret
    assert "`command_topic` (off unless set" in README
