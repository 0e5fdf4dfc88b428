//! Off-site copies with real parts: the real posd sends its snapshots with the real restic to
//! a real OpenSSH server (SFTP) on a localhost port, started here; the copies are encrypted,
//! the password never shows in posd's log, a server down is tried again until it is back, and
//! a snapshot fetched back from the server restores.
//!
//! `openssh-server` and `restic` come from Debian (`scripts/test-all.sh` installs them); their
//! absence is a failure, not a skip.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "posd-offsite-test-password-7f3a9c";

/// An OpenSSH server on a localhost port, with its own host key, accepting one client key for
/// the user running the tests (SFTP only as restic uses it).
struct Sshd {
    dir: tempfile::TempDir,
    port: u16,
    user: String,
    child: Option<Child>,
}

impl Sshd {
    fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "OpenSSH's server is missing: apt-get install openssh-server (scripts/test-all.sh does)"
        );
        let dir = tempfile::tempdir().expect("dir");
        for key in ["hostkey", "clientkey"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .status()
                .expect("ssh-keygen");
            assert!(ok.success());
        }
        std::fs::copy(
            dir.path().join("clientkey.pub"),
            dir.path().join("authorized_keys"),
        )
        .expect("authorized keys");
        // sshd's privilege separation directory (absent on a machine that never ran it).
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = emupos::free_port();
        let d = dir.path().display();
        std::fs::write(
            dir.path().join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
                 Subsystem sftp internal-sftp\nPidFile {d}/sshd.pid\n"
            ),
        )
        .expect("sshd_config");
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
            .expect("user")
            .trim()
            .to_string();
        let mut s = Sshd {
            dir,
            port,
            user,
            child: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("sshd.log")).expect("log");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn repository(&self) -> String {
        format!(
            "sftp:{}@127.0.0.1:{}/repo",
            self.user,
            self.dir.path().display()
        )
    }

    fn sftp_command(&self) -> String {
        format!(
            "ssh -p {} -i {}/clientkey -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes {}@127.0.0.1 -s sftp",
            self.port,
            self.dir.path().display(),
            self.user
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn restic() -> Command {
    let found = Command::new("restic").arg("version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "restic is missing: apt-get install restic (scripts/test-all.sh does)"
    );
    Command::new("restic")
}

/// Waits until the off-site state satisfies `until` (at most 60 s); returns it.
fn wait_offsite(posd: &Posd, until: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = posd.ok("GET", "/v1/backups", None);
        if until(&v["offsite"]) {
            return v["offsite"].clone();
        }
        assert!(Instant::now() < deadline, "off-site: {v}\n{}", posd.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn snapshots_go_off_site_encrypted_and_come_back() {
    let mut server = Sshd::start();
    let medium = tempfile::tempdir().expect("medium");
    let secrets = tempfile::tempdir().expect("secrets");
    let password_file = secrets.path().join("restic-password");
    std::fs::write(&password_file, PASSWORD).expect("password");
    let extra = format!(
        "\n[backup]\ndir = \"{}\"\n\n[backup.offsite]\nrepository = \"{}\"\npassword_file = \"{}\"\nsftp_command = \"{}\"\nretry_secs = 1\n",
        medium.path().display(),
        server.repository(),
        password_file.display(),
        server.sftp_command()
    );
    let posd = start(&extra);
    posd.sign_in("alice", CASHIER_PIN);
    for _ in 0..5 {
        posd.ok(
            "POST",
            "/v1/sales",
            Some(sale(json!({"sku": "BAGUETTE"}), 130)),
        );
    }
    let first = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    let first = first["snapshot"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let state = wait_offsite(&posd, |o| o["last_sent"] == first.as_str());
    assert!(state["last_error"].is_null(), "{state}");
    assert_eq!(state["stale"], false);
    let health = posd.ok("GET", "/v1/health", None);
    assert_eq!(health["backup"]["offsite_stale"], false, "{health}");

    // restic's own listing of the repository has it.
    let listed = restic()
        .args(["--repo", &server.repository(), "--password-file"])
        .arg(&password_file)
        .args(["--no-cache", "--option"])
        .arg(format!("sftp.command={}", server.sftp_command()))
        .args(["snapshots", "--json"])
        .output()
        .expect("restic snapshots");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&format!("snapshot={first}")),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    // Encrypted before it left: nothing of the journal is readable on the server.
    let repo = server.dir.path().join("repo");
    for f in files(&repo) {
        let bytes = std::fs::read(&f).expect("repo file");
        for clear in [
            b"73282932000074".as_slice(),
            "Œillets".as_bytes(),
            b"BAGUETTE",
        ] {
            assert!(
                !bytes.windows(clear.len()).any(|w| w == clear),
                "{} holds clear text",
                f.display()
            );
        }
    }

    // The server is down: the snapshot is taken all the same, the copy fails and is tried
    // again; back up, the copy goes.
    server.stop();
    posd.ok(
        "POST",
        "/v1/sales",
        Some(sale(json!({"sku": "BAGUETTE"}), 130)),
    );
    let second = posd.ok("POST", "/v1/backups", Some(json!({"operator": "alice"})));
    assert_eq!(second["snapshot"]["state"], "good", "{second}");
    let second = second["snapshot"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let down = wait_offsite(&posd, |o| o["last_error"].is_string());
    assert_eq!(down["last_sent"], first.as_str(), "{down}");
    server.spawn();
    let back = wait_offsite(&posd, |o| o["last_sent"] == second.as_str());
    assert!(back["last_error"].is_null(), "{back}");

    // The password never shows in the log.
    assert!(!posd.log().contains(PASSWORD), "the password is in the log");

    // Fetched back from the server, the snapshot restores on a new machine.
    let fetched = tempfile::tempdir().expect("fetched");
    let out = restic()
        .args(["--repo", &server.repository(), "--password-file"])
        .arg(&password_file)
        .args(["--no-cache", "--option"])
        .arg(format!("sftp.command={}", server.sftp_command()))
        .args(["restore", "latest", "--target"])
        .arg(fetched.path())
        .output()
        .expect("restic restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snapshot = files(fetched.path())
        .into_iter()
        .find(|p| p.ends_with("manifest.json"))
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("a snapshot fetched back");
    assert!(snapshot.ends_with(&second), "{}", snapshot.display());
    let target = tempfile::tempdir().expect("new machine");
    let out = Command::new(env!("CARGO_BIN_EXE_posd"))
        .arg("restore")
        .arg(&snapshot)
        .arg("--data")
        .arg(target.path().join("data"))
        .output()
        .expect("posd restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(target.path().join("data/journal.db").exists());
}
