"""The Kubernetes manifests in k8s/: valid for KubeRay, in step with serve_config.yaml, consistent.

Fast and offline (no cluster, no kubectl): RayService and RayCluster documents are checked against
the `v1` schema of KubeRay's CRDs in ../shared/k8s-schemas, their serveConfigV2 against Ray Serve's
own schema, and every document against the others (names each one refers to must exist in k8s/).
"""

from __future__ import annotations

import difflib
import functools
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
# CI clones the repository with shared/ beside it (/work/main next to /work/shared).
SCHEMAS = ROOT.parent / "shared" / "k8s-schemas"
CRD_FILES = {"RayService": "ray.io_rayservices.yaml", "RayCluster": "ray.io_rayclusters.yaml"}
RAY_KINDS = tuple(CRD_FILES)

SYNC_HINT = (
    "serveConfigV2 in k8s/rayservice.yaml differs from serve_config.yaml: run `python k8s/sync_serve_config.py` "
    "(edit serve_config.yaml, never the block)"
)
SHARED_MOUNT = "/mnt/chorus"
SHARED_CLAIM = "chorus-data"
# Secrets made outside these files on purpose (k8s/README.md, section 7), not by applying k8s/.
EXTERNAL_SECRETS = {"chorus-tls"}
EXPECTED_KINDS = {
    "rayservice.yaml": {"RayService"},
    "redis.yaml": {"PersistentVolumeClaim", "Deployment", "Service"},
    "secrets.example.yaml": {"Secret"},
    "storage.yaml": {"PersistentVolumeClaim", "ConfigMap", "Job"},
    "services.yaml": {"Ingress"},
}
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 18k lines: use libyaml when present


# ---------------------------------------------------------------------------------------------
# Loading


@functools.cache
def manifests() -> tuple[tuple[str, dict], ...]:
    """(file name, document) for every YAML document under k8s/."""
    found = []
    for path in sorted(K8S.glob("*.yaml")) + sorted(K8S.glob("*.yml")):
        for doc in yaml.load_all(path.read_text(), Loader=_Loader):
            if doc is not None:
                found.append((path.name, doc))
    return tuple(found)


def of_kind(*kinds: str) -> list[dict]:
    return [doc for _, doc in manifests() if doc.get("kind") in kinds]


def named(kind: str, name: str) -> dict:
    matches = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert matches, f"no {kind} named {name!r} under k8s/"
    return matches[0]


def rayservice() -> dict:
    return named("RayService", "chorus")


def serve_config() -> dict:
    return yaml.safe_load((ROOT / "serve_config.yaml").read_text())


@functools.cache
def crd_schema(kind: str, version: str) -> dict:
    crd = yaml.load((SCHEMAS / CRD_FILES[kind]).read_text(), Loader=_Loader)
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return served["schema"]["openAPIV3Schema"]
    raise AssertionError(f"{CRD_FILES[kind]} has no version {version}")


def cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterConfig"] if doc["kind"] == "RayService" else doc["spec"]


def ray_groups(doc: dict) -> list[tuple[str, dict]]:
    """(group name, group spec) for the head (named "head") and every worker group."""
    spec = cluster_spec(doc)
    return [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec.get("workerGroupSpecs", [])]


def pod_specs() -> list[tuple[str, dict]]:
    """(where, pod spec) for every pod template in k8s/."""
    pods = []
    for name, doc in manifests():
        kind = doc.get("kind")
        if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            pods.append((f"{name}: {kind} {doc['metadata']['name']}", doc["spec"]["template"]["spec"]))
        elif kind in RAY_KINDS:
            for group, spec in ray_groups(doc):
                pods.append((f"{name}: {kind} {doc['metadata']['name']} group {group}", spec["template"]["spec"]))
    return pods


def ray_containers() -> list[tuple[str, dict, dict]]:
    """(group, Ray container, pod spec) for every group of every Ray resource: KubeRay treats the
    first container of each pod as the Ray container."""
    return [
        (group, spec["template"]["spec"]["containers"][0], spec["template"]["spec"])
        for doc in of_kind(*RAY_KINDS)
        for group, spec in ray_groups(doc)
    ]


def env_of(container: dict) -> dict[str, dict]:
    return {item["name"]: item for item in container.get("env", [])}


def walk(node, path=""):
    """Yield (path, mapping) for every mapping nested anywhere in a document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def cpu_cores(quantity) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# ---------------------------------------------------------------------------------------------
# Every document


def test_k8s_directory_has_the_expected_documents():
    kinds_by_file: dict[str, set[str]] = {}
    for name, doc in manifests():
        kinds_by_file.setdefault(name, set()).add(doc.get("kind"))
    for name, kinds in EXPECTED_KINDS.items():
        assert kinds <= kinds_by_file.get(name, set()), f"k8s/{name} should define {sorted(kinds)}"


@pytest.mark.parametrize("where,doc", manifests(), ids=lambda v: v if isinstance(v, str) else v.get("kind"))
def test_document_identity(where, doc):
    assert doc.get("apiVersion") and doc.get("kind"), f"{where}: apiVersion and kind are required"
    name = doc.get("metadata", {}).get("name", "")
    assert DNS_1123_SUBDOMAIN.match(name), f"{where}: {doc['kind']} name {name!r} is not a valid object name"
    # No namespace in the files: `kubectl apply -n NAMESPACE` puts everything where the reader wants.
    assert "namespace" not in doc["metadata"], f"{where}: {doc['kind']} {name} hardcodes a namespace"


def test_names_are_unique_per_kind():
    seen = [(doc["kind"], doc["metadata"]["name"]) for _, doc in manifests()]
    assert len(seen) == len(set(seen)), f"duplicate objects: {sorted(seen)}"


def test_every_container_declares_its_resources():
    for where, pod in pod_specs():
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            resources = container.get("resources", {})
            requests, limits = resources.get("requests", {}), resources.get("limits", {})
            label = f"{where}, container {container['name']}"
            assert {"cpu", "memory"} <= requests.keys(), f"{label}: needs cpu and memory requests"
            assert "memory" in limits, f"{label}: needs a memory limit"
            assert not container["image"].endswith(":latest"), f"{label}: pin the image tag"


def test_secrets_come_from_secret_refs_never_literals():
    for where, pod in pod_specs():
        for container in pod["containers"]:
            for item in container.get("env", []):
                if re.search(r"PASSWORD|TOKEN|SECRET|KEY", item["name"]) and "value" in item:
                    raise AssertionError(f"{where}: {item['name']} is a literal; take it from a secretKeyRef")


def test_env_references_are_defined_before_use():
    # Kubernetes expands $(NAME) only for variables defined earlier in the same list.
    for where, pod in pod_specs():
        for container in pod["containers"]:
            defined: set[str] = set()
            for item in container.get("env", []):
                for used in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", item.get("value", "")):
                    assert used in defined, f"{where}: {item['name']} uses $({used}) before it is defined"
                defined.add(item["name"])


# Oldest Kubernetes release the core objects are checked against (README: what the cluster needs).
KUBERNETES_VERSION = "1.30.0"


@pytest.mark.parametrize(
    "where,doc",
    [(where, doc) for where, doc in manifests() if doc.get("kind") not in RAY_KINDS],
    ids=lambda v: v if isinstance(v, str) else f"{v.get('kind')}-{v.get('metadata', {}).get('name')}",
)
def test_core_object_matches_kubernetes_schema(where, doc):
    # Optional: runs where the kubernetes-validate package (Kubernetes' own OpenAPI schemas) is
    # installed; strict, so unknown fields fail as they would under kubectl's strict validation.
    validator = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate to run")
    try:
        validator.validate(doc, KUBERNETES_VERSION, strict=True)
    except (validator.ValidationError, jsonschema.ValidationError) as error:
        pytest.fail(f"{where}: {doc['kind']} {doc['metadata']['name']}: {error}")


# ---------------------------------------------------------------------------------------------
# KubeRay schemas and the serve config

needs_schemas = pytest.mark.skipif(
    not SCHEMAS.is_dir(), reason=f"KubeRay CRD schemas not found at {SCHEMAS} (shared/ beside the repository)"
)


def unknown_fields(value, schema: dict, path: str) -> list[str]:
    """Fields the schema does not declare. jsonschema lets them through, but the API server drops
    them (or rejects them under strict field validation), so a misspelt field would silently do
    nothing."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is not None:
            for key, item in value.items():
                if key in properties:
                    found += unknown_fields(item, properties[key], f"{path}.{key}")
                else:
                    found.append(f"{path}.{key}")
        elif isinstance(schema.get("additionalProperties"), dict):
            for key, item in value.items():
                found += unknown_fields(item, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]")
    return found


@needs_schemas
@pytest.mark.parametrize("doc", of_kind(*RAY_KINDS), ids=lambda d: f"{d['kind']}-{d['metadata']['name']}")
def test_ray_resource_matches_kuberay_crd(doc):
    group, _, version = doc["apiVersion"].partition("/")
    assert (group, version) == ("ray.io", "v1"), f"use apiVersion ray.io/v1, not {doc['apiVersion']}"
    schema = crd_schema(doc["kind"], version)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    messages = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
    assert not messages, "schema errors:\n" + "\n".join(messages)
    unknown = unknown_fields(doc, schema, doc["kind"])
    assert not unknown, f"fields the CRD does not declare (misspelt?): {unknown}"


@pytest.mark.parametrize("doc", of_kind(*RAY_KINDS), ids=lambda d: f"{d['kind']}-{d['metadata']['name']}")
def test_ray_resource_passes_kuberay_admission_rules(doc):
    # Rules the operator enforces beyond the schema (KubeRay's ValidateRayClusterSpec).
    name = doc["metadata"]["name"]
    assert DNS_1035_LABEL.match(name) and len(name) <= 40, (
        f"use a short DNS-1035 name (KubeRay derives cluster, pod and Service names from it), got {name!r}"
    )
    spec = cluster_spec(doc)
    annotations = doc["metadata"].get("annotations", {})
    if "gcsFaultToleranceOptions" in spec:
        head = spec["headGroupSpec"]
        assert "ray.io/ft-enabled" not in annotations, "use gcsFaultToleranceOptions only, not the old annotation"
        assert "ray.io/external-storage-namespace" not in annotations
        assert "redis-password" not in head.get("rayStartParams", {})
        head_env = env_of(head["template"]["spec"]["containers"][0])
        assert not {"RAY_REDIS_ADDRESS", "REDIS_PASSWORD", "REDIS_USERNAME"} & head_env.keys()
    for group, spec_ in ray_groups(doc):
        start = spec_.get("rayStartParams", {})
        assert not ({"num-cpus", "num-gpus", "memory", "resources"} & start.keys() and spec_.get("resources")), (
            f"group {group}: resources set both in rayStartParams and resources"
        )
        assert spec_["template"]["spec"].get("restartPolicy") in (None, "Never"), (
            f"group {group}: autoscaler v2 needs restartPolicy Never or unset"
        )
    if spec.get("authOptions", {}).get("mode") == "token":
        version = tuple(int(part) for part in spec["rayVersion"].split("."))
        assert version >= (2, 52, 0), "Ray token authentication needs Ray 2.52.0 or later"


def test_serve_config_v2_matches_serve_config_yaml():
    embedded, wanted = yaml.safe_load(rayservice()["spec"]["serveConfigV2"]), serve_config()
    if embedded != wanted:
        diff = difflib.unified_diff(
            yaml.safe_dump(embedded).splitlines(),
            yaml.safe_dump(wanted).splitlines(),
            "serveConfigV2",
            "serve_config.yaml",
            lineterm="",
        )
        pytest.fail(SYNC_HINT + "\n" + "\n".join(diff))


def test_serve_config_v2_is_a_valid_serve_deploy_config():
    from ray.serve.schema import ServeDeploySchema

    ServeDeploySchema.model_validate(yaml.safe_load(rayservice()["spec"]["serveConfigV2"]))


def test_sync_script_rewrites_only_the_serve_config_block():
    import importlib.util

    module_spec = importlib.util.spec_from_file_location("sync_serve_config", K8S / "sync_serve_config.py")
    sync = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(sync)

    # A comment after the block too, to check the block ends where it should.
    original = (K8S / "rayservice.yaml").read_text() + "\n# after the block\n"
    changed_config = (ROOT / "serve_config.yaml").read_text().replace("port: 8000", "port: 8123") + "\n# tail\n"
    rewritten = sync.render(original, changed_config)

    before, after = yaml.safe_load(original), yaml.safe_load(rewritten)
    assert yaml.safe_load(after["spec"].pop("serveConfigV2")) == yaml.safe_load(changed_config)
    before["spec"].pop("serveConfigV2")
    assert after == before, "the script must leave everything outside serveConfigV2 alone"
    # Comments and layout outside the block survive byte for byte; a second run changes nothing.
    assert rewritten.startswith(original[: original.index("serveConfigV2: |")])
    assert rewritten.endswith("\n\n# after the block\n")
    assert sync.render(rewritten, changed_config) == rewritten


# ---------------------------------------------------------------------------------------------
# The Ray cluster


def test_autoscaling_is_on():
    spec = cluster_spec(rayservice())
    assert spec.get("enableInTreeAutoscaling") is True
    assert spec.get("autoscalerOptions", {}).get("resources"), "give the autoscaler sidecar resources"
    for group, group_spec in ray_groups(rayservice())[1:]:
        low, high = group_spec["minReplicas"], group_spec["maxReplicas"]
        assert 0 <= low <= group_spec.get("replicas", low) <= high, f"group {group}: min <= replicas <= max"


def test_head_runs_no_replicas_and_has_sized_resources():
    head = cluster_spec(rayservice())["headGroupSpec"]
    assert head["rayStartParams"].get("num-cpus") == "0", "no Serve replicas on the head"
    resources = head["template"]["spec"]["containers"][0]["resources"]
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= resources.get(part, {}).keys(), f"head needs cpu and memory {part}"
    assert "nvidia.com/gpu" not in resources.get("limits", {}), "the head is a CPU pod"


def gpu_groups() -> list[tuple[dict, int]]:
    groups = []
    for _, spec in ray_groups(rayservice())[1:]:
        limits = spec["template"]["spec"]["containers"][0]["resources"].get("limits", {})
        if "nvidia.com/gpu" in limits:
            groups.append((spec, int(limits["nvidia.com/gpu"])))
    return groups


def test_gpu_worker_group():
    by_name = {spec["groupName"]: (spec, gpus) for spec, gpus in gpu_groups()}
    assert "gpu-workers" in by_name, "a worker group named gpu-workers must request nvidia.com/gpu"
    spec, gpus = by_name["gpu-workers"]
    container = spec["template"]["spec"]["containers"][0]
    assert gpus == 1, "one GPU per pod; replicas share it through fractional num_gpus"
    # Extended resources: a request, if given, must equal the limit.
    assert int(container["resources"].get("requests", {}).get("nvidia.com/gpu", gpus)) == gpus
    assert spec["minReplicas"] >= 1 and spec["maxReplicas"] > spec["minReplicas"]
    assert container["image"].endswith(":cuda"), "GPU pods run the CUDA image (onnxruntime-gpu)"


def test_worker_groups_can_hold_the_serve_config_at_its_largest():
    deployments = [d for app in serve_config()["applications"] for d in app.get("deployments", [])]
    workers = [spec for _, spec in ray_groups(rayservice())[1:]]

    def pod(spec):
        limits = spec["template"]["spec"]["containers"][0]["resources"]["limits"]
        return cpu_cores(limits["cpu"]), int(limits.get("nvidia.com/gpu", 0))

    total_cpu = total_gpu = 0.0
    for deployment in deployments:
        options = deployment.get("ray_actor_options", {})
        cpus, gpus = options.get("num_cpus", 1), options.get("num_gpus", 0)
        replicas = deployment.get("autoscaling_config", {}).get("max_replicas") or deployment.get("num_replicas", 1)
        fits = [spec for spec in workers if pod(spec)[0] >= cpus and pod(spec)[1] >= gpus]
        assert fits, f"no worker pod is big enough for one {deployment['name']} replica"
        total_cpu += cpus * replicas
        total_gpu += gpus * replicas
    assert total_cpu <= sum(pod(spec)[0] * spec["maxReplicas"] for spec in workers), "too few CPUs at max scale"
    assert total_gpu <= sum(pod(spec)[1] * spec["maxReplicas"] for spec in workers), "too few GPUs at max scale"


def test_every_ray_pod_mounts_the_shared_volume():
    assert len(ray_containers()) >= 2, "head and at least one worker group"
    for group, container, pod in ray_containers():
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = [
            m
            for m in container.get("volumeMounts", [])
            if volumes.get(m["name"], {}).get("persistentVolumeClaim", {}).get("claimName") == SHARED_CLAIM
        ]
        assert [m["mountPath"] for m in mounts] == [SHARED_MOUNT], (
            f"group {group}: mount {SHARED_CLAIM} at {SHARED_MOUNT}"
        )
        assert not mounts[0].get("readOnly"), f"group {group}: replicas write the model cache"


def test_every_ray_container_gets_the_chorus_environment():
    redis_services = {doc["metadata"]["name"] for doc in of_kind("Service")}
    kokoro_cache = serve_config()["applications"][0]["args"]["kokoro"]["cache_dir"]
    for group, container, _ in ray_containers():
        env = env_of(container)
        keys = env.get("CHORUS_API_KEY_HASHES", {}).get("valueFrom", {}).get("secretKeyRef")
        assert keys == {"name": "chorus-api-keys", "key": "key-hashes"}, (
            f"group {group}: API key digests from the Secret"
        )
        assert env.get("CHORUS_CACHE_DIR", {}).get("value") == f"{SHARED_MOUNT}/cache", f"group {group}"
        assert kokoro_cache.startswith(SHARED_MOUNT + "/"), "the serve config's cache_dir must be on the shared volume"
        redis_url = urlsplit(env.get("REDIS_URL", {}).get("value", ""))
        assert redis_url.scheme == "redis" and redis_url.hostname in redis_services, f"group {group}: REDIS_URL"
        # Clusters keep Ray's authentication: KubeRay sets RAY_AUTH_MODE from authOptions.
        assert "RAY_AUTH_MODE" not in env, f"group {group}: do not set RAY_AUTH_MODE by hand"


def test_gcs_fault_tolerance_uses_the_redis_defined_here():
    options = cluster_spec(rayservice())["gcsFaultToleranceOptions"]
    address = options["redisAddress"].removeprefix("redis://")
    host, _, port = address.rpartition(":")
    service = named("Service", host)
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    assert options["redisPassword"]["valueFrom"]["secretKeyRef"] == {"name": "chorus-redis", "key": "password"}


def test_ray_version_matches_the_images_and_pyproject():
    ray_version = cluster_spec(rayservice())["rayVersion"]
    assert f"ray[serve]=={ray_version}" in (ROOT / "pyproject.toml").read_text()
    for dockerfile in ("Dockerfile.cpu", "Dockerfile.cuda"):
        text = (ROOT / "docker" / dockerfile).read_text()
        assert re.search(rf"rayproject/ray:{re.escape(ray_version)}-py311-", text), (
            f"{dockerfile}: base on Ray {ray_version}"
        )


# ---------------------------------------------------------------------------------------------
# Cross-references between files


def secrets_defined() -> dict[str, set[str]]:
    return {
        doc["metadata"]["name"]: set(doc.get("stringData", {})) | set(doc.get("data", {})) for doc in of_kind("Secret")
    }


def test_secret_references_resolve():
    secrets = secrets_defined()
    for where, doc in manifests():
        for path, node in walk(doc):
            label = f"{where}: {doc['kind']} {doc['metadata']['name']}{path}"
            if "secretKeyRef" in node:
                ref = node["secretKeyRef"]
                assert ref["key"] in secrets.get(ref["name"], ()), (
                    f"{label}: no Secret {ref['name']} with key {ref['key']}"
                )
            if isinstance(node.get("secretRef"), dict):
                assert node["secretRef"]["name"] in secrets, f"{label}: no Secret {node['secretRef']['name']}"
            name = node.get("secretName")
            if isinstance(name, str) and name not in EXTERNAL_SECRETS:
                assert name in secrets, f"{label}: no Secret {name}"
    for doc in of_kind(*RAY_KINDS):
        auth = cluster_spec(doc).get("authOptions", {})
        if auth.get("secretName"):
            assert "auth_token" in secrets[auth["secretName"]], "KubeRay reads the Ray token from key auth_token"


def test_volume_and_config_map_references_resolve():
    claims = {doc["metadata"]["name"] for doc in of_kind("PersistentVolumeClaim")}
    config_maps = {doc["metadata"]["name"] for doc in of_kind("ConfigMap")}
    for where, pod in pod_specs():
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, f"{where}: unknown PVC"
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, f"{where}: unknown ConfigMap"
        mounted = {v["name"] for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in mounted, f"{where}: mount {mount['name']} has no volume"


def test_shared_volume_is_read_write_many():
    claim = named("PersistentVolumeClaim", SHARED_CLAIM)
    assert "ReadWriteMany" in claim["spec"]["accessModes"], "head and workers on different nodes share it"


def test_ingress_routes_to_services_that_exist():
    ports: dict[str, set[int]] = {
        doc["metadata"]["name"]: {p["port"] for p in doc["spec"]["ports"]} for doc in of_kind("Service")
    }
    for doc in of_kind("RayService"):
        serve_service = doc["spec"].get("serveService", {})
        name = serve_service.get("metadata", {}).get("name") or f"{doc['metadata']['name']}-serve-svc"
        ports[name] = {p["port"] for p in serve_service.get("spec", {}).get("ports", [])} or {8000}
    http_port = serve_config()["http_options"]["port"]
    for ingress in of_kind("Ingress"):
        assert ingress["spec"].get("tls"), "TLS terminates at the Ingress"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in ports, f"Ingress {ingress['metadata']['name']}: no Service {backend['name']}"
                assert backend["port"]["number"] in ports[backend["name"]]
                assert backend["port"]["number"] == http_port, "the Serve HTTP port of serve_config.yaml"


def test_services_and_deployments_select_their_pods():
    templates = [
        doc["spec"]["template"]["metadata"].get("labels", {})
        for doc in of_kind("Deployment", "StatefulSet", "Job", "DaemonSet")
    ]
    for service in of_kind("Service"):
        selector = service["spec"].get("selector", {})
        assert selector, f"Service {service['metadata']['name']} needs a selector"
        assert any(selector.items() <= labels.items() for labels in templates), (
            f"Service {service['metadata']['name']} selects no pod template in k8s/"
        )
    for deployment in of_kind("Deployment", "StatefulSet"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


# ---------------------------------------------------------------------------------------------
# Redis and the fill-cache Job


def test_redis_persists_and_requires_a_password():
    redis = named("Deployment", "chorus-redis")
    assert redis["spec"]["strategy"]["type"] == "Recreate", "never two pods on one ReadWriteOnce volume"
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    command = " ".join(container.get("command", []) + container.get("args", []))
    assert "--appendonly yes" in command and "requirepass" in command
    assert env_of(container)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "chorus-redis"
    data_mounts = [m for m in container["volumeMounts"] if m["mountPath"] == "/data"]
    volumes = {v["name"]: v for v in redis["spec"]["template"]["spec"]["volumes"]}
    assert data_mounts and "persistentVolumeClaim" in volumes[data_mounts[0]["name"]], "AOF on a persistent volume"


def test_fill_cache_job_writes_to_the_shared_volume():
    job = named("Job", "chorus-fill-cache")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = pod["containers"]
    shared = [
        m
        for m in container["volumeMounts"]
        if volumes[m["name"]].get("persistentVolumeClaim", {}).get("claimName") == SHARED_CLAIM
    ]
    assert [m["mountPath"] for m in shared] == [SHARED_MOUNT]


@pytest.mark.parametrize("script", ["fill-cache", "redis"])
def test_embedded_shell_scripts_parse(script):
    if script == "fill-cache":
        shell, text = "bash", named("ConfigMap", "chorus-fill-cache")["data"]["fill_cache.sh"]
    else:
        command = named("Deployment", "chorus-redis")["spec"]["template"]["spec"]["containers"][0]["command"]
        shell, text = command[0], command[-1]
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    result = subprocess.run([shell, "-n"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
