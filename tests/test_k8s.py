"""Kubernetes (issue 18): one instance per account from deploy/k8s (Kustomize: a base and an overlay per account),
rendered by kubectl's own Kustomize and every object validated offline against the Kubernetes API schemas
(kubernetes-validate, strict: an unknown field is an error), then held to what the bot needs."""

import base64
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.cli_errors import unknown_variables
from bot.governor.rules_config import load_rules

K8S = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
KUBE_VERSIONS = ("1.29.0", "1.33.0")  # the oldest and a recent release a desk may run


def _render(tmp_path: Path, overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is not installed: .ci/run must install kubernetes-client")
        pytest.skip("kubectl (Debian: kubernetes-client) is not installed here")
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    example = tree / "overlays" / overlay / "secrets.env.example"
    (example.parent / "secrets.env").write_text(example.read_text().replace("CHANGE_ME", "s3cret"))
    out = subprocess.run(
        [kubectl, "kustomize", str(tree / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def _one(docs: list[dict], kind: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_the_kubernetes_api(tmp_path: Path, overlay: str) -> None:
    import kubernetes_validate

    docs = _render(tmp_path, overlay)
    assert sorted(d["kind"] for d in docs) == sorted(
        ["ConfigMap", "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget"]
    )
    for version in KUBE_VERSIONS:
        for d in docs:
            kubernetes_validate.validate(d, version, strict=True)


def test_each_account_is_an_instance_of_its_own(tmp_path: Path) -> None:
    """Own names, own bot_id (run records, run lock, MQTT topics), and selectors that reach its pod only."""
    rendered = {o: _render(tmp_path / o, o) for o in OVERLAYS}
    assert len(OVERLAYS) >= 2
    bot_ids, names, instance_labels = set(), set(), set()
    for docs in rendered.values():
        dep = _one(docs, "Deployment")
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        bot_ids.add(env["CARRYBOT_BOT_ID"])
        instance_labels.add(pod_labels["app.kubernetes.io/instance"])
        names.update((d["kind"], d["metadata"]["name"]) for d in docs)
        for selector in (
            dep["spec"]["selector"]["matchLabels"],
            _one(docs, "Service")["spec"]["selector"],
            _one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        ):
            assert selector.items() <= pod_labels.items()
            assert "app.kubernetes.io/instance" in selector  # never every carrybot pod of the namespace
    assert len(bot_ids) == len(instance_labels) == len(OVERLAYS)
    assert len(names) == 6 * len(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_is_wired_as_the_bot_expects(tmp_path: Path, overlay: str) -> None:
    docs = _render(tmp_path, overlay)
    dep = _one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    port = int(env["CARRYBOT_TELEMETRY__PORT"])
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"  # never two at once
    # probes on the bot's own endpoints, on the port it serves
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"] == port
    # Prometheus finds it: annotations on the Service and the pod name that port
    for meta in (_one(docs, "Service")["metadata"], dep["spec"]["template"]["metadata"]):
        ann = meta["annotations"]
        assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == port
    # SIGTERM stops the bot after its tick, cancels and flushes: the grace period leaves it that time
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001  # the image's
    # the Secret's keys are files under /run/secrets named as the settings they fill, and every one is a setting
    secret = _one(docs, "Secret")
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["secrets"] == "/run/secrets"
    assert volumes["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert not unknown_variables({k.upper(): "x" for k in secret["data"]})
    # the settings ConfigMap names only real settings; the rules ConfigMap is a valid rules file where the pod reads it
    settings_cm, rules_cm = sorted(
        (d for d in docs if d["kind"] == "ConfigMap"), key=lambda d: "rules.yaml" in d.get("data", {})
    )
    assert (c["envFrom"][0]["configMapRef"]["name"]) == settings_cm["metadata"]["name"]
    assert not unknown_variables({**settings_cm["data"], **{k: v or "" for k, v in env.items()}})
    assert volumes["rules"]["configMap"]["name"] == rules_cm["metadata"]["name"]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(rules_cm["data"]["rules.yaml"])
    load_rules(rules_file)
    assert env["CARRYBOT_RULES_FILE"] == mounts["rules"] + "/rules.yaml"
    # the image's filesystem is read-only: what the bot writes has a volume
    assert c["securityContext"]["readOnlyRootFilesystem"]
    assert {"/home/carrybot/var", "/tmp"} <= set(mounts.values())


def test_the_instances_share_one_firm_budget_and_each_has_its_own_broker_account(tmp_path: Path) -> None:
    """One firm name, one firm section in every overlay's rules (an instance with different limits is refused at
    start), one PostgreSQL; each instance's MQTT account is its bot_id (the broker's ACL gives it its topics)."""
    firms, limits, databases = set(), [], set()
    for overlay in OVERLAYS:
        docs = _render(tmp_path / overlay, overlay)
        settings_cm, rules_cm = sorted(
            (d for d in docs if d["kind"] == "ConfigMap"), key=lambda d: "rules.yaml" in d.get("data", {})
        )
        env = {
            e["name"]: e.get("value")
            for e in _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        data = settings_cm["data"]
        assert data["CARRYBOT_FIRM__ENABLED"] == "true"
        assert data["CARRYBOT_MQTT__USERNAME"] == env["CARRYBOT_BOT_ID"]
        firms.add(data["CARRYBOT_FIRM__NAME"])
        rules_file = tmp_path / overlay / "rules.yaml"
        rules_file.write_text(rules_cm["data"]["rules.yaml"])
        limits.append(load_rules(rules_file).firm)
        databases.add(base64.b64decode(_one(docs, "Secret")["data"]["carrybot_db__url"]).decode())
    assert len(firms) == 1 and len(databases) == 1
    assert all(f == limits[0] for f in limits) and limits[0].max_gross_asset_usd == 600_000  # not the default
