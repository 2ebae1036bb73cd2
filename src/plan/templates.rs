//! The template set: built-in templates embedded at build time, optionally overlaid file by
//! file from `--templates DIR`, compiled into a strict minijinja environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::context::{self, Service};
use super::error::PlanError;

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

#[derive(Debug, Clone)]
pub struct TemplateSet {
    files: BTreeMap<String, String>,
}

fn is_document(name: &str) -> bool {
    name.ends_with(".yaml.j2") && !name.split('/').any(|part| part.starts_with('_'))
}

impl TemplateSet {
    pub fn builtin() -> Self {
        TemplateSet {
            files: BUILTIN_TEMPLATES
                .iter()
                .filter(|(name, _)| name.ends_with(".j2"))
                .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
                .collect(),
        }
    }

    /// The built-in set with every `*.j2` file under `dir` replacing or adding to it.
    pub fn with_overrides(dir: &Path) -> Result<Self, PlanError> {
        let mut set = Self::builtin();
        if !dir.is_dir() {
            return Err(PlanError::TemplateDir {
                dir: dir.to_path_buf(),
                reason: "it is not a directory".to_owned(),
            });
        }
        let mut found = Vec::new();
        walk(dir, &mut found).map_err(|err| PlanError::TemplateDir {
            dir: dir.to_path_buf(),
            reason: err.to_string(),
        })?;
        for path in found {
            let relative = path
                .strip_prefix(dir)
                .expect("walk stays under dir")
                .to_string_lossy()
                .replace('\\', "/");
            if !relative.ends_with(".j2") {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(|err| PlanError::TemplateDir {
                dir: dir.to_path_buf(),
                reason: format!("{relative}: {err}"),
            })?;
            set.files.insert(relative, source);
        }
        for name in set.files.keys().filter(|name| is_document(name)) {
            context::service_of(name)?;
        }
        Ok(set)
    }

    /// Templates that render objects, with their service, in name order.
    pub fn documents(&self) -> Vec<(&str, &'static Service)> {
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
