#!/usr/bin/env bash
# Installs the Debian packages the end-to-end tests and benchmarks use (real peers, not mocks):
# prometheus (promtool), prometheus-alertmanager (amtool), aide, nmap, hping3, tshark, poppler-utils
# (pdftotext), fonts-khmeros (Khmer in reports), chromium + chromium-driver (console browser tests), pango
# (PDF reports), gettext (msgfmt: make locale and the catalogue test), nginx-light (the logs watcher's tests serve
# a web root with a real nginx), haproxy (the HA layout's load-balancer config is checked and run in front of two
# loopback collectors).
# Only what is missing is installed; without root or apt-get it says what is missing and carries on.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
declare -A need=(
  [promtool]=prometheus [prometheus]=prometheus [prometheus-alertmanager]=prometheus-alertmanager [amtool]=prometheus-alertmanager
  [aide]=aide [nmap]=nmap [hping3]=hping3 [tshark]=tshark [pdftotext]=poppler-utils [ip]=iproute2 [curl]=curl
  [chromium]=chromium [chromedriver]=chromium-driver [msgfmt]=gettext [nginx]=nginx-light
  [hydra]=hydra [sshd]=openssh-server
  [haproxy]=haproxy
)
missing=()
for bin in "${!need[@]}"; do command -v "$bin" >/dev/null 2>&1 || missing+=("${need[$bin]}"); done
fc-list 2>/dev/null | grep -qi khmer || missing+=(fonts-khmeros)
fc-list 2>/dev/null | grep -qi dejavu || missing+=(fonts-dejavu-core)
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)  # the PostgreSQL store tests
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')
((${#missing[@]})) || exit 0
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "system-deps: missing ${missing[*]} (install them as root with apt-get); tests that need them will skip" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/govwatch-apt.log 2>&1 || {
  apt-get update -qq >>/tmp/govwatch-apt.log 2>&1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/govwatch-apt.log 2>&1 ||
    { echo "system-deps: apt-get failed, see /tmp/govwatch-apt.log" >&2; tail -5 /tmp/govwatch-apt.log >&2; exit 1; }
}
