#!/usr/bin/python3
"""The shop fixture's exported NetworkPolicies, judged by np_check.py, and
np_check.py judged by policies broken on purpose: an evaluator that passes
everything would pass the golden file too.

Usage: np_check_test.py GOLDEN_YAML GOLDEN_JSON EXPORT_JSON
"""
import copy
import sys
import unittest

import np_check

GOLDEN_YAML, GOLDEN_JSON, EXPORT_JSON = sys.argv[1:4]


def policy_of(policies, workload):
    return next(p for p in policies
                if p["metadata"]["annotations"]["bulkhead.dev/workload"] == workload)


class GoldenPolicies(unittest.TestCase):
    def setUp(self):
        self.policies = np_check.read_policies(GOLDEN_YAML)
        self.export = np_check.read_export(EXPORT_JSON)

    def test_every_document_loads_into_the_kubernetes_model(self):
        self.assertEqual(len(self.policies), len(self.export.workloads))  # one per workload
        self.assertEqual(np_check.model_problems(self.policies), [])

    def test_they_allow_exactly_the_segments(self):
        self.assertEqual(np_check.check(self.policies, self.export), [])
        self.assertEqual(np_check.main(["--policies", GOLDEN_YAML, "--export-json", EXPORT_JSON]), 0)

    def test_the_json_list_holds_the_same_policies(self):
        self.assertEqual(np_check.read_policies(GOLDEN_JSON), self.policies)

    def test_a_scoped_export_is_judged_within_its_scope(self):
        payments = [p for p in self.policies if p["metadata"]["namespace"] == "payments"]
        self.assertEqual(np_check.check(payments, self.export, ("namespace", "payments")), [])
        # Judged as a whole export, shop's workloads are not isolated at all.
        self.assertIn("shop/api: no policy selects its pods for Ingress",
                      np_check.check(payments, self.export))


class BrokenPoliciesAreCaught(unittest.TestCase):
    """Each change breaks exactness in one way; np_check must name it."""

    def setUp(self):
        self.export = np_check.read_export(EXPORT_JSON)

    def problems_after(self, change):
        policies = np_check.read_policies(GOLDEN_YAML)
        change(policies)
        return np_check.check(policies, self.export)

    def test_a_selector_that_also_selects_another_workload(self):
        problems = self.problems_after(
            lambda p: policy_of(p, "shop/api")["spec"]["podSelector"].pop("matchExpressions"))
        self.assertIn("allowed without a segment: shop/api-canary -> private 10.0.0.0 tcp/6379",
                      problems)

    def test_an_ip_block_without_a_network_sets_exception(self):
        def change(p):
            world = policy_of(p, "shop/frontend")["spec"]["ingress"][0]["from"][0]["ipBlock"]
            world["except"].remove("203.0.113.0/24")
        self.assertIn("allowed without a segment: payments-api 203.0.113.0 -> shop/frontend tcp/443",
                      self.problems_after(change))

    def test_a_host_address_left_inside_private(self):
        def change(p):
            rule = policy_of(p, "shop/api")["spec"]["egress"][3]  # to private
            next(b for b in rule["to"] if b["ipBlock"]["cidr"] == "192.168.0.0/16")["ipBlock"].pop("except")
        self.assertEqual(self.problems_after(change),
                         ["allowed without a segment: shop/api -> host 192.168.1.5 tcp/6379"])

    def test_a_direction_left_open(self):
        problems = self.problems_after(
            lambda p: policy_of(p, "shop/idle")["spec"].__setitem__("policyTypes", ["Ingress"]))
        self.assertIn("shop/idle: no policy selects its pods for Egress", problems)

    def test_a_range_one_port_too_wide(self):
        def change(p):
            ports = policy_of(p, "shop/frontend")["spec"]["ingress"][0]["ports"]
            ports[0]["endPort"] = 444
        self.assertIn("allowed without a segment: world 1.1.1.1 -> shop/frontend tcp/444",
                      self.problems_after(change))

    def test_a_peer_in_another_namespace_without_its_namespace_selector(self):
        problems = self.problems_after(
            lambda p: policy_of(p, "kube-system/coredns")["spec"]["ingress"][1]["from"][0]
            .pop("namespaceSelector"))
        self.assertEqual(problems, ["a segment, denied: shop/frontend -> kube-system/coredns udp/53"])

    def test_a_rule_without_ports_allows_every_protocol(self):
        problems = self.problems_after(
            lambda p: policy_of(p, "shop/frontend")["spec"]["ingress"][0].pop("ports"))
        self.assertTrue(any(line.startswith("allowed without a segment: world 1.1.1.1 -> "
                                            "shop/frontend sctp/1,22,") for line in problems),
                        problems)

    def test_a_misspelled_field(self):
        problems = self.problems_after(
            lambda p: policy_of(p, "shop/db")["spec"].__setitem__("podSelecter", {}))
        self.assertEqual(problems,
                         ["document 6 (bulkhead-db): spec.podSelecter: not a field of the model "
                          "(misspelled?)"])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
