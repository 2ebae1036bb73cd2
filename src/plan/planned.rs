//! What rendering produces: the plan, and each object in it with the template that rendered it.

use serde::Serialize;
use serde_json::Value;

use crate::object::Stage;

/// One object of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The template that rendered it.
    pub template: String,
    pub stage: Stage,
    pub manifest: Value,
}

impl PlannedObject {
    /// `Kind/name`, as kubectl prints it.
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Every object of a site, sorted by apply stage, kind and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub objects: Vec<PlannedObject>,
    /// What the operator should know before applying: public exposures, addon objects
    /// openlsp does not own. Commands print them; they never stop the plan.
    pub warnings: Vec<String>,
}
