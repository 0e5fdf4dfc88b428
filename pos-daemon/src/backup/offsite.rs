//! Off-site copies: the newest good snapshot sent to another machine (SFTP) or an
//! S3-compatible store by restic, which encrypts it before it leaves the till (AES-256,
//! authenticated) and keeps its own retention. posd drives the `restic` command: the password
//! is read by restic from its file (never on a command line, never logged).
//!
//! A lost password is a lost backup: restic cannot decrypt a repository without it.

use crate::config::OffsiteConfig;
use std::path::Path;
use std::process::Command;

/// Why an off-site copy failed.
#[derive(Debug, thiserror::Error)]
pub enum OffsiteError {
    /// restic could not be started.
    #[error("restic cannot be started ({program}): {source}")]
    Start {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// restic failed.
    #[error("restic {what} failed: {said}")]
    Failed {
        /// Which command.
        what: &'static str,
        /// The last lines it wrote.
        said: String,
    },
}

/// The repository, as restic is told it.
pub struct Offsite<'a> {
    config: &'a OffsiteConfig,
}

/// The last lines of what a command wrote (error messages), without ssh's host-key notices.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("Permanently added"))
        .collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

impl<'a> Offsite<'a> {
    /// The repository of `config`.
    pub fn new(config: &'a OffsiteConfig) -> Self {
        Offsite { config }
    }

    /// A restic command on the repository.
    fn restic(&self) -> Command {
        let mut c = Command::new(&self.config.restic);
        c.arg("--repo")
            .arg(&self.config.repository)
            .arg("--password-file")
            .arg(&self.config.password_file)
            // No cache in the user's home: the till's disk holds the stores, not copies.
            .arg("--no-cache");
        if let Some(sftp) = &self.config.sftp_command {
            c.arg("--option").arg(format!("sftp.command={sftp}"));
        }
        c.stdin(std::process::Stdio::null());
        c
    }

    fn run(&self, what: &'static str, args: &[&str]) -> Result<Vec<u8>, OffsiteError> {
        let out = self
            .restic()
            .args(args)
            .output()
            .map_err(|source| OffsiteError::Start {
                program: self.config.restic.display().to_string(),
                source,
            })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(OffsiteError::Failed {
                what,
                said: tail(&out.stderr),
            })
        }
    }

    /// Creates the repository when there is none yet.
    fn ensure_repository(&self) -> Result<(), OffsiteError> {
        match self.run("cat config", &["cat", "config"]) {
            Ok(_) => Ok(()),
            Err(OffsiteError::Failed { said, .. })
                if said.contains("Is there a repository") || said.contains("does not exist") =>
            {
                self.run("init", &["init"]).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Sends the snapshot in `dir`, tagged with its name, for host `register`; returns restic's
    /// id of it. Then lets restic forget what the retention rule lets go.
    pub fn send(
        &self,
        dir: &Path,
        name: &str,
        register: &str,
        keep_daily: u32,
        keep_monthly: u32,
    ) -> Result<String, OffsiteError> {
        self.ensure_repository()?;
        let path = dir.to_string_lossy().to_string();
        let tag = format!("snapshot={name}");
        let out = self.run(
            "backup",
            &[
                "backup", "--json", "--host", register, "--tag", "posd", "--tag", &tag, &path,
            ],
        )?;
        let id = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message_type"] == "summary")
            .and_then(|v| v["snapshot_id"].as_str().map(str::to_string))
            .unwrap_or_default();
        let (daily, monthly) = (keep_daily.max(1).to_string(), keep_monthly.to_string());
        // The newest is always kept (--keep-last 1); the yearly ones all are.
        self.run(
            "forget",
            &[
                "forget",
                "--host",
                register,
                "--tag",
                "posd",
                "--keep-last",
                "1",
                "--keep-daily",
                &daily,
                "--keep-monthly",
                &monthly,
                "--keep-yearly",
                "1000",
                "--prune",
            ],
        )?;
        Ok(id)
    }

    /// The names of the snapshots the repository holds for `register`.
    pub fn snapshots(&self, register: &str) -> Result<Vec<String>, OffsiteError> {
        let out = self.run("snapshots", &["snapshots", "--json", "--host", register])?;
        let list: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|s| s["tags"].as_array())
            .flat_map(|tags| tags.iter().filter_map(|t| t.as_str()))
            .filter_map(|t| t.strip_prefix("snapshot="))
            .map(str::to_string)
            .collect())
    }
}
