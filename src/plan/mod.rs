//! The plan: every object of a site, rendered from templates with the site's secrets. Pure and
//! deterministic: the same profile and state dir give byte-identical output. No cluster access.

pub mod checksum;
pub mod context;
pub mod kinds;
pub mod names;
pub mod output;
pub mod stack;
pub mod templates;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::profile::{Site, SourceMap};
use crate::secrets::{Secrets, StateError};

pub use kinds::{KindInfo, Stage};
pub use templates::{Scope, TemplateSet};

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
    #[error("template {template} rendered an invalid object{}: {message}\n  hint: fix the template; the rendered document was:\n{excerpt}", line.map(|l| format!(" (rendered line {l})")).unwrap_or_default())]
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
    #[error("--templates {}: {reason}", dir.display())]
    TemplateDir { dir: PathBuf, reason: String },
    #[error("{0}; this is a bug in openlsp")]
    Bug(String),
}

impl PlanError {
    fn template(err: &minijinja::Error, set: &TemplateSet) -> Self {
        let template = err.name().unwrap_or("<unknown>").to_owned();
        let mut message = err.detail().map_or_else(
            || err.kind().to_string(),
            |detail| format!("{}: {detail}", err.kind()),
        );
        let source_line = err
            .line()
            .zip(set.source(&template))
            .and_then(|(line, source)| Some((line, source.lines().nth(line.checked_sub(1)?)?)));
        if let Some((line, text)) = source_line {
            message.push_str(&format!("\n  {line} | {}", text.trim_end()));
        }
        PlanError::Template {
            template,
            line: err.line(),
            message,
        }
    }
}

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

    /// Whether prune must keep this object; see [`is_data`].
    pub fn is_data(&self) -> bool {
        is_data(&self.manifest)
    }
}

pub use crate::object::is_data;

fn json_of(value: &impl Serialize) -> Value {
    serde_json::to_value(value).expect("contexts serialize to JSON")
}

/// Every object of a site, sorted by apply stage, kind and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub objects: Vec<PlannedObject>,
    /// What the operator should know before applying: public exposures, addon objects
    /// openlsp does not own. Commands print them; they never stop the plan.
    pub warnings: Vec<String>,
}

/// Renders every template for `site` with `secrets` and checks each object against its type.
pub fn render_site(
    site: &Site,
    secrets: &Secrets,
    templates: &TemplateSet,
) -> Result<Plan, PlanError> {
    let env = templates.environment()?;
    // Every context is built once and shared by all templates of its scope.
    let site_value = serde_json::to_value(context::site_context(site))
        .map_err(|err| PlanError::Bug(err.to_string()))?;
    let with_site = |node: Value| -> minijinja::Value {
        let mut map = match node {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        map.insert("site".to_owned(), site_value.clone());
        minijinja::Value::from_serialize(Value::Object(map))
    };
    let site_contexts = vec![with_site(Value::Object(serde_json::Map::new()))];
    let bitcoin_contexts = site
        .spec
        .bitcoin
        .iter()
        .map(|node| context::bitcoin_context(site, node, secrets).map(|c| with_site(json_of(&c))))
        .collect::<Result<Vec<_>, _>>()?;
    let lightning_contexts = site
        .spec
        .lightning
        .iter()
        .map(|node| context::lightning_context(site, node, secrets).map(|c| with_site(json_of(&c))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut objects: Vec<PlannedObject> = Vec::new();
    // (kind, namespace, name) → the template that rendered it.
    let mut rendered_by: std::collections::HashMap<(String, Option<String>, String), String> =
        std::collections::HashMap::new();
    for (name, scope) in templates.documents() {
        let template = env
            .get_template(name)
            .map_err(|err| PlanError::template(&err, templates))?;
        let contexts = match scope {
            Scope::Site => &site_contexts,
            Scope::EachBitcoin => &bitcoin_contexts,
            Scope::EachLightning => &lightning_contexts,
        };
        for ctx in contexts {
            let text = template
                .render(ctx.clone())
                .map_err(|err| PlanError::template(&err, templates))?;
            for object in parse_documents(name, &text, site)? {
                let key = (
                    object.kind.clone(),
                    object.namespace.clone(),
                    object.name.clone(),
                );
                if let Some(other) = rendered_by.get(&key) {
                    return Err(PlanError::Duplicate {
                        template: object.template,
                        other: other.clone(),
                        kind: object.kind,
                        name: object.name,
                    });
                }
                rendered_by.insert(key, object.template.clone());
                objects.push(object);
            }
        }
    }
    checksum::annotate_workloads(&mut objects);
    annotate_generations(&mut objects, secrets);
    objects.sort_by(|a, b| {
        (a.stage, &a.kind, &a.namespace, &a.name).cmp(&(b.stage, &b.kind, &b.namespace, &b.name))
    });
    Ok(Plan {
        objects,
        warnings: stack::plan_warnings(site),
    })
}

/// Marks each Secret whose values were replaced (rotated) with its generation, so the cluster
/// records it and an older copy of the state dir is recognised. Pods do not roll for it: the
/// config checksum covers data only.
fn annotate_generations(objects: &mut [PlannedObject], secrets: &Secrets) {
    for object in objects.iter_mut().filter(|o| o.kind == "Secret") {
        let generation = secrets.generation(&object.name);
        if generation == 0 {
            continue;
        }
        let Some(metadata) = object
            .manifest
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let annotations = metadata
            .entry("annotations")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(map) = annotations {
            map.insert(
                crate::object::GENERATION_ANNOTATION.to_owned(),
                Value::String(generation.to_string()),
            );
        }
    }
}

/// Splits one template's output into documents and checks each; empty documents are skipped.
fn parse_documents(
    template: &str,
    text: &str,
    site: &Site,
) -> Result<Vec<PlannedObject>, PlanError> {
    let invalid = |line: Option<usize>, message: String| PlanError::InvalidObject {
        template: template.to_owned(),
        line,
        message,
        excerpt: text
            .lines()
            .enumerate()
            .map(|(i, l)| format!("  {:>3} | {l}", i + 1))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let mut objects = Vec::new();
    let maps = SourceMap::index_documents(text);
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value: Value = serde::Deserialize::deserialize(document).map_err(|err| {
            invalid(
                err.location().map(|l| l.line()),
                format!("not valid YAML: {err}"),
            )
        })?;
        let map = maps.get(index).cloned().unwrap_or_default();
        if let Some((path, location)) = map.duplicate_keys().first() {
            return Err(invalid(
                Some(location.line),
                format!("key {path} is written twice; YAML would keep only the last"),
            ));
        }
        if value.is_null() {
            continue;
        }
        let mut value = value;
        // `labels:` with nothing after it is null in YAML: the same as no labels.
        for field in ["labels", "annotations"] {
            let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
                break;
            };
            match metadata.get(field) {
                Some(Value::Null) => {
                    metadata.remove(field);
                }
                Some(Value::Object(entries)) => {
                    if let Some((key, _)) = entries.iter().find(|(_, v)| !v.is_string()) {
                        return Err(invalid(
                            map.value_location(&format!("metadata.{field}.{key}"))
                                .map(|l| l.line),
                            format!("metadata.{field}.{key} must be a string; quote it"),
                        ));
                    }
                }
                Some(_) => {
                    return Err(invalid(
                        map.value_location(&format!("metadata.{field}"))
                            .map(|l| l.line),
                        format!("metadata.{field} must be a map of strings"),
                    ));
                }
                None => {}
            }
        }
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
            return Err(invalid(
                None,
                "a document needs apiVersion and kind".to_owned(),
            ));
        };
        let Some(info) = kinds::lookup(&api_version, &kind) else {
            let known: BTreeSet<String> = kinds::all()
                .iter()
                .map(|k| format!("{}/{}", k.api_version, k.kind))
                .collect();
            return Err(invalid(
                map.value_location("kind").map(|l| l.line),
                format!(
                    "openlsp does not know {api_version} {kind}; known: {}",
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        info.check(&value).map_err(|message| {
            let line = message
                .split(':')
                .next()
                .and_then(|path| map.value_location(path.trim_start_matches("unknown field ")))
                .map(|l| l.line);
            invalid(line, format!("{api_version} {kind}: {message}"))
        })?;
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(None, format!("{kind} has no metadata.name")))?
            .to_owned();
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match (&namespace, info.namespaced) {
            (None, true) => {
                return Err(invalid(
                    map.value_location("metadata").map(|l| l.line),
                    format!("{kind}/{name} needs metadata.namespace: {{{{ site.namespace }}}}"),
                ));
            }
            (Some(ns), true) if !site.managed_namespaces().contains(&ns.as_str()) => {
                return Err(invalid(
                    map.value_location("metadata.namespace").map(|l| l.line),
                    format!(
                        "{kind}/{name} is in namespace {ns:?}, not the site's {:?}",
                        site.namespace()
                    ),
                ));
            }
            (Some(_), false) => {
                return Err(invalid(
                    map.value_location("metadata.namespace").map(|l| l.line),
                    format!("{kind} is cluster-scoped and takes no metadata.namespace"),
                ));
            }
            _ => {}
        }
        objects.push(PlannedObject {
            api_version,
            kind,
            name,
            namespace,
            template: template.to_owned(),
            stage: info.stage,
            manifest: value,
        });
    }
    Ok(objects)
}
