"""The alerting layer: course rules, a route tree and the Mailpit inbox, on the monitoring layer."""
from __future__ import annotations

import re

import pytest

from infra.quantities import cpu_millicores, memory_mebibytes
from infra.layers.alerting import MAILPIT_IMAGE, SMARTHOST, alertmanager_config_spec, prometheus_rule_spec
from infra.layers.monitoring import ALERTMANAGER_URL, RELEASE as MONITORING_RELEASE
from tests.conftest import check_k8s_render, probe_catalog, probe_registrations, record_probe, render_with_layers
from tests.layer_helpers import KIND, by_object_name, objects_of_kind, one

BUDGET_CPU_M, BUDGET_MEMORY_MI = 20, 64
CR_TYPES = ("kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig",
            "kubernetes:monitoring.coreos.com/v1:PrometheusRule")


def test_the_layer_brings_monitoring_and_passes_the_contract_check(tmp_path, shared):
    document = render_with_layers(tmp_path, ["alerting"])
    assert document["layers"] == ["monitoring", "alerting"]
    assert [r["name"] for r in document["releases"]] == [MONITORING_RELEASE]  # alerting adds no release
    assert set(objects_of_kind(document, "AlertmanagerConfig")) == {"course-routes"}
    assert set(objects_of_kind(document, "PrometheusRule")) == {"course-alerts"}
    for kind in ("AlertmanagerConfig", "PrometheusRule", "Deployment", "Service"):
        for obj in objects_of_kind(document, kind).values():
            assert obj["metadata"]["namespace"] == "alerting", kind
    output = check_k8s_render(shared, document, tmp_path)
    assert " 0 errors" in output


def test_the_monitoring_release_is_untouched_by_the_alerting_layer(tmp_path):
    alone = render_with_layers(tmp_path / "alone", ["monitoring"])["releases"]
    with_alerting = render_with_layers(tmp_path / "alerting", ["alerting"])["releases"]
    with_ingress = render_with_layers(tmp_path / "ingress", ["monitoring", "ingress"])["releases"]
    (release,) = alone
    assert [r for r in with_alerting if r["name"] == MONITORING_RELEASE] == [release]
    assert [r for r in with_ingress if r["name"] == MONITORING_RELEASE] == [release]


def test_custom_resources_wait_for_the_monitoring_release_and_mailpit_does_not(tmp_path):
    registrations = probe_registrations(tmp_path, ["alerting"], KIND)
    by_type = {r.type: r for r in registrations}
    release = one(registrations, "kubernetes:helm.sh/v3:Release")  # the monitoring layer's
    namespace = one(registrations, "kubernetes:core/v1:Namespace", "alerting-ns")
    layer = one(registrations, "labs:layer:Alerting")
    for cr_type in CR_TYPES:
        cr = by_type[cr_type]
        assert release.urn in cr.dependencies and namespace.urn in cr.dependencies, cr_type
        assert cr.parent == layer.urn
    for kind in ("kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"):
        mailpit = by_type[kind]
        assert mailpit.dependencies == [namespace.urn], kind  # installs in parallel with the monitoring release


def test_route_tree_groups_by_alertname_and_namespace_with_a_faster_critical_route():
    route = alertmanager_config_spec()["route"]
    assert route["receiver"] == "mailpit"
    assert route["groupBy"] == ["alertname", "namespace"]
    blackhole, critical = route["routes"]
    assert blackhole["receiver"] == "blackhole"
    assert blackhole["matchers"] == [{"name": "alertname", "matchType": "=~", "value": "Watchdog|InfoInhibitor"}]
    assert critical["receiver"] == "mailpit"
    assert critical["matchers"] == [{"name": "severity", "matchType": "=", "value": "critical"}]

    def minutes(duration: str) -> int:
        value, unit = int(duration[:-1]), duration[-1]
        return value * {"m": 1, "h": 60}[unit]

    assert minutes(critical["repeatInterval"]) < minutes(route["repeatInterval"])


def test_email_receiver_sends_plain_smtp_to_mailpit():
    receivers = {r["name"]: r for r in alertmanager_config_spec()["receivers"]}
    assert set(receivers) == {"mailpit", "blackhole"}
    assert receivers["blackhole"] == {"name": "blackhole"}  # no integration: dropped
    (email,) = receivers["mailpit"]["emailConfigs"]
    assert email["smarthost"] == SMARTHOST == "mailpit.alerting.svc:1025"
    assert email["requireTLS"] is False
    assert not {"authUsername", "authPassword", "authSecret", "tlsConfig"} & set(email)
    assert email["to"] and email["from"] and email["sendResolved"] is True


def test_critical_inhibits_warning_of_the_same_alert_and_namespace():
    (rule,) = alertmanager_config_spec()["inhibitRules"]
    assert rule["sourceMatch"] == [{"name": "severity", "matchType": "=", "value": "critical"}]
    assert rule["targetMatch"] == [{"name": "severity", "matchType": "=", "value": "warning"}]
    assert rule["equal"] == ["alertname", "namespace"]


def test_course_alerts_carry_severity_and_english_and_french_annotations():
    (group,) = prometheus_rule_spec()["groups"]
    rules = group["rules"]
    names = {rule["alert"] for rule in rules}
    assert names == {"CoursePodCrashLooping", "CourseDeploymentReplicasUnavailable", "CoursePVCAlmostFull",
                     "CourseTargetDown"}
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert {"summary", "description", "summary_fr", "description_fr"} <= set(rule["annotations"]), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
    by_name = {}
    for rule in rules:
        by_name.setdefault(rule["alert"], []).append(rule)
    assert "kube_pod_container_status_restarts_total" in by_name["CoursePodCrashLooping"][0]["expr"]
    assert "kubelet_volume_stats_used_bytes" in by_name["CoursePVCAlmostFull"][0]["expr"]
    assert by_name["CourseTargetDown"][0]["expr"] == "up == 0"
    # The inhibition rule has something to show: a warning and a critical alert of the same name.
    for pair in ("CourseDeploymentReplicasUnavailable", "CoursePVCAlmostFull"):
        assert sorted(rule["labels"]["severity"] for rule in by_name[pair]) == ["critical", "warning"]


def test_mailpit_is_a_small_non_root_deployment_with_smtp_and_ui_ports(tmp_path):
    document = render_with_layers(tmp_path, ["alerting"])
    deployment = objects_of_kind(document, "Deployment")["mailpit"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == MAILPIT_IMAGE and re.fullmatch(r"axllent/mailpit:v\d+\.\d+\.\d+", MAILPIT_IMAGE)
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"smtp": 1025, "http": 8025}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    requests = container["resources"]["requests"]
    assert cpu_millicores(requests["cpu"]) <= BUDGET_CPU_M and memory_mebibytes(requests["memory"]) <= BUDGET_MEMORY_MI
    assert container["resources"]["limits"]["memory"]
    service = objects_of_kind(document, "Service")["mailpit"]
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"smtp": 1025, "http": 8025}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_footprint_counts_mailpit_within_the_layer_budget(tmp_path):
    from infra.footprint import footprint, totals

    rows = footprint("probe", KIND, probe_catalog(tmp_path, ["alerting"]))["alerting"]
    assert [(r.owner, r.container) for r in rows] == [("Deployment/mailpit", "mailpit")]
    assert totals(rows) == (10, 32)


@pytest.mark.parametrize("layers, mail_url, alertmanager_url", [
    (["alerting"], None, None),
    (["alerting", "ingress"], "http://mail.localhost/", "http://alertmanager.localhost/"),
], ids=["alerting", "alerting-ingress"])
def test_inbox_and_alertmanager_urls_are_outputs(tmp_path, layers, mail_url, alertmanager_url):
    registrations, outputs = record_probe(tmp_path, layers, KIND)
    layer = one(registrations, "labs:layer:Alerting")
    out = outputs[layer.urn]
    assert out.get("mail_url") == mail_url
    assert out.get("alertmanager_url") == alertmanager_url
    assert out["alertmanager_in_cluster"] == ALERTMANAGER_URL
    ingresses = by_object_name(registrations, "kubernetes:networking.k8s.io/v1:Ingress")
    if mail_url:
        rule = ingresses["mail-ui"].inputs["spec"]["rules"][0]
        backend = rule["http"]["paths"][0]["backend"]["service"]
        assert (rule["host"], backend["name"], backend["port"]["number"]) == ("mail.localhost", "mailpit", 8025)
        assert ingresses["mail-ui"].inputs["metadata"]["namespace"] == "alerting"
    else:
        assert "mail-ui" not in ingresses
