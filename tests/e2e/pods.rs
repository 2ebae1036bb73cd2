//! The pods openlsp renders, running unmodified on the test cluster's real node
//! (docs/testing.md): bitcoind and Tor start from the stand-in images and pass their own probes;
//! bitcoind answers LND's rendered credentials through its Service, publishes on its ZMQ ports,
//! keeps its chain when a config change rolls it, and accepts both passwords during a rotation;
//! Tor serves openlsp's onion addresses and forwards to the Services it names. No image of LND
//! or lndinit exists here, so their pods stay in ImagePullBackOff; the rotation, which waits for
//! LND's rollout, plays the kubelet for LND's pod alone. The sites take turns on the node
//! (common::node).

use serde_json::Value;

use crate::common::node::{NodeSite, TOOLBOX};
use crate::common::{self, config, e2e, values};

/// `bitcoin-cli` in bitcoind's pod, as its readiness probe runs it (with the cookie in the data
/// dir), with `args` in place of the probe's `getblockcount`; the result as JSON.
fn bitcoin_cli(site: &NodeSite, args: &[&str]) -> Value {
    let sts = site.get_json(&["statefulset", "bitcoind", "-n", site.namespace()]);
    let probe =
        &sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"];
    let probe: Vec<&str> = probe
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(probe.last(), Some(&"getblockcount"), "{probe:?}");
    let mut command = probe[..probe.len() - 1].to_vec();
    command.extend_from_slice(args);
    let output = site.exec("bitcoind-0", "bitcoind", &command).expect(0);
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|_| Value::String(output.stdout.trim().to_owned()))
}

/// The first `length` bytes a server at `host:port` answers with to `send` (printf's escapes)
/// on a new connection from pod `pod` (bash's /dev/tcp), in hex.
fn answer(
    site: &NodeSite,
    pod: &str,
    container: &str,
    address: (&str, &str),
    send: &str,
    length: usize,
) -> String {
    let (host, port) = address;
    let script = format!(
        "exec 3<>/dev/tcp/{host}/{port} && printf '{send}' >&3 && timeout 10 head -c {length} <&3 | od -An -tx1"
    );
    let output = site
        .exec(pod, container, &["bash", "-c", &script])
        .expect(0);
    output
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// LND's view of bitcoind, from the rendered lnd.conf: `bitcoind.<key>`.
fn lnd_conf(docs: &[Value], key: &str) -> String {
    let conf = config(docs, "lnd-config", "lnd.conf");
    values(&conf, &format!("bitcoind.{key}"))
        .first()
        .unwrap_or_else(|| panic!("lnd.conf has no bitcoind.{key}"))
        .to_string()
}

/// LND's RPC password for bitcoind, as LND's pod gets it: from its Secret in the cluster.
fn lnd_password(site: &NodeSite) -> String {
    String::from_utf8(site.live_secret("lnd-bitcoind-rpc", "password")).unwrap()
}

#[test]
fn bitcoind_and_tor_run_from_the_rendered_manifests_and_lnd_waits_for_an_image() {
    let Some(site) = NodeSite::new("regtest-playground", "pods", |mut value| {
        value["spec"]["tor"]["mode"] = Value::String("hybrid".into());
        value
    }) else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let docs = site.rendered();

    // Ready through its own readiness probe (bitcoin-cli getblockcount with the cookie): no
    // simulated kubelet runs in this test.
    let pod = site.wait_ready("bitcoind-0");
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);
    let info = bitcoin_cli(&site, &["getblockchaininfo"]);
    assert_eq!(info["chain"], "regtest", "{info}");
    assert_eq!(info["blocks"], 0, "{info}");

    // From another pod, through bitcoind's Service, as LND connects: its rendered host, user and
    // password (from its Secret).
    let address = lnd_conf(&docs, "rpchost");
    assert!(
        address.starts_with(&format!("bitcoind.{}.svc:", site.namespace())),
        "{address}"
    );
    let user = lnd_conf(&docs, "rpcuser");
    let password = lnd_password(&site);
    let (status, body) = site.rpc(&address, &user, &password, "getblockchaininfo");
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["result"]["chain"], "regtest", "{body}");
    assert_eq!(
        site.rpc(&address, &user, "not-the-password", "getblockcount")
            .0,
        401
    );

    // Both ZMQ ports LND subscribes to answer with a ZMTP 3 greeting.
    for key in ["zmqpubrawblock", "zmqpubrawtx"] {
        let endpoint = lnd_conf(&docs, key);
        let address = endpoint
            .trim_start_matches("tcp://")
            .rsplit_once(':')
            .unwrap();
        assert_eq!(
            answer(&site, TOOLBOX, TOOLBOX, address, "", 10),
            "ff 00 00 00 00 00 00 00 01 7f",
            "{key} {endpoint}"
        );
    }

    // Tor: Ready through its own probe (the SOCKS port). It resolved every HiddenServicePort
    // target at start (it exits on a name it cannot resolve); each target is the Service's
    // address, and bitcoind's takes connections.
    let tor = site.wait_ready_selected("app.kubernetes.io/name=tor");
    let tor = tor["metadata"]["name"].as_str().unwrap();
    let torrc = config(&docs, "tor-config", "torrc");
    let targets: Vec<&str> = torrc
        .lines()
        .filter_map(|l| l.strip_prefix("HiddenServicePort "))
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    assert_eq!(targets.len(), 2, "{torrc}");
    for target in targets {
        let (host, port) = target.rsplit_once(':').unwrap();
        let service = host.split('.').next().unwrap();
        let cluster_ip =
            site.get_json(&["service", service, "-n", site.namespace()])["spec"]["clusterIP"]
                .clone();
        let resolved = site
            .exec(tor, "tor", &["getent", "hosts", host])
            .expect(0)
            .stdout;
        assert_eq!(
            resolved.split_whitespace().next(),
            cluster_ip.as_str(),
            "{target}: {resolved}"
        );
        if service == "bitcoind-onion" {
            let connect = format!("exec 3<>/dev/tcp/{host}/{port}");
            site.exec(tor, "tor", &["bash", "-c", &connect]).expect(0);
        }
    }
    // The hostname Tor wrote for each onion service is the address openlsp rendered into that
    // node's config.
    let bitcoin_conf = config(&docs, "bitcoind-config", "bitcoin.conf");
    let lnd_conf_text = config(&docs, "lnd-config", "lnd.conf");
    let rendered = [
        (
            "bitcoind-p2p",
            values(&bitcoin_conf, "externalip")
                .into_iter()
                .find(|v| v.ends_with(".onion"))
                .expect("bitcoind advertises its onion address")
                .to_owned(),
        ),
        (
            "lnd-p2p",
            values(&lnd_conf_text, "externalip")
                .into_iter()
                .find_map(|v| v.strip_suffix(":9735").filter(|h| h.ends_with(".onion")))
                .expect("LND advertises its onion address")
                .to_owned(),
        ),
    ];
    for (service, address) in rendered {
        let dir = format!("/var/lib/tor/hs/{service}");
        assert!(
            torrc.contains(&format!("HiddenServiceDir {dir}\n")),
            "{torrc}"
        );
        let hostname = site
            .exec(tor, "tor", &["cat", &format!("{dir}/hostname")])
            .expect(0)
            .stdout;
        assert_eq!(hostname.trim(), address, "{service}");
    }
    // bitcoind reaches Tor's SOCKS port at the address it is configured with, and Tor speaks
    // SOCKS5 to it (its SocksPolicy admits the pod network): version 5, no authentication. No
    // network plugin here enforces NetworkPolicy, so that only bitcoind and LND may connect is
    // checked on the rendered policy (tor::only_the_sites_bitcoind_and_lnd_may_use_tors_socks_port),
    // not here.
    let proxy = values(&bitcoin_conf, "onion")
        .first()
        .expect("hybrid: bitcoind reaches onion peers through Tor")
        .to_string();
    let address = proxy.rsplit_once(':').unwrap();
    assert_eq!(
        answer(
            &site,
            "bitcoind-0",
            "bitcoind",
            address,
            "\\x05\\x01\\x00",
            2
        ),
        "05 00",
        "SOCKS5 at {proxy}"
    );

    // LND: no image of lnd or lndinit exists on this machine (and no stand-in may pretend to be
    // one), so its pod is scheduled here and stays at its first init container's image pull.
    let lnd = common::wait_for("LND's image pull to fail", e2e::PATIENCE, || {
        let pod = site.get_json(&["pod", "lnd-0", "-n", site.namespace()]);
        let seed = &pod["status"]["initContainerStatuses"][0];
        match seed["state"]["waiting"]["reason"].as_str() {
            Some("ErrImagePull" | "ImagePullBackOff") => Ok(pod),
            _ => Err(seed.to_string()),
        }
    });
    assert_eq!(lnd["spec"]["nodeName"], site.node());
    let seed = &lnd["status"]["initContainerStatuses"][0];
    assert_eq!(seed["name"], "seed");
    assert!(
        seed["image"]
            .as_str()
            .unwrap()
            .starts_with("lightninglabs/lndinit:"),
        "{seed}"
    );
    assert_eq!(
        lnd["status"]["containerStatuses"][0]["started"], false,
        "{lnd}"
    );
    site.assert_nothing_leaked();
}

/// `apply` waits for the real rollout, with a progress line for each state it sees.
fn assert_waited(stderr: &str, workloads: usize) {
    let states: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("StatefulSet/bitcoind: "))
        .collect();
    assert!(
        states.first().is_some_and(|s| !s.starts_with("ready"))
            && states.iter().any(|s| s.starts_with("0/1 ready"))
            && states.last() == Some(&"ready (1/1 ready, 1/1 updated)")
            && stderr.ends_with(&format!("all {workloads} workloads are ready\n")),
        "apply did not wait for bitcoind's pod to become ready: {stderr}"
    );
}

#[test]
fn a_config_change_rolls_bitcoind_and_its_chain_survives() {
    // bitcoind alone: apply waits for every workload, and LND's can never become ready here.
    let Some(site) = NodeSite::new("regtest-playground", "pods-roll", |mut value| {
        value["spec"]["lightning"] = Value::Array(Vec::new());
        value
    }) else {
        return;
    };
    let first = site
        .openlsp(&["apply", "--yes", "--timeout", "5m"])
        .expect(0);
    assert_waited(&first.stderr, 1);

    let mined = bitcoin_cli(&site, &["generatetodescriptor", "5", "raw(51)"]);
    assert_eq!(mined.as_array().map(Vec::len), Some(5), "{mined}");
    let tip = bitcoin_cli(&site, &["getbestblockhash"]);
    let before = site.pod_uid("bitcoind-0");

    site.edit(|mut value| {
        value["spec"]["bitcoin"][0]["maxmempool"] = Value::from(100);
        value
    });
    let change = site
        .openlsp(&["apply", "--yes", "--timeout", "5m"])
        .expect(0);
    // The config and, through its checksum annotation and the memory it sizes, the pod.
    assert_output_snapshot!(
        "config_change_plan",
        common::plan_lines(&change.stdout),
        &*site
    );
    assert_waited(&change.stderr, 1);
    assert_ne!(site.pod_uid("bitcoind-0"), before, "a new pod");
    assert_eq!(bitcoin_cli(&site, &["getblockcount"]), 5);
    assert_eq!(bitcoin_cli(&site, &["getbestblockhash"]), tip);
    let mempool = bitcoin_cli(&site, &["getmempoolinfo"]);
    assert_eq!(
        mempool["maxmempool"], 100_000_000,
        "the new config: {mempool}"
    );
    // The chain is in the local volume's directory on the disk.
    let blocks = site.disk_path("scratch").join("bitcoind/regtest/blocks");
    assert!(blocks.is_dir(), "{}", blocks.display());
    // (This site has no generated values to leak: bitcoind has no client and there is no Tor.)
    site.openlsp(&["diff"]).expect(0);
}

#[test]
fn an_rpc_credential_rotates_against_the_running_bitcoind() {
    // LND's disk is on a machine that is not in this cluster, so its pod is never scheduled and
    // only the simulated kubelet reports it: on this node the kubelet would report its
    // ImagePullBackOff within a second, and the two would race.
    let Some(site) = NodeSite::new("regtest-playground", "pods-rotate", |mut value| {
        value["spec"]["disks"]["lightning"] =
            serde_json::json!({ "path": "/unset", "size": "1Gi", "nodeName": "lnd-machine" });
        value["spec"]["lightning"][0]["disk"] = Value::String("lightning".into());
        value
    }) else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.wait_ready("bitcoind-0");
    let docs = site.rendered();
    let address = lnd_conf(&docs, "rpchost");
    let user = lnd_conf(&docs, "rpcuser");
    let old = lnd_password(&site);
    let status = |password: &str| site.rpc(&address, &user, password, "getblockcount").0;
    assert_eq!(status(&old), 200);
    let first_pod = site.pod_uid("bitcoind-0");

    // Phase 1: bitcoind gets both rpcauth lines and rolls; apply's wait for it between the two
    // groups of writes is on the real pod. Then LND's Secret gets the new password.
    let phase1 = site
        .openlsp(&[
            "secrets",
            "rotate",
            "lnd-bitcoind-rpc",
            "--yes",
            "--no-wait",
            "--timeout",
            "5m",
        ])
        .expect(0);
    assert!(
        phase1.stderr.contains("stopped after phase 1"),
        "{}",
        phase1.stderr
    );
    assert!(
        phase1
            .stderr
            .contains("StatefulSet/bitcoind: ready (1/1 ready, 1/1 updated)"),
        "{}",
        phase1.stderr
    );
    let new = lnd_password(&site);
    assert_ne!(new, old);
    let second_pod = site.pod_uid("bitcoind-0");
    assert_ne!(second_pod, first_pod, "bitcoind rolled");
    site.wait_ready("bitcoind-0");
    assert_eq!(
        [status(&old), status(&new), status("not-the-password")],
        [200, 200, 401],
        "during phase 1 the running bitcoind accepts the old and the new password"
    );

    // LND has not rolled (it cannot run here): --finish refuses and changes nothing.
    let refused = site
        .openlsp(&["secrets", "rotate", "--finish", "--yes"])
        .expect(2);
    assert!(
        refused
            .stderr
            .contains("StatefulSet/lnd still runs the old pod template"),
        "{}",
        refused.stderr
    );
    assert_eq!(status(&old), 200);

    // LND's rollout, reported by the simulated kubelet for LND's pod alone; phase 2 then rolls
    // the real bitcoind without the old line, and waits for it.
    let finished = site
        .with_kubelet(
            |pod| pod == "lnd-0",
            || {
                site.wait_rolled("lnd");
                site.openlsp(&["secrets", "rotate", "--finish", "--yes", "--timeout", "5m"])
            },
        )
        .expect(0);
    assert!(
        finished.stderr.contains("phase 2 applied"),
        "{}",
        finished.stderr
    );
    assert_ne!(
        site.pod_uid("bitcoind-0"),
        second_pod,
        "bitcoind rolled again"
    );
    site.wait_ready("bitcoind-0");
    assert_eq!(
        [status(&old), status(&new)],
        [401, 200],
        "after --finish the running bitcoind accepts only the new password"
    );
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}
