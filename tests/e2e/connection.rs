//! Where openlsp finds the cluster, as kubectl does: `--kubeconfig`, then `$KUBECONFIG`, then
//! `~/.kube/config`, `--context` picking a context; and the one-line errors when there is none,
//! or TLS fails.

use std::fs;

use crate::common::e2e::Site;
use crate::common::{self, Test};

/// The test kubeconfig with the API server's port replaced by a closed one.
fn unreachable_copy(site: &Site) -> String {
    let kubeconfig = fs::read_to_string(&site.kubeconfig).unwrap();
    let prefix = "https://127.0.0.1:";
    let start = kubeconfig.find(prefix).unwrap() + prefix.len();
    let end = start
        + kubeconfig[start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("{}{closed}{}", &kubeconfig[..start], &kubeconfig[end..])
}

#[test]
fn the_kubeconfig_comes_from_the_flag_then_kubeconfig_then_home() {
    let Some(site) = Site::new("pi4-mainnet", "sources") else {
        return;
    };
    let good = site.kubeconfig.to_str().unwrap().to_owned();
    let down = site.test.write("down.kubeconfig", &unreachable_copy(&site));
    let profile = site.profile.clone();
    let diff = |site: &Site, extra: &[&str]| {
        site.test
            .run([&["diff", "-p", profile.as_str()][..], extra].concat())
    };
    let unreachable = |output: &crate::common::Output| {
        output
            .stderr
            .contains("cannot reach the cluster at https://127.0.0.1:")
    };

    // ~/.kube/config (HOME is the test dir), when nothing else is given.
    let home_config = site
        .test
        .write(".kube/config", &fs::read_to_string(&good).unwrap());
    diff(&site, &[]).expect(1);
    // $KUBECONFIG wins over ~/.kube/config, and --kubeconfig over both.
    fs::write(&home_config, unreachable_copy(&site)).unwrap();
    assert!(unreachable(&diff(&site, &[]).expect(2)));
    let site = site.env("KUBECONFIG", &good);
    diff(&site, &[]).expect(1);
    let site = site.env("KUBECONFIG", &down);
    assert!(unreachable(&diff(&site, &[]).expect(2)));
    diff(&site, &["--kubeconfig", &good]).expect(1);

    // A KUBECONFIG list skips a file that does not exist, as kubectl does...
    let missing = site.test.path().join("missing.kubeconfig");
    let site = site.env("KUBECONFIG", format!("{}:{good}", missing.display()));
    diff(&site, &[]).expect(1);
    // ...and one naming only missing files says which.
    let site = site.env("KUBECONFIG", missing);
    let output = diff(&site, &[]).expect(2);
    assert_output_snapshot!("missing_kubeconfig", output.stderr, &site);
}

#[test]
fn no_kubeconfig_is_one_line_with_the_next_step() {
    let test = Test::new().with_example("pi4-mainnet");
    let output = test.run(["diff", "-p", "pi4-mainnet.yaml"]).expect(2);
    assert_eq!(
        output.stderr,
        "error: no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not running inside a cluster; on microk8s run: microk8s config > ~/.kube/config, or pass --kubeconfig FILE\n"
    );
    assert!(
        !test.state_dir("home-pi").exists(),
        "no state may be generated before the cluster answers"
    );
    test.run(["apply", "--yes", "-p", "pi4-mainnet.yaml"])
        .expect(2);
    test.run(["delete", "--yes", "-p", "pi4-mainnet.yaml"])
        .expect(2);
}

/// A server whose certificate the kubeconfig's CA did not sign: a TLS problem, not a server
/// that is down.
#[test]
fn a_certificate_mismatch_is_not_called_unreachable() {
    let Some(site) = Site::new("pi4-mainnet", "tls") else {
        return;
    };
    // Some certificate authority that did not sign the API server's certificate: LND's own.
    site.openlsp(&["render"]).expect(0);
    let other_ca = fs::read(site.state_dir().join("lightning/lnd/tls.cert")).unwrap();
    let kubeconfig = fs::read_to_string(&site.kubeconfig).unwrap().replace(
        "insecure-skip-tls-verify: true",
        &format!(
            "certificate-authority-data: {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, other_ca)
        ),
    );
    let path = site.test.write("other-ca.kubeconfig", &kubeconfig);
    let output = site
        .test
        .run([
            "diff",
            "-p",
            &site.profile,
            "--kubeconfig",
            path.to_str().unwrap(),
        ])
        .expect(2);
    assert!(
        output
            .stderr
            .starts_with("error: TLS with the cluster at https://127.0.0.1:"),
        "{}",
        output.stderr
    );
    // What TLS said about the certificate, and no "is microk8s running".
    assert_output_snapshot!("certificate_mismatch", output.stderr, &site);
    assert!(
        !output.stderr.contains("is microk8s running"),
        "{}",
        output.stderr
    );
}

/// `--context NAME` picks a context other than the kubeconfig's current one, as with kubectl:
/// here the current context points at a closed port, the named one at the test server.
#[test]
fn context_picks_a_context_other_than_the_current_one() {
    let Some(site) = Site::new("pi4-mainnet", "context") else {
        return;
    };
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(&site.kubeconfig).unwrap()).unwrap();
    let good = config["current-context"].as_str().unwrap().to_owned();
    let down: serde_yaml::Value = serde_yaml::from_str(&unreachable_copy(&site)).unwrap();
    let mut down_cluster = down["clusters"][0].clone();
    down_cluster["name"] = "down".into();
    let closed_server = down_cluster["cluster"]["server"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut down_context = config["contexts"][0].clone();
    down_context["name"] = "down".into();
    down_context["context"]["cluster"] = "down".into();
    config["clusters"]
        .as_sequence_mut()
        .unwrap()
        .push(down_cluster);
    config["contexts"]
        .as_sequence_mut()
        .unwrap()
        .push(down_context);
    config["current-context"] = "down".into();
    let path = site.test.write(
        "two-contexts.kubeconfig",
        &serde_yaml::to_string(&config).unwrap(),
    );
    let kubeconfig = path.to_str().unwrap();
    let run = |extra: &[&str]| {
        let args = [
            extra,
            &["-p", site.profile.as_str(), "--kubeconfig", kubeconfig][..],
        ]
        .concat();
        site.test.run(args)
    };

    let output = run(&["diff"]).expect(2);
    assert_eq!(
        output.stderr,
        format!(
            "error: cannot reach the cluster at {closed_server}: connection refused; is microk8s running? try: microk8s status\n"
        )
    );
    let count = site.rendered().len();
    let output = run(&["diff", "--context", &good]).expect(1);
    let plan =
        format!("Plan: {count} to create, 0 to change, 0 to prune, 0 kept (data), 0 unchanged");
    assert_eq!(output.stdout.lines().last(), Some(plan.as_str()));
    run(&["apply", "--yes", "--no-wait", "--context", &good]).expect(0);
    run(&["diff", "--context", &good]).expect(0);
    assert_eq!(
        site.get_json(&["namespace", site.namespace()])["metadata"]["name"],
        site.namespace()
    );
}

#[test]
fn an_unreachable_server_or_bad_token_fails_cleanly_and_writes_nothing() {
    let Some(site) = Site::new("pi4-mainnet", "unreachable") else {
        return;
    };
    let kubeconfig = fs::read_to_string(&site.kubeconfig).unwrap();
    let port_start = kubeconfig.find("https://127.0.0.1:").unwrap() + "https://127.0.0.1:".len();
    let port_end = port_start
        + kubeconfig[port_start..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    site.test.write(
        "down.kubeconfig",
        &format!(
            "{}{closed}{}",
            &kubeconfig[..port_start],
            &kubeconfig[port_end..]
        ),
    );
    let token_line = kubeconfig
        .lines()
        .find(|l| l.trim_start().starts_with("token:"))
        .unwrap();
    site.test.write(
        "badtoken.kubeconfig",
        &kubeconfig.replace(token_line, "    token: not-the-right-token"),
    );

    let mut refusals = Vec::new();
    for command in [
        &["diff"][..],
        &["apply", "--yes"][..],
        &["delete", "--yes"][..],
    ] {
        let mut args = command.to_vec();
        args.extend(["-p", &site.profile, "--kubeconfig", "down.kubeconfig"]);
        let output = site.test.run(&args).expect(2);
        // One clear line.
        assert_eq!(
            output.stderr,
            format!(
                "error: cannot reach the cluster at https://127.0.0.1:{closed}: connection refused; is microk8s running? try: microk8s status\n"
            )
        );
        let mut args = command.to_vec();
        args.extend(["-p", &site.profile, "--kubeconfig", "badtoken.kubeconfig"]);
        let output = site.test.run(&args).expect(2);
        refusals.push((command.join(" "), output.stderr));
    }
    let refusals: Vec<(&str, &str)> = refusals
        .iter()
        .map(|(command, stderr)| (command.as_str(), stderr.as_str()))
        .collect();
    // The server rejected our credentials (401 Unauthorized), and what to do.
    assert_output_snapshot!("bad_token", common::transcript(&refusals), &site);
    assert!(
        site.kubectl(&["get", "namespace", site.namespace()]).code != 0,
        "nothing may be written"
    );
    let output = site
        .openlsp(&["diff", "--context", "no-such-context"])
        .expect(2);
    assert_output_snapshot!("no_such_context", output.stderr, &site);
}
