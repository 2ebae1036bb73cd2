//! What can go wrong while rendering a plan. A leaf of plan/: every other file of plan/ returns
//! these, and none of them is needed to build one.

use crate::secrets::StateError;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    State(#[from] StateError),
    #[error("template {template}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template {
        template: String,
        line: Option<usize>,
        message: String,
    },
    #[error("template {template} rendered an invalid object{}: {message}\n  hint: fix the template; the rendered document (values under data masked):\n{excerpt}", line.map(|l| format!(" (rendered line {l})")).unwrap_or_default())]
    InvalidObject {
        template: String,
        line: Option<usize>,
        message: String,
        excerpt: String,
    },
    #[error("template {template}: {kind} {name} is rendered twice (also by {other})")]
    Duplicate {
        template: String,
        other: String,
        kind: String,
        name: String,
    },
    #[error(
        "template {template}: directory is not a service openlsp renders\n  hint: put templates under one of: {known}"
    )]
    UnknownService { template: String, known: String },
    #[error("{0}; this is a bug in openlsp")]
    Bug(String),
}
