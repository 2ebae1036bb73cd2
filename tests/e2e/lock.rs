//! The lock on the real API server: a Lease that a second run respects while it is fresh and
//! takes over once stale, and that a long run keeps renewing.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::e2e::{self, Crds, Site};
use crate::common::{self};

#[test]
fn a_held_lock_refuses_a_second_apply_and_a_stale_one_expires() {
    let Some(site) = Site::new("pi4-mainnet", "lock") else {
        return;
    };
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    let lease = |renewed: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{ name: openlsp-lock, namespace: {} }}\nspec: {{ holderIdentity: \"alice@laptop pid 42\", leaseDurationSeconds: 60, renewTime: \"{renewed}\" }}\n",
            site.namespace()
        )
    };
    let now = time::OffsetDateTime::now_utc();
    let fresh = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    site.test.write("lease.yaml", &lease(&fresh));
    site.kubectl(&[
        "apply",
        "-f",
        site.test.path().join("lease.yaml").to_str().unwrap(),
    ])
    .expect(0);
    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    let expected = format!(
        "another openlsp run holds the lock of namespace {}: alice@laptop pid 42",
        site.name
    );
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);
    let refused_delete = site.openlsp(&["delete", "--yes"]).expect(2);
    // The holder and until when the lock is held, and what to do.
    assert_output_snapshot!(
        "held_lock",
        common::transcript(&[
            ("apply", &refused.stderr),
            ("delete", &refused_delete.stderr)
        ]),
        &site
    );

    site.test
        .write("lease.yaml", &lease("2020-01-01T00:00:00.000000Z"));
    site.kubectl(&[
        "apply",
        "-f",
        site.test.path().join("lease.yaml").to_str().unwrap(),
    ])
    .expect(0);
    site.openlsp(&["apply", "--yes", "--no-wait"]).expect(0);
    assert!(
        site.kubectl(&["get", "lease", "openlsp-lock", "-n", site.namespace()])
            .code
            != 0,
        "the taken-over lock was not released"
    );
}

/// An apply that holds the lock longer than the lease's 60 seconds (here waiting for a
/// CustomResourceDefinition that is never established) keeps renewing it: a second apply
/// started after 60 s is still refused with the holder's name, and renewTime moved on.
#[test]
fn a_long_apply_renews_its_lock_past_the_lease_duration() {
    let Some(site) = Site::new("pi4-mainnet", "renew") else {
        return;
    };
    let group = format!("{}.openlsp.test", site.name);
    let _cleanup = Crds {
        kubeconfig: site.kubeconfig.clone(),
        names: vec![format!("things.{group}"), format!("widgets.{group}")],
    };
    // `things` claims kind Thing first, so `widgets` (also kind Thing) is never established.
    e2e::kubectl_apply(&site, "things.yaml", &e2e::crd(&group, "things", "Thing"));
    e2e::wait_established(&site.kubeconfig, &format!("things.{group}"))
        .unwrap_or_else(|err| panic!("{err}"));
    let widgets = e2e::templates(&site, "widgets", &e2e::crd(&group, "widgets", "Thing"));
    let first = site.spawn_apply(&["--no-wait", "--templates", &widgets]);

    let lease = || {
        let lease = site.kubectl(&[
            "get",
            "lease",
            "openlsp-lock",
            "-n",
            site.namespace(),
            "-o",
            "json",
        ]);
        (lease.code == 0).then(|| serde_json::from_str::<Value>(&lease.stdout).unwrap())
    };
    let taken = common::wait_for("the first apply to take the lock", e2e::PATIENCE, || {
        lease().ok_or_else(|| first.stderr_so_far())
    });
    let since_taken = Instant::now();
    let holder = taken["spec"]["holderIdentity"].as_str().unwrap().to_owned();
    assert!(holder.contains(&format!("pid {} ", first.id())), "{holder}");

    // Without renewal the lease would have lapsed by now.
    std::thread::sleep(Duration::from_secs(63).saturating_sub(since_taken.elapsed()));
    let refused = site.openlsp(&["apply", "--yes", "--no-wait"]).expect(2);
    let expected = format!(
        "another openlsp run holds the lock of namespace {}: {holder}",
        site.name
    );
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);
    let renewed = lease().expect("the lease is still there");
    assert_eq!(renewed["spec"]["holderIdentity"], holder.as_str());
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            renewed["spec"][field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let held_for = at("renewTime") - at("acquireTime");
    assert!(
        held_for >= time::Duration::seconds(45),
        "renewed only {held_for} after it was taken: {renewed}"
    );

    let first = site.interrupt(first);
    assert_eq!(first.code, 2, "{}", first.stderr);
    assert!(
        first.stderr.contains(&format!(
            "CustomResourceDefinition/widgets.{group}: names not accepted"
        )),
        "the first apply was waiting in stage 2 all along: {}",
        first.stderr
    );
    assert!(lease().is_none(), "the lock was not released");
}
