//! What the benchmark binaries share: knobs from the environment and readings from `/proc`.

/// `name` from the environment, parsed, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of a process in KiB (0 if it is gone).
pub fn rss_kib(pid: impl std::fmt::Display) -> u64 {
    status_field(pid, "VmRSS:", 1).unwrap_or(0)
}

/// Word `word` of the line of `/proc/PID/status` that starts with `key`, parsed.
pub fn status_field<T: std::str::FromStr>(
    pid: impl std::fmt::Display,
    key: &str,
    word: usize,
) -> Option<T> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(word)?
        .parse()
        .ok()
}
