//! Stage 2 on a real API server: a plan that carries a CustomResourceDefinition and a resource
//! of it, the wait for `Established` (with its timeout and Ctrl-C), and the ApplySet parent
//! listing the union of old and new kinds while a run is unfinished, then the exact set.

use crate::common;
use crate::common::e2e::{
    self, Crds, GROUP_KINDS, Site, crd, group_kinds, kubectl_apply, templates,
};

fn resource_version(site: &Site, args: &[&str]) -> u64 {
    site.get_json(args)["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// resourceVersions (etcd revisions) of the site's members of `kind`.
fn revisions(site: &Site, kind: &str) -> Vec<u64> {
    let selector = format!("applyset.kubernetes.io/part-of={}", site.applyset_id());
    let list = site.get_json(&[kind, "-n", site.namespace(), "-l", &selector]);
    let revisions: Vec<u64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            item["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(!revisions.is_empty(), "no {kind} in the site");
    revisions
}

/// The stage 2: a CRD and a resource of it in one plan. The resource cannot be
/// dry-run before its CRD exists, so `diff` lists it as a create and says why; `apply` writes
/// the CRD, waits until it is established, refreshes discovery and goes on. This runs on the
/// bare control plane: the other one gets the real cert-manager CRDs, and openlsp only renders
/// the custom kinds it knows (Issuer is one no other test uses).
#[test]
fn a_plan_with_a_crd_and_a_resource_of_it_applies_in_one_run() {
    let Some(bare) = e2e::bare_cluster() else {
        return;
    };
    let site = Site::on(bare.clone(), "pi4-mainnet", "crd");
    let crd_name = "issuers.cert-manager.io";
    let _cleanup = Crds {
        kubeconfig: bare,
        names: vec![crd_name.to_owned()],
    };
    let issuer = "apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: e2e-selfsigned
  namespace: {{ site.namespace }}
spec:
  selfSigned: {}
";
    let dir = templates(
        &site,
        "templates",
        &format!(
            "{}---\n{issuer}",
            crd("cert-manager.io", "issuers", "Issuer")
        ),
    );
    let with_crd = ["--templates", dir.as_str()];
    let run = |command: &[&str]| site.openlsp(&[command, &with_crd[..]].concat());

    let diff = run(&["diff"]).expect(1);
    let json: serde_json::Value =
        serde_json::from_str(&run(&["diff", "-o", "json"]).expect(1).stdout).unwrap();
    let change = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"]["kind"] == "Issuer")
        .unwrap();
    assert_eq!(change["action"], "create");
    assert!(change["note"].as_str().unwrap().starts_with("not dry-run"));

    let applied = run(&["apply", "--yes", "--no-wait"]).expect(0);
    let stderr = &applied.stderr;
    let crd_stage = stderr
        .find("stage 2 (Crds): applying 1 object(s)")
        .unwrap_or_else(|| panic!("{stderr}"));
    let established = stderr
        .find(&format!(
            "CustomResourceDefinition/{crd_name}: ready (established)"
        ))
        .unwrap_or_else(|| panic!("no progress for the CRD: {stderr}"));
    let custom_stage = stderr
        .find("stage 8 (CustomResources): applying 1 object(s)")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        crd_stage < established && established < custom_stage,
        "{stderr}"
    );
    let live = site.get_json(&["issuer", "e2e-selfsigned", "-n", site.namespace()]);
    assert_eq!(
        live["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        site.applyset_id()
    );
    assert_eq!(
        site.get_json(&["crd", crd_name])["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        site.applyset_id()
    );

    // Stages wrote in order: each stage's objects are older (lower etcd revisions) than the
    // next stage's. Only kinds no controller writes to after creation are compared.
    let namespace = resource_version(&site, &["namespace", site.namespace()]);
    let rbac = revisions(&site, "roles.rbac.authorization.k8s.io");
    let config = [revisions(&site, "configmaps"), revisions(&site, "secrets")].concat();
    let services = revisions(&site, "services");
    let custom = revisions(&site, "issuers.cert-manager.io");
    let order = [vec![namespace], rbac, config, services, custom];
    for pair in order.windows(2) {
        assert!(
            pair[0].iter().max() < pair[1].iter().min(),
            "written out of stage order: {order:?}"
        );
    }

    run(&["diff"]).expect(0);
    let before = site.settle();
    let crd_version = resource_version(&site, &["crd", crd_name]);
    let issuer_version =
        resource_version(&site, &["issuer", "e2e-selfsigned", "-n", site.namespace()]);
    let again = run(&["apply", "--yes", "--no-wait"]).expect(0);
    assert_eq!(site.resource_versions(), before, "a no-op apply wrote");
    assert_eq!(resource_version(&site, &["crd", crd_name]), crd_version);
    assert_eq!(
        resource_version(&site, &["issuer", "e2e-selfsigned", "-n", site.namespace()]),
        issuer_version
    );

    // Without the template the Issuer is pruned; its CRD is kept, like data.
    let pruned = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.wait_gone("issuer", "e2e-selfsigned");
    // Not even --prune-data or --purge deletes a CRD: that would delete every Issuer anywhere.
    site.openlsp(&[
        "apply",
        "--yes",
        "--no-wait",
        "--prune-data",
        "--confirm-site",
        &site.name,
    ])
    .expect(0);
    // A plain delete keeps data for --purge, and says the CRD outlives even that.
    let deleted = site.openlsp(&["delete", "--yes"]).expect(0);
    let purged = site
        .openlsp(&["delete", "--purge", "--confirm-site", &site.name])
        .expect(0);
    // The diff creates the CRD and says why the Issuer is not dry-run; the applies create both
    // (the wait in between is checked above), then nothing, then prune the Issuer but keep the
    // CRD; delete and
    // --purge both keep the CRD and say how to delete it by hand.
    assert_output_snapshot!(
        "crd_and_resource",
        common::transcript(&[
            ("diff plan", &common::plan_lines(&diff.stdout)),
            ("apply stdout", &applied.stdout),
            ("apply again stdout", &again.stdout),
            ("apply again stderr", &again.stderr),
            ("apply without the template stdout", &pruned.stdout),
            ("apply without the template stderr", &pruned.stderr),
            ("delete stderr", &deleted.stderr),
            ("delete --purge stderr", &purged.stderr),
        ]),
        &site
    );
    assert_eq!(site.kubectl(&["get", "crd", crd_name]).code, 0);
    site.assert_nothing_leaked();
}

/// A CRD whose kind another CRD of its group already claims is never established: the wait
/// for it times out naming why, and Ctrl-C stops the run before the next stage. Such an
/// unfinished run leaves the ApplySet parent listing old and new kinds (it was opened before
/// any member was written), so nothing is orphaned; the run that finishes prunes the kind the
/// profile dropped and leaves the exact set.
#[test]
fn an_unfinished_run_leaves_the_union_and_a_finished_one_the_exact_set() {
    let Some(site) = Site::new("pi4-mainnet", "union") else {
        return;
    };
    let group = format!("{}.openlsp.test", site.name);
    let names = ["things", "widgets", "gadgets"].map(|plural| format!("{plural}.{group}"));
    let _cleanup = Crds {
        kubeconfig: site.kubeconfig.clone(),
        names: names.to_vec(),
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(
        site.parent_annotation(GROUP_KINDS)
            .contains("Deployment.apps")
    );
    assert_eq!(
        site.parent_annotation(GROUP_KINDS),
        site.rendered_group_kinds()
    );

    // `things` claims kind Thing and singular thing first; `widgets` asks for the kind,
    // `gadgets` for the singular. Once `things` is gone, both can be established.
    kubectl_apply(&site, "things.yaml", &crd(&group, "things", "Thing"));
    e2e::wait_established(&site.kubeconfig, &names[0]).unwrap_or_else(|err| panic!("{err}"));
    // Tor off: the Deployment kind leaves the plan.
    site.edit(|mut value| {
        value["spec"]["tor"] = serde_json::json!({ "mode": "off" });
        value
    });

    let gadgets = templates(
        &site,
        "gadgets",
        &crd(&group, "gadgets", "Gadget").replace("singular: gadget", "singular: thing"),
    );
    let timed_out = site
        .openlsp(&[
            "apply",
            "--yes",
            "--no-wait",
            "--timeout",
            "15s",
            "--templates",
            &gadgets,
        ])
        .expect(2);
    assert!(
        timed_out.stderr.contains(&format!(
            "timed out after 15s waiting for CustomResourceDefinition/{} (names not accepted:",
            names[2]
        )) && timed_out.stderr.contains("applied so far: 1 created"),
        "{}",
        timed_out.stderr
    );

    let widgets = templates(&site, "widgets", &crd(&group, "widgets", "Thing"));
    // Interrupted once the wait for the CRD has seen why it is not established.
    let waiting = format!("CustomResourceDefinition/{}: names not accepted", names[1]);
    let interrupted = site.interrupt_apply(&["--templates", &widgets], &waiting);
    assert_eq!(interrupted.code, 2, "{}", interrupted.stderr);
    let stopped = interrupted
        .stderr
        .split("interrupted: stopped before stage ")
        .nth(1)
        .unwrap_or_else(|| panic!("{}", interrupted.stderr));
    assert!(
        stopped.starts_with(['3', '4', '5', '6', '7', '8'])
            && stopped.contains("applied so far: 1 created, 0 changed, 0 pruned"),
        "{}",
        interrupted.stderr
    );
    assert!(
        interrupted.stderr.contains(&format!(
            "CustomResourceDefinition/{}: names not accepted",
            names[1]
        )),
        "progress names the CRD and why: {}",
        interrupted.stderr
    );
    // Only the error: an interrupted run is not reported as applied as well.
    assert!(
        !interrupted.all().contains("applied to https://"),
        "{}",
        interrupted.all()
    );
    // Opened before any write: the old kinds (Deployment) and the new (the CRD) together,
    // although no Deployment was pruned yet and nothing but the CRD was written.
    let union = site.parent_annotation(GROUP_KINDS);
    assert!(
        union.contains("Deployment.apps")
            && union.contains("CustomResourceDefinition.apiextensions.k8s.io"),
        "{union}"
    );
    assert_eq!(
        site.kubectl(&["get", "deployment", "tor", "-n", site.namespace()])
            .code,
        0,
        "an interrupted run prunes nothing"
    );
    assert!(
        site.kubectl(&["get", "lease", "openlsp-lock", "-n", site.namespace()])
            .code
            != 0,
        "the lock was not released"
    );

    // The name conflict gone, a run finishes: it prunes the Deployment and lists the exact set.
    site.kubectl(&["delete", "crd", &names[0]]).expect(0);
    let finished = site
        .openlsp(&["apply", "--yes", "--no-wait", "--templates", &widgets])
        .expect(0);
    // Tor's objects pruned, the CRDs kept.
    assert_output_snapshot!("finished_run", finished.stdout, &site);
    let exact = group_kinds(&site.rendered_with(&["--templates", &widgets]));
    assert!(!exact.contains("Deployment.apps"), "{exact}");
    assert_eq!(site.parent_annotation(GROUP_KINDS), exact);
    site.openlsp(&["diff", "--templates", &widgets]).expect(0);
    site.assert_nothing_leaked();
}
