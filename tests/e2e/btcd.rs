//! btcd with a cert-manager certificate on a real API server with the real cert-manager CRDs:
//! the rendered `Certificate` is accepted, and the LND pod the StatefulSet controller makes
//! mounts the Secret it names; without the CRDs, `diff` names the addon and writes nothing.

use std::time::Duration;

use crate::common::e2e::{self, Site};
use crate::common::wait_for;

#[test]
fn the_btcd_certificate_is_accepted_and_lnds_pod_mounts_its_secret() {
    let Some(site) = Site::new("simnet-kiln", "kiln") else {
        return;
    };
    let Some(()) = e2e::addon_crds(&site.kubeconfig) else {
        return;
    };
    let ns = site.namespace().to_owned();
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let certificate = site.get_json(&["certificate", "btcd-rpc-tls", "-n", &ns]);
    assert_eq!(certificate["spec"]["secretName"], "btcd-rpc-tls");
    assert_eq!(certificate["spec"]["issuerRef"]["name"], "btcd-ca");
    assert_eq!(certificate["spec"]["privateKey"]["algorithm"], "ECDSA");
    // The server kept what was rendered: the CRD's schema admits every field.
    let rendered = site
        .rendered()
        .into_iter()
        .find(|d| d["kind"] == "Certificate")
        .unwrap();
    assert_eq!(certificate["spec"], rendered["spec"]);

    let pod = wait_for(
        "the StatefulSet controller makes lnd-0",
        Duration::from_secs(60),
        || {
            let pod = site.get_json(&["pods", "-n", &ns, "-o", "json"]);
            pod["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["metadata"]["name"] == "lnd-0")
                .cloned()
                .ok_or_else(|| "no lnd-0 yet".to_owned())
        },
    );
    let volume = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "btcd-tls")
        .expect("lnd-0 has btcd's certificate volume");
    assert_eq!(
        volume["secret"]["secretName"],
        certificate["spec"]["secretName"]
    );
    let lnd = pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "lnd")
        .unwrap();
    assert!(
        lnd["volumeMounts"]
            .to_string()
            .contains("\"/etc/lnd/btcd\""),
        "{}",
        lnd["volumeMounts"]
    );
    let btcd = site.get_json(&["statefulset", "btcd", "-n", &ns]);
    let tls = btcd["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "tls")
        .unwrap()
        .clone();
    assert_eq!(tls["secret"]["secretName"], "btcd-rpc-tls");
    site.assert_reapply_is_a_no_op();

    // docs/secrets.md, "A btcd node's RPC password": a new one in the state dir is refused until
    // apply is told to replace it; then both Secrets that carry it have it.
    let password = site
        .state_dir()
        .join("bitcoin/btcd/rpc/openlsp_btcd/password");
    std::fs::write(&password, "a-new-btcd-password-0123456789").unwrap();
    let refused = site.openlsp(&["diff"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("apply --replace-secrets btcd-rpcpass"),
        "{}",
        refused.stderr
    );
    site.openlsp(&[
        "apply",
        "--yes",
        "--no-wait",
        "--replace-secrets",
        "btcd-rpcpass",
        "--confirm-site",
        &site.name,
    ])
    .expect(0);
    for (secret, key) in [("btcd-rpcpass", "password"), ("lnd-btcd-rpc", "password")] {
        assert_eq!(
            site.live_secret(secret, key),
            b"a-new-btcd-password-0123456789",
            "{secret}"
        );
    }
    site.assert_nothing_leaked();
}

/// Without cert-manager's CRDs a btcd certificate from an issuer cannot be made: `diff` and
/// `apply` say which addon to enable, and write nothing.
#[test]
fn a_btcd_certificate_on_a_cluster_without_cert_manager_names_the_addon() {
    let Some(bare) = e2e::bare_cluster() else {
        return;
    };
    let site = Site::on(bare, "simnet-kiln", "kiln-bare");
    let diff = site.openlsp(&["diff"]).expect(2);
    let apply = site.openlsp(&["apply", "--yes"]).expect(2);
    for output in [&diff, &apply] {
        assert!(
            output.stderr.contains("Certificate") && output.stderr.contains("cert-manager"),
            "{}",
            output.stderr
        );
    }
    assert!(
        site.kubectl(&["get", "namespace", site.namespace()]).code != 0,
        "nothing may be written"
    );
}
