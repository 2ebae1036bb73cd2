//! `openlsp diff`: what `apply` would change, as coloured unified diffs with Secret values
//! masked, or as JSON. Exit 0 without differences, 1 with, 2 on error (as `kubectl diff`).

use serde::Serialize;

use super::Outcome;
use crate::cli::{DiffArgs, GlobalArgs, OutputFormat};
use crate::cluster::ApplySet;
use crate::diff::{self, Change, Summary};
use crate::ui::Ui;

#[derive(Serialize)]
struct JsonChange<'a> {
    #[serde(flatten)]
    change: &'a Change,
    #[serde(skip_serializing_if = "String::is_empty")]
    diff: String,
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    summary: Summary,
    differences: bool,
    changes: Vec<JsonChange<'a>>,
}

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &DiffArgs) -> anyhow::Result<Outcome> {
    let started = std::time::Instant::now();
    let profile = super::load_profile(ui, global)?;
    let cluster = super::connect_cluster(global).await?;
    tracing::debug!(
        "connected to {} after {:?}",
        cluster.server(),
        started.elapsed()
    );
    let planned =
        super::plan_with_cluster(ui, global, profile, &cluster, &args.replace_secrets).await?;
    tracing::debug!("planned after {:?}", started.elapsed());
    let set = ApplySet::new(planned.profile.site.namespace());
    let desired = super::desired_objects(planned.plan, &set)?;
    let survey = cluster.survey(&set, &desired, true).await?;
    survey.check_volume_paths(&desired)?;
    for stopped in crate::deploy::stop::stopped_workloads(&survey) {
        ui.warn(&format!(
            "{} is stopped by `{}`, which has not finished: apply refuses to start it until that bootstrap ends",
            stopped.workload,
            stopped.command()
        ));
    }
    tracing::debug!(
        "surveyed after {:?} ({} dry runs)",
        started.elapsed(),
        survey.dry_runs
    );
    let changes = diff::compute(&survey.observations, diff::Detail::Everything);
    match args.output {
        OutputFormat::Json => {
            let plan = JsonPlan {
                summary: changes.summary(),
                differences: changes.has_differences(),
                changes: changes
                    .changes
                    .iter()
                    .map(|change| JsonChange {
                        change,
                        diff: diff::unified(change),
                    })
                    .collect(),
            };
            ui.stdout(&format!("{}\n", serde_json::to_string_pretty(&plan)?));
        }
        OutputFormat::Text => ui.show_changes(&changes, true),
    }
    Ok(if changes.has_differences() {
        Outcome::DiffFound
    } else {
        Outcome::Ok
    })
}
