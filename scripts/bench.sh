#!/usr/bin/env bash
# Benchmarks openlsp against kubectl on the same real API server (scripts/test-cluster.sh):
#   fresh apply, no-op re-apply and diff, for the Pi profile and a generated LSP profile with
#   50 Lightning nodes; prints medians, ratios and peak RSS as a Markdown table. Then the controller on the Pi profile: its idle request rate (from the
#   API server's request counters, less the control plane's own over the same time), its peak
#   RSS, and the time from a drift event (a deleted Service, an edited ConfigMap) to its
#   correction.
#   scripts/bench.sh [--runs N] [--only apply|controller]   (default 7 runs per measurement)
# kubectl gets the same objects (openlsp render --show-secrets -o DIR) in a namespace of its
# own, applied with `kubectl apply --server-side -f DIR`, diffed with `kubectl diff --server-side`:
# kubectl v1.20.2 like the server, built by scripts/test-deps.sh, not whatever kubectl is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=7
only=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --only)
      case $2 in apply|controller) only=$2 ;; *) echo "bench: --only takes apply or controller" >&2; exit 2 ;; esac
      shift 2 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done

log() { printf 'bench: %s\n' "$*" >&2; }

scripts/test-deps.sh >/dev/null
# shellcheck source=/dev/null
source "${OPENLSP_CACHE_DIR:-$HOME/.cache/openlsp}/test-deps.env"

log "building openlsp (release)"
cargo build --release --locked --quiet
openlsp=$PWD/target/release/openlsp

work=$(mktemp -d "${TMPDIR:-/tmp}/openlsp-bench.XXXXXX")
cluster_dir=$work/cluster
cleanup() { scripts/test-cluster.sh down "$cluster_dir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
log "starting the test control plane"
kubeconfig=$(scripts/test-cluster.sh up "$cluster_dir" | tail -n 1)

[ "$only" = controller ] || KUBECONFIG=$kubeconfig KUBECTL=$OPENLSP_TEST_KUBECTL OPENLSP=$openlsp WORK=$work RUNS=$runs python3 - <<'PY'
import os, statistics, subprocess, sys, time

openlsp, kubectl, work = os.environ["OPENLSP"], os.environ["KUBECTL"], os.environ["WORK"]
runs = int(os.environ["RUNS"])
env = dict(os.environ, XDG_STATE_HOME=os.path.join(work, "state"), NO_COLOR="1")

def run(cmd, ok=(0,)):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if p.returncode not in ok:
        sys.exit(f"bench: {' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    rss_kib = int(p.stderr.strip().splitlines()[-1])
    return elapsed, rss_kib / 1024

LSP = """apiVersion: openlsp.io/v1alpha1
kind: Site
metadata: {{ name: {site} }}
spec:
  network: mainnet
  host: {{ nodeName: lsp-1, arch: amd64, memory: 256Gi, cpus: 64 }}
  disks:
    chain: {{ path: /mnt/chain, size: 2Ti }}
    channels: {{ path: /mnt/channels, size: 500Gi }}
  bitcoin:
    - {{ name: bitcoind, disk: chain, txindex: true }}
  lightning:
"""

def profile(kind, site):
    """The Pi example, or an LSP with 50 Lightning nodes on one bitcoind, as site `site`.
    Each site has disk paths of its own: openlsp refuses two volumes on one data directory."""
    if kind == "pi":
        text = open("profiles/pi4-mainnet.yaml").read()
        text = text.replace("  name: home-pi", f"  name: {site}").replace("  namespace: openlsp", f"  namespace: {site}")
        text = text.replace("path: /srv/", f"path: /srv/{site}/")
    else:
        text = LSP.format(site=site).replace("path: /mnt/", f"path: /mnt/{site}/") + "".join(
            f"    - {{ name: lnd-{i:02d}, bitcoin: bitcoind, disk: channels, resources: {{ memory: 2Gi, cpu: 500m }} }}\n"
            for i in range(1, 51))
    path = os.path.join(work, f"{site}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path

def rendered(path, site):
    out = os.path.join(work, f"{site}-rendered")
    subprocess.run([openlsp, "render", "-q", "--show-secrets", "-p", path, "-o", out], env=env, check=True)
    return out

def median(samples):
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)

rows = []
for kind in ["pi", "lsp"]:
    objects = None
    fresh_o, fresh_k, noop_o, noop_k, diff_o, diff_k = ([] for _ in range(6))
    for i in range(runs):
        o_site, k_site = f"bench-{kind}-o{i}", f"bench-{kind}-k{i}"
        o_path, k_path = profile(kind, o_site), profile(kind, k_site)
        k_dir = rendered(k_path, k_site)
        if objects is None:
            objects = len([f for f in os.listdir(k_dir) if f.endswith(".yaml")])
        subprocess.run([openlsp, "render", "-q", "-p", o_path], env=env, check=True, capture_output=True)
        fresh_o.append(run([openlsp, "apply", "-q", "--yes", "--no-wait", "-p", o_path]))
        fresh_k.append(run([kubectl, "apply", "--server-side", "--field-manager", "bench", "-f", k_dir]))
        if i == 0:
            for _ in range(runs):
                noop_o.append(run([openlsp, "apply", "-q", "--yes", "--no-wait", "-p", o_path]))
                noop_k.append(run([kubectl, "apply", "--server-side", "--field-manager", "bench", "-f", k_dir]))
                diff_o.append(run([openlsp, "diff", "-q", "-p", o_path]))
                diff_k.append(run([kubectl, "diff", "--server-side", "--field-manager", "bench", "-f", k_dir]))
    for name, o, k in [("fresh apply", fresh_o, fresh_k), ("no-op re-apply", noop_o, noop_k), ("diff (no changes)", diff_o, diff_k)]:
        (to, mo), (tk, mk) = median(o), median(k)
        rows.append((kind, objects, name, to, tk, to / tk, mo, mk))

print(f"runs per measurement: {runs}; median wall time; peak RSS over all runs\n")
print("| profile | objects | operation | openlsp | kubectl | ratio | openlsp RSS | kubectl RSS |")
print("|---|---|---|---|---|---|---|---|")
for kind, objects, name, to, tk, ratio, mo, mk in rows:
    label = "Pi (pi4-mainnet)" if kind == "pi" else "LSP, 50 LND"
    print(f"| {label} | {objects} | {name} | {to*1000:.0f} ms | {tk*1000:.0f} ms | {ratio:.2f}x | {mo:.0f} MiB | {mk:.0f} MiB |")
PY

[ "$only" = apply ] || KUBECONFIG=$kubeconfig KUBECTL=$OPENLSP_TEST_KUBECTL OPENLSP=$openlsp WORK=$work RUNS=$runs python3 - <<'PY'
import collections, os, re, signal, statistics, subprocess, sys, time

openlsp, kubectl_bin, work = os.environ["OPENLSP"], os.environ["KUBECTL"], os.environ["WORK"]
runs = int(os.environ["RUNS"])
env = dict(os.environ, NO_COLOR="1")
site = os.environ.get("SITE", "bench-controller")
IDLE = 60

def kubectl(*args, ok=True):
    p = subprocess.run([kubectl_bin, *args], env=env, capture_output=True, text=True)
    if ok and p.returncode != 0:
        sys.exit(f"bench: kubectl {' '.join(args)}: {p.stderr}")
    return p

def requests():
    """The API server's request counts by verb (every client)."""
    counts = collections.Counter()
    for line in kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if line.startswith("apiserver_request_total{"):
            verb = re.search(r'verb="([A-Z]+)"', line).group(1)
            counts[verb] += float(line.rsplit(" ", 1)[1])
    return counts

def rate(before, after):
    return {verb: (after[verb] - before[verb]) / IDLE for verb in set(before) | set(after)}

crd = subprocess.run([openlsp, "schema", "--crd"], capture_output=True, text=True, check=True).stdout
subprocess.run([kubectl_bin, "apply", "--server-side", "-f", "-"], input=crd, env=env, check=True, capture_output=True, text=True)
kubectl("wait", "--for=condition=Established", "crd/sites.openlsp.io", "--timeout=60s")
kubectl("create", "namespace", site, ok=False)
text = open("profiles/pi4-mainnet.yaml").read()
text = text.replace("  name: home-pi", f"  name: {site}").replace("  namespace: openlsp", f"  namespace: {site}")
path = os.path.join(work, "site.yaml")
open(path, "w").write(text)
kubectl("apply", "-n", site, "-f", path)

# A window without the controller first (after a warm-up: a control plane just started LISTs and
# writes on its own for a while), one with it idle, and one without it again after it stopped; the
# controller's requests are its window less the mean of the other two.
time.sleep(IDLE)
before = requests(); time.sleep(IDLE); after = requests()
without_before = rate(before, after)

log = open(os.path.join(work, "controller.log"), "w+")
controller = subprocess.Popen(["/usr/bin/time", "-f", "%M", openlsp, "controller", "run", "--namespace", site,
                               "--watch-namespace", site], env=env, stderr=log, stdout=subprocess.DEVNULL)
def wait_log(texts, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        log.seek(0)
        shown = log.read()
        if any(text in shown for text in texts):
            return
        time.sleep(0.1)
    log.seek(0)
    sys.exit(f"bench: the controller never printed {texts!r}:\n{log.read()}")
wait_log(["applied:", "reconciled: no changes"])
# A fresh site settles for a while (claims bind, workloads get their status), and each change
# is a watch event and a reconcile: idle is when the log stops growing.
def quiet_for(seconds, limit=300):
    deadline, size, since = time.time() + limit, -1, time.time()
    while time.time() < deadline:
        log.seek(0, os.SEEK_END)
        if log.tell() != size:
            size, since = log.tell(), time.time()
        elif time.time() - since >= seconds:
            return
        time.sleep(0.5)
    sys.exit("bench: the controller never went quiet")
quiet_for(20)
before = requests(); time.sleep(IDLE); after = requests()
with_controller = rate(before, after)

def until(check):
    start = time.perf_counter()
    while not check():
        time.sleep(0.05)
    return time.perf_counter() - start
drift = []
for _ in range(runs):
    kubectl("delete", "service", "lnd", "-n", site, "--wait=false")
    drift.append(("deleted Service", until(lambda: kubectl("get", "service", "lnd", "-n", site, ok=False).returncode == 0)))
    kubectl("patch", "configmap", "lnd-config", "-n", site, "--type=merge", "-p", '{"data":{"lnd.conf":"edited"}}')
    drift.append(("edited ConfigMap", until(lambda: "edited" != kubectl("get", "configmap", "lnd-config", "-n", site,
                                                                         "-o", "jsonpath={.data.lnd\\.conf}").stdout)))
    time.sleep(1)

# SIGTERM to openlsp itself (time's child): time then prints the peak RSS.
child = open(f"/proc/{controller.pid}/task/{controller.pid}/children").read().split()[0]
os.kill(int(child), signal.SIGTERM)
controller.wait()
log.seek(0)
rss_mib = int(log.read().strip().splitlines()[-1]) / 1024
before = requests(); time.sleep(IDLE); after = requests()
without_after = rate(before, after)
without = {verb: (without_before.get(verb, 0) + without_after.get(verb, 0)) / 2
           for verb in set(without_before) | set(without_after)}

print(f"\ncontroller on the Pi profile (release build; {IDLE} s idle windows, with it and without it before and after; {runs} drift events of each kind)\n")
print("| measurement | value |")
print("|---|---|")
for verb in sorted(set(with_controller) | set(without)):
    extra = with_controller.get(verb, 0) - without.get(verb, 0)
    if abs(extra) >= 0.005 or verb in ("LIST", "WATCH"):
        print(f"| idle requests/s, {verb} | {max(extra, 0):.2f} |")
for kind in ("deleted Service", "edited ConfigMap"):
    samples = [s for k, s in drift if k == kind]
    print(f"| drift corrected, {kind} (median / max) | {statistics.median(samples)*1000:.0f} ms / {max(samples)*1000:.0f} ms |")
print(f"| controller peak RSS | {rss_mib:.1f} MiB |")
PY
