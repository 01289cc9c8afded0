//! CPUs as in production, where Temporal has machines of its own: the Temporal dev server alone
//! on CPU 0, everything else (the control plane, the benchmark, and the operator and workers it
//! starts later, which inherit its CPU) on CPU 1. Linux only, with `taskset` (util-linux).
#![allow(dead_code)]

use std::{path::Path, process::Command};

/// Every process whose command line contains all of `parts`.
fn processes_with(parts: &[&str]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            parts.iter().all(|p| cmdline.contains(p))
        })
        .collect()
}

/// Puts every thread of `pid` on `cpu`.
fn pin(pid: u32, cpu: u32) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pins the dev server listening on `temporal_port` to CPU 0, and this process and the
/// control plane whose files are under `cluster_dir` to CPU 1. Returns what it pinned.
pub fn like_production(temporal_port: u16, cluster_dir: &Path) -> String {
    let port = format!("--port {temporal_port} ");
    let temporal = processes_with(&["server start-dev", &port]);
    assert!(
        !temporal.is_empty(),
        "no dev server on port {temporal_port}"
    );
    let dir = cluster_dir.to_string_lossy();
    let cluster = processes_with(&[&dir]);
    let mut rest = vec![std::process::id()];
    rest.extend(&cluster);
    for pid in &rest {
        assert!(pin(*pid, 1), "taskset of {pid}");
    }
    for pid in &temporal {
        assert!(pin(*pid, 0), "taskset of {pid}");
    }
    format!(
        "Temporal dev server (pid {temporal:?}) on CPU 0; the benchmark and {} control-plane processes on CPU 1",
        cluster.len()
    )
}
