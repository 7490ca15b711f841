#!/bin/sh
# Installs the Debian packages that the test suite and benchmarks use, when
# they are missing and we are root on Debian. Idempotent and quiet when
# everything is present; elsewhere it says what is missing and the tests that
# need it skip with that reason.
set -eu
PKGS="iproute2 nftables prometheus fping snmpd snmp prometheus-snmp-exporter mosquitto prometheus-alertmanager systemd strace mosquitto-clients chromium traceroute"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
else
    echo "note: missing system packages:$missing (not root on Debian; tests needing them will skip)"
fi
