//! Maps field paths such as `spec.lightning[0].bitcoin` to their `line:col` in the YAML text,
//! so that errors found after deserialization still point at the right place.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in a YAML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub col: usize,
}

/// Positions of every key and value in one YAML document, by field path.
#[derive(Debug, Default, Clone)]
pub struct SourceMap {
    /// Where the document starts: its `---`, else its first node.
    start: Option<Location>,
    keys: HashMap<String, Location>,
    values: HashMap<String, Location>,
    duplicates: Vec<(String, Location)>,
}

impl SourceMap {
    /// Indexes the first document of `text`; unparsable YAML gives what was read before the
    /// error (the deserializer reports the syntax error itself).
    #[cfg(test)]
    pub fn index(text: &str) -> Self {
        Self::index_documents(text)
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// One map per document of a multi-document stream, in order.
    pub fn index_documents(text: &str) -> Vec<Self> {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut builder, true);
        if builder.started {
            builder.documents.push(std::mem::take(&mut builder.map));
        }
        builder.documents
    }

    /// Where the document starts: its `---` line, else its first node.
    pub fn start(&self) -> Option<Location> {
        self.start
    }

    /// Keys written twice in one mapping, with the place of the second.
    pub fn duplicate_keys(&self) -> &[(String, Location)] {
        &self.duplicates
    }

    /// Where the value at `path` starts, else its key, else the nearest enclosing field.
    pub fn value_location(&self, path: &str) -> Option<Location> {
        self.find(path, |p| self.values.get(p).or_else(|| self.keys.get(p)))
    }

    /// Whether the profile writes `path` itself (not only a field around it).
    pub fn contains(&self, path: &str) -> bool {
        self.values.contains_key(path) || self.keys.contains_key(path)
    }

    /// Where the key at `path` is written, else its value, else the nearest enclosing field.
    pub fn key_location(&self, path: &str) -> Option<Location> {
        self.find(path, |p| self.keys.get(p).or_else(|| self.values.get(p)))
    }

    fn find<'a>(
        &'a self,
        path: &str,
        lookup: impl Fn(&str) -> Option<&'a Location>,
    ) -> Option<Location> {
        let mut current = path;
        loop {
            if let Some(location) = lookup(current) {
                return Some(*location);
            }
            current = parent_path(current)?;
        }
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → `""`.
fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

enum Frame {
    /// `fresh` until the first key: a block mapping's start mark is its first key's colon,
    /// so the first key's position replaces it.
    Map {
        path: String,
        key: Option<String>,
        fresh: bool,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Builder {
    map: SourceMap,
    stack: Vec<Frame>,
    documents: Vec<SourceMap>,
    started: bool,
}

fn location(mark: Marker) -> Location {
    Location {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

impl Builder {
    /// The path of the value that the next node event describes.
    fn value_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Map { path, key, .. }) => join(path, key.as_deref().unwrap_or("?")),
            Some(Frame::Seq { path, index }) => format!("{path}[{index}]"),
        }
    }

    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn finish_value(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }

    fn scalar(&mut self, text: String, mark: Marker) {
        if self.expects_key() {
            if let Some(Frame::Map { path, key, fresh }) = self.stack.last_mut() {
                if *fresh {
                    self.map.values.insert(path.clone(), location(mark));
                    *fresh = false;
                }
                let full = join(path, &text);
                if self.map.keys.insert(full.clone(), location(mark)).is_some() {
                    self.map.duplicates.push((full, location(mark)));
                }
                *key = Some(text);
            }
            return;
        }
        let path = self.value_path();
        self.map.values.insert(path, location(mark));
        self.finish_value();
    }

    fn open(&mut self, mark: Marker, is_map: bool) {
        if self.expects_key() {
            // A complex (non-scalar) key: index it under a placeholder name.
            if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                *key = Some("?".to_owned());
            }
        }
        let path = self.value_path();
        self.map.values.insert(path.clone(), location(mark));
        self.stack.push(if is_map {
            Frame::Map {
                path,
                key: None,
                fresh: true,
            }
        } else {
            Frame::Seq { path, index: 0 }
        });
    }

    fn close(&mut self) {
        self.stack.pop();
        self.finish_value();
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => self.scalar(text, mark),
            Event::Alias(_) => self.scalar(String::new(), mark),
            Event::MappingStart(..) => self.open(mark, true),
            Event::SequenceStart(..) => self.open(mark, false),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            Event::DocumentStart => {
                self.stack.clear();
                self.started = true;
                self.map.start = Some(location(mark));
            }
            Event::DocumentEnd => {
                self.documents.push(std::mem::take(&mut self.map));
                self.started = false;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
spec:
  network: mainnet
  disks:
    chain: { path: /srv/chain, size: 1Ti }
  lightning:
    - name: lnd
      bitcoin: btc
    - name: lnd2
      bitcoin: bitcoind
";

    #[test]
    fn finds_keys_and_values() {
        let map = SourceMap::index(DOC);
        assert_eq!(
            map.value_location("spec.network"),
            Some(Location { line: 2, col: 12 })
        );
        assert_eq!(
            map.key_location("spec.network"),
            Some(Location { line: 2, col: 3 })
        );
        assert_eq!(
            map.value_location("spec.lightning[0].bitcoin"),
            Some(Location { line: 7, col: 16 })
        );
        assert_eq!(
            map.value_location("spec.lightning[1].name"),
            Some(Location { line: 8, col: 13 })
        );
        assert_eq!(
            map.value_location("spec.disks.chain.size"),
            Some(Location { line: 4, col: 38 })
        );
    }

    #[test]
    fn finds_duplicate_keys_and_indexes_each_document() {
        let maps = SourceMap::index_documents("a: 1\nb: 2\na: 3\n---\nc: { d: 1, d: 2 }\n");
        assert_eq!(maps.len(), 2);
        assert_eq!(
            maps[0].duplicate_keys(),
            &[("a".to_owned(), Location { line: 3, col: 1 })]
        );
        assert_eq!(maps[1].duplicate_keys()[0].0, "c.d");
        assert!(maps[1].value_location("b").is_some_and(|l| l.line == 5));
    }

    #[test]
    fn falls_back_to_the_nearest_parent() {
        let map = SourceMap::index(DOC);
        assert_eq!(
            map.value_location("spec.lightning[1].alias"),
            Some(Location { line: 8, col: 7 })
        );
        assert_eq!(
            map.value_location("nowhere.at.all"),
            Some(Location { line: 1, col: 1 })
        );
    }
}
