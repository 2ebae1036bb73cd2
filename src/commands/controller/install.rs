//! `openlsp controller install`: the Site CRD, the controller's ServiceAccount, RBAC and
//! Deployment, applied through the deploy engine under the controller namespace's lock, shown
//! first and confirmed; then it waits for the controller unless told not to.

use anyhow::bail;

use crate::cli::{ControllerInstallArgs, GlobalArgs};
use crate::cluster::ApplySet;
use crate::commands::Outcome;
use crate::controller::install::install_plan;
use crate::deploy::{self, Interrupt, WriteLimits};
use crate::diff;
use crate::object::Stage;
use crate::ui::Ui;

pub async fn run(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ControllerInstallArgs,
) -> anyhow::Result<Outcome> {
    let namespace = args.namespace.as_str();
    if args.image == crate::images::CONTROLLER_PLACEHOLDER {
        ui.warn(&format!(
            "--image is the placeholder {}: no such image is published, so the controller's pod cannot start; build and push one from the Containerfile (docs/controller.md) and pass --image",
            args.image
        ));
    }
    let cluster = super::super::connect_cluster(global).await?;
    let set = ApplySet::new(namespace);
    let desired = super::super::desired_objects(
        install_plan(namespace, &args.image, args.watch_namespace.as_deref()),
        &set,
    )?;
    if !cluster.namespace_exists(namespace).await? {
        let survey = cluster.survey(&set, &desired, false).await?;
        for object in desired.iter().filter(|d| d.stage == Stage::Namespaces) {
            deploy::apply_one(&cluster, survey.resolved(&object.id)?, object, false).await?;
        }
    }
    let lock = cluster.lock(namespace).await?;
    let interrupt = Interrupt::listen();
    let written = async {
        let survey = cluster.survey(&set, &desired, false).await?;
        let changes = diff::compute(&survey.observations, diff::Detail::ChangesOnly);
        ui.show_changes(&changes, false);
        if !changes.has_differences() {
            ui.success("no changes: the controller is installed as asked");
            return Ok(None);
        }
        if !args.yes {
            let (prompt_ui, question) = (
                ui.clone(),
                format!("Install the openlsp controller into {}?", cluster.server()),
            );
            let confirmed = tokio::task::spawn_blocking(move || {
                prompt_ui.confirm(&question, false, "pass --yes to install without asking")
            })
            .await??;
            if !confirmed {
                bail!("install cancelled; nothing more was changed");
            }
        }
        let limits = WriteLimits {
            force_conflicts: false,
            timeout: args.timeout,
        };
        let report = deploy::converge(
            &cluster, &lock, ui, &set, &desired, &survey, &changes, &limits, &interrupt,
        )
        .await
        .map_err(|err| super::super::deploy_failed(err, "openlsp controller install"))?;
        Ok::<_, anyhow::Error>(Some(report))
    }
    .await;
    lock.release().await;
    if let Some(report) = written? {
        if let Some(stage) = report.stopped_before {
            bail!(
                "interrupted: stopped before stage {} ({stage:?}); installed so far: {}\n  hint: run openlsp controller install again to finish",
                stage.number(),
                report.describe()
            );
        }
        ui.success(&format!(
            "installed into namespace {namespace}: {}",
            report.describe()
        ));
    }
    if !args.no_wait {
        match deploy::wait_for_workloads(&cluster, ui, &desired, args.timeout, &interrupt)
            .await
            .map_err(|err| super::super::deploy_failed(err, "openlsp controller install"))?
        {
            (_, deploy::Waited::Ready) => ui.success("the controller is running"),
            (_, deploy::Waited::TimedOut(waiting)) => bail!(
                "timed out after {:?} waiting for the controller: {}\n  hint: openlsp status cannot help here; kubectl describe pods -n {namespace} -l app.kubernetes.io/name=openlsp-controller shows why (an image the node cannot pull is the usual cause)",
                args.timeout,
                waiting.join(", ")
            ),
            (_, deploy::Waited::Interrupted(_)) => {
                bail!("stopped waiting (interrupted); everything was installed")
            }
        }
    }
    ui.info(
        "next: kubectl create namespace <site> && kubectl apply -n <site> -f openlsp.yaml (or openlsp controller adopt for a site applied with openlsp apply); openlsp status shows how it is doing",
    );
    Ok(Outcome::Ok)
}
