//! The plan: every object of a site, rendered from templates with the site's secrets.
//!
//! [`render_site`] is the entry point, and it is pure: it takes the profile, a snapshot of the
//! secrets and the template set, and the same three give byte-identical output. It never
//! reaches the cluster, the filesystem, the environment or the clock; the caller reads the
//! state dir and `--templates DIR`, and writes `render -o DIR` ([`crate::template_dir`],
//! [`crate::render_dir`]). What templates see is built per service in [`context`]; the
//! credentials themselves come from [`crate::secrets`].

pub mod checksum;
pub mod context;
pub mod error;
mod excerpt;
pub mod kinds;
pub mod names;
pub mod output;
pub mod planned;
pub mod templates;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::bootstrap::{CopyJob, SnapshotCopy};
use crate::profile::{BitcoinNode, Site, SourceMap};
use crate::secrets::Secrets;

pub use crate::object::is_data;
pub use error::PlanError;
pub use kinds::Stage;
pub use planned::{Plan, PlannedObject};
pub use templates::TemplateSet;

/// Renders every template for `site` with `secrets` and checks each object against its type.
pub fn render_site(
    site: &Site,
    secrets: &Secrets,
    templates: &TemplateSet,
) -> Result<Plan, PlanError> {
    let env = templates.environment()?;
    let contexts = context::Contexts::build(site, secrets)?;
    let mut objects: Vec<PlannedObject> = Vec::new();
    // (kind, namespace, name) → the template that rendered it.
    let mut rendered_by: HashMap<(String, Option<String>, String), String> = HashMap::new();
    for (name, service) in templates.documents() {
        let template = env
            .get_template(name)
            .map_err(|err| templates.error(&err))?;
        for ctx in contexts.of(service) {
            let text = template
                .render(ctx.clone())
                .map_err(|err| templates.error(&err))?;
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
        warnings: context::warnings(site),
    })
}

/// Renders the copy Job of a bootstrap of `node` (templates/bootstrap/): objects of no site
/// plan, which only `openlsp bootstrap` writes, and deletes once the copy is done.
pub fn render_bootstrap(
    site: &Site,
    node: &BitcoinNode,
    job: &CopyJob,
    templates: &TemplateSet,
) -> Result<Plan, PlanError> {
    let context = context::shared::to_value(context::bootstrap::context(site, node, job))?;
    render_bootstrap_job(site, context, templates)
}

/// Renders the Job that copies a UTXO snapshot into `node`'s volume (templates/bootstrap/, with
/// the snapshot's script), for `openlsp bootstrap --utxo-snapshot`.
pub fn render_snapshot_copy(
    site: &Site,
    node: &BitcoinNode,
    copy: &SnapshotCopy,
    templates: &TemplateSet,
) -> Result<Plan, PlanError> {
    let context =
        context::shared::to_value(context::bootstrap::snapshot_context(site, node, copy))?;
    render_bootstrap_job(site, context, templates)
}

fn render_bootstrap_job(
    site: &Site,
    context: Value,
    templates: &TemplateSet,
) -> Result<Plan, PlanError> {
    let env = templates.environment()?;
    let ctx = context::Contexts::on_request(site, context)?;
    let mut objects = Vec::new();
    for (name, service) in templates.documents() {
        if service.dir == context::BOOTSTRAP {
            let text = env
                .get_template(name)
                .and_then(|template| template.render(ctx.clone()))
                .map_err(|err| templates.error(&err))?;
            objects.extend(parse_documents(name, &text, site)?);
        }
    }
    objects.sort_by(|a, b| (a.stage, &a.kind, &a.name).cmp(&(b.stage, &b.kind, &b.name)));
    Ok(Plan {
        objects,
        warnings: Vec::new(),
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
        excerpt: excerpt::excerpt(text, line),
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
            let message = excerpt::mask_values(&message, &value);
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
