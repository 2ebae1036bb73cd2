#!/usr/bin/env python3
"""cluster-dns.py: the test node's cluster DNS records, as a hosts file that dnsmasq serves.

    cluster-dns.py SERVER TOKEN_FILE OUT_FILE

Debian packages no CoreDNS, so on the test node (scripts/test-cluster.sh up --with-node)
dnsmasq answers the pods' queries from a hosts file in its --hostsdir, which it re-reads when
the file changes (inotify). This script keeps that file current. It lists the Services and
Endpoints once, then watches both (so it costs nothing while nothing changes, and a new
Service resolves as soon as the API server has it), and writes the A records CoreDNS would
serve:

  <svc>.<ns>.svc.cluster.local             the IPv4 ClusterIP (the pods have IPv4 only), or,
                                           for a headless Service, every ready endpoint
  <hostname>.<svc>.<ns>.svc.cluster.local  a ready endpoint with a hostname (StatefulSet pods)

No SRV and no pod records; the search path is the pods' resolver's business (glibc applies it).
The file is replaced atomically and only when it changes. The API server's certificate is
self-signed and SERVER is the test cluster's own: TLS is not verified. Standard library only.
"""

import argparse
import ipaddress
import json
import os
import ssl
import sys
import threading
import time
import urllib.request

KINDS = ("services", "endpoints")


class Cluster:
    """The Services and Endpoints as last seen, keyed by (namespace, name)."""

    def __init__(self):
        self.objects = {kind: {} for kind in KINDS}
        self.changed = threading.Condition()
        self.version = 0

    def replace(self, kind, items):
        with self.changed:
            self.objects[kind] = {key(item): item for item in items}
            self.version += 1
            self.changed.notify_all()

    def update(self, kind, event_type, item):
        with self.changed:
            if event_type == "DELETED":
                self.objects[kind].pop(key(item), None)
            else:
                self.objects[kind][key(item)] = item
            self.version += 1
            self.changed.notify_all()


def key(item):
    return item["metadata"]["namespace"], item["metadata"]["name"]


def is_ipv4(address):
    try:
        return ipaddress.ip_address(address).version == 4
    except ValueError:
        return False


def records(services, endpoints):
    lines = set()
    for (namespace, name), service in services.items():
        fqdn = f"{name}.{namespace}.svc.cluster.local"
        spec = service.get("spec", {})
        if spec.get("type") == "ExternalName":
            continue
        cluster_ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
        if cluster_ips and cluster_ips[0] not in (None, "", "None"):
            lines.update(f"{ip} {fqdn}" for ip in cluster_ips if is_ipv4(ip))
            continue
        for subset in (endpoints.get((namespace, name)) or {}).get("subsets") or []:
            for address in subset.get("addresses") or []:
                if not is_ipv4(address["ip"]):
                    continue
                lines.add(f"{address['ip']} {fqdn}")
                if address.get("hostname"):
                    lines.add(f"{address['ip']} {address['hostname']}.{fqdn}")
    return "".join(f"{line}\n" for line in sorted(lines))


class Api:
    def __init__(self, server, token):
        self.server, self.token = server, token
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def open(self, path, timeout):
        request = urllib.request.Request(
            f"{self.server}{path}",
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        return urllib.request.urlopen(request, timeout=timeout, context=self.context)


def follow(api, cluster, kind):
    """List KIND, then apply its watch events; list again whenever the watch ends."""
    last_error = None
    while True:
        try:
            with api.open(f"/api/v1/{kind}", timeout=30) as response:
                listed = json.load(response)
            cluster.replace(kind, listed["items"])
            version = listed["metadata"]["resourceVersion"]
            path = f"/api/v1/{kind}?watch=1&allowWatchBookmarks=true&timeoutSeconds=600&resourceVersion={version}"
            # The read timeout outlasts the server's own (bookmarks come about every minute).
            with api.open(path, timeout=700) as stream:
                for line in stream:
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # e.g. 410 Gone: list again
                        break
                    if event["type"] != "BOOKMARK":
                        cluster.update(kind, event["type"], event["object"])
            last_error = None
        except Exception as error:  # keep the last records; say so once per new error
            if str(error) != last_error:
                print(f"cluster-dns: {kind}: {error}", file=sys.stderr, flush=True)
                last_error = str(error)
            time.sleep(1)


def write(cluster, out):
    """Rewrite OUT whenever the records change (at most five times a second)."""
    current, seen = None, -1
    while True:
        with cluster.changed:
            cluster.changed.wait_for(lambda: cluster.version != seen)
            seen = cluster.version
            text = records(cluster.objects["services"], cluster.objects["endpoints"])
        if text != current:
            with open(f"{out}.tmp", "w") as f:
                f.write(text)
            os.replace(f"{out}.tmp", out)
            current = text
            print(f"cluster-dns: {text.count(chr(10))} records", file=sys.stderr, flush=True)
        time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server")
    parser.add_argument("token_file")
    parser.add_argument("out")
    args = parser.parse_args()
    with open(args.token_file) as f:
        api = Api(args.server, f.read().strip())
    cluster = Cluster()
    for kind in KINDS:
        threading.Thread(target=follow, args=(api, cluster, kind), daemon=True).start()
    write(cluster, args.out)


if __name__ == "__main__":
    main()
