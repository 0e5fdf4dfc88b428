//! `posd`, the cash-register daemon: a local HTTP/JSON API over the fiscal journal, the
//! receipt printer, the cash drawer and the scanners.
//!
//! - `posd init --config FILE [--data DIR] [--algorithm ed25519|ecdsa-p256-sha256]`: creates
//!   the data directory, the signing key (0600) and the journal with its opening record.
//! - `posd serve --config FILE`: runs the daemon.
//! - `posd demo`: a ready-to-try bakery and grocery with a temporary data directory.
//! - `posd hash-pin`: reads a PIN on standard input and prints its argon2 hash for the config.

use clap::{Parser, Subcommand};
use pos_core::keys::Algorithm;
use pos_daemon::{auth, backup, config, demo, init_with, serve, DaemonError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "posd",
    version,
    about = "Cash-register daemon: local API, journal, printer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory, the signing key and the journal.
    Init {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Overrides the configuration's data directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The signing key's algorithm: `ed25519` (the default: the fastest to sign and to
        /// verify) or `ecdsa-p256-sha256` (ECDSA P-256, where a certifier or a country asks for
        /// ECDSA). A key change can switch a journal to the other later.
        #[arg(long, default_value = "ed25519")]
        algorithm: Algorithm,
    },
    /// Run the daemon.
    Serve {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a demo shop (bakery and grocery) with a temporary data directory.
    Demo {
        /// Keep the data here instead of a temporary directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8420")]
        listen: String,
        /// Printer address (default: `file:` a receipts directory in the data directory).
        #[arg(long)]
        printer: Option<String>,
        /// API token (default: generated).
        #[arg(long)]
        token: Option<String>,
        /// A serial scanner device.
        #[arg(long)]
        scanner: Option<PathBuf>,
        /// Kick a cash drawer on pin 2 of the printer.
        #[arg(long)]
        drawer: bool,
    },
    /// Read a PIN on standard input and print its argon2 hash.
    HashPin,
    /// Print the API's OpenAPI document (the one served at `/v1/openapi.json`).
    Openapi,
    /// Take a snapshot of every store to the backup medium (`[backup] dir`) and check it;
    /// works while posd runs. With `--check`, check every snapshot on the medium again.
    Backup {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Check the snapshots on the medium instead of taking one (a byte changed since it
        /// was written shows).
        #[arg(long)]
        check: bool,
    },
    /// Restore a snapshot into a data directory (a new machine's): checked first; never over
    /// a data directory's stores unless told to; the next `posd serve` journals the restore.
    Restore {
        /// The snapshot's directory.
        snapshot: PathBuf,
        /// The data directory to restore into.
        #[arg(long)]
        data: PathBuf,
        /// An anchor file kept elsewhere (repeatable): the snapshot is compared with the chain
        /// heads it holds.
        #[arg(long)]
        anchors: Vec<PathBuf>,
        /// Move the stores the data directory holds aside (into `replaced-...`) and restore.
        #[arg(long)]
        replace: bool,
        /// Restore although the anchors show records written after the snapshot (they are
        /// lost; the restore journals which).
        #[arg(long)]
        accept_loss: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init {
            config,
            data,
            algorithm,
        } => init_cmd(&config, data, algorithm),
        Command::Serve { config } => config::Config::load(&config)
            .map_err(DaemonError::from)
            .and_then(|c| serve(c, None))
            .map_err(CommandError::from),
        Command::Demo {
            data,
            listen,
            printer,
            token,
            scanner,
            drawer,
        } => demo::run(demo::DemoOptions {
            data,
            listen,
            printer,
            token,
            scanner,
            drawer,
        })
        .map_err(CommandError::from),
        Command::HashPin => hash_pin_cmd(),
        Command::Backup { config, check } => backup_cmd(&config, check),
        Command::Restore {
            snapshot,
            data,
            anchors,
            replace,
            accept_loss,
        } => restore_cmd(snapshot, data, &anchors, replace, accept_loss),
        Command::Openapi => {
            println!("{}", pos_daemon::api::document_json());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("posd: {e}");
            ExitCode::from(2)
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    /// The daemon's own error.
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// Standard input could not be read.
    #[error("standard input: {0}")]
    Input(#[from] std::io::Error),
    /// A backup or a restore failed.
    #[error(transparent)]
    Backup(#[from] pos_daemon::backup::BackupError),
    /// A snapshot checked is not good.
    #[error("{0} snapshot(s) do not pass their check")]
    BadSnapshots(usize),
    /// An anchor file cannot be read.
    #[error(transparent)]
    Anchors(#[from] pos_core::anchor::AnchorError),
    /// The PIN typed is not one.
    #[error("a PIN is 1 to {} characters", auth::MAX_PIN_LEN)]
    BadPin,
}

fn hash_pin_cmd() -> Result<(), CommandError> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let pin = line.trim_end_matches(['\r', '\n']);
    if pin.is_empty() || pin.len() > auth::MAX_PIN_LEN {
        return Err(CommandError::BadPin);
    }
    println!("{}", auth::hash_pin(pin).map_err(DaemonError::from)?);
    Ok(())
}

fn init_cmd(path: &Path, data: Option<PathBuf>, algorithm: Algorithm) -> Result<(), CommandError> {
    let mut config = config::Config::load(path).map_err(DaemonError::from)?;
    if let Some(d) = data {
        config.data_dir = d;
    }
    Ok(init_with(&config, algorithm)?)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn backup_cmd(config: &Path, check: bool) -> Result<(), CommandError> {
    let config = config::Config::load(config).map_err(DaemonError::from)?;
    let backups = backup::Backups::new(config.backup.clone(), &config.time_zone);
    let register = config.register_id.clone();
    if check {
        let list = backups.check_all(&register, now_ms())?;
        let bad = list.iter().filter(|s| s.state != "good").count();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return if bad == 0 {
            Ok(())
        } else {
            Err(CommandError::BadSnapshots(bad))
        };
    }
    let sources = backup::sources_of(&config, &register);
    let summary = backups.take(&sources, now_ms(), "command")?;
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    );
    Ok(())
}

fn restore_cmd(
    snapshot: PathBuf,
    data: PathBuf,
    anchor_files: &[PathBuf],
    replace: bool,
    accept_loss: bool,
) -> Result<(), CommandError> {
    let mut anchors = Vec::new();
    for f in anchor_files {
        anchors.extend(pos_core::anchor::read_anchors(f)?);
    }
    let restored = backup::restore::restore(
        &backup::restore::RestoreRequest {
            snapshot,
            data_dir: data,
            anchors,
            replace,
            accept_loss,
        },
        now_ms(),
    )?;
    println!(
        "{}",
        serde_json::to_string_pretty(&restored).unwrap_or_default()
    );
    Ok(())
}
