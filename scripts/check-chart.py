"""Checks the Helm chart helm/idbridge with real helm binaries (run by scripts/check-chart.sh).

For every helm given: `helm lint --strict` and `helm template` of both modes with the default
values and the example values files (and NOTES.txt through a client-only `helm install --dry-run`
with Helm 4); every rendered manifest validated against the Kubernetes
schemas of each pinned Kubernetes version (kubernetes-validate, strict: unknown fields fail);
the chart's own promises checked on the rendered objects (non-root, read-only root file system,
probes on the right port, SQLite on the claim with one replica, secrets only from an existing
Secret, ...); every template rendered by at least one case; and the values that must be refused
(schema or a template `fail`) refused with the expected message.

Usage: python3 check-chart.py --helm HELM [--helm HELM...] --kube-version 1.27.0 [...]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "helm", "idbridge")
EXAMPLES = os.path.join(ROOT, "examples")
CONFIG_DIR = "/etc/idbridge"
# A key named like this in the config text would be a secret typed into it (idbridge refuses them).
SECRET_KEY = re.compile(r"^(token|password|bind_password|secret|api_key|key|credential|webhook_url)$")


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def helm(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def values_args(case):
    args = []
    for f in case.get("files", []):
        args += ["-f", f]
    for s in case.get("set", []):
        args += ["--set", s]
    return args


# ---------------------------------------------------------------- invariants on rendered objects


def pod_spec(obj):
    if obj["kind"] == "Deployment":
        return obj["spec"]["template"]
    return obj["spec"]["jobTemplate"]["spec"]["template"]


def check_pod(obj, docs, mode, dry_run):
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    template = pod_spec(obj)
    spec = template["spec"]
    check(spec.get("automountServiceAccountToken") is False, f"{name}: a service account token is mounted")
    psc = spec.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, f"{name}: pod securityContext.runAsNonRoot is not true")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: no RuntimeDefault seccomp profile")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    containers = spec["containers"]
    check(len(containers) == 1 and containers[0]["name"] == "idbridge", f"{name}: expected one container `idbridge`")
    c = containers[0]
    sc = c.get("securityContext", {})
    check(sc.get("runAsNonRoot") is True, f"{name}: container runAsNonRoot is not true")
    check(sc.get("readOnlyRootFilesystem") is True, f"{name}: the root file system is writable")
    check(sc.get("allowPrivilegeEscalation") is False, f"{name}: privilege escalation is allowed")
    check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{name}: capabilities are not all dropped")
    check(not sc.get("capabilities", {}).get("add"), f"{name}: capabilities are added")
    check(c.get("resources", {}).get("limits", {}).get("memory"), f"{name}: no memory limit")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for m in mounts.values():
        check(m["name"] in volumes, f"{name}: volumeMount {m['name']} names no volume")
    check("/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{name}: no emptyDir on /tmp")
    cfg = mounts.get(CONFIG_DIR)
    check(cfg and cfg.get("readOnly") is True, f"{name}: the config folder is not mounted read-only")
    cm_name = volumes[cfg["name"]]["configMap"]["name"]
    cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cm_name]
    check(len(cms) == 1, f"{name}: ConfigMap {cm_name} is not rendered")
    check_args(name, c["args"], mode, dry_run)
    config = tomllib.loads(cms[0]["data"]["idbridge.toml"])
    check_config_text(name, config)
    check_files(name, config, mounts, volumes, cms[0])
    check_store(name, obj, config, mounts, volumes)
    if mode == "serve":
        check_probes(name, c, config)
    return template, c


def check_args(name, args, mode, dry_run):
    check(args[:2] == ["--config", f"{CONFIG_DIR}/idbridge.toml"], f"{name}: args do not start with --config: {args}")
    want = {"serve": ["serve"], "cronjob": ["plan"] if dry_run else ["sync", "--yes"]}[mode]
    check(args[-len(want):] == want, f"{name}: args end with {args[-len(want):]}, expected {want}")
    check("--force" not in args, f"{name}: --force in the arguments")


def walk(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, node


def check_config_text(name, config):
    for path, _ in walk(config):
        key = re.sub(r"\[\d+\]", "", path).split(".")[-1]
        check(not SECRET_KEY.match(key), f"{name}: the config text holds a secret-looking key `{path}`")


def check_files(name, config, mounts, volumes, cm):
    """Every file the config names lies on a mounted volume that holds it."""
    for path, value in walk(config):
        key = path.split(".")[-1]
        if not isinstance(value, str) or not (key.endswith("_file") or key == "path"):
            continue
        file = value if value.startswith("/") else f"{CONFIG_DIR}/{value}"
        folder = os.path.dirname(file)
        check(folder in mounts, f"{name}: `{path}` = {file}: its folder is not a mount ({sorted(mounts)})")
        volume = volumes[mounts[folder]["name"]]
        base = os.path.basename(file)
        if "configMap" in volume:
            check(base in cm["data"], f"{name}: `{path}` = {file} is not in ConfigMap {cm['metadata']['name']}")
        if "secret" in volume:
            items = volume["secret"].get("items")
            if items:
                check(base in [i["path"] for i in items], f"{name}: `{path}` = {file}: no such item in the Secret volume")
            check(volume["secret"].get("defaultMode") == 0o440, f"{name}: secret files are not mode 0440")


def check_store(name, obj, config, mounts, volumes):
    store = config.get("store", {})
    claim_mounts = {p for p, m in mounts.items() if "persistentVolumeClaim" in volumes[m["name"]]}
    url = store.get("url")
    if url is None and ("url_file" in store or "url_env" in store):
        return
    url = url or "sqlite://idbridge.db?mode=rwc"
    if url.lower().startswith(("postgres://", "postgresql://")):
        return
    db = re.sub(r"^sqlite:(//)?", "", url, flags=re.I).split("?")[0]
    check(db.startswith("/") and os.path.dirname(db) in claim_mounts,
          f"{name}: the SQLite store {db} is not directly on a mounted claim ({sorted(claim_mounts)})")
    if obj["kind"] == "Deployment":
        check(obj["spec"]["replicas"] == 1, f"{name}: SQLite store with {obj['spec']['replicas']} replicas")
        check(obj["spec"]["strategy"]["type"] == "Recreate", f"{name}: SQLite store without the Recreate strategy")


def check_probes(name, c, config):
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    listen_port = int(str(config["serve"]["listen"]).rsplit(":", 1)[1])
    check(ports.get("http") == listen_port, f"{name}: container port http {ports.get('http')} is not [serve] listen's {listen_port}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in ("http", listen_port), f"{name}: {probe} is not GET {path} on the http port")


def check_case(docs, case):
    mode, dry_run = case["mode"], case.get("dry_run", False)
    kinds = [d["kind"] for d in docs]
    check("Secret" not in kinds, "the chart rendered a Secret (secrets come from an existing one only)")
    check(kinds.count("ConfigMap") == 1, f"expected one ConfigMap, got {kinds}")
    workloads = [d for d in docs if d["kind"] in ("Deployment", "CronJob")]
    want = "Deployment" if mode == "serve" else "CronJob"
    check([w["kind"] for w in workloads] == [want], f"mode {mode}: expected one {want}, got {kinds}")
    if mode == "cronjob":
        check("Service" not in kinds and "ServiceMonitor" not in kinds, "cronjob mode rendered a Service")
        cj = workloads[0]["spec"]
        check(cj["concurrencyPolicy"] == "Forbid", "CronJob concurrencyPolicy is not Forbid")
        job = cj["jobTemplate"]["spec"]
        check(job["template"]["spec"]["restartPolicy"] == "Never", "Job restartPolicy is not Never")
        fail_codes = [v for r in job.get("podFailurePolicy", {}).get("rules", []) if r["action"] == "FailJob"
                      for v in r.get("onExitCodes", {}).get("values", [])]
        check(2 in fail_codes, "a config error (exit 2) would be retried: no FailJob rule for it")
    template, container = check_pod(workloads[0], docs, mode, dry_run)
    if mode == "serve":
        check_service(docs, template, container)
    for pvc in (d for d in docs if d["kind"] == "PersistentVolumeClaim"):
        if case.get("keep", True):
            check(pvc["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep",
                  "the store's claim would be deleted by helm uninstall")


def check_service(docs, template, container):
    services = [d for d in docs if d["kind"] == "Service"]
    check(len(services) == 1, "serve mode: expected one Service")
    svc = services[0]
    labels = template["metadata"]["labels"]
    check(svc["spec"]["selector"].items() <= labels.items(), "the Service selects no pod of the Deployment")
    ports = {p["name"]: p for p in container["ports"]}
    for p in svc["spec"]["ports"]:
        check(p["targetPort"] in ports, f"Service port {p['name']} targets {p['targetPort']}, not a container port")
    ann = svc["metadata"].get("annotations", {})
    if "prometheus.io/port" in ann:
        check(int(ann["prometheus.io/port"]) == ports["http"]["containerPort"], "prometheus.io/port is not the container port")
        check(ann.get("prometheus.io/path") == "/metrics", "prometheus.io/path is not /metrics")
    for sm in (d for d in docs if d["kind"] == "ServiceMonitor"):
        check(sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(),
              "the ServiceMonitor selects no Service")
        names = {p["name"] for p in svc["spec"]["ports"]}
        check(all(e["port"] in names and e["path"] == "/metrics" for e in sm["spec"]["endpoints"]),
              "a ServiceMonitor endpoint names no Service port or not /metrics")


# Kinds the Kubernetes schemas do not hold: custom resources, checked by check_service instead.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def validate(docs, kube_versions):
    for d in docs:
        if (d["apiVersion"], d["kind"]) in CUSTOM_KINDS:
            continue
        for v in kube_versions:
            try:
                kubernetes_validate.validate(d, v, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise Failure(f"{d['kind']}/{d['metadata']['name']} is not valid Kubernetes {v}: {e.message} at {'.'.join(map(str, e.path))}")
            except kubernetes_validate.SchemaNotFoundError:
                raise Failure(f"{d['kind']} {d['apiVersion']}: no schema in Kubernetes {v} (a wrong apiVersion?)")


# ---------------------------------------------------------------- the cases


def cases(tmp):
    serve_pg = os.path.join(EXAMPLES, "helm-values-serve-postgres.yaml")
    cron_sqlite = os.path.join(EXAMPLES, "helm-values-cronjob-sqlite.yaml")
    ok = [
        {"name": "defaults (serve)", "mode": "serve"},
        {"name": "defaults, mode=cronjob", "mode": "cronjob", "set": ["mode=cronjob"]},
        {"name": "defaults, mode=cronjob, dryRun", "mode": "cronjob", "dry_run": True,
         "set": ["mode=cronjob", "cronjob.dryRun=true"]},
        {"name": "defaults, serve, ServiceMonitor, digest", "mode": "serve",
         "set": ["metrics.serviceMonitor.enabled=true", "image.digest=sha256:" + "0" * 64]},
        {"name": "examples/helm-values-serve-postgres.yaml", "mode": "serve", "files": [serve_pg]},
        {"name": "examples/helm-values-serve-postgres.yaml, mode=cronjob", "mode": "cronjob",
         "files": [serve_pg], "set": ["mode=cronjob"]},
        {"name": "examples/helm-values-cronjob-sqlite.yaml", "mode": "cronjob", "files": [cron_sqlite]},
    ]

    def config_file(text, extra=""):
        path = os.path.join(tmp, f"values-{len(os.listdir(tmp))}.yaml")
        with open(path, "w") as f:
            f.write("config: |\n" + "".join(f"  {line}\n" for line in text.strip().splitlines()) + extra)
        return path

    target = '[target]\nkind = "notion"\ntoken_file = "/var/run/secrets/idbridge/t"\n'
    serve = '[serve]\nlisten = "0.0.0.0:8080"\nevery = "1h"\n'
    refused = [
        ("two replicas on SQLite", ["replicaCount=2"], [], "SQLite allows exactly one replica"),
        ("relative SQLite path", [], [config_file('[store]\nurl = "sqlite://idbridge.db"\n' + target + serve)],
         "relative SQLite path"),
        ("default store (relative SQLite)", [], [config_file(target + serve)], "relative SQLite path"),
        ("SQLite in a subfolder of the claim", [],
         [config_file('[store]\nurl = "sqlite:///data/db/idbridge.db"\n' + target + serve)],
         "directly in persistence.mountPath"),
        ("SQLite without persistence", ["persistence.enabled=false"], [], "persistence.enabled is false"),
        ("in-memory SQLite", [], [config_file('[store]\nurl = "sqlite::memory:"\n' + target + serve)], "in-memory"),
        ("serve without [serve] listen", [],
         [config_file('[store]\nurl = "sqlite:///data/x.db"\n' + target)], "no [serve] listen"),
        ("serve on loopback", [],
         [config_file('[store]\nurl = "sqlite:///data/x.db"\n' + target + '[serve]\nlisten = "127.0.0.1:8080"\n')],
         "loopback"),
        ("secret file without a Secret", ["secrets.existingSecret="], [], "secrets.existingSecret is empty"),
        ("secret file missing from secrets.items", ["secrets.items[0].key=a", "secrets.items[0].path=a"], [],
         "is not mounted"),
        ("config file not in configFiles", [],
         [config_file('[store]\nurl = "sqlite:///data/x.db"\n' + target + serve
                      + '[[sources]]\nname = "hr"\nkind = "hr-csv"\npath = "hr.csv"\n')],
         "configFiles has no"),
        ("config that is not TOML", [], [config_file("[store\nurl = 1\n")], "not valid TOML"),
        ("unknown value key", ["replicas=2"], [], "replicas"),
        ("unknown mode", ["mode=daemon"], [], "mode"),
        ("writable root file system", ["securityContext.readOnlyRootFilesystem=false"], [], "readOnlyRootFilesystem"),
        ("root user allowed", ["podSecurityContext.runAsNonRoot=false"], [], "runAsNonRoot"),
        ("capability added", ["securityContext.capabilities.add[0]=NET_ADMIN"], [], "capabilities"),
        ("secret value in env", ["env[0].name=NOTION_SCIM_TOKEN", "env[0].value=secret"], [], "env"),
        ("secret value under secrets", ["secrets.token=abc"], [], "token"),
        ("retry on exit 0", ["cronjob.failJobOnExitCodes[0]=0"], [], "failJobOnExitCodes"),
    ]
    return ok, refused


def run(helms, kube_versions):
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        ok, refused = cases(tmp)
        templates = {f for f in os.listdir(os.path.join(CHART, "templates")) if f.endswith(".yaml")}
        for binary in helms:
            version = helm(binary, "version", "--short").stdout.strip()
            print(f"check-chart: helm {version}")
            rendered = set()
            for case in ok:
                lint = helm(binary, "lint", CHART, "--strict", *values_args(case))
                check(lint.returncode == 0, f"helm lint {case['name']}:\n{lint.stdout}{lint.stderr}")
                out = helm(binary, "template", "idbridge", CHART, "--namespace", "idbridge",
                           "--kube-version", kube_versions[0], *values_args(case))
                check(out.returncode == 0, f"helm template {case['name']}:\n{out.stderr}")
                rendered |= set(re.findall(r"^# Source: idbridge/templates/(\S+)$", out.stdout, re.M))
                docs = [d for d in yaml.safe_load_all(out.stdout) if d]
                try:
                    validate(docs, kube_versions)
                    check_case(docs, case)
                except Failure as e:
                    raise Failure(f"{case['name']}: {e}")
                if version.startswith("v4"):
                    # NOTES.txt renders only on install; Helm 3's client-only dry run still
                    # wants a cluster, Helm 4's does not.
                    notes = helm(binary, "install", "--dry-run=client", "idbridge", CHART,
                                 "--namespace", "idbridge", *values_args(case))
                    check(notes.returncode == 0 and f"({case['mode']} mode)" in notes.stdout,
                          f"{case['name']}: NOTES.txt did not render:\n{notes.stderr}")
                print(f"  ok   {case['name']}: {len(docs)} objects valid for Kubernetes {', '.join(kube_versions)}")
                count += 1
            missing = templates - rendered
            check(not missing, f"templates no case renders: {sorted(missing)}")
            for name, sets, files, expect in refused:
                args = [a for f in files for a in ("-f", f)] + [a for s in sets for a in ("--set", s)]
                out = helm(binary, "template", "idbridge", CHART, *args)
                check(out.returncode != 0, f"refused case `{name}` rendered")
                check(expect in out.stderr, f"refused case `{name}`: message lacks {expect!r}:\n{out.stderr}")
                print(f"  ok   refused: {name}")
                count += 1
    return count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--helm", action="append", required=True)
    parser.add_argument("--kube-version", action="append", required=True)
    args = parser.parse_args()
    try:
        count = run(args.helm, args.kube_version)
    except Failure as e:
        print(f"check-chart: FAILED: {e}", file=sys.stderr)
        return 1
    print(f"check-chart: OK ({count} checks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
