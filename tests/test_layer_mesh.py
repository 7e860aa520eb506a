"""The mesh layer: Istio 1.30.3 in ambient mode (base, istiod, cni, ztunnel) and Kiali on the monitoring
layer's Prometheus."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from infra.footprint import chart_default_resources, lab_footprint, totals
from infra.quantities import cpu_millicores, memory_mebibytes
from infra.layers import monitoring
from infra.layers.mesh import (
    AMBIENT_NAMESPACE_LABEL, BASE_PIN, CNI_PIN, ISTIOD_PIN, KIALI_PIN, KIALI_PORT, NAMESPACE,
    SIDECAR_NAMESPACE_LABEL, WORKLOADS, ZTUNNEL_PIN, base_values, cni_values, istiod_values, kiali_values,
    scrape_monitors, ztunnel_values,
)
from infra.render import RELEASE_TYPE, record_program, render
from tests.conftest import check_k8s_render, probe_catalog, probe_registrations, render_with_layers
from tests.layer_helpers import (
    KIND, NODES, by_object_name, chart_defaults, checked_requests, kind_capabilities, namespace_part, one,
    release_named, releases_by_name,
)
from tests.cloud_helpers import cloud_caps

BUDGET_CPU_M, BUDGET_MEMORY_MI = 220, 700
ISTIO_RELEASES = ("istio-base", "istiod", "istio-cni", "ztunnel")
ISTIO_FREE_FORM = {"resources", "meshConfig"}  # free-form maps in the Istio charts: keys not checked
GIT_PLACEHOLDER_HUB, GIT_PLACEHOLDER_TAG = "registry.istio.io/testing", "latest"


def _layer_values() -> dict[str, dict]:
    """The values the layer computes for kind, by release."""
    caps = kind_capabilities()
    return {"istio-base": base_values(caps), "istiod": istiod_values(caps), "istio-cni": cni_values(caps),
            "ztunnel": ztunnel_values(caps), "kiali": kiali_values(caps)}


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    """The lab a Service Mesh slide gets with web UIs: mesh (and what it requires) plus ingress."""
    return render_with_layers(tmp_path_factory.mktemp("mesh"), ["mesh", "ingress"])


# --- pins, values and order in the render --------------------------------------------------------------


def test_render_installs_the_five_releases_with_their_pins(document):
    assert document["layers"] == ["gateway-api", "monitoring", "mesh", "ingress"]
    expected = {
        "istio-base": ("base", "https://istio-release.storage.googleapis.com/charts", "1.30.3"),
        "istiod": ("istiod", "https://istio-release.storage.googleapis.com/charts", "1.30.3"),
        "istio-cni": ("cni", "https://istio-release.storage.googleapis.com/charts", "1.30.3"),
        "ztunnel": ("ztunnel", "https://istio-release.storage.googleapis.com/charts", "1.30.3"),
        "kiali": ("kiali-server", "https://kiali.org/helm-charts", "2.29.0"),
    }
    mesh = {r["name"]: r for r in document["releases"] if r["namespace"] == "istio-system"}
    assert set(mesh) == set(expected)
    for name, (chart, repo, version) in expected.items():
        assert (mesh[name]["chart"], mesh[name]["repo"], mesh[name]["version"]) == (chart, repo, version), name
    pins = {"istio-base": BASE_PIN, "istiod": ISTIOD_PIN, "istio-cni": CNI_PIN, "ztunnel": ZTUNNEL_PIN,
            "kiali": KIALI_PIN}
    assert {name: (p.chart, p.repo, p.version) for name, p in pins.items()} == expected
    assert NAMESPACE == "istio-system"
    assert "Namespace/istio-system" in [f"{o['kind']}/{o['metadata']['name']}" for o in document["objects"]]


def test_render_values_are_the_values_the_layer_computes(document):
    for name, values in _layer_values().items():
        assert release_named(document, name)["values"] == values, name


def test_istio_installs_base_first_then_istiod_cni_ztunnel_and_kiali_in_parallel(document):
    deps = {name: release_named(document, name)["depends_on"] for name in (*ISTIO_RELEASES, "kiali")}
    assert "Namespace/istio-system" in deps["istio-base"]
    # istiod: after Istio's CRDs and after the Gateway API CRDs (the gateway-api layer's manifest).
    assert {"release/istio-base", "manifest/gateway-api-crds"} <= set(deps["istiod"])
    for name in ("istio-cni", "ztunnel", "kiali"):
        # Istio's CRDs only: waiting for istiod too would make the stack five levels deep.
        assert "release/istio-base" in deps[name] and "release/istiod" not in deps[name], name
    assert "release/ztunnel" not in deps["istio-cni"] and "release/istio-cni" not in deps["ztunnel"]
    assert not {"release/istio-cni", "release/ztunnel"} & set(deps["kiali"])
    # Kiali also waits for the monitoring layer's Prometheus.
    assert "release/kube-prometheus-stack" in deps["kiali"]


# --- ambient profile, images, sidecar mode --------------------------------------------------------------


def test_istiod_cni_and_ztunnel_use_the_ambient_profile():
    caps = kind_capabilities()
    for values in (istiod_values(caps), cni_values(caps), ztunnel_values(caps)):
        assert values["profile"] == "ambient"
    assert "profile" not in base_values(caps)  # base runs no workload: nothing to switch
    assert cni_values(caps)["ambient"] == {"enabled": True}


def test_images_come_from_docker_hub_at_the_release_tag_not_the_git_placeholders(shared):
    caps = kind_capabilities()
    for chart, values in (("istiod", istiod_values(caps)), ("cni", cni_values(caps))):
        defaults = chart_defaults(shared, chart, "1.30.3")["_internal_defaults_do_not_set"]
        assert (defaults["global"]["hub"], defaults["global"]["tag"]) == (GIT_PLACEHOLDER_HUB, GIT_PLACEHOLDER_TAG)
        assert (values["global"]["hub"], values["global"]["tag"]) == ("docker.io/istio", "1.30.3"), chart
    # ztunnel reads top-level hub/tag (it has no global.hub).
    defaults = chart_defaults(shared, "ztunnel", "1.30.3")["_internal_defaults_do_not_set"]
    assert (defaults["hub"], defaults["tag"]) == (GIT_PLACEHOLDER_HUB, GIT_PLACEHOLDER_TAG)
    assert "hub" not in defaults["global"]
    values = ztunnel_values(caps)
    assert (values["hub"], values["tag"]) == ("docker.io/istio", "1.30.3")


def test_istiod_is_one_small_replica_without_autoscaling_or_pdb():
    values = istiod_values(kind_capabilities())
    assert values["autoscaleEnabled"] is False and values["replicaCount"] == 1
    assert values["global"]["defaultPodDisruptionBudget"] == {"enabled": False}
    assert cpu_millicores(values["resources"]["requests"]["cpu"]) <= 100
    assert memory_mebibytes(values["resources"]["requests"]["memory"]) <= 256


def test_proxies_istiod_creates_at_run_time_are_lab_sized_too():
    proxy = istiod_values(kind_capabilities())["global"]
    for kind in ("proxy", "waypoint"):
        resources = proxy[kind]["resources"]
        assert cpu_millicores(resources["requests"]["cpu"]) <= 20, kind  # default 100m per pod
        assert memory_mebibytes(resources["requests"]["memory"]) <= 64, kind
        assert resources["limits"]["memory"], kind


def test_sidecar_injection_stays_available_for_labelled_namespaces(shared):
    assert AMBIENT_NAMESPACE_LABEL == ("istio.io/dataplane-mode", "ambient")
    assert SIDECAR_NAMESPACE_LABEL == ("istio-injection", "enabled")
    values = istiod_values(kind_capabilities())
    # Nothing of ours touches the injector: its chart defaults stand.
    assert "sidecarInjectorWebhook" not in values and "istiodRemote" not in values
    assert not {"operatorManageWebhooks", "omitSidecarInjectorConfigMap"} & set(values["global"])
    assert "autoInject" not in values["global"]["proxy"]
    defaults = chart_defaults(shared, "istiod", "1.30.3")["_internal_defaults_do_not_set"]
    assert defaults["sidecarInjectorWebhook"]["enableNamespacesByDefault"] is False  # labelled namespaces only
    assert defaults["global"]["proxy"]["autoInject"] == "enabled"
    assert defaults["istiodRemote"]["enabled"] is False and defaults["global"]["operatorManageWebhooks"] is False
    # The CNI agent's default ambient selector is the label the lab guide gives students.
    key, value = AMBIENT_NAMESPACE_LABEL
    cni = chart_defaults(shared, "cni", "1.30.3")["_internal_defaults_do_not_set"]
    selectors = cni["ambient"]["enablementSelectors"]
    assert {"namespaceSelector": {"matchLabels": {key: value}}}.items() <= selectors[1].items()


def unknown(values: dict, defaults: dict, prefix: str = "") -> list[str]:
    """Dotted paths of `values` absent from the chart's `defaults` (free-form maps not descended)."""
    out = []
    for key, val in values.items():
        path = f"{prefix}.{key}" if prefix else key
        if key in ISTIO_FREE_FORM:
            continue
        if key not in defaults:
            out.append(path)
        elif isinstance(val, dict) and isinstance(defaults[key], dict):
            out.extend(unknown(val, defaults[key], path))
    return out


def test_istio_value_keys_exist_in_the_charts_internal_defaults(shared):
    """The keys check_k8s cannot verify (Istio wraps its defaults): everything we set exists under
    `_internal_defaults_do_not_set`, except the documented exceptions."""
    caps = kind_capabilities()
    expected = [
        ("base", base_values(caps), ["base.validationFailurePolicy"]),  # documented in istiod's values.yaml
        ("istiod", istiod_values(caps), ["profile", "base.validationFailurePolicy"]),  # commented there
        ("cni", cni_values(caps), ["profile"]),
        ("ztunnel", ztunnel_values(caps), ["profile"]),
    ]
    for chart, values, exceptions in expected:
        defaults = chart_defaults(shared, chart, "1.30.3")
        assert list(defaults) == ["_internal_defaults_do_not_set"]
        assert sorted(unknown(values, defaults["_internal_defaults_do_not_set"])) == sorted(exceptions), chart
    istiod_text = (shared / "charts" / "istiod" / "1.30.3" / "values.yaml").read_text()
    assert "# validationFailurePolicy: Fail" in istiod_text


# --- validation webhook: deterministic inputs ----------------------------------------------------------


def test_validation_webhook_failure_policy_is_stated_as_istiod_sets_it():
    caps = kind_capabilities()
    assert base_values(caps)["base"] == {"validationFailurePolicy": "Fail"}
    assert istiod_values(caps)["base"] == {"validationFailurePolicy": "Fail"}
    assert istiod_values(caps)["global"].get("istiod", {}).get("enableAnalysis", False) is False


def test_two_renders_of_the_same_lab_give_identical_release_inputs(tmp_path):
    catalog = probe_catalog(tmp_path / "labs", ["mesh", "ingress"])

    def mesh_inputs():
        registrations, _ = record_program(replace(KIND, lab="probe"), catalog)
        return {reg.urn: (reg.inputs, sorted(reg.dependencies)) for reg in registrations
                if "labs:layer:Mesh" in reg.urn and reg.custom}

    first, second = mesh_inputs(), mesh_inputs()
    assert first == second
    assert sum(1 for urn in first if RELEASE_TYPE in urn) == 5

    def by_name(doc):  # registration order varies between runs (Pulumi resolves outputs concurrently)
        return ({r["name"]: r for r in doc["releases"]},
                {(o["kind"], o["metadata"]["name"]): o for o in doc["objects"]})

    first_doc, second_doc = (render("probe", KIND, catalog) for _ in range(2))
    assert by_name(first_doc) == by_name(second_doc)


# --- one owner of the Gateway API CRDs ------------------------------------------------------------------


def test_no_istio_release_or_object_owns_the_gateway_api_crds(document):
    assert [m["name"] for m in document["manifests"]] == ["gateway-api-crds"]
    assert not [o for o in document["objects"] if o["kind"] == "CustomResourceDefinition"]
    for name in ISTIO_RELEASES:
        text = repr(release_named(document, name)["values"]).lower()
        assert "gateway" not in text and "crd" not in text, name


def test_the_base_charts_crds_are_istios_own_groups_only(shared):
    """Istio 1.30.3's base chart installs `files/crd-all.gen.yaml`; ../shared/schemas lists its CRDs."""
    index = (shared / "schemas" / "INDEX.md").read_text()
    groups = {m.group(1) for m in re.finditer(r"^\| `crds/([^/]+)/[^|]*\| [^|]+\| [^|]+\| [^|]+\| [^|]+\| [^|]+\| "
                                              r"[^|]+\| Istio 1\.30\.3 \|", index, re.M)}
    assert groups and all(group.endswith(".istio.io") for group in groups), groups
    assert "gateway.networking.k8s.io" not in groups


# --- Kiali ----------------------------------------------------------------------------------------------


def test_kiali_reads_the_monitoring_layers_prometheus():
    values = kiali_values(kind_capabilities())
    assert values["external_services"]["prometheus"]["url"] == monitoring.PROMETHEUS_URL
    assert monitoring.PROMETHEUS_URL.startswith("http://") and ".monitoring." in monitoring.PROMETHEUS_URL
    assert kiali_values(kind_capabilities(), "http://prom.example:9090")["external_services"]["prometheus"] == {
        "url": "http://prom.example:9090"}


def test_kiali_is_an_anonymous_lab_ui_without_grafana_or_tracing():
    values = kiali_values(kind_capabilities())
    assert values["auth"] == {"strategy": "anonymous"}
    assert values["external_services"]["grafana"] == {"enabled": False}
    assert values["external_services"]["tracing"] == {"enabled": False}


def test_kiali_ui_is_published_on_the_kiali_service_port(document, shared):
    assert KIALI_PORT == chart_defaults(shared, "kiali-server", "2.29.0")["server"]["port"] == 20001
    (ingress,) = [o for o in document["objects"] if o["kind"] == "Ingress" and o["metadata"]["name"] == "kiali-ui"]
    assert ingress["metadata"]["namespace"] == "istio-system"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "kiali.localhost"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "kiali", "port": {"number": KIALI_PORT}}


def test_without_the_ingress_layer_there_is_no_kiali_ingress(tmp_path):
    document = render_with_layers(tmp_path, ["mesh"])
    assert not [o for o in document["objects"] if o["kind"] == "Ingress"]


# --- Prometheus scraping --------------------------------------------------------------------------------


def test_monitors_scrape_each_istio_metrics_port_once(document):
    monitors = {(o["kind"], o["metadata"]["name"]): o for o in document["objects"]
                if o["kind"] in ("PodMonitor", "ServiceMonitor")}
    assert set(monitors) == {("PodMonitor", "istio-proxies"), ("PodMonitor", "ztunnel"), ("ServiceMonitor", "istiod")}
    assert all(o["metadata"]["namespace"] == NAMESPACE for o in monitors.values())
    proxies = monitors[("PodMonitor", "istio-proxies")]["spec"]
    assert proxies["namespaceSelector"] == {"any": True}  # sidecars and waypoints live in students' namespaces
    assert proxies["podMetricsEndpoints"] == [{"port": "http-envoy-prom", "path": "/stats/prometheus", "interval": "15s"}]
    ztunnel = monitors[("PodMonitor", "ztunnel")]["spec"]
    assert ztunnel["selector"] == {"matchLabels": {"app": "ztunnel"}}
    assert [e["port"] for e in ztunnel["podMetricsEndpoints"]] == ["ztunnel-stats"]
    istiod = monitors[("ServiceMonitor", "istiod")]["spec"]
    assert [e["port"] for e in istiod["endpoints"]] == ["http-monitoring"]
    assert [m["spec"] for m in scrape_monitors()] == [
        monitors[("PodMonitor", "istio-proxies")]["spec"], ztunnel, istiod]


def test_monitoring_selects_monitors_without_the_helm_release_label():
    spec = monitoring.kube_prometheus_stack_values(kind_capabilities())["prometheus"]["prometheusSpec"]
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False


# --- footprint ------------------------------------------------------------------------------------------


def test_every_declared_workload_has_requests_and_a_memory_limit(document):
    assert set(WORKLOADS) == {"istiod", "istio-cni", "ztunnel", "kiali"}  # istio-base runs no pod
    checked_requests({name: release_named(document, name)["values"] for name in WORKLOADS}, WORKLOADS)


def test_declared_workloads_are_the_real_resource_paths(shared):
    assert {name: [(w.container, w.resources_path, w.per_node) for w in ws] for name, ws in WORKLOADS.items()} == {
        "istiod": [("discovery", "resources", False)],
        "istio-cni": [("install-cni", "resources", True)],
        "ztunnel": [("istio-proxy", "resources", True)],
        "kiali": [("kiali", "deployment.resources", False)],
    }
    charts = {"istiod": ("istiod", "1.30.3"), "istio-cni": ("cni", "1.30.3"), "ztunnel": ("ztunnel", "1.30.3"),
              "kiali": ("kiali-server", "2.29.0")}
    for release_name, workloads in WORKLOADS.items():
        chart, version = charts[release_name]
        for workload in workloads:
            default = chart_default_resources(shared / "charts" / chart / version, workload.resources_path)
            assert isinstance(default, dict) and "requests" in default, (release_name, workload)


def test_layer_stays_within_its_budget():
    cpu, memory = checked_requests(_layer_values(), WORKLOADS)
    assert (cpu, memory) == (145, 520)
    assert cpu <= BUDGET_CPU_M and memory <= BUDGET_MEMORY_MI


def test_footprint_report_reads_the_same_requests(tmp_path):
    rows = [r for r in lab_footprint(replace(KIND, lab="probe"), probe_catalog(tmp_path / "labs", ["mesh"]), NODES)
            if r.layer == "mesh"]
    assert rows and not [r for r in rows if r.lacks_requests]
    assert totals(rows) == (145, 520)


# --- Pulumi registrations -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registrations(tmp_path_factory):
    return probe_registrations(tmp_path_factory.mktemp("mesh-regs") / "labs", ["mesh"], KIND)


def test_children_belong_to_the_mesh_component_on_the_cluster_provider(registrations):
    layer = one(registrations, "labs:layer:Mesh")
    assert layer.name == "mesh"
    provider = one(registrations, "pulumi:providers:kubernetes")
    children = [r for r in registrations if r.parent == layer.urn]
    assert sorted(r.type for r in children) == [
        "kubernetes:core/v1:Namespace", *["kubernetes:helm.sh/v3:Release"] * 5,
        "kubernetes:monitoring.coreos.com/v1:PodMonitor", "kubernetes:monitoring.coreos.com/v1:PodMonitor",
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
        "pulumi-python:dynamic:Resource",  # istio-base-crds: Istio's CRDs go with the layer (chart_crds)
    ]
    assert all(r.provider.startswith(provider.urn) for r in children if r.type.startswith("kubernetes:"))


def test_istiod_waits_for_the_gateway_api_crds_and_monitors_for_the_prometheus_crds(registrations):
    crds = one(registrations, "kubernetes:yaml/v2:ConfigFile")
    releases = by_object_name(registrations, RELEASE_TYPE)
    assert crds.urn in releases["istiod"].dependencies
    assert releases["istio-base"].urn in releases["istiod"].dependencies
    monitors = [r for r in registrations if r.type.startswith("kubernetes:monitoring.coreos.com/")]
    assert len(monitors) == 3
    for monitor in monitors:
        assert releases["kube-prometheus-stack"].urn in monitor.dependencies
        # Scrape targets may appear later: the monitors do not wait for Istio (stack depth stays 4).
        assert not {releases[name].urn for name in (*ISTIO_RELEASES, "kiali")} & set(monitor.dependencies)


# --- contract check -------------------------------------------------------------------------------------


EXPECTED_WARNINGS = {
    # Istio: every top-level key (the chart's defaults sit under `_internal_defaults_do_not_set`).
    ("istio-base", "base"),
    ("istiod", "profile"), ("istiod", "autoscaleEnabled"), ("istiod", "replicaCount"), ("istiod", "base"),
    ("istiod", "global"),
    ("istio-cni", "profile"), ("istio-cni", "ambient"), ("istio-cni", "global"),
    ("ztunnel", "profile"), ("ztunnel", "hub"), ("ztunnel", "tag"),
    # Kiali: config.yaml settings the chart passes through without listing them in values.yaml.
    ("kiali", "external_services.prometheus.url"), ("kiali", "external_services.grafana"),
    ("kiali", "external_services.tracing"),
}


def test_mesh_releases_and_objects_pass_the_contract_check(document, tmp_path, shared):
    part = namespace_part(document, NAMESPACE)
    assert sorted(o["kind"] for o in part["objects"]) == [
        "Ingress", "Namespace", "PodMonitor", "PodMonitor", "ServiceMonitor"]
    output = check_k8s_render(shared, part, tmp_path)
    assert "10 checked, 0 errors," in output
    warnings = set(re.findall(r"release (\S+) \(.*\): values key '([^']+)' is not", output))
    assert warnings == EXPECTED_WARNINGS


def test_whole_probe_render_passes_the_contract_check(document, tmp_path, shared):
    """The lab a Service Mesh slide gets (gateway-api and monitoring included, as the layer requires)."""
    output = check_k8s_render(shared, document, tmp_path)
    assert ", 0 errors," in output


def test_istio_installs_in_parallel_with_monitoring_and_kiali_waits_for_it(tmp_path):
    releases = releases_by_name(render_with_layers(tmp_path, ["mesh"]))
    for name in ("istio-base", "istiod", "istio-cni", "ztunnel"):
        assert "release/kube-prometheus-stack" not in releases[name]["depends_on"], name
    assert "manifest/gateway-api-crds" in releases["istiod"]["depends_on"]
    assert "release/kube-prometheus-stack" in releases["kiali"]["depends_on"]


# --- GKE: Istio's platform profile and the node-critical ResourceQuota ---------------------------------


def test_only_gke_declares_an_istio_platform():
    assert kind_capabilities().istio_platform == ""
    assert {target: cloud_caps(target).istio_platform for target in ("gke", "eks", "aks")} == {
        "gke": "gke", "eks": "", "aks": ""}


def test_on_gke_both_node_agents_get_the_gke_platform_and_their_node_critical_quota():
    gke = cloud_caps("gke")
    cni, ztunnel = cni_values(gke), ztunnel_values(gke)
    # global.platform selects files/profile-platform-gke.yaml (CNI binaries in /home/kubernetes/bin).
    assert cni["global"] == {"hub": "docker.io/istio", "tag": "1.30.3", "platform": "gke"}
    assert ztunnel["global"] == {"platform": "gke"}
    # Each chart then renders a ResourceQuota scoped to the system-node-critical priority class in
    # istio-system, without which GKE refuses the DaemonSets' pods there.
    assert cni["resourceQuotas"] == ztunnel["resourceQuotas"] == {"enabled": True}
    kind = kind_capabilities()
    assert {k: v for k, v in cni.items() if k not in ("global", "resourceQuotas")} == {
        k: v for k, v in cni_values(kind).items() if k != "global"}
    assert {k: v for k, v in ztunnel.items() if k not in ("global", "resourceQuotas")} == ztunnel_values(kind)
    # The control plane and Kiali need nothing of it.
    assert istiod_values(gke) == istiod_values(kind) and base_values(gke) == base_values(kind)
    assert kiali_values(gke) == kiali_values(kind)


def test_other_targets_keep_the_plain_values():
    kind = _layer_values()
    for target in ("eks", "aks"):
        caps = cloud_caps(target)
        assert {"istio-base": base_values(caps), "istiod": istiod_values(caps), "istio-cni": cni_values(caps),
                "ztunnel": ztunnel_values(caps), "kiali": kiali_values(caps)} == kind, target
    assert "platform" not in cni_values(kind_capabilities())["global"]
    assert "resourceQuotas" not in cni_values(kind_capabilities())


def test_the_quota_switch_is_a_key_of_both_node_agent_charts(shared):
    for chart in ("cni", "ztunnel"):
        defaults = chart_defaults(shared, chart, "1.30.3")["_internal_defaults_do_not_set"]
        assert defaults["resourceQuotas"] == {"enabled": False, "pods": 5000}, chart  # off unless we say so
        assert "platform" not in (defaults.get("global") or {}), chart  # read by zzz_profile.yaml, like `profile`
    cni = chart_defaults(shared, "cni", "1.30.3")["_internal_defaults_do_not_set"]
    assert cni["cniBinDir"] == "/opt/cni/bin"  # not GKE's /home/kubernetes/bin: the platform profile changes it
    text = (shared / "charts" / "cni" / "1.30.3" / "values.yaml").read_text()
    assert "manifests/helm-profiles/platform-*.yaml" in text


def test_gke_istio_value_keys_exist_in_the_charts_internal_defaults_but_the_platform(shared):
    gke = cloud_caps("gke")

    for chart, values in (("cni", cni_values(gke)), ("ztunnel", ztunnel_values(gke))):
        defaults = chart_defaults(shared, chart, "1.30.3")["_internal_defaults_do_not_set"]
        assert sorted(unknown(values, defaults)) == ["global.platform", "profile"], chart


def test_gke_mesh_render_passes_the_contract_check(tmp_path, shared):
    from infra.clusters.cloud import EXTRAS
    from tests.cloud_helpers import cloud_settings

    for module in EXTRAS["gke"][1]:
        pytest.importorskip(module, reason="the gke extra is not installed")
    document = render_with_layers(tmp_path / "labs", ["mesh"], cloud_settings("gke"))
    for name, values in (("istio-cni", cni_values(cloud_caps("gke"))), ("ztunnel", ztunnel_values(cloud_caps("gke")))):
        assert release_named(document, name)["values"] == values
        assert release_named(document, name)["namespace"] == "istio-system"
    output = check_k8s_render(shared, namespace_part(document, NAMESPACE), tmp_path)
    assert ", 0 errors," in output
    warnings = set(re.findall(r"release (\S+) \(.*\): values key '([^']+)' is not", output))
    # Istio's wrapped defaults: the new top-level key shows up like every other one.
    assert {("istio-cni", "resourceQuotas"), ("ztunnel", "resourceQuotas"), ("ztunnel", "global")} <= warnings
    assert warnings - EXPECTED_WARNINGS == {("istio-cni", "resourceQuotas"), ("ztunnel", "resourceQuotas"),
                                            ("ztunnel", "global")}
