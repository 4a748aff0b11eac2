#!/usr/bin/env bash
# Installs, from Debian's packages, whatever Bulkhead needs to build, test and
# run its demo and is not installed yet. Idempotent; needs root.
set -euo pipefail

packages=(
  # build
  cmake make g++ pkg-config clang llvm linux-libc-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libnl-3-dev libnl-route-3-dev
  libboost-dev protobuf-compiler libprotobuf-dev libabsl-dev
  libyaml-cpp-dev libcli11-dev libcap-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # tools/test.sh's sanitizer tree (clang's ASan/UBSan/libFuzzer runtimes)
  # and tools/lint.sh
  libclang-rt-14-dev clang-tidy
  # demo and end-to-end tests: namespaces, real traffic, JSON checks,
  # crafted frames (scapy runs under /usr/bin/python3), floods
  iproute2 socat iputils-ping jq procps python3 python3-scapy hping3 bc
  # bench/e2e.sh: traffic, the netfilter baselines, the plot
  iperf3 nftables iptables gnuplot-nox
  # tests/e2e/privilege_test.sh: capability sets, the manifest's models
  util-linux libcap2-bin python3-kubernetes
  # tests/e2e/metrics_test.sh and flows: a real Prometheus parser, Graphviz
  python3-prometheus-client graphviz
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
