//! Test peers: a real emupos printer emulator started per test on free loopback ports and a
//! private temp dir, killed when the test ends.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The emupos binary: `$EMUPOS_BIN`, else `<workspace>/.venv/emupos/bin/emupos`. Missing is a
/// failure, not a skip: CI installs it (scripts/install-emupos.sh).
pub fn emupos_bin() -> PathBuf {
    let path = std::env::var_os("EMUPOS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/emupos/bin/emupos")
        });
    assert!(
        path.exists(),
        "emupos not found at {} (set EMUPOS_BIN, or run scripts/install-emupos.sh)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

pub struct Emupos {
    child: Child,
    pub dir: tempfile::TempDir,
    pub api_port: u16,
    pub tcp_port: u16,
    pub pty_link: PathBuf,
    pub scanner_link: PathBuf,
}

pub const DEVICE: &str = "front";
/// The emulated serial scanner: it ends each scan with CR only.
pub const SCANNER: &str = "lane";

impl Emupos {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let api_port = free_port();
        let mut tcp_port = free_port();
        while tcp_port == api_port {
            tcp_port = free_port();
        }
        let config = format!(
            "schema: 1\n\
             api: {{ port: {api_port} }}\n\
             devices:\n\
             \x20 - id: {DEVICE}\n\
             \x20   type: printer\n\
             \x20   profile: epson-tm-t20iii\n\
             \x20   job_idle_timeout_ms: 500\n\
             \x20   receipts_dir: ./receipts\n\
             \x20   connections:\n\
             \x20     - tcp: {{ port: {tcp_port} }}\n\
             \x20     - serial: {{ pty: true, link: front-pty }}\n\
             \x20 - id: {SCANNER}\n\
             \x20   type: scanner\n\
             \x20   mode: serial\n\
             \x20   suffix: enter\n\
             \x20   connections:\n\
             \x20     - serial: {{ pty: true, link: lane-pty }}\n"
        );
        std::fs::write(dir.path().join("emupos.yaml"), config).expect("write config");
        let child = spawn(dir.path());
        let pty_link = dir.path().join("emupos").join("front-pty");
        let scanner_link = dir.path().join("emupos").join("lane-pty");
        let emupos = Self {
            child,
            dir,
            api_port,
            tcp_port,
            pty_link,
            scanner_link,
        };
        emupos.wait_ready();
        emupos
    }

    /// Power cycle: stop the emulator and start it again on the same ports, links and receipts
    /// directory (faults and drawer state are lost, as on a real printer).
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.dir.path());
        self.wait_ready();
    }

    /// Stops the emulator (the printer is switched off).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let healthy = self
                .try_http("GET", "/api/v1/health")
                .map(|(status, _)| status == 200)
                .unwrap_or(false);
            if healthy
                && self.pty_link.exists()
                && self.scanner_link.exists()
                && TcpStream::connect(("127.0.0.1", self.tcp_port)).is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "emupos did not start; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emupos.log")).unwrap_or_default()
    }

    pub fn tcp_address(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.tcp_port)
    }

    fn try_http(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        self.try_http_body(method, path, "")
    }

    fn try_http_body(
        &self,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.api_port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/json\r\n"
        };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.api_port,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// A control API call; panics on a non-2xx answer.
    pub fn api(&self, method: &str, path: &str) -> String {
        let (status, body) = self.try_http(method, path).expect("control API reachable");
        assert!(
            (200..300).contains(&status),
            "{method} {path} -> {status}: {body}"
        );
        body
    }

    /// Makes the emulated serial scanner scan `data` now.
    pub fn scan(&self, data: &str) {
        let body = serde_json::json!({ "data": data, "countdown_seconds": 0 }).to_string();
        let path = format!("/api/v1/devices/{SCANNER}/scans");
        let (status, answer) = self
            .try_http_body("POST", &path, &body)
            .expect("control API reachable");
        assert!(
            (200..300).contains(&status),
            "POST {path} -> {status}: {answer}"
        );
    }

    pub fn set_fault(&self, fault: &str, active: bool) {
        let method = if active { "PUT" } else { "DELETE" };
        self.api(method, &format!("/api/v1/devices/{DEVICE}/faults/{fault}"));
    }

    pub fn close_drawer(&self) {
        self.api("POST", &format!("/api/v1/devices/{DEVICE}/drawer/close"));
    }

    pub fn state(&self) -> serde_json::Value {
        let body = self.api("GET", &format!("/api/v1/devices/{DEVICE}"));
        let device: serde_json::Value = serde_json::from_str(&body).expect("device JSON");
        device["state"].clone()
    }

    pub fn drawer_state(&self) -> String {
        self.state()["drawer"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Decoded text of every completed receipt, oldest first.
    pub fn receipts(&self) -> Vec<String> {
        let dir = self.dir.path().join("receipts");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        // The metadata file is written last: a receipt is complete once it exists.
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
            .collect();
        ids.sort();
        ids.iter()
            .map(|id| std::fs::read_to_string(dir.join(format!("{id}.txt"))).expect("receipt text"))
            .collect()
    }

    /// Waits until `count` receipts are complete (at most 15 s) and returns them.
    pub fn wait_receipts(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let receipts = self.receipts();
            if receipts.len() >= count {
                return receipts;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} receipts, got {}; log:\n{}",
                receipts.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn spawn(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("emupos.log"))
        .expect("log file");
    Command::new(emupos_bin())
        .args(["run", "--config", "emupos.yaml"])
        .current_dir(dir)
        // The pty link goes to $TMPDIR/emupos/<link>: keep it private to this test.
        .env("TMPDIR", dir)
        .env("COLUMNS", "200")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("spawn emupos")
}

impl Drop for Emupos {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
