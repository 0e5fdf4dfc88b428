//! posd as a library: the daemon's services, its HTTP API and its start-up, which the `posd`
//! binary runs ([`serve()`]) and the tests drive directly.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod barcodes;
pub mod bus;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod devices;
pub mod health;
pub mod idempotency;
pub mod ops;
pub mod pickup;
pub mod print;
pub mod printout;
pub mod project;
pub mod scanners;
pub mod serve;
pub mod sessions;
pub mod staff;
pub mod stock;
pub mod throttle;
pub mod till;
pub mod web;

use pos_core::keys::Algorithm;
use std::path::PathBuf;
use std::sync::Arc;

/// Why `posd init`, `posd serve` or `posd demo` stopped.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A directory or file of the data directory cannot be written.
    #[error("{path}: {source}")]
    Files {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `posd init` on a data directory that has a key already.
    #[error("{0} exists: refusing to replace a signing key")]
    KeyExists(PathBuf),
    /// The signing key cannot be written.
    #[error("signing key: {0}")]
    Key(#[from] pos_core::keys::KeyError),
    /// The journal cannot be created.
    #[error("journal: {0}")]
    Journal(#[from] pos_core::journal::JournalError),
    /// A store the demo fills cannot be written.
    #[error("ops.db: {0}")]
    Ops(#[from] rusqlite::Error),
    /// The demo's stock cannot be written.
    #[error("stock.db: {0}")]
    Stock(#[from] shop_sync::ledger::LedgerError),
    /// A PIN cannot be hashed.
    #[error(transparent)]
    Pin(#[from] auth::PinHashError),
    /// The async runtime or a thread cannot start.
    #[error("cannot start: {0}")]
    Runtime(#[source] std::io::Error),
    /// The daemon's stores cannot be opened.
    #[error(transparent)]
    Start(#[from] app::StartError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The printer's address is not one.
    #[error("printer: {0}")]
    Printer(#[from] drivers::transport::AddressError),
    /// A journal commit could not be made durable: posd stops for the journal to be reopened.
    #[error(
        "a journal commit could not be made durable: posd stopped so that the journal is \
         reopened (start it again; a service manager does)"
    )]
    MustReopen,
}

/// This software's identity in the journal and on receipts.
pub fn software() -> pos_core::body::Software {
    pos_core::body::Software {
        name: "posd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Creates the data directory, an Ed25519 key (0600) and the journal.
pub fn init(config: &config::Config) -> Result<(), DaemonError> {
    init_with(config, Algorithm::Ed25519)
}

/// Creates the data directory, a key of `algorithm` (0600) and the journal.
pub fn init_with(config: &config::Config, algorithm: Algorithm) -> Result<(), DaemonError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| DaemonError::Files {
        path: config.data_dir.clone(),
        source,
    })?;
    let key_path = config.key_path();
    if key_path.exists() {
        return Err(DaemonError::KeyExists(key_path));
    }
    let key = pos_core::keys::KeyPair::generate_for(algorithm);
    key.save(&key_path)?;
    let journal = pos_core::journal::Journal::create(
        &config.journal_path(),
        key,
        config.opening(),
        pos_core::journal::JournalOptions::default(),
    )?;
    journal.close();
    tracing::info!(
        journal = %config.journal_path().display(),
        key = %key_path.display(),
        "journal created"
    );
    Ok(())
}

/// Runs the daemon until SIGINT or SIGTERM. `ready` is told the bound address.
pub fn serve(
    config: config::Config,
    ready: Option<Box<dyn FnOnce(std::net::SocketAddr) + Send>>,
) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    runtime.block_on(serve_async(config, ready))
}

async fn serve_async(
    config: config::Config,
    ready: Option<Box<dyn FnOnce(std::net::SocketAddr) + Send>>,
) -> Result<(), DaemonError> {
    let listen = config.api.listen.clone();
    let app = tokio::task::spawn_blocking(move || app::App::start(config))
        .await
        .map_err(|e| DaemonError::Runtime(std::io::Error::other(e)))??;
    let app = Arc::new(app);
    app::App::spawn_projector(&app).map_err(DaemonError::Runtime)?;
    if app.start_pending.lock().is_ok_and(|p| p.is_some()) {
        // The clock read too far ahead of the journal: the start is journaled once a manager
        // confirms the date (the API does it then) or the clock is corrected (seen here).
        let app = app.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
            loop {
                every.tick().await;
                let app = app.clone();
                match tokio::task::spawn_blocking(move || app.finish_start()).await {
                    Ok(true) => {}
                    _ => break,
                }
            }
        });
    }
    for shop in &app.stock.shops {
        tracing::info!(shop = %shop.name, "online shop sync started");
        tokio::spawn(shop.clone().run());
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| DaemonError::Listen {
            addr: listen.clone(),
            source,
        })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(app::SESSION_SWEEP);
            loop {
                tokio::select! {
                    _ = every.tick() => app.end_idle_sessions().await,
                    _ = stop.changed() => break,
                }
            }
        });
    }
    tokio::spawn(health::watch(
        app.clone(),
        health::WATCH_INTERVAL,
        stop_rx.clone(),
    ));
    tokio::spawn(backup::worker::worker(app.backup_parts(), stop_rx.clone()));
    let worker = match &app.config.printer {
        Some(p) => {
            let address = p.address.parse::<drivers::transport::PrinterAddress>()?;
            Some(tokio::spawn(print::run(
                app.printing.clone(),
                address,
                stop_rx,
            )))
        }
        None => None,
    };
    for s in app.config.scanners.clone() {
        tokio::spawn(scanners::run(app.clone(), s));
    }
    tracing::info!(%addr, "posd listening");
    if !addr.ip().is_loopback() && !app.config.api.tls_proxy {
        // posd speaks plain HTTP: its bearer tokens and PINs cross the network as they are.
        tracing::warn!(
            %addr,
            "listening beyond this machine without TLS: put a TLS proxy in front, or listen on 127.0.0.1"
        );
    }
    if let Some(r) = ready {
        r(addr);
    }
    let router = api::router(app.clone());
    let reopen = {
        let app = app.clone();
        async move { app.till.journal_reopen.notified().await }
    };
    let max_connections = app.config.api.max_connections;
    serve::serve(listener, router, max_connections, async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            _ = reopen => {}
        }
    })
    .await;
    // A commit could be neither made durable nor settled: only a new start, which reopens the
    // journal, tells what it holds (and prints what it holds).
    let reopen = app.till.journal.as_ref().is_some_and(|j| j.needs_reopen());
    tracing::info!("stopping: finishing print jobs");
    let _ = stop_tx.send(true);
    if let Some(w) = worker {
        if tokio::time::timeout(std::time::Duration::from_secs(15), w)
            .await
            .is_err()
        {
            tracing::warn!("print jobs left in the queue (they print at the next start)");
        }
    }
    if reopen {
        tracing::error!("stopped: the journal must be reopened");
        return Err(DaemonError::MustReopen);
    }
    app.journal_event(pos_core::events::SOFTWARE_STOPPED, "posd stopped")
        .await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
