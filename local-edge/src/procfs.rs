//! What `/proc` says about the processes a stack started: the tree below a pid, whether
//! one is alive, its name, memory and descriptors, and whether it holds a given TCP socket.
//! Used by the CLI test (nothing is left behind), the soak (RSS and descriptors of every
//! process) and the Runtime API (only the environment's own process is served). Linux only;
//! elsewhere every answer is empty.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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

/// An address as `/proc/net/tcp{,6}` writes it: the address's bytes as native-endian 32-bit
/// words in hex, `:`, the port in hex.
fn proc_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<Vec<u32>>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The inode of the TCP socket whose own address is `from` and whose peer is `to`.
fn tcp_socket_inode(from: SocketAddr, to: SocketAddr) -> Option<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(table).ok()?;
        text.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote) = (proc_address(fields.get(1)?)?, proc_address(fields.get(2)?)?);
            (local == from && remote == to).then(|| fields.get(9)?.parse().ok())?
        })
    })
}

/// Whether process `pid` holds the TCP socket connected from `from` to `to` (the peer of a
/// connection accepted on `to`).
pub fn holds_tcp_socket(pid: u32, from: SocketAddr, to: SocketAddr) -> bool {
    let Some(inode) = tcp_socket_inode(from, to) else {
        return false;
    };
    let socket = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == socket.as_str()))
    })
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

    #[test]
    fn a_socket_is_found_in_the_process_that_holds_it_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        let to = listener.local_addr().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(holds_tcp_socket(std::process::id(), peer, to));
        assert!(!holds_tcp_socket(1, peer, to), "not another process's");
        if cfg!(target_endian = "little") {
            assert_eq!(
                proc_address("0100007F:1F90"),
                Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
            );
        }
    }
}
