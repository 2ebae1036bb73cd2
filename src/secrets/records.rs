//! The record files of a state dir, beside the values: when each value changed, the generation
//! of each Secret, and the audit log. Their text formats, parsed and written here.

use std::collections::BTreeMap;

/// The log of rotations, restores and reveals: appended to, never compared or replaced.
pub const AUDIT_LOG: &str = "audit.log";
/// When each value was generated, rotated or restored (`<unix seconds> <path>` per line), so
/// the date survives `pull` and `import`, which rewrite the files.
pub const CHANGED: &str = "changed";
/// How many times each Kubernetes Secret's values were replaced (`<n> <secret>` per line).
/// Rendered as the Secret's generation annotation, so a state dir copied before a rotation is
/// known to be older than the cluster.
pub const GENERATIONS: &str = "generations";

/// The generations of a [`GENERATIONS`] file; bad lines are skipped.
pub fn parse_generations(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (generation, secret) = line.split_once(' ')?;
            Some((secret.to_owned(), generation.parse().ok()?))
        })
        .collect()
}

/// The dates of a [`CHANGED`] file (from this state dir or an export); bad lines are skipped.
pub fn parse_dates(text: &str) -> BTreeMap<String, time::OffsetDateTime> {
    text.lines()
        .filter_map(|line| {
            let (seconds, relative) = line.split_once(' ')?;
            let at = time::OffsetDateTime::from_unix_timestamp(seconds.parse().ok()?).ok()?;
            Some((relative.to_owned(), at))
        })
        .collect()
}

/// `2026-11-21T20-30-05Z`: a history directory name that sorts by time and needs no quoting.
pub fn history_stamp(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A [`CHANGED`] file with `dates`, sorted by path.
pub fn format_dates(dates: &BTreeMap<String, time::OffsetDateTime>) -> String {
    dates
        .iter()
        .map(|(relative, at)| format!("{} {relative}\n", at.unix_timestamp()))
        .collect()
}

/// A [`GENERATIONS`] file with `generations`; a Secret never replaced (0) has no line.
pub fn format_generations(generations: &BTreeMap<String, u64>) -> String {
    generations
        .iter()
        .filter(|(_, generation)| **generation > 0)
        .map(|(secret, generation)| format!("{generation} {secret}\n"))
        .collect()
}

/// One line of the [`AUDIT_LOG`]: when, who and what.
pub fn audit_line(at: time::OffsetDateTime, user: &str, event: &str) -> String {
    format!("{} {user}: {event}\n", history_stamp(at))
}

/// `local` with the lines of `other` (another copy of the audit log, from an export) that it
/// lacks, in time order, and how many were added; None when nothing is. A line that occurs twice
/// in `other` and once in `local` is added once.
pub fn merge_audit(local: &str, other: &str) -> Option<(String, usize)> {
    let mut unmatched: Vec<&str> = local.lines().collect();
    let mut added = Vec::new();
    for line in other.lines().filter(|l| !l.is_empty()) {
        match unmatched.iter().position(|l| *l == line) {
            Some(index) => {
                unmatched.swap_remove(index);
            }
            None => added.push(line),
        }
    }
    if added.is_empty() {
        return None;
    }
    let mut merged: Vec<&str> = local.lines().chain(added.iter().copied()).collect();
    // Lines start with a sortable UTC stamp; the sort is stable for equal stamps.
    merged.sort_by_key(|line| line.split(' ').next().unwrap_or_default().to_owned());
    let mut text = merged.join("\n");
    text.push('\n');
    Some((text, added.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_generations_round_trip_and_skip_bad_lines() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let dates = BTreeMap::from([("b/pw".to_owned(), at), ("a/salt".to_owned(), at)]);
        let text = format_dates(&dates);
        assert_eq!(text, "1700000000 a/salt\n1700000000 b/pw\n");
        assert_eq!(parse_dates(&format!("{text}garbage\nx y\n")), dates);
        let generations = BTreeMap::from([("lnd-tls".to_owned(), 2), ("lnd-wallet".to_owned(), 0)]);
        assert_eq!(format_generations(&generations), "2 lnd-tls\n");
        assert_eq!(
            parse_generations("2 lnd-tls\nnot-a-number s\n"),
            BTreeMap::from([("lnd-tls".to_owned(), 2)])
        );
    }

    #[test]
    fn audit_lines_carry_a_sortable_stamp_and_merge_once() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            audit_line(at, "me", "rotated lnd-tls"),
            "2023-11-14T22-13-20Z me: rotated lnd-tls\n"
        );
        let local = "2026-01-02T00-00-00Z me: b\n2026-01-02T00-00-00Z me: b\n";
        let other = "2026-01-01T00-00-00Z me: a\n2026-01-02T00-00-00Z me: b\n\n";
        assert_eq!(
            merge_audit(local, other),
            Some((
                "2026-01-01T00-00-00Z me: a\n2026-01-02T00-00-00Z me: b\n2026-01-02T00-00-00Z me: b\n"
                    .to_owned(),
                1
            ))
        );
        assert_eq!(merge_audit(local, local), None);
    }
}
