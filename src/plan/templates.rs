//! The template set: built-in templates embedded at build time, optionally overlaid file by
//! file with templates the caller read (`--templates DIR`, read at the edge by
//! [`crate::template_dir`]), compiled into a strict minijinja environment.

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::context::{self, Service};
use super::error::PlanError;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

#[derive(Debug, Clone)]
pub struct TemplateSet {
    files: BTreeMap<String, String>,
}

/// Whether a file is a template: only `*.j2` files are; others beside them are ignored.
pub fn is_template(name: &str) -> bool {
    name.ends_with(".j2")
}

fn is_document(name: &str) -> bool {
    name.ends_with(".yaml.j2") && !name.split('/').any(|part| part.starts_with('_'))
}

impl TemplateSet {
    pub fn builtin() -> Self {
        TemplateSet {
            files: BUILTIN_TEMPLATES
                .iter()
                .filter(|(name, _)| is_template(name))
                .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
                .collect(),
        }
    }

    /// This set with each `(relative path, source)` template replacing the one at the same
    /// path or adding to it. A document template outside every service's directory is refused.
    pub fn with_overrides(
        mut self,
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, PlanError> {
        self.files
            .extend(files.into_iter().filter(|(name, _)| is_template(name)));
        for name in self.files.keys().filter(|name| is_document(name)) {
            context::service_of(name)?;
        }
        Ok(self)
    }

    /// Templates that render objects, with their service, in name order.
    pub(crate) fn documents(&self) -> Vec<(&str, &'static Service)> {
        self.files
            .keys()
            .filter(|name| is_document(name))
            .filter_map(|name| {
                context::service_of(name)
                    .ok()
                    .map(|service| (name.as_str(), service))
            })
            .collect()
    }

    pub fn source(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    /// A strict environment: undefined variables fail, YAML templates print values as JSON.
    pub fn environment(&self) -> Result<Environment<'static>, PlanError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".yaml.j2") {
                AutoEscape::Json
            } else {
                AutoEscape::None
            }
        });
        env.set_keep_trailing_newline(true);
        for (name, source) in &self.files {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|err| self.error(&err))?;
        }
        Ok(env)
    }

    /// A template error with the template's name, its line and that line's source.
    pub fn error(&self, err: &minijinja::Error) -> PlanError {
        let template = err.name().unwrap_or("<unknown>").to_owned();
        let mut message = err.detail().map_or_else(
            || err.kind().to_string(),
            |detail| format!("{}: {detail}", err.kind()),
        );
        let source_line = err
            .line()
            .zip(self.source(&template))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str, source: &str) -> (String, String) {
        (name.to_owned(), source.to_owned())
    }

    #[test]
    fn overrides_replace_and_add_templates_and_ignore_other_files() {
        let set = TemplateSet::builtin()
            .with_overrides([
                pair("lnd/service.yaml.j2", "replaced"),
                pair("site/extra.yaml.j2", "added"),
                pair("site/notes.txt", "not a template"),
            ])
            .unwrap();
        assert_eq!(set.source("lnd/service.yaml.j2"), Some("replaced"));
        assert_eq!(set.source("site/extra.yaml.j2"), Some("added"));
        assert_eq!(set.source("site/notes.txt"), None);
        assert!(
            set.documents()
                .iter()
                .any(|(name, service)| *name == "site/extra.yaml.j2" && service.dir == "site")
        );
    }

    #[test]
    fn a_document_outside_every_service_is_refused_with_the_known_ones() {
        let err = TemplateSet::builtin()
            .with_overrides([pair("grafana/thing.yaml.j2", "kind: ConfigMap\n")])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template grafana/thing.yaml.j2: directory is not a service openlsp renders\n  hint: put templates under one of: site, bitcoind, btcd, lnd, cln, tor, monitoring, ingress, backup, btcpay, rtl, thunderhub, bootstrap"
        );
        // Partials may sit anywhere.
        TemplateSet::builtin()
            .with_overrides([pair("_mine/partial.yaml.j2", "")])
            .unwrap();
    }

    #[test]
    fn every_builtin_template_directory_is_one_service() {
        let set = TemplateSet::builtin();
        let dirs: std::collections::BTreeSet<&str> = set
            .files
            .keys()
            .filter_map(|name| name.split_once('/').map(|(dir, _)| dir))
            .filter(|dir| !dir.starts_with('_'))
            .collect();
        let services: std::collections::BTreeSet<&str> =
            context::SERVICES.iter().map(|s| s.dir).collect();
        assert_eq!(dirs, services);
        assert_eq!(
            services.len(),
            context::SERVICES.len(),
            "a directory is listed twice"
        );
    }
}
