//! The rendered lines an invalid-object error shows: a few around the fault, with every value
//! under `data:` or `stringData:` masked, because a rendered Secret holds credentials.

use serde_json::Value;

/// Lines shown before and after the faulty one.
const AROUND: usize = 4;
/// Lines shown when the fault has no line.
const HEAD: usize = 12;
const MASK: &str = "***";

/// Numbered lines of `text` near `line` (1-based), values of data blocks masked.
pub fn excerpt(text: &str, line: Option<usize>) -> String {
    let masked = mask_data_blocks(text);
    let (first, last) = match line {
        Some(line) => (line.saturating_sub(AROUND + 1), line + AROUND),
        None => (0, HEAD),
    };
    let mut shown: Vec<String> = masked
        .iter()
        .enumerate()
        .skip(first)
        .take(last - first)
        .map(|(i, l)| format!("  {:>3} | {l}", i + 1))
        .collect();
    let total = masked.len();
    if first > 0 {
        shown.insert(0, format!("      ({} above)", lines(first)));
    }
    if last < total {
        shown.push(format!("      ({} below)", lines(total - last)));
    }
    shown.join("\n")
}

fn lines(count: usize) -> String {
    if count == 1 {
        "1 line".to_owned()
    } else {
        format!("{count} lines")
    }
}

/// Removes the values of `data`/`stringData` maps (of any kind) from `message`.
pub fn mask_values(message: &str, document: &Value) -> String {
    let mut message = message.to_owned();
    for block in ["data", "stringData"] {
        let Some(Value::Object(entries)) = document.get(block) else {
            continue;
        };
        for value in entries.values() {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            // Too short to be a credential, and would mask unrelated words.
            if text.len() >= 4 {
                message = message.replace(&text, MASK);
            }
        }
    }
    message
}

fn mask_data_blocks(text: &str) -> Vec<String> {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut block: Option<usize> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(depth) = block {
            if trimmed.is_empty()
                || indent(line) > depth
                || trimmed.starts_with("- ") && indent(line) == depth
            {
                lines.push(mask_line(line));
                continue;
            }
            block = None;
        }
        let key = trimmed
            .split(':')
            .next()
            .unwrap_or_default()
            .trim_matches(['"', '\'']);
        if (key == "data" || key == "stringData") && trimmed.contains(':') {
            let rest = trimmed
                .split_once(':')
                .map(|(_, r)| r.trim())
                .unwrap_or_default();
            if rest.is_empty() {
                block = Some(indent(line));
                lines.push(line.to_owned());
            } else {
                lines.push(format!("{}{key}: {MASK}", &line[..indent(line)]));
            }
            continue;
        }
        lines.push(line.to_owned());
    }
    lines
}

/// `  key: value` keeps its key; anything else keeps only its indentation.
fn mask_line(line: &str) -> String {
    let lead = &line[..line.len() - line.trim_start().len()];
    let trimmed = line.trim_start();
    if trimmed.is_empty() {
        return line.to_owned();
    }
    match trimmed.split_once(": ") {
        Some((key, _)) if !key.contains(' ') || key.starts_with('"') => {
            format!("{lead}{key}: {MASK}")
        }
        _ => match trimmed.strip_suffix(':') {
            Some(key) if !key.contains(' ') => line.to_owned(),
            _ => format!("{lead}{MASK}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  labels: 7\ndata:\n  password: c2VjcmV0\n  tls.key: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEvQ\nstringData: { a: b }\ntype: Opaque\n";

    #[test]
    fn values_of_data_blocks_never_show() {
        let shown = excerpt(SECRET, Some(9));
        for value in ["c2VjcmV0", "MIIEvQ", "BEGIN PRIVATE KEY", "{ a: b }"] {
            assert!(!shown.contains(value), "{value} leaked:\n{shown}");
        }
        assert!(shown.contains("password: ***"), "{shown}");
        assert!(shown.contains("stringData: ***"), "{shown}");
        assert!(shown.contains("    5 |   labels: 7"), "{shown}");
        assert!(shown.contains("type: Opaque"), "{shown}");
    }

    #[test]
    fn only_lines_near_the_fault_are_shown() {
        let text: String = (1..=40).map(|i| format!("k{i}: v\n")).collect();
        let shown = excerpt(&text, Some(20));
        assert!(shown.contains("(15 lines above)") && shown.contains("(16 lines below)"));
        assert!(shown.contains("   20 | k20: v") && !shown.contains("k14:"));
        assert_eq!(excerpt(&text, None).lines().count(), HEAD + 1);
    }

    #[test]
    fn messages_lose_the_values_of_data_blocks() {
        let document =
            serde_json::json!({"data": {"password": "c2VjcmV0"}, "stringData": {"n": 12345}});
        let message = "data.password: invalid base64 \"c2VjcmV0\"; stringData.n: 12345 on line 5";
        assert_eq!(
            mask_values(message, &document),
            "data.password: invalid base64 \"***\"; stringData.n: *** on line 5"
        );
    }
}
