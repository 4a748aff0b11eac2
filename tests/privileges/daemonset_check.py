#!/usr/bin/python3
"""Checks deploy/daemonset.yaml against Kubernetes' own models and against
what bulkheadd needs to run unprivileged.

Usage: daemonset_check.py MANIFEST [--print-capabilities]

Every document is read into its python3-kubernetes model and written back:
a field the model does not know (a misspelling) or a missing required one is
an error. Then the DaemonSet's agent container must be unprivileged (no
privileged, no privilege escalation, capabilities: drop ALL and add a list
without SYS_ADMIN, no Bidirectional mount, which Kubernetes allows only to
privileged containers), run as uid 0 (added capabilities reach no other
user's effective set), on the host network, with a read-only root
filesystem and every directory the agent writes (pin, state and socket
directories) on a writable mount. With --print-capabilities, prints the
added capabilities as setpriv(1) spells them ("bpf,net_admin,...") once the
manifest passes. Runs under Debian's /usr/bin/python3 (python3-kubernetes).
"""
import json
import os
import sys

import yaml
from kubernetes import client

MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "DaemonSet"): "V1DaemonSet",
}


class _Response:  # what ApiClient.deserialize reads
    def __init__(self, obj):
        self.data = json.dumps(obj)


def differences(written, read, path=""):
    """Paths where `read` (the manifest) differs from `written` (the model's)."""
    if isinstance(read, dict) and isinstance(written, dict):
        out = []
        for key in sorted(set(read) | set(written)):
            where = f"{path}.{key}" if path else key
            if key not in written:
                out.append(f"{where}: not a field of the model (misspelled?)")
            elif key not in read:
                out.append(f"{where}: added by the model")
            else:
                out += differences(written[key], read[key], where)
        return out
    if isinstance(read, list) and isinstance(written, list) and len(read) == len(written):
        return [d for i, (w, r) in enumerate(zip(written, read)) for d in differences(w, r, f"{path}[{i}]")]
    return [] if written == read else [f"{path}: {read!r} reads back as {written!r}"]


def flag(args, name):
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def mount_for(mounts, path):
    """The deepest volume mount holding `path`, or None."""
    best = None
    for m in mounts:
        root = m.mount_path.rstrip("/")
        if (path == root or path.startswith(root + "/")) and (
                best is None or len(root) > len(best.mount_path.rstrip("/"))):
            best = m
    return best


def check_daemonset(ds, errors):
    pod = ds.spec.template.spec
    if not pod.host_network:
        errors.append("hostNetwork must be true: the workload veths live in the node's namespace")
    agents = [c for c in pod.containers if c.name == "bulkheadd"]
    if len(agents) != 1:
        errors.append("expected one container named bulkheadd")
        return []
    c = agents[0]
    sc = c.security_context
    if sc is None:
        errors.append("bulkheadd has no securityContext")
        return []
    if sc.privileged is not False:
        errors.append("securityContext.privileged must be false")
    if sc.allow_privilege_escalation is not False:
        errors.append("securityContext.allowPrivilegeEscalation must be false")
    if sc.read_only_root_filesystem is not True:
        errors.append("securityContext.readOnlyRootFilesystem must be true")
    if sc.run_as_user != 0:
        errors.append("securityContext.runAsUser must be 0: added capabilities reach uid 0 only")
    caps = sc.capabilities
    added = list(caps.add or []) if caps else []
    if not caps or caps.drop != ["ALL"]:
        errors.append("capabilities.drop must be [ALL]")
    if not added:
        errors.append("capabilities.add is empty: bulkheadd cannot load its programs")
    if "SYS_ADMIN" in added or "CAP_SYS_ADMIN" in added:
        errors.append("capabilities.add must not hold SYS_ADMIN")
    by_name = {v.name: v for v in pod.volumes or []}
    for m in c.volume_mounts or []:
        if m.mount_propagation == "Bidirectional":
            errors.append(f"mount {m.mount_path}: Bidirectional propagation needs a privileged container")
        if m.name not in by_name:
            errors.append(f"mount {m.mount_path}: no volume named {m.name}")
    args = c.args or []
    writes = {"--pin-dir": flag(args, "pin-dir"), "--state-dir": flag(args, "state-dir"),
              "--socket": os.path.dirname(flag(args, "socket") or "")}
    for name, path in writes.items():
        if not path:
            errors.append(f"{name} is not set: its default may lie on the read-only root filesystem")
            continue
        m = mount_for(c.volume_mounts or [], path)
        if m is None or m.read_only:
            errors.append(f"{name} {path} is not on a writable mount (the root filesystem is read-only)")
    pin = mount_for(c.volume_mounts or [], writes["--pin-dir"] or "/")
    if pin is not None and pin.name in by_name:
        host = by_name[pin.name].host_path
        if host is None or host.path != "/sys/fs/bpf":
            errors.append("the pin directory's mount must be the node's bpffs (hostPath /sys/fs/bpf)")
    inventory = flag(args, "inventory")
    if not inventory or mount_for(c.volume_mounts or [], inventory) is None:
        errors.append("--inventory must name a file on a mounted volume")
    # The probes must ask the agent's own health endpoint, where it serves it.
    metrics = flag(args, "metrics-address")
    for name, probe in (("livenessProbe", c.liveness_probe), ("readinessProbe", c.readiness_probe)):
        get = probe.http_get if probe else None
        if get is None or get.path != "/healthz":
            errors.append(f"{name} must be an httpGet of /healthz")
        elif metrics != f"{get.host}:{get.port}":
            errors.append(f"{name} asks {get.host}:{get.port}, but --metrics-address is {metrics}")
    if not c.resources or not c.resources.requests or not (c.resources.limits or {}).get("memory"):
        errors.append("resources: requests and a memory limit are expected")
    return added


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--print-capabilities"):
        sys.exit(__doc__)
    api = client.ApiClient()
    errors = []
    added = None
    with open(sys.argv[1]) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for i, doc in enumerate(docs):
        where = f"document {i + 1} ({doc.get('kind')} {doc.get('metadata', {}).get('name')})"
        model = MODELS.get((doc.get("apiVersion"), doc.get("kind")))
        if model is None:
            errors.append(f"{where}: no model for {doc.get('apiVersion')}/{doc.get('kind')}")
            continue
        try:
            obj = api.deserialize(_Response(doc), model)
        except (ValueError, TypeError) as e:
            errors.append(f"{where}: {e}")
            continue
        errors += [f"{where}: {d}" for d in differences(api.sanitize_for_serialization(obj), doc)]
        if model == "V1DaemonSet":
            added = check_daemonset(obj, errors)
    if added is None:
        errors.append("no DaemonSet in the manifest")
    for e in errors:
        print(f"{sys.argv[1]}: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    if len(sys.argv) == 3:
        print(",".join(a.lower().removeprefix("cap_") for a in added))
    else:
        print(f"{sys.argv[1]}: {len(docs)} documents valid; bulkheadd unprivileged with {added}")


if __name__ == "__main__":
    main()
