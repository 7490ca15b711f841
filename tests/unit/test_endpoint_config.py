"""Config errors of the http, tcp and dns kinds: exact messages at exact key paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from monitor.engine.config import load_config
from monitor.regex import compile_regex
from probes.dns import DnsSettings
from probes.http import HttpSettings
from probes.tcp import TcpSettings
from tests.helpers import config_errors, write_config

HTTP = '[[targets]]\nname = "portal"\naddress = "https://portal.example.vn/health"\nchecks = ["http"]\n'
TCP = '[[targets]]\nname = "smtp"\naddress = "10.80.0.25"\nchecks = ["tcp"]\n'
DNS = '[[targets]]\nname = "resolver"\naddress = "10.80.0.53"\nchecks = ["icmp", "dns"]\n'


SIDE_FILES = {"not-pem.txt": "hello\n"}
"""A file that exists but holds no PEM, for the certificate errors."""


INVALID = [
    # (id, config text, exact errors)
    # -- http ---------------------------------------------------------------
    (
        "http-bad-regex",
        HTTP + 'http = { body_regex = "status: (ok" }\n',
        [
            "targets[0].http.body_regex: not a valid regular expression 'status: (ok' (RE2): "
            "missing ): status: (ok"
        ],
    ),
    (
        "http-bad-regex-in-list",
        HTTP + 'http = { body_regex = ["ok", "[a-"] }\n',
        ["targets[0].http.body_regex: not a valid regular expression '[a-' (RE2): missing ]: [a-"],
    ),
    (
        "http-status-word",
        HTTP + 'http = { expect_status = ["ok"] }\n',
        [
            "targets[0].http.expect_status: expected a status code, a range such as "
            "'200-299' or a class such as '2xx', got 'ok'"
        ],
    ),
    (
        "http-status-out-of-range",
        HTTP + "http = { expect_status = [200, 700] }\n",
        ["targets[0].http.expect_status: status codes must be between 100 and 599, got 700"],
    ),
    (
        "http-status-empty-range",
        HTTP + 'http = { expect_status = "399-200" }\n',
        [
            "targets[0].http.expect_status: range '399-200' is empty "
            "(the first code is above the last)"
        ],
    ),
    (
        "http-url-scheme",
        HTTP + 'http = { url = "ftp://files.example.vn/a" }\n',
        [
            "targets[0].http.url: unsupported scheme 'ftp' in 'ftp://files.example.vn/a' "
            "(use http or https)"
        ],
    ),
    (
        "http-url-not-a-url",
        HTTP + 'http = { url = "portal.example.vn/health" }\n',
        [
            "targets[0].http.url: 'portal.example.vn/health' is not a URL; write it as "
            "'https://host/path' (or set http.url when the address is a host)"
        ],
    ),
    (
        "http-url-port",
        HTTP + 'http = { url = "http://10.80.0.1:70000/" }\n',
        [
            "targets[0].http.url: 'http://10.80.0.1:70000/' is not a valid URL: "
            "Port out of range 0-65535"
        ],
    ),
    (
        "http-method",
        HTTP + 'http = { method = "FETCH" }\n',
        [
            "targets[0].http.method: must be one of 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', "
            "'DELETE' or 'OPTIONS', got 'FETCH'"
        ],
    ),
    (
        "http-body-and-json",
        HTTP + 'http = { method = "POST", body = "x", json = { a = 1 } }\n',
        ["targets[0].http: set body or json, not both"],
    ),
    (
        "http-max-body",
        HTTP + "http = { max_body_bytes = 0 }\n",
        ["targets[0].http.max_body_bytes: must be at least 1, got 0"],
    ),
    (
        "http-max-redirects",
        HTTP + "http = { max_redirects = 50 }\n",
        ["targets[0].http.max_redirects: must be at most 30, got 50"],
    ),
    (
        "http-json-path",
        HTTP + 'http = { json_equals = { "data..status" = "ok" } }\n',
        [
            "targets[0].http.json_equals: invalid JSON path 'data..status' "
            "(write dotted keys such as 'data.status')"
        ],
    ),
    (
        "http-json-equals-table",
        HTTP + 'http = { json_equals = { "data" = { a = 1 } } }\n',
        [
            "targets[0].http.json_equals: data: compare scalars only "
            "(string, number, true/false), got a table"
        ],
    ),
    (
        "http-json-max-not-number",
        HTTP + 'http = { json_max = { "data.queue_depth" = "500" } }\n',
        ["targets[0].http.json_max: data.queue_depth: expected a number, got '500'"],
    ),
    (
        "http-header-newline",
        HTTP + 'http = { headers = { "X-Site" = "QNG\\r\\nX-Evil: 1" } }\n',
        ["targets[0].http.headers: header X-Site: line breaks are not allowed in a value"],
    ),
    (
        "http-header-name",
        HTTP + 'http = { headers = { "X Site" = "QNG" } }\n',
        ["targets[0].http.headers: invalid header name 'X Site'"],
    ),
    (
        "http-ca-missing",
        HTTP + 'http = { ca_file = "TMP/missing.pem" }\n',
        ["targets[0].http.ca_file: CA file TMP/missing.pem does not exist or is not a file"],
    ),
    (
        "http-ca-not-pem",
        HTTP + 'http = { ca_file = "TMP/not-pem.txt" }\n',
        ["targets[0].http.ca_file: CA file TMP/not-pem.txt holds no PEM certificate"],
    ),
    (
        "http-key-without-cert",
        HTTP + 'http = { client_key_file = "TMP/not-pem.txt" }\n',
        ["targets[0].http: client_key_file needs client_cert_file"],
    ),
    (
        "http-client-cert-not-pem",
        HTTP + 'http = { client_cert_file = "TMP/not-pem.txt" }\n',
        ["targets[0].http: cannot use TMP/not-pem.txt: no PEM certificate and private key found"],
    ),
    (
        "http-basic-auth-password-missing",
        HTTP + 'http = { basic_auth = { username = "noc" } }\n',
        ["targets[0].http.basic_auth.password: required key is missing"],
    ),
    (
        "http-bearer-env",
        HTTP + 'http = { bearer_token = "env:CONTINUITY_TEST_UNSET_TOKEN" }\n',
        [
            "targets[0].http.bearer_token: environment variable "
            "CONTINUITY_TEST_UNSET_TOKEN is not set"
        ],
    ),
    (
        "http-two-auths",
        HTTP + 'http = { bearer_token = "t", basic_auth = { username = "a", password = "b" } }\n',
        ["targets[0].http: set basic_auth or bearer_token, not both"],
    ),
    (
        "http-source-address",
        HTTP + 'http = { source_address = "eth0" }\n',
        ["targets[0].http.source_address: expected an IP address of this host, got 'eth0'"],
    ),
    (
        "http-head-with-body-check",
        HTTP + 'http = { method = "HEAD", body_contains = "ok" }\n',
        ["targets[0].http: HEAD responses have no body to check"],
    ),
    (
        "http-cert-min-days",
        HTTP + "http = { cert_min_days = -1 }\n",
        ["targets[0].http.cert_min_days: must be at least 0, got -1"],
    ),
    (
        "http-server-name",
        HTTP + 'http = { server_name = "a b" }\n',
        [
            "targets[0].http.server_name: expected a host name such as "
            "'tracking.example.vn', got 'a b'"
        ],
    ),
    (
        "http-in-template",
        '[templates.api]\nchecks = ["http"]\nhttp = { expect_status = "9xx" }\n'
        '[[targets]]\nname = "a"\naddress = "http://10.80.0.1/"\ntemplate = "api"\n',
        [
            "templates.api.http.expect_status: expected a status code, a range such as "
            "'200-299' or a class such as '2xx', got '9xx'"
        ],
    ),
    # -- tcp ----------------------------------------------------------------
    ("tcp-port-missing", TCP, ["targets[0].tcp.port: required key is missing"]),
    (
        "tcp-port-zero",
        TCP + "tcp = { port = 0 }\n",
        ["targets[0].tcp.port: must be at least 1, got 0"],
    ),
    (
        "tcp-port-too-big",
        TCP + "tcp = { port = 65536 }\n",
        ["targets[0].tcp.port: must be at most 65535, got 65536"],
    ),
    (
        "tcp-port-string",
        TCP + 'tcp = { port = "25" }\n',
        ["targets[0].tcp.port: expected an integer, got '25'"],
    ),
    (
        "tcp-expect-regex",
        TCP + 'tcp = { port = 25, expect = "^(220" }\n',
        ["targets[0].tcp.expect: not a valid regular expression '^(220' (RE2): missing ): ^(220"],
    ),
    (
        "tcp-ca-without-tls",
        TCP + 'tcp = { port = 25, ca_file = "TMP/missing.pem" }\n',
        ["targets[0].tcp.ca_file: CA file TMP/missing.pem does not exist or is not a file"],
    ),
    (
        "tcp-server-name-without-tls",
        TCP + 'tcp = { port = 25, server_name = "smtp.example.vn" }\n',
        ["targets[0].tcp: server_name is set but tls is false (set tls = true)"],
    ),
    (
        "tcp-read-limit",
        TCP + "tcp = { port = 25, max_read_bytes = 0 }\n",
        ["targets[0].tcp.max_read_bytes: must be at least 1, got 0"],
    ),
    # -- dns ----------------------------------------------------------------
    ("dns-name-missing", DNS, ["targets[0].dns.name: required key is missing"]),
    (
        "dns-name-empty-label",
        DNS + 'dns = { name = "tracking..example.vn" }\n',
        ["targets[0].dns.name: not a valid DNS name 'tracking..example.vn': A DNS label is empty."],
    ),
    (
        "dns-type",
        DNS + 'dns = { name = "example.vn", type = "ANY" }\n',
        [
            "targets[0].dns.type: must be one of 'A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SOA', "
            "'NS', 'SRV' or 'PTR', got 'ANY'"
        ],
    ),
    (
        "dns-rcode",
        DNS + 'dns = { name = "example.vn", expect_rcode = ["NOERROR", "NXDOMIAN"] }\n',
        [
            "targets[0].dns.expect_rcode: unknown rcode 'NXDOMIAN' "
            "(use NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)"
        ],
    ),
    (
        "dns-server-port",
        DNS + 'dns = { name = "example.vn", server = "10.80.0.53:99999" }\n',
        ["targets[0].dns.server: port must be between 1 and 65535 in '10.80.0.53:99999'"],
    ),
    (
        "dns-server-bracket",
        DNS + 'dns = { name = "example.vn", server = "[::1" }\n',
        ["targets[0].dns.server: expected '[IPv6]' or '[IPv6]:port', got '[::1'"],
    ),
    (
        "dns-port",
        DNS + 'dns = { name = "example.vn", port = 0 }\n',
        ["targets[0].dns.port: must be at least 1, got 0"],
    ),
    (
        "dns-answer-regex",
        DNS + 'dns = { name = "example.vn", expect_answer_regex = "*.vn" }\n',
        [
            "targets[0].dns.expect_answer_regex: not a valid regular expression '*.vn' (RE2): "
            "no argument for repetition operator: *"
        ],
    ),
    (
        "dns-min-answers",
        DNS + 'dns = { name = "example.vn", min_answers = -1 }\n',
        ["targets[0].dns.min_answers: must be at least 0, got -1"],
    ),
    (
        "dns-transport",
        DNS + 'dns = { name = "example.vn", transport = "doh" }\n',
        ["targets[0].dns.transport: must be one of 'udp' or 'tcp', got 'doh'"],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [r[1:] for r in INVALID], ids=[r[0] for r in INVALID]
)
def test_invalid_config_reports_exact_errors(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert config_errors(tmp_path, text, files=SIDE_FILES) == [
        e.replace("TMP", str(tmp_path)) for e in expected
    ]


def test_all_errors_of_the_three_kinds_at_once(tmp_path: Path) -> None:
    found = config_errors(
        tmp_path,
        HTTP
        + 'http = { body_regex = "(" }\n'
        + TCP
        + "tcp = { port = 0 }\n"
        + DNS
        + 'dns = { name = "x", type = "ANY" }\n',
        files=SIDE_FILES,
    )
    assert [f.split(":")[0] for f in found] == [
        "targets[0].http.body_regex",
        "targets[1].tcp.port",
        "targets[2].dns.type",
    ]


def test_valid_endpoint_config_and_defaults(tmp_path: Path) -> None:
    config = load_config(
        write_config(
            tmp_path,
            """
            [defaults.http]
            cert_min_days = 21

            [[targets]]
            name = "post-tracking-api"
            address = "https://tracking.example.vn/health"
            checks = ["http"]
            http = { expect_status = [200, "3xx"], json_equals = { "status" = "ok", "data.queue_depth" = 0 }, json_max = { "data.queue_depth" = 500 }, body_regex = "ok" }

            [[targets]]
            name = "smtp"
            address = "10.80.0.25"
            checks = ["tcp"]
            tcp = { port = 25, expect = "^220" }

            [[targets]]
            name = "resolver"
            address = "10.80.0.53"
            checks = ["icmp", "dns"]
            dns = { name = "tracking.example.vn" }
            """,
            files=SIDE_FILES,
        )
    )
    http = config.targets[0].checks[0].settings
    assert isinstance(http, HttpSettings)
    assert http.expect_status == ((200, 200), (300, 399))
    assert http.cert_min_days == 21
    assert http.max_body_bytes == 1 << 20
    assert http.follow_redirects is True
    assert http.max_redirects == 10
    assert http.verify_tls is True
    assert http.body_regex == (compile_regex("ok"),)
    assert http.json_equals == {"status": "ok", "data.queue_depth": 0}
    assert http.json_max == {"data.queue_depth": 500.0}
    tcp = config.targets[1].checks[0].settings
    assert isinstance(tcp, TcpSettings)
    assert tcp.port == 25
    assert tcp.expect is not None
    assert tcp.expect.pattern == "^220"
    dns = config.targets[2].check("dns")
    assert dns is not None
    assert isinstance(dns.settings, DnsSettings)
    assert dns.settings.server is None  # the target's own address is the server
    assert dns.settings.expect_rcode == ("NOERROR",)
    assert dns.settings.wanted_answers == 1
    assert DnsSettings(name="x", expect_rcode=["NOERROR", "NXDOMAIN"]).wanted_answers == 0


def test_settings_compare_equal_for_reload(tmp_path: Path) -> None:
    """Unchanged checks must stay equal across a reload (compiled regexes included)."""
    text = HTTP + 'http = { body_regex = "ok", json_equals = { "a" = 1 } }\n'
    first = load_config(write_config(tmp_path, text, files=SIDE_FILES)).targets[0]
    second = load_config(write_config(tmp_path, text, files=SIDE_FILES)).targets[0]
    assert first == second


def test_client_certificate_problems(tmp_path: Path) -> None:
    leaf = trustme.CA().issue_cert("monitor.example.vn")
    cert = tmp_path / "client.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    other = ec.generate_private_key(ec.SECP256R1())
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    locked_key = tmp_path / "locked.key"
    locked_key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    good_key = tmp_path / "good.key"
    leaf.private_key_pem.write_to_path(str(good_key))
    base = HTTP + f'http = {{ client_cert_file = "{cert}", client_key_file = '
    assert config_errors(tmp_path, base + f'"{wrong_key}" }}\n', files=SIDE_FILES) == [
        f"targets[0].http: cannot use {cert} with key {wrong_key}: key values mismatch"
    ]
    assert config_errors(tmp_path, base + f'"{locked_key}" }}\n', files=SIDE_FILES) == [
        "targets[0].http: the client key is encrypted; use an unencrypted key file "
        "readable only by the monitor"
    ]
    loaded = load_config(write_config(tmp_path, base + f'"{good_key}" }}\n', files=SIDE_FILES))
    assert loaded.targets[0].checks[0].settings.client_cert_file == str(cert)  # type: ignore[attr-defined]
