//! The Raspberry Pi kernel command line (`cmdline.txt`): the cgroup flags microk8s needs, and
//! the one edit that adds them where the firmware reads them: the end of the first line.
//! The firmware ignores every line after the first, so flags there do nothing.

/// The flags microk8s needs on a Raspberry Pi, in the order they are appended.
pub const CGROUP_FLAGS: [&str; 3] = [
    "cgroup_enable=cpuset",
    "cgroup_enable=memory",
    "cgroup_memory=1",
];

/// Where the boot partition keeps the command line: current images first, older ones second.
pub const CMDLINE_PATHS: [&str; 2] = ["/boot/firmware/cmdline.txt", "/boot/cmdline.txt"];

/// What the first line lacks, and where else the missing flags were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupFlags {
    /// Flags missing from the first line.
    pub missing: Vec<&'static str>,
    /// Missing flags found on a later line (1-based line number), where they have no effect.
    pub misplaced: Vec<(&'static str, usize)>,
}

impl CgroupFlags {
    pub fn of(text: &str) -> Self {
        let mut lines = text.lines();
        let first: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        let later: Vec<(usize, Vec<&str>)> = lines
            .enumerate()
            .map(|(i, line)| (i + 2, line.split_whitespace().collect()))
            .collect();
        let missing: Vec<&'static str> = CGROUP_FLAGS
            .into_iter()
            .filter(|flag| !first.contains(flag))
            .collect();
        let misplaced = missing
            .iter()
            .filter_map(|flag| {
                later
                    .iter()
                    .find(|(_, words)| words.contains(flag))
                    .map(|(line, _)| (*flag, *line))
            })
            .collect();
        CgroupFlags { missing, misplaced }
    }

    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Whether a running kernel's command line (`/proc/cmdline`) has every flag.
pub fn booted_with_flags(proc_cmdline: &str) -> bool {
    let words: Vec<&str> = proc_cmdline.split_whitespace().collect();
    CGROUP_FLAGS.iter().all(|flag| words.contains(flag))
}

/// `text` with the missing flags appended to the end of its first line; every other byte,
/// including the line ending and later lines, stays as it was. Unchanged when complete.
pub fn with_cgroup_flags(text: &str) -> String {
    let missing = CgroupFlags::of(text).missing;
    if missing.is_empty() {
        return text.to_owned();
    }
    let (first, rest) = match text.find('\n') {
        Some(end) => text.split_at(end),
        None => (text, ""),
    };
    let (content, carriage_return) = match first.strip_suffix('\r') {
        Some(content) => (content, "\r"),
        None => (first, ""),
    };
    let content = content.trim_end();
    let separator = if content.is_empty() { "" } else { " " };
    format!(
        "{content}{separator}{}{carriage_return}{rest}",
        missing.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: &str =
        "console=serial0,115200 console=tty1 root=LABEL=writable rootwait fixrtc quiet splash\n";

    #[test]
    fn appends_to_the_end_of_the_first_line_only() {
        let fixed = with_cgroup_flags(FRESH);
        assert_eq!(
            fixed,
            "console=serial0,115200 console=tty1 root=LABEL=writable rootwait fixrtc quiet splash cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n"
        );
        assert_eq!(fixed.lines().count(), 1);
        assert!(CgroupFlags::of(&fixed).complete());
        assert_eq!(
            with_cgroup_flags(&fixed),
            fixed,
            "a second run changes nothing"
        );
    }

    #[test]
    fn flags_on_the_second_line_do_not_count_and_are_reported() {
        let text = "console=tty1 root=/dev/mmcblk0p2 rootwait\ncgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n";
        let flags = CgroupFlags::of(text);
        assert_eq!(flags.missing, CGROUP_FLAGS);
        assert_eq!(flags.misplaced.len(), 3);
        assert!(flags.misplaced.iter().all(|(_, line)| *line == 2));
        let fixed = with_cgroup_flags(text);
        assert!(fixed.starts_with("console=tty1 root=/dev/mmcblk0p2 rootwait cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n"));
        assert!(fixed.ends_with("\ncgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n"));
    }

    #[test]
    fn adds_only_what_is_missing_and_keeps_line_endings() {
        let text = "root=/dev/sda2 cgroup_memory=1 \r\nsecond\r\n";
        let fixed = with_cgroup_flags(text);
        assert_eq!(
            fixed,
            "root=/dev/sda2 cgroup_memory=1 cgroup_enable=cpuset cgroup_enable=memory\r\nsecond\r\n"
        );
        assert_eq!(
            with_cgroup_flags("rootwait"),
            "rootwait cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1"
        );
        assert_eq!(with_cgroup_flags(""), CGROUP_FLAGS.join(" "));
        // `cgroup_enable=memoryx` is not the flag.
        assert_eq!(CgroupFlags::of("cgroup_enable=memoryx").missing.len(), 3);
    }

    #[test]
    fn the_running_kernel_is_checked_separately() {
        assert!(booted_with_flags(
            "coherent_pool=1M cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1 quiet"
        ));
        assert!(!booted_with_flags(FRESH));
    }
}
