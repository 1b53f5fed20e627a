//! What `/proc` says about the processes a stack started: the tree below a pid, whether
//! one is alive, its name, memory and descriptors. Used by the CLI test (nothing is left
//! behind) and the soak (RSS and descriptors of every process). Linux only; elsewhere every
//! answer is empty.

/// Every process below `pid` (children, grandchildren, …), from
/// `/proc/<pid>/task/<tid>/children`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                out.push(child);
                stack.push(child);
            }
        }
    }
    out
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// A readable name: the executable's file name, or `node <script>` for Node.
pub fn name(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let parts: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
    match parts.first().map(|p| base(p)).as_deref() {
        Some("node") => parts
            .get(1)
            .map(|s| format!("node {}", base(s)))
            .unwrap_or_else(|| "node".into()),
        Some("") | None => format!("pid {pid}"),
        Some(exe) => exe.to_owned(),
    }
}

/// Resident memory, KiB (0 when unknown).
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors (0 when unknown).
pub fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_seen() {
        let me = std::process::id();
        assert!(alive(me));
        assert!(rss_kb(me) > 0);
        assert!(fds(me) > 0);
        assert!(!name(me).is_empty());
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        assert!(descendants(me).contains(&child.id()));
        // Between fork and exec the name is not known yet.
        let started = std::time::Instant::now();
        while name(child.id()) != "sleep" && started.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(name(child.id()), "sleep");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive(child.id()));
    }
}
