#!/usr/bin/python3
"""Hand-written NetworkPolicies as Bulkhead reads them, judged by np_check.py.

kubernetes_import_test writes each of its hand-written cases into DIR (its
BULKHEAD_IMPORT_OUT): <case>.yaml, the policies; <case>.json, the cluster
with the segments Bulkhead read from them; <case>.scope, what the policies
select ("namespace:NS", or empty for every workload). The segments must be
exactly what the policies allow, as np_check's evaluator of the
networking.k8s.io/v1 reference judges it: one evaluator checks both ways,
export (np_check_test.py) and import (here).

Usage: import_check.py DIR MIN_CASES
Exit status: 0 every case exact; 1 otherwise (or fewer than MIN_CASES cases).
"""
import glob
import os
import sys

import np_check


def main(directory, min_cases):
    cases = sorted(glob.glob(os.path.join(directory, "*.yaml")))
    if len(cases) < min_cases:
        print(f"import_check: {len(cases)} cases in {directory}, expected {min_cases} at least",
              file=sys.stderr)
        return 1
    failed = 0
    for policies_path in cases:
        base = policies_path[:-len(".yaml")]
        with open(base + ".scope") as f:
            scope_text = f.read().strip()
        scope = tuple(scope_text.split(":", 1)) if scope_text else None
        problems = np_check.check(np_check.read_policies(policies_path),
                                  np_check.read_export(base + ".json"), scope)
        name = os.path.basename(base)
        for problem in problems:
            print(f"{name}: {problem}")
        print(f"{name}: {'exact' if not problems else f'{len(problems)} differences'}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
