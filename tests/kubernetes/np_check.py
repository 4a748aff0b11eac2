#!/usr/bin/python3
"""Do these Kubernetes NetworkPolicies allow exactly a Bulkhead export's segments?

Usage:
  np_check.py --policies FILE --export-json FILE [--scope namespace:NS | workload:NS/NAME]

--policies: what `bulkhead policy export --format kubernetes` writes, as
multi-document YAML or as a JSON List. --export-json: the agent's
ExportPolicyResponse in protobuf JSON (either field naming). --scope: the
policies cover only these workloads (an export narrowed the same way); flows
between two workloads outside it are not judged.

First, every policy is read into python3-kubernetes' V1NetworkPolicy model
and written back: a field the model does not know, or a missing required
one, is a problem. Then an evaluator of NetworkPolicy rules, as the
networking.k8s.io/v1 reference defines them, judges every flow of the
application: one pod per workload (its namespace and exported labels; the
namespace labelled kubernetes.io/metadata.name), sample addresses of every
other peer (each end and middle of every network set CIDR, private range and
host address, the addresses just outside them, a few public ones; each
address is given the peer Bulkhead's ipcache would give it), every ordered
pair with a workload at one end at least, TCP, UDP and SCTP, and every port a
segment or a policy names or borders plus a few unused. A flow should be allowed iff a
segment in force covers it (held-back candidates are not in force); it is
allowed iff the source's egress and the destination's ingress allow it (a pod
no policy of that direction selects allows everything that way).

What the evaluator leaves to the cluster, as NetworkPolicy does: traffic
between a pod and its own node (always allowed there), whether an ipBlock
matches pod IPs (here pods have no address an ipBlock could match), NAT.
ICMP segments are not judged: NetworkPolicy has no ICMP.

Exit status: 0 exact; 1 differences (listed, grouped by peers and
protocol); 2 unreadable input. Runs under Debian's /usr/bin/python3
(python3-kubernetes, python3-yaml).
"""
import argparse
import ipaddress
import json
import sys
from collections import defaultdict, namedtuple
from functools import lru_cache

import yaml
from kubernetes import client

PROTOCOLS = ("TCP", "UDP", "SCTP")  # what NetworkPolicy covers
PROTOCOL_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPV6", 132: "SCTP"}
PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
PUBLIC_SAMPLES = ("1.1.1.1", "8.8.8.8", "2001:4860:4860::8888")
UNUSED_PORTS = (1, 22, 80, 443, 3306, 8080, 65535)
NAMESPACE_NAME = "kubernetes.io/metadata.name"


class Unsupported(Exception):
    """A policy uses something this evaluator does not model."""


# --- reading -------------------------------------------------------------

def field(obj, snake, default=None):
    """A protobuf JSON field under its proto name or its lowerCamel name."""
    camel = snake.split("_")[0] + "".join(w.title() for w in snake.split("_")[1:])
    return obj.get(snake, obj.get(camel, default))


# segments: [{"from", "to", "protocol", "first", "last"}] (a single port:
# first == last; any port: 0-65535); workloads: {"ns/name": labels};
# networks: {name: [cidr]}; hosts: [address].
Export = namedtuple("Export", "segments workloads networks hosts")


def read_export(path):
    with open(path) as f:
        export = json.load(f)
    segments = []
    for s in field(field(export, "policy", {}), "segments", []):
        protocol = s.get("protocol", "PROTOCOL_UNSPECIFIED")
        if isinstance(protocol, int):  # printed as a number
            protocol = PROTOCOL_NAMES.get(protocol, str(protocol))
        port, end = int(s.get("port", 0)), int(field(s, "port_end", 0))
        segments.append({"from": field(s, "from_workload"), "to": field(s, "to_workload"),
                         "protocol": protocol, "first": port, "last": end if end else port})
    workloads = {w["workload"]: dict(w.get("labels", {})) for w in export.get("workloads", [])}
    networks = {n["name"]: list(n.get("cidrs", [])) for n in export.get("networks", [])}
    return Export(segments, workloads, networks, list(field(export, "host_addresses", [])))


def read_policies(path):
    """The NetworkPolicy documents of a YAML stream or a JSON List."""
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    out = []
    for doc in docs:
        out.extend(doc.get("items", []) if doc.get("kind") == "List" else [doc])
    return out


class _Response:  # what ApiClient.deserialize reads
    def __init__(self, obj):
        self.data = json.dumps(obj)


def model_differences(written, read, path=""):
    """Paths where `read` (the policy) differs from `written` (the model's)."""
    if isinstance(read, dict) and isinstance(written, dict):
        out = []
        for key in sorted(set(read) | set(written)):
            where = f"{path}.{key}" if path else key
            if key not in written:
                out.append(f"{where}: not a field of the model (misspelled?)")
            elif key not in read:
                out.append(f"{where}: added by the model")
            else:
                out += model_differences(written[key], read[key], where)
        return out
    if isinstance(read, list) and isinstance(written, list) and len(read) == len(written):
        return [d for i, (w, r) in enumerate(zip(written, read))
                for d in model_differences(w, r, f"{path}[{i}]")]
    return [] if written == read else [f"{path}: {read!r} reads back as {written!r}"]


def model_problems(policies):
    """Every policy read into V1NetworkPolicy and written back unchanged."""
    api = client.ApiClient()
    problems = []
    for i, doc in enumerate(policies):
        name = f"document {i + 1} ({doc.get('metadata', {}).get('name', '?')})"
        if (doc.get("apiVersion"), doc.get("kind")) != ("networking.k8s.io/v1", "NetworkPolicy"):
            problems.append(f"{name}: not a networking.k8s.io/v1 NetworkPolicy")
            continue
        try:
            model = api.deserialize(_Response(doc), "V1NetworkPolicy")
        except (ValueError, TypeError) as e:
            problems.append(f"{name}: the model refuses it: {e}")
            continue
        written = api.sanitize_for_serialization(model)
        problems += [f"{name}: {d}" for d in model_differences(written, doc)]
    return problems


# --- the evaluator ---------------------------------------------------------

class Pod:
    def __init__(self, workload, labels):
        self.peer = workload
        self.namespace = workload.split("/", 1)[0]
        self.labels = labels

    def __str__(self):
        return self.peer


class Address:
    def __init__(self, ip, peer):
        self.ip = ip
        self.peer = peer

    def __str__(self):
        return f"{self.peer} {self.ip}"


network = lru_cache(maxsize=None)(ipaddress.ip_network)


def selects(selector, labels):
    """A LabelSelector (matchLabels and matchExpressions, ANDed); {} selects all."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise Unsupported(f"matchExpressions operator {op}")
    return True


def peer_matches(peer, policy_namespace, end):
    """Whether a NetworkPolicyPeer (from/to element) holds `end`."""
    if "ipBlock" in peer:
        if not isinstance(end, Address):
            return False  # pods have no address an ipBlock matches (see the module doc)
        block = peer["ipBlock"]
        return (end.ip in network(block["cidr"]) and
                not any(end.ip in network(c) for c in block.get("except") or []))
    if not isinstance(end, Pod):
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], {NAMESPACE_NAME: end.namespace}):
            return False
    elif end.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], end.labels)


def port_filter(rule):
    """The rule's ports as (protocol, first, last); None: every protocol and port."""
    ports = rule.get("ports")
    if not ports:
        return None
    out = []
    for p in ports:
        protocol = p.get("protocol", "TCP")
        if "port" not in p:
            out.append((protocol, 0, 65535))
        elif isinstance(p["port"], str):
            raise Unsupported(f"named port {p['port']!r}")
        else:
            out.append((protocol, p["port"], p.get("endPort", p["port"])))
    return out


class Cluster:
    def __init__(self, policies):
        self.policies = policies

    def _applying(self, pod, direction):
        """The policies that select `pod` and cover `direction` ("Ingress", "Egress")."""
        out = []
        for p in self.policies:
            spec = p.get("spec", {})
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
            if (direction in types and p["metadata"].get("namespace", "default") == pod.namespace
                    and selects(spec.get("podSelector") or {}, pod.labels)):
                out.append(p)
        return out

    def isolated(self, pod, direction):
        return bool(self._applying(pod, direction))

    def side(self, pod, direction, other):
        """What `pod`'s policies let through with `other` in `direction`: None
        (everything: not isolated that way) or a list of port filters, one per
        matching rule (an empty list: nothing)."""
        applying = self._applying(pod, direction)
        if not applying:
            return None
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        filters = []
        for p in applying:
            namespace = p["metadata"].get("namespace", "default")
            for rule in p["spec"].get(rules_key) or []:
                peers = rule.get(peers_key)
                if not peers or any(peer_matches(peer, namespace, other) for peer in peers):
                    filters.append(port_filter(rule))
        return filters


def admits(filters, protocol, port):
    if filters is None:
        return True
    return any(f is None or any(proto == protocol and first <= port <= last for proto, first, last in f)
               for f in filters)


# --- the application ---------------------------------------------------------

def address_owner(ip, networks, hosts):
    """The peer Bulkhead's ipcache gives `ip`: a host address; else the longest
    prefix among network sets and private ranges (a set wins a tie); else world."""
    if ip in hosts:
        return "host"
    best = None  # (prefix length, set before private, name)
    for name, cidrs in list(networks.items()) + [("private", PRIVATE)]:
        for cidr in cidrs:
            net = ipaddress.ip_network(cidr)
            if ip.version == net.version and ip in net:
                candidate = (net.prefixlen, name != "private", name)
                if best is None or candidate > best:
                    best = candidate
    return best[2] if best else "world"


def sample_addresses(networks, hosts):
    """Ends, middles and outside neighbours of every prefix, and public ones."""
    prefixes = [ipaddress.ip_network(c) for cidrs in networks.values() for c in cidrs]
    prefixes += [ipaddress.ip_network(c) for c in PRIVATE]
    prefixes += [ipaddress.ip_network(h) for h in hosts]
    ips = {ipaddress.ip_address(a) for a in PUBLIC_SAMPLES} | set(hosts)
    for net in prefixes:
        first, last = net.network_address, net.broadcast_address
        ips |= {first, last, first + net.num_addresses // 2}
        if int(first) > 0:
            ips.add(first - 1)
        if int(last) < 2 ** net.max_prefixlen - 1:
            ips.add(last + 1)
    return sorted(ips, key=lambda ip: (ip.version, ip))


def policy_ports(policies):
    """The numeric ports the policies' rules name, as segments hold them."""
    out = []
    for p in policies:
        spec = p.get("spec", {})
        for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
            for port in rule.get("ports") or []:
                if isinstance(port.get("port"), int):
                    out.append({"first": port["port"], "last": port.get("endPort", port["port"])})
    return out


def candidate_ports(segments):
    ports = set(UNUSED_PORTS)
    for s in segments:
        for p in (s["first"], s["last"]):
            ports |= {p - 1, p, p + 1}
    return sorted(p for p in ports if 1 <= p <= 65535)


def in_scope(workload, scope):
    if scope is None:
        return True
    kind, value = scope
    return workload.split("/", 1)[0] == value if kind == "namespace" else workload == value


def compact(ports):
    """[1, 2, 3, 7] -> "1-3,7"."""
    out, ports = [], sorted(ports)
    start = prev = ports[0]
    for p in ports[1:] + [None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if p is not None:
            start = prev = p
    return ",".join(out)


def flow_differences(policies, export, scope=None):
    hosts = {ipaddress.ip_address(h) for h in export.hosts}
    pods = [Pod(w, labels) for w, labels in sorted(export.workloads.items())]
    addresses = [Address(ip, address_owner(ip, export.networks, hosts))
                 for ip in sample_addresses(export.networks, hosts)]
    cluster = Cluster(policies)
    problems = []
    for pod in pods:
        if in_scope(pod.peer, scope):
            for direction in ("Ingress", "Egress"):
                if not cluster.isolated(pod, direction):
                    problems.append(f"{pod.peer}: no policy selects its pods for {direction}")

    judged = [s for s in export.segments if s["protocol"] in PROTOCOLS]
    ports = candidate_ports(judged + policy_ports(policies))
    ranges = defaultdict(list)  # (from, to, protocol) -> [(first, last)]
    for s in judged:
        ranges[(s["from"], s["to"], s["protocol"])].append((s["first"], s["last"]))

    def expected(src, dst, protocol, port):
        return any(first <= port <= last for first, last in ranges[(src.peer, dst.peer, protocol)])

    pairs = [(a, b) for a in pods for b in pods if in_scope(a.peer, scope) or in_scope(b.peer, scope)]
    pairs += [(p, x) for p in pods if in_scope(p.peer, scope) for x in addresses]
    pairs += [(x, p) for p in pods if in_scope(p.peer, scope) for x in addresses]
    wrong = defaultdict(list)  # (what, source, destination, protocol) -> ports
    for src, dst in pairs:
        egress = cluster.side(src, "Egress", dst) if isinstance(src, Pod) else None
        ingress = cluster.side(dst, "Ingress", src) if isinstance(dst, Pod) else None
        for protocol in PROTOCOLS:
            for port in ports:
                allowed = admits(egress, protocol, port) and admits(ingress, protocol, port)
                if allowed != expected(src, dst, protocol, port):
                    what = "allowed without a segment" if allowed else "a segment, denied"
                    wrong[(what, str(src), str(dst), protocol)].append(port)
    for (what, src, dst, protocol), bad in sorted(wrong.items()):
        problems.append(f"{what}: {src} -> {dst} {protocol.lower()}/{compact(bad)}")
    return problems


def check(policies, export, scope=None):
    """Every problem: the models' first, then the flows'."""
    return model_problems(policies) or flow_differences(policies, export, scope)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", required=True)
    parser.add_argument("--export-json", required=True)
    parser.add_argument("--scope", help="namespace:NS or workload:NS/NAME")
    args = parser.parse_args(argv)
    scope = None
    if args.scope:
        kind, _, value = args.scope.partition(":")
        if kind not in ("namespace", "workload") or not value:
            parser.error("--scope is namespace:NS or workload:NS/NAME")
        scope = (kind, value)
    try:
        policies = read_policies(args.policies)
        export = read_export(args.export_json)
    except (OSError, ValueError, yaml.YAMLError) as e:
        print(f"np_check: {e}", file=sys.stderr)
        return 2
    skipped = [s for s in export.segments if s["protocol"] not in PROTOCOLS]
    try:
        problems = check(policies, export, scope)
    except Unsupported as e:
        print(f"np_check: the policies use {e}, which this evaluator does not model", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    note = f" ({len(skipped)} ICMP segments not judged)" if skipped else ""
    if problems:
        print(f"np_check: {len(problems)} differences{note}", file=sys.stderr)
        return 1
    print(f"np_check: {len(policies)} policies allow exactly the {len(export.segments) - len(skipped)} "
          f"segments{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
