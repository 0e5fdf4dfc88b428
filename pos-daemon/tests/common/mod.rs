//! Test harness: a real `posd` process (init, serve) on a free port with its own data
//! directory, a small blocking HTTP client, and the journal seen through pos-core's reader.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../drivers/tests/common/mod.rs"]
pub mod emupos;

pub mod conformance;

pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const CASHIER_PIN: &str = "1234";
pub const MANAGER_PIN: &str = "9999";

fn hash(pin: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string()
}

pub struct Posd {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
    /// Environment variables for the next [`Posd::spawn`].
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

/// Extra TOML appended to the configuration (printer, drawer, scanners).
pub fn start(extra: &str) -> Posd {
    start_with(extra, &[])
}

/// [`start`] with more arguments for `posd init` (`--algorithm ...`).
pub fn start_with(extra: &str, init_args: &[&str]) -> Posd {
    start_configured("", extra, init_args)
}

/// [`start_with`] with more lines in the `[api]` table.
pub fn start_configured(api: &str, extra: &str, init_args: &[&str]) -> Posd {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = emupos::free_port();
    let config = dir.path().join("posd.toml");
    let text = format!(
        r#"register_id = "CAISSE-07"
data_dir = "data"
receipt_footer = ["Merci de votre visite !"]

[merchant]
name = "Épicerie Les Œillets"
address = "12 rue de la Paix, 75002 Paris"
siret = "73282932000074"
vat_id = "FR44732829320"

[api]
listen = "127.0.0.1:{port}"
tokens = ["{TOKEN}"]
max_body_bytes = 65536
{api}

[policy]
pin_max_failures = 3
pin_lockout_secs = 60

[[operators]]
id = "alice"
name = "Alice"
role = "cashier"
pin_hash = "{}"

[[operators]]
id = "marie"
name = "Marie"
role = "manager"
pin_hash = "{}"
{extra}
"#,
        hash(CASHIER_PIN),
        hash(MANAGER_PIN)
    );
    std::fs::write(&config, text).expect("config");
    let status = Command::new(env!("CARGO_BIN_EXE_posd"))
        .args(["init", "--config"])
        .arg(&config)
        .args(init_args)
        .status()
        .expect("posd init");
    assert!(status.success(), "posd init failed");
    let mut posd = Posd {
        dir,
        config,
        port,
        env: Vec::new(),
        child: None,
    };
    posd.spawn();
    posd.seed_catalog();
    posd
}

impl Posd {
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("posd.log"))
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_posd"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn posd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = self.try_call("GET", "/v1/health", None, None) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "posd did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("posd.log")).unwrap_or_default()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.data().join("journal.db")
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to end on its own; `None` if it still runs after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.child.as_mut()?;
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().expect("wait")
    }

    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> std::io::Result<(u16, Value)> {
        self.try_call_with(method, path, body, token, &[])
    }

    /// [`Posd::try_call`] with extra request headers (name, value).
    pub fn try_call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> std::io::Result<(u16, Value)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let body = body.unwrap_or("");
        let mut extra = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        for (name, value) in headers {
            extra.push_str(&format!("{name}: {value}\r\n"));
        }
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )?;
        // A body larger than the limit may be refused before it is all sent.
        let _ = s.write_all(body.as_bytes());
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let body = serde_json::from_str(body).unwrap_or(Value::Null);
        // Every answer is what the API document says.
        if status != 0 {
            conformance::check(method, path, status, &body);
        }
        Ok((status, body))
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        self.try_call(method, path, body.as_deref(), Some(TOKEN))
            .expect("posd reachable")
    }

    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body.clone());
        assert_eq!(
            status,
            200,
            "{method} {path} {body:?} -> {v}\n{}",
            self.log()
        );
        v
    }

    pub fn sign_in(&self, who: &str, pin: &str) {
        self.ok(
            "POST",
            "/v1/operators/sign-in",
            Some(serde_json::json!({ "operator": who, "pin": pin })),
        );
    }

    fn seed_catalog(&self) {
        for p in [
            serde_json::json!({"sku":"BAGUETTE","label":"Baguette tradition","price_cents":130,"vat_rate":550,"barcodes":["3017620422003"],"track_stock":true,"stock_milli":100000}),
            serde_json::json!({"sku":"VIN","label":"Vin rouge « Côtes-du-Rhône »","price_cents":950,"vat_rate":2000,"barcodes":["96385074"]}),
            serde_json::json!({"sku":"COMTE","label":"Comté AOP 18 mois","price_cents":2490,"vat_rate":550,"unit":"kg","barcodes":["2123450"]}),
        ] {
            self.ok(
                "POST",
                "/v1/products",
                Some(serde_json::json!({ "operator": "marie", "pin": MANAGER_PIN, "product": p })),
            );
        }
    }

    /// Journal records (seq, kind) as pos-core reads them.
    pub fn records(&self) -> Vec<(u64, String)> {
        let reader = pos_core::reader::JournalReader::open(&self.journal_path()).expect("reader");
        let mut out = Vec::new();
        reader
            .for_each_from(1, |r| {
                if let Ok(r) = r {
                    out.push((r.seq, r.kind));
                }
                std::ops::ControlFlow::Continue(())
            })
            .expect("read");
        out
    }

    pub fn count_kind(&self, kind: &str) -> usize {
        self.records().iter().filter(|(_, k)| k == kind).count()
    }

    /// Waits until no job is pending or sending.
    pub fn wait_queue_drained(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.ok("GET", "/v1/print-jobs", None);
            let busy = v["jobs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .any(|j| j["state"] == "pending" || j["state"] == "sending")
                })
                .unwrap_or(true);
            if !busy {
                return;
            }
            assert!(Instant::now() < deadline, "queue not drained: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Posd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `pos-journal verify` on a journal file; returns (exit code, output).
pub fn pos_journal_verify(journal: &Path) -> (i32, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_posd"))
        .parent()
        .expect("target dir")
        .join("pos-journal");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "pos-journal", "--bin", "pos-journal"])
            .status()
            .expect("cargo build pos-journal");
        assert!(status.success());
    }
    let out = Command::new(bin)
        .arg("verify")
        .arg(journal)
        .output()
        .expect("pos-journal");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub fn sale(item: Value, cash: i64) -> Value {
    serde_json::json!({
        "operator": "alice",
        "lines": [item],
        "payments": [{ "method": "cash", "amount_cents": cash }]
    })
}

/// A client posting sales from another thread.
pub struct Probe {
    pub port: u16,
}

impl Probe {
    /// One cash sale; `Some((seq, ticket))` when acknowledged, `None` once posd is gone.
    pub fn sale(&self) -> Option<(u64, u64)> {
        let body = sale(serde_json::json!({"sku":"BAGUETTE"}), 130).to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        write!(
            s,
            "POST /v1/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut raw = String::new();
        s.read_to_string(&mut raw).ok()?;
        if !raw.starts_with("HTTP/1.1 200") {
            return None;
        }
        let v: Value = serde_json::from_str(raw.split_once("\r\n\r\n")?.1).ok()?;
        Some((v["seq"].as_u64()?, v["ticket_number"].as_u64()?))
    }
}
