//! `diff`, `apply` and `delete` of a whole site on the real API server: a fresh apply makes a
//! kubectl ApplySet, a second one writes nothing, an image change rolls out, a removed node is
//! pruned but its data kept, another manager's field is a conflict, the ApplySet parent of
//! another tool is refused, apply waits for the workloads (and stops on Ctrl-C), and delete keeps
//! data unless purged.

use serde_json::Value;

use crate::common::e2e::Site;
use crate::common::{self};

#[test]
fn fresh_apply_creates_everything_as_a_kubectl_applyset() {
    let Some(site) = Site::new("pi4-mainnet", "fresh") else {
        return;
    };
    site.openlsp(&["diff"]).expect(1);
    let count = site.rendered().len();
    assert!(count >= 19, "the Pi site has {count} objects");
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let plan =
        format!("Plan: {count} to create, 0 to change, 0 to prune, 0 kept (data), 0 unchanged");
    assert_eq!(output.stdout.lines().last(), Some(plan.as_str()));
    // Every object created, stage by stage, and the kinds the ApplySet parent lists.
    assert_output_snapshot!(
        "fresh_apply",
        common::transcript(&[
            ("apply stdout", &output.stdout),
            ("apply stderr", &output.stderr),
            ("group kinds", &site.rendered_group_kinds()),
        ]),
        &site
    );

    let parents = site.get_json(&[
        "secret",
        "-n",
        site.namespace(),
        "-l",
        "applyset.kubernetes.io/id",
    ]);
    let parent = &parents["items"][0];
    assert_eq!(parents["items"].as_array().unwrap().len(), 1);
    assert_eq!(parent["metadata"]["name"], "openlsp-applyset");
    assert_eq!(
        parent["metadata"]["labels"]["applyset.kubernetes.io/id"],
        site.applyset_id()
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        site.rendered_group_kinds()
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"],
        format!("openlsp/{}", env!("CARGO_PKG_VERSION"))
    );
    let rendered = common::documents(&site.openlsp(&["render"]).expect(0).stdout);
    for object in &rendered {
        let kind = object["kind"].as_str().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        // kubectl 1.20 prints managedFields without asking (it has no --show-managed-fields).
        let mut args = vec![kind, name];
        if object["metadata"]["namespace"].is_string() {
            args.extend(["-n", site.namespace()]);
        }
        let live = site.get_json(&args);
        assert_eq!(
            live["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
            site.applyset_id(),
            "{kind}/{name} is not an ApplySet member"
        );
        let manager = live["metadata"]["managedFields"].as_array().unwrap();
        assert!(
            manager
                .iter()
                .any(|m| m["manager"] == "openlsp" && m["operation"] == "Apply"),
            "{kind}/{name}"
        );
    }
    assert_eq!(
        site.get_json(&["pvc", "lnd-data", "-n", site.namespace()])["spec"]["volumeName"],
        format!("{}-lnd", site.namespace())
    );
    site.openlsp(&["diff"]).expect(0);
    site.assert_nothing_leaked();
}

#[test]
fn a_second_apply_writes_nothing() {
    let Some(site) = Site::new("pi4-mainnet", "noop") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let before = site.settle();
    assert_eq!(
        before.len(),
        site.rendered().len() + 1,
        "every object and the ApplySet parent: {before:?}"
    );
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    // Every object unchanged, and no changes said.
    assert_output_snapshot!(
        "second_apply",
        common::transcript(&[("stdout", &output.stdout), ("stderr", &output.stderr)]),
        &site
    );
    assert_eq!(
        site.resource_versions(),
        before,
        "a no-op apply changed objects"
    );
    site.openlsp(&["diff"]).expect(0);
    assert_eq!(site.resource_versions(), before, "diff changed objects");
    assert!(
        site.kubectl(&["get", "lease", "openlsp-lock", "-n", site.namespace()])
            .code
            != 0,
        "the lock was not released"
    );
}

#[test]
fn an_image_change_shows_as_the_only_difference_and_rolls_out() {
    let Some(site) = Site::new("pi4-mainnet", "image") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.edit(|mut value| {
        value["spec"]["lightning"][0]["image"] =
            Value::String("lightninglabs/lnd:v0.21.2-beta".into());
        value
    });
    let diff = site.openlsp(&["diff"]).expect(1);
    let plan = format!(
        "Plan: 0 to create, 1 to change, 0 to prune, 0 kept (data), {} unchanged",
        site.rendered().len() - 1
    );
    assert_eq!(diff.stdout.lines().last(), Some(plan.as_str()));
    // The one hunk with the image line, between its context lines.
    assert_output_snapshot!("image_change_diff", diff.stdout, &site);
    let changed: Vec<&str> = diff
        .stdout
        .lines()
        .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    assert_eq!(
        changed,
        [
            "-        image: lightninglabs/lnd:v0.21.3-beta",
            "+        image: lightninglabs/lnd:v0.21.2-beta"
        ],
        "{}",
        diff.stdout
    );
    let json: Value =
        serde_json::from_str(&site.openlsp(&["diff", "-o", "json"]).expect(1).stdout).unwrap();
    assert_eq!(json["summary"]["change"], 1);
    assert_eq!(json["differences"], true);
    let old_revision =
        site.get_json(&["statefulset", "lnd", "-n", site.namespace()])["status"]["currentRevision"]
            .clone();
    assert!(old_revision.is_string(), "{old_revision}");

    // The StatefulSet controller replaces lnd-0 only once the old pod is ready, so the
    // "kubelet" reports every pod ready, the old ones and the new lnd-0 alike.
    let output = site.with_kubelet(
        |_| true,
        || site.openlsp(&["apply", "--yes", "--timeout", "120s"]),
    );
    let output = output.expect(0);
    // apply saw lnd not yet rolled out, waited, then saw it ready.
    let lnd: Vec<&str> = output
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("StatefulSet/lnd: "))
        .collect();
    assert!(
        lnd.first().is_some_and(|l| !l.starts_with("ready"))
            && lnd.last() == Some(&"ready (1/1 ready, 1/1 updated)")
            && output.stderr.ends_with("all 3 workloads are ready\n"),
        "apply did not report waiting for the rollout: {}",
        output.stderr
    );
    let sts = site.get_json(&["statefulset", "lnd", "-n", site.namespace()]);
    let new_image = "lightninglabs/lnd:v0.21.2-beta";
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        new_image
    );
    let status = &sts["status"];
    assert!(
        status["observedGeneration"] == sts["metadata"]["generation"]
            && status["updatedReplicas"] == 1
            && status["readyReplicas"] == 1
            && status["updateRevision"].is_string()
            && status["currentRevision"] == status["updateRevision"]
            && status["currentRevision"] != old_revision,
        "the rollout did not complete (was at revision {old_revision}): {status}"
    );
    let pod = site.get_json(&["pod", "lnd-0", "-n", site.namespace()]);
    assert_eq!(pod["spec"]["containers"][0]["image"], new_image);
    assert_eq!(
        pod["metadata"]["labels"]["controller-revision-hash"],
        status["updateRevision"]
    );
    site.openlsp(&["diff"]).expect(0);
}

/// The ApplySet parent's name belongs to another tool (or to a Secret that is no parent at
/// all): diff, apply and delete refuse, name it, and write nothing.
#[test]
fn an_applyset_parent_of_another_tool_is_refused() {
    let Some(site) = Site::new("pi4-mainnet", "foreign") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let parent = ["secret", "openlsp-applyset", "-n", site.namespace()];
    let annotate = |value: &str| {
        let mut args = vec!["annotate", "--overwrite"];
        args.extend_from_slice(&parent);
        args.push(value);
        site.kubectl(&args).expect(0);
    };
    annotate("applyset.kubernetes.io/tooling=kubectl/v1.20.2");
    let before = site.settle();
    let refusal = format!(
        "error: Secret {}/openlsp-applyset is the ApplySet parent of \"kubectl/v1.20.2\", not openlsp",
        site.namespace()
    );
    for command in [
        &["diff"][..],
        &["apply", "--yes", "--no-wait"][..],
        &["delete", "--yes"][..],
    ] {
        let output = site.openlsp(command).expect(2);
        assert!(
            output.stderr.starts_with(&refusal),
            "{command:?}: {}",
            output.stderr
        );
    }
    // Neither a member nor the parent was written (only the lock Lease, which is neither).
    assert_eq!(site.resource_versions(), before, "a refused run wrote");

    // A Secret of that name without any ApplySet annotation is not ours either.
    annotate("applyset.kubernetes.io/tooling-");
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    assert_output_snapshot!("not_an_applyset_parent", output.stderr, &site);
    site.assert_nothing_leaked();
}

#[test]
fn a_removed_lightning_node_is_pruned_but_its_data_is_kept() {
    let Some(site) = Site::new("lsp-two-nodes", "prune") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.remove_lightning_node("lnd-customers");
    let output = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);

    let gone = |kind: &str, name: &str| {
        site.kubectl(&["get", kind, name, "-n", site.namespace()])
            .code
            != 0
    };
    assert!(
        gone("statefulset", "lnd-customers")
            && gone("service", "lnd-customers")
            && gone("configmap", "lnd-customers-config")
    );
    for (kind, name) in [
        ("pvc", "lnd-customers-data"),
        ("secret", "lnd-customers-wallet"),
        ("secret", "lnd-customers-tls"),
    ] {
        assert!(!gone(kind, name), "{kind}/{name} holds data and must stay");
    }
    let pv = format!("{}-lnd-customers", site.name);
    assert!(!gone("pv", &pv));
    assert!(
        !gone("statefulset", "lnd-routing"),
        "the other node must stay"
    );
    let kept = output
        .stdout
        .lines()
        .filter(|l| l.starts_with("= keep (data)"))
        .count();
    assert!(kept >= 6, "{}", output.stdout);
    let diff = site.openlsp(&["diff"]).expect(0);
    let unchanged = site.rendered().len();
    let plan = format!(
        "Plan: 0 to create, 0 to change, 0 to prune, {kept} kept (data), {unchanged} unchanged"
    );
    assert_eq!(diff.stdout.lines().last(), Some(plan.as_str()));
    // What goes (the StatefulSet, Service, ConfigMap and lndinit's RBAC) and what holds data
    // and stays (the volume and its claim, the TLS, wallet, RPC and onion Secrets), which the
    // next diff still lists as kept.
    assert_output_snapshot!(
        "prune_node",
        common::transcript(&[
            ("apply stdout", &output.stdout),
            ("apply stderr", &output.stderr),
            ("diff stdout", &diff.stdout),
        ]),
        &site
    );

    // Data goes only with --prune-data and the site name confirmed.
    let refused = site
        .openlsp(&["apply", "--yes", "--no-wait", "--prune-data"])
        .expect(2);
    assert!(!gone("pvc", "lnd-customers-data"));
    let wrong = site
        .openlsp(&[
            "apply",
            "--yes",
            "--no-wait",
            "--prune-data",
            "--confirm-site",
            "wrong",
        ])
        .expect(2);
    assert!(!gone("pvc", "lnd-customers-data"));
    let output = site
        .openlsp(&[
            "apply",
            "--yes",
            "--no-wait",
            "--prune-data",
            "--confirm-site",
            &site.name,
        ])
        .expect(0);
    // Without a terminal the name must be given with --confirm-site; a wrong one changes
    // nothing; the right one prunes the data too.
    assert_output_snapshot!(
        "prune_data",
        common::transcript(&[
            ("--prune-data without --confirm-site", &refused.stderr),
            ("--confirm-site wrong", &wrong.stderr),
            ("--confirm-site <site> stdout", &output.stdout),
            ("--confirm-site <site> stderr", &output.stderr),
        ]),
        &site
    );
    site.wait_gone("secret", "lnd-customers-wallet");
    site.wait_gone("pv", &pv);
    let parent = site.get_json(&["secret", "openlsp-applyset", "-n", site.namespace()]);
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        site.rendered_group_kinds()
    );
    site.assert_nothing_leaked();
}

#[test]
fn a_field_owned_by_another_manager_is_a_reported_conflict() {
    let Some(site) = Site::new("pi4-mainnet", "conflict") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    site.kubectl(&[
        "patch",
        "statefulset",
        "lnd",
        "-n",
        site.namespace(),
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
        "--field-manager",
        "kubectl-edit",
    ])
    .expect(0);
    let diff = site.openlsp(&["diff"]).expect(1);
    let failed = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    // The diff and the refused apply both name the field, its owner, and --force-conflicts.
    assert_output_snapshot!(
        "conflict",
        common::transcript(&[
            ("diff stdout", &diff.stdout),
            ("diff stderr", &diff.stderr),
            ("apply stderr", &failed.stderr),
        ]),
        &site
    );
    assert_eq!(
        site.get_json(&["statefulset", "lnd", "-n", site.namespace()])["spec"]["replicas"],
        2
    );
    site.openlsp(&["apply", "--yes", "--no-wait", "--force-conflicts"])
        .expect(0);
    assert_eq!(
        site.get_json(&["statefulset", "lnd", "-n", site.namespace()])["spec"]["replicas"],
        1
    );
    site.openlsp(&["diff"]).expect(0);
}

#[test]
fn apply_waits_for_ready_workloads_and_times_out_naming_them() {
    let Some(site) = Site::new("pi4-mainnet", "wait") else {
        return;
    };
    let output = site
        .with_kubelet(
            |_| true,
            || site.openlsp(&["apply", "--yes", "--timeout", "120s"]),
        )
        .expect(0);
    // How often each workload was seen not ready yet depends on timing; the end does not.
    assert!(
        output.stderr.ends_with("all 3 workloads are ready\n"),
        "{}",
        output.stderr
    );
    let sts = site.get_json(&["statefulset", "bitcoind", "-n", site.namespace()]);
    assert_eq!(sts["status"]["readyReplicas"], 1);

    let Some(slow) = Site::new("pi4-mainnet", "wait-timeout") else {
        return;
    };
    let output = slow
        .openlsp(&["apply", "--yes", "--timeout", "5s"])
        .expect(2);
    // What each workload reported when time ran out depends on how far its controller got, so
    // only the names are checked, and the hint.
    assert!(
        output
            .stderr
            .contains("timed out after 5s waiting for: Deployment/tor (")
            && output.stderr.contains(", StatefulSet/bitcoind (")
            && output.stderr.contains(", StatefulSet/lnd ("),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.ends_with(&format!(
            "hint: everything was applied; look at the pods with kubectl get pods -n {}\n",
            slow.namespace()
        )),
        "{}",
        output.stderr
    );
}

#[test]
fn apply_without_a_terminal_or_yes_refuses() {
    let Some(site) = Site::new("pi4-mainnet", "notty") else {
        return;
    };
    let output = site.openlsp(&["apply", "--no-wait"]).expect(2);
    assert_output_snapshot!(
        "apply_without_a_terminal",
        common::transcript(&[("stdout", &output.stdout), ("stderr", &output.stderr)]),
        &site
    );
    assert!(site.kubectl(&["get", "namespace", site.namespace()]).code != 0);
}

#[test]
fn delete_keeps_data_and_purge_removes_it() {
    let Some(site) = Site::new("pi4-mainnet", "delete") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let rendered = site.rendered();
    let kept = rendered
        .iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some("Namespace" | "PersistentVolume" | "PersistentVolumeClaim")
            ) || o["metadata"]["annotations"]["openlsp.io/data"] == "true"
        })
        .count();
    let output = site.openlsp(&["delete", "--yes"]).expect(0);
    let plan = format!(
        "Plan: 0 to create, 0 to change, {} to prune, {kept} kept (data), 0 unchanged",
        rendered.len() - kept
    );
    assert_eq!(output.stdout.lines().last(), Some(plan.as_str()));
    let gone = |kind: &str, name: &str| {
        site.kubectl(&["get", kind, name, "-n", site.namespace()])
            .code
            != 0
    };
    assert!(
        gone("statefulset", "lnd")
            && gone("configmap", "bitcoind-config")
            && gone("secret", "bitcoind-rpcauth")
    );
    assert!(
        !gone("pvc", "bitcoind-data")
            && !gone("secret", "lnd-wallet")
            && !gone("namespace", site.namespace())
    );
    let refused = site.openlsp(&["delete", "--purge", "--yes"]).expect(2);
    assert!(!gone("pvc", "bitcoind-data"));
    let purged = site
        .openlsp(&["delete", "--purge", "--confirm-site", &site.name])
        .expect(0);
    // What delete prunes and keeps, that --purge wants the name, and what it then deletes.
    assert_output_snapshot!(
        "delete_and_purge",
        common::transcript(&[
            ("delete stdout", &output.stdout),
            ("delete stderr", &output.stderr),
            ("delete --purge --yes", &refused.stderr),
            (
                "delete --purge --confirm-site <site> stdout",
                &purged.stdout
            ),
            (
                "delete --purge --confirm-site <site> stderr",
                &purged.stderr
            ),
        ]),
        &site
    );
    site.wait_gone("pv", &format!("{}-bitcoind", site.name));
    let namespace = site.kubectl(&[
        "get",
        "namespace",
        site.namespace(),
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert!(
        namespace.code != 0 || namespace.stdout == "Terminating",
        "{namespace:?}"
    );
    site.assert_nothing_leaked();
}

#[test]
fn ctrl_c_stops_waiting_and_reports_what_was_applied() {
    let Some(site) = Site::new("pi4-mainnet", "interrupt") else {
        return;
    };
    // Interrupted once the wait for the workloads has shown their state: everything was applied.
    let output = site.interrupt_apply(&[], "StatefulSet/lnd: ");
    let stderr = &output.stderr;
    assert_eq!(output.code, 2, "{stderr}");
    assert!(
        stderr.contains("stopped waiting (interrupted); everything was applied; not ready yet: ")
            && stderr.contains("StatefulSet/bitcoind ("),
        "{stderr}"
    );
    site.openlsp(&["diff"]).expect(0);
    assert!(
        site.kubectl(&["get", "lease", "openlsp-lock", "-n", site.namespace()])
            .code
            != 0
    );
}
