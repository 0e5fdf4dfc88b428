//! posd as a library: the daemon's services, its HTTP API and its start-up, which the `posd`
//! binary runs ([`serve`]) and the tests drive directly.

pub mod api;
pub mod app;
pub mod auth;
pub mod barcodes;
pub mod bus;
pub mod catalog;
pub mod config;
pub mod demo;
pub mod health;
pub mod idempotency;
pub mod ops;
pub mod print;
pub mod printout;
pub mod project;
pub mod scanners;
pub mod serve;
pub mod sessions;
pub mod stock;
pub mod throttle;
pub mod till;

use pos_core::keys::Algorithm;
use std::sync::Arc;

/// This software's identity in the journal and on receipts.
pub fn software() -> pos_core::body::Software {
    pos_core::body::Software {
        name: "posd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Creates the data directory, an Ed25519 key (0600) and the journal.
pub fn init(config: &config::Config) -> Result<(), String> {
    init_with(config, Algorithm::Ed25519)
}

/// Creates the data directory, a key of `algorithm` (0600) and the journal.
pub fn init_with(config: &config::Config, algorithm: Algorithm) -> Result<(), String> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let key_path = config.key_path();
    if key_path.exists() {
        return Err(format!(
            "{} exists: refusing to replace a signing key",
            key_path.display()
        ));
    }
    let key = pos_core::keys::KeyPair::generate_for(algorithm);
    key.save(&key_path).map_err(|e| e.to_string())?;
    let journal = pos_core::journal::Journal::create(
        &config.journal_path(),
        key,
        config.opening(),
        pos_core::journal::JournalOptions::default(),
    )
    .map_err(|e| e.to_string())?;
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
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(serve_async(config, ready))
}

async fn serve_async(
    config: config::Config,
    ready: Option<Box<dyn FnOnce(std::net::SocketAddr) + Send>>,
) -> Result<(), String> {
    let listen = config.api.listen.clone();
    let app = tokio::task::spawn_blocking(move || app::App::start(config))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let app = Arc::new(app);
    app::App::spawn_projector(&app)?;
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
    for shop in &app.shops {
        tracing::info!(shop = %shop.name, "online shop sync started");
        tokio::spawn(shop.clone().run());
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
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
    let worker = match &app.config.printer {
        Some(p) => {
            let address = p
                .address
                .parse::<drivers::transport::PrinterAddress>()
                .map_err(|e| e.to_string())?;
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
    if !addr.ip().is_loopback() {
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
        return Err(
            "a journal commit could not be made durable: posd stopped so that the \
                    journal is reopened (start it again; a service manager does)"
                .into(),
        );
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
