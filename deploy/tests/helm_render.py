"""Renders and lints a Helm chart offline with helm-sdkpy (the Helm library; there is no helm binary).

    helm_render.py CHART VALUES.json NAMESPACE  ->  stdout: {"lint": <helm lint result>, "manifest": "…"}

helm-sdkpy exposes lint, install and upgrade, but no `helm template`: an install has to talk to a
cluster. This script gives it one that exists only for the call: a loopback HTTP server answering
discovery for the kinds the chart renders and accepting every create, so nothing leaves the process and
no cluster state exists. The rendered manifest is the release's `manifest`, exactly what `helm template`
prints. Lint runs with the chart's default values (helm-sdkpy passes none), the install with VALUES.
"""

import asyncio
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]
# (group, version) -> [(resource, kind, namespaced)]: what the chart may render, and Helm's own Secrets.
RESOURCES = {
    ("", "v1"): [("configmaps", "ConfigMap", True), ("secrets", "Secret", True), ("services", "Service", True),
                 ("serviceaccounts", "ServiceAccount", True), ("namespaces", "Namespace", False)],
    ("apps", "v1"): [("deployments", "Deployment", True)],
    ("batch", "v1"): [("cronjobs", "CronJob", True), ("jobs", "Job", True)],
    ("policy", "v1"): [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    ("networking.k8s.io", "v1"): [("networkpolicies", "NetworkPolicy", True)],
    ("autoscaling", "v2"): [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    ("keda.sh", "v1alpha1"): [("scaledobjects", "ScaledObject", True),
                              ("triggerauthentications", "TriggerAuthentication", True)],
    ("monitoring.coreos.com", "v1"): [("servicemonitors", "ServiceMonitor", True), ("podmonitors", "PodMonitor", True),
                                      ("prometheusrules", "PrometheusRule", True)],
    ("cert-manager.io", "v1"): [("certificates", "Certificate", True)],
}


class FakeApiServer(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/version":
            return self.reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                       "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
                      for (g, v) in RESOURCES if g]
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        for (g, v), resources in RESOURCES.items():
            if path == (f"/apis/{g}/{v}" if g else f"/api/{v}"):
                return self.reply(200, {"kind": "APIResourceList", "groupVersion": f"{g}/{v}" if g else v,
                                        "resources": [{"name": r, "singularName": k.lower(), "namespaced": ns,
                                                       "kind": k, "verbs": VERBS} for r, k, ns in resources]})
        # Every object (and Helm's release history) does not exist yet.
        return self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                "code": 404, "message": "not found"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            obj = json.loads(body)
        except ValueError:
            # Built-in kinds may come as protobuf; the client only needs a well-formed answer.
            obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "created"}}
        return self.reply(201, obj)

    do_PUT = do_POST


def main():
    chart, values_file, namespace = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(values_file) as f:
        values = json.load(f)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # A kubeconfig's YAML text (helm-sdkpy takes content or a path), naming the loopback server.
    kubeconfig = f"""apiVersion: v1
kind: Config
current-context: render
clusters: [{{name: render, cluster: {{server: "http://127.0.0.1:{server.server_address[1]}"}}}}]
users: [{{name: render, user: {{token: unused}}}}]
contexts: [{{name: render, context: {{cluster: render, user: render, namespace: {namespace}}}}}]
"""
    import helm_sdkpy

    config = helm_sdkpy.Configuration(namespace=namespace, kubeconfig=kubeconfig)
    lint = asyncio.run(helm_sdkpy.Lint(config).run(chart))
    release = asyncio.run(helm_sdkpy.Install(config).run("strata", chart, values=values, wait=False))
    json.dump({"lint": lint, "manifest": release["manifest"]}, sys.stdout)
    server.shutdown()


if __name__ == "__main__":
    main()
