#!/usr/bin/env python3
"""cluster-dns.py: the test node's cluster DNS records, as a hosts file that dnsmasq serves.

    cluster-dns.py SERVER TOKEN_FILE OUT_FILE [--interval SECONDS]

Debian packages no CoreDNS, so on the test node (scripts/test-cluster.sh up --with-node)
dnsmasq answers the pods' queries from a hosts file in its --hostsdir, which it re-reads when
the file changes (inotify). This script keeps that file current: every INTERVAL seconds it
lists the Services and Endpoints and writes the A records CoreDNS would serve:

  <svc>.<ns>.svc.cluster.local             the IPv4 ClusterIP (the pods have IPv4 only), or,
                                           for a headless Service, every ready endpoint
  <hostname>.<svc>.<ns>.svc.cluster.local  a ready endpoint with a hostname (StatefulSet pods)

No SRV and no pod records; the search path is the pods' resolver's business (glibc applies it,
Debian's static busybox does not). The lists are read with resourceVersion=0 (the API server's
watch cache), so polling costs the API server little. The file is replaced atomically and only
when it changes. The API server's certificate is self-signed and SERVER is the test cluster's
own: TLS is not verified. Standard library only.
"""

import argparse
import ipaddress
import json
import os
import ssl
import sys
import time
import urllib.request


def get(server, token, path):
    request = urllib.request.Request(
        f"{server}{path}?resourceVersion=0",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return json.load(response)["items"]


def is_ipv4(address):
    try:
        return ipaddress.ip_address(address).version == 4
    except ValueError:
        return False


def records(services, endpoints):
    ready = {(e["metadata"]["namespace"], e["metadata"]["name"]): e.get("subsets") or [] for e in endpoints}
    lines = set()
    for service in services:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        fqdn = f"{name}.{namespace}.svc.cluster.local"
        spec = service.get("spec", {})
        if spec.get("type") == "ExternalName":
            continue
        cluster_ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
        if cluster_ips and cluster_ips[0] not in (None, "", "None"):
            lines.update(f"{ip} {fqdn}" for ip in cluster_ips if is_ipv4(ip))
            continue
        for subset in ready.get((namespace, name), []):
            for address in subset.get("addresses") or []:
                if not is_ipv4(address["ip"]):
                    continue
                lines.add(f"{address['ip']} {fqdn}")
                if address.get("hostname"):
                    lines.add(f"{address['ip']} {address['hostname']}.{fqdn}")
    return "".join(f"{line}\n" for line in sorted(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server")
    parser.add_argument("token_file")
    parser.add_argument("out")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with open(args.token_file) as f:
        token = f.read().strip()

    current = None
    last_error = None
    while True:
        try:
            text = records(get(args.server, token, "/api/v1/services"), get(args.server, token, "/api/v1/endpoints"))
            if text != current:
                tmp = f"{args.out}.tmp"
                with open(tmp, "w") as f:
                    f.write(text)
                os.replace(tmp, args.out)
                current = text
                print(f"cluster-dns: {text.count(chr(10))} records", file=sys.stderr, flush=True)
            last_error = None
        except Exception as error:  # keep serving the last records; say so once per new error
            if str(error) != last_error:
                print(f"cluster-dns: {error}", file=sys.stderr, flush=True)
                last_error = str(error)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
