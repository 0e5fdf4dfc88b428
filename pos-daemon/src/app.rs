//! The daemon's shared state, its startup (journal, `ops.db`, recovery of print jobs) and the
//! operations the API calls.

use crate::auth::PinGuard;
use crate::bus::Bus;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::ops::Ops;
use crate::print::{PrinterState, Printing};
use crate::project::{
    Additions, BackupProjection, PrintProjection, Projection, Projector, StockProjection,
};
use crate::staff::Staff;
use crate::till::{Notice, Till, TillParts};
use pos_core::barcode::BarcodeConfig;
use pos_core::body::OpeningBody;
use pos_core::journal::{Journal, JournalError, JournalOptions};
use pos_core::keys::KeyPair;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};

/// Everything the handlers and workers share.
pub struct App {
    /// The configuration.
    pub config: Arc<Config>,
    /// The printer, the drawer and the worker's wake-up ([`Printing`]).
    pub printing: Arc<Printing>,
    /// The stock ledger and the online shops ([`crate::stock::Stock`]).
    pub stock: crate::stock::Stock,
    /// The operators, who is signed in, the sessions, the PIN lock-out ([`Staff`]).
    pub staff: Staff,
    /// The scanners' state and the last scans ([`crate::devices::Devices`]).
    pub devices: crate::devices::Devices,
    /// Snapshots to the backup medium ([`crate::backup::Backups`]).
    pub backups: Arc<crate::backup::Backups>,
    /// The journal, its identity, key and clock ([`Till`]).
    pub till: Arc<Till>,
    /// Catalog and print queue.
    pub ops: Arc<Ops>,
    /// The in-memory catalog.
    pub catalog: RwLock<Catalog>,
    /// How variable-measure codes are read.
    pub barcodes: BarcodeConfig,
    /// The event stream.
    pub bus: Bus,
    /// The operators' sessions kept from the last run, while the start is not journaled yet:
    /// the clock read too far ahead of the journal at start ([`App::finish_start`]).
    pub start_pending: Mutex<Option<HashSet<String>>>,
    /// Projections added while posd runs ([`App::add_projection`]).
    projections: Additions,
    /// The projector's state and queue, until its thread starts.
    projector_start: Mutex<Option<(Projector, std::sync::mpsc::Receiver<Notice>)>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// How often `posd serve` ends the sessions left idle too long.
pub const SESSION_SWEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// The `ops.db` meta key of the merchant identity changed through the API (JSON).
pub const MERCHANT: &str = "merchant";

/// The `ops.db` meta key of training mode (`on` or `off`).
pub const TRAINING: &str = "training";
/// The `ops.db` meta key of the operators signed in (a JSON array of ids).
pub const SIGNED_IN: &str = "signed_in";

/// Why the daemon cannot start at all.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The key cannot be read.
    #[error("signing key {path}: {source}")]
    Key {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: pos_core::keys::KeyError,
    },
    /// `ops.db` cannot be opened or read.
    #[error("ops.db: {0}")]
    Ops(#[from] rusqlite::Error),
    /// `stock.db` cannot be opened or prepared.
    #[error("stock.db: {0}")]
    Stock(#[from] shop_sync::ledger::LedgerError),
    /// The configuration cannot be used as it is (checked at load: a change since).
    #[error("configuration: {0}")]
    Config(#[from] crate::barcodes::LayoutError),
    /// The journal's records past a projection's cursor could not be projected.
    #[error("recovery: {0}")]
    Recovery(#[from] crate::project::ProjectorError),
    /// The restore recorded in the data directory could not be journaled.
    #[error("restore: {0}")]
    Restore(#[from] crate::backup::BackupError),
    /// A record of the start could not be journaled.
    #[error("cannot journal {what}: {source}")]
    Journal {
        /// What.
        what: &'static str,
        /// Why.
        #[source]
        source: JournalError,
    },
    /// The journal is locked by another process (another posd is running).
    #[error("{0}")]
    Locked(JournalError),
}

impl App {
    /// Opens everything. A damaged journal does not stop the daemon: it serves the API and
    /// refuses sales with a clear error.
    pub fn start(config: Config) -> Result<App, StartError> {
        Self::start_with_clock(config, Arc::new(pos_core::journal::SystemClock))
    }

    /// [`App::start`] with the journal on another clock (tests move the day forward).
    pub fn start_with_clock(
        config: Config,
        clock: Arc<dyn pos_core::journal::Clock>,
    ) -> Result<App, StartError> {
        let key_path = config.key_path();
        let key = KeyPair::load(&key_path).map_err(|source| StartError::Key {
            path: key_path.display().to_string(),
            source,
        })?;
        let ops = Ops::open(&config.ops_path(), config.printer.is_some())?;
        let options = JournalOptions {
            anchor_path: Some(config.anchor_path()),
            clock: clock.clone(),
            clock_ahead_limit_ms: Some(
                i64::from(config.policy.clock_ahead_limit_days) * 24 * 3600 * 1000,
            ),
            ..JournalOptions::default()
        };
        let (journal, journal_error) =
            match Journal::open(&config.journal_path(), key.clone(), options) {
                Ok(j) => (Some(Arc::new(j)), None),
                Err(e @ JournalError::Locked { .. }) => return Err(StartError::Locked(e)),
                Err(e) => {
                    tracing::error!(error = %e, "the journal cannot be opened: sales are refused");
                    (None, Some(e.to_string()))
                }
            };
        let opening = match &journal {
            Some(j) => j.opening().clone(),
            None => config.opening(),
        };
        let merchant = ops
            .meta(MERCHANT)?
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_else(|| opening.merchant.clone());
        let training = ops.meta(TRAINING)?.is_some_and(|v| v == "on");
        let signed_in: HashSet<String> = ops
            .meta(SIGNED_IN)?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        // Checked when the configuration was loaded.
        let barcodes = config.barcodes.build()?;
        let products = ops.products()?;
        let ledger =
            shop_sync::ledger::Ledger::open(&config.stock_path(), config.stock.zero_stock)?;
        let ledger = Arc::new(Mutex::new(ledger));
        let legacy = ops.legacy_stock()?;
        crate::stock::prepare(
            &mut crate::stock::lock(&ledger),
            &config,
            &products,
            &legacy,
        )?;
        let mut shop_problems = Vec::new();
        let mut shops = Vec::new();
        for cfg in &config.shops.list {
            match crate::stock::ShopSync::of(
                cfg,
                ledger.clone(),
                Arc::new(shop_sync::clock::SystemClock),
            ) {
                Ok(s) => shops.push(Arc::new(s)),
                Err(e) => shop_problems.push(e.to_string()),
            }
        }
        for p in &shop_problems {
            tracing::error!(problem = %p, "online shop configuration: sales go on, sync does not");
        }
        let catalog = Catalog::new(products);
        let pins = PinGuard::new(
            config.policy.pin_max_failures,
            std::time::Duration::from_secs(config.policy.pin_lockout_secs),
        );
        let (projector, queue) = std::sync::mpsc::sync_channel(crate::project::QUEUE);
        let config = Arc::new(config);
        let till = Arc::new(Till::new(TillParts {
            journal,
            journal_error,
            opening,
            merchant,
            key,
            clock,
            projector,
            training,
        }));
        let ops = Arc::new(ops);
        let operators = operators_in_force(&config.operators, &ops)?;
        let bus = Bus::default();
        let printing = Arc::new(Printing::new(
            config.clone(),
            till.clone(),
            ops.clone(),
            bus.clone(),
        ));
        let app = App {
            stock: crate::stock::Stock::new(ledger, shops, shop_problems),
            projector_start: Mutex::new(None),
            projections: Additions::default(),
            staff: Staff::new(
                &operators,
                crate::sessions::Sessions::new(
                    config.api.session_idle_secs,
                    config.api.max_sessions,
                ),
                pins,
            ),
            devices: crate::devices::Devices::default(),
            backups: Arc::new(crate::backup::Backups::new(
                config.backup.clone(),
                &config.time_zone,
            )),
            config,
            till,
            printing,
            ops,
            catalog: RwLock::new(catalog),
            barcodes,
            bus,
            start_pending: Mutex::new(None),
        };
        if let Some(j) = &app.till.journal {
            match j.clock_ahead() {
                // posd starts, so that a manager can confirm the date through the API (or the
                // clock be corrected); the start is journaled then.
                Some(ahead) => {
                    tracing::error!(
                        %ahead,
                        "nothing is journaled until the clock is corrected or a manager \
                         confirms it (POST /v1/clock/confirm)"
                    );
                    if let Ok(mut p) = app.start_pending.lock() {
                        *p = Some(signed_in);
                    }
                }
                None => app.journal_start(j, signed_in)?,
            }
            let p = app.recover()?;
            if let Ok(mut g) = app.projector_start.lock() {
                *g = Some((p, queue));
            }
        }
        Ok(app)
    }

    /// Journals the software's start and resumes the operators' sessions.
    fn journal_start(&self, j: &Journal, signed_in: HashSet<String>) -> Result<(), StartError> {
        // A restore is the first record after the snapshot's head.
        crate::backup::restore::journal_restored(j, &self.config.data_dir)?;
        j.software_started(&crate::software())
            .map_err(|source| StartError::Journal {
                what: "the start",
                source,
            })?;
        self.resume_sessions(j, signed_in)
    }

    /// Journals a start that waited for the clock (see [`App::start_pending`]), once the clock
    /// is no longer too far ahead of the journal. Returns whether a start is still pending.
    pub fn finish_start(&self) -> bool {
        let Some(j) = self.till.journal.as_ref() else {
            return false;
        };
        let Ok(mut pending) = self.start_pending.lock() else {
            return false;
        };
        if pending.is_none() || j.clock_ahead().is_some() {
            return pending.is_some();
        }
        let signed_in = pending.take().unwrap_or_default();
        if let Err(e) = self.journal_start(j, signed_in) {
            tracing::error!(error = %e, "cannot journal the start");
        }
        false
    }

    /// Resumes the sessions kept in `ops.db`: operators no longer in the configuration are
    /// signed out (journaled); training mode stays as it was.
    fn resume_sessions(&self, j: &Journal, kept: HashSet<String>) -> Result<(), StartError> {
        let mut resumed = HashSet::new();
        for id in kept {
            if self.staff.operator(&id).is_some() {
                resumed.insert(id);
                continue;
            }
            let body = pos_core::body::EventBody {
                code: pos_core::events::OPERATOR_SIGNED_OUT.to_string(),
                message: "signed out: no longer in the configuration".to_string(),
                operator: Some(id.clone()),
                details: Default::default(),
            };
            j.append(pos_core::journal::Draft::Event(body))
                .map_err(|source| StartError::Journal {
                    what: "a sign-out",
                    source,
                })?;
            tracing::warn!(operator = %id, "signed out: no longer in the configuration");
        }
        if !resumed.is_empty() {
            tracing::info!(count = resumed.len(), "operator sessions resumed");
        }
        if self.till.training.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!("training mode resumed: tickets are training tickets");
        }
        if let Ok(mut s) = self.staff.signed_in.write() {
            *s = resumed;
        }
        Ok(self.save_sessions()?)
    }

    /// Writes the operators signed in and training mode to `ops.db`.
    pub fn save_sessions(&self) -> Result<(), rusqlite::Error> {
        let ids: Vec<String> = match self.staff.signed_in.read() {
            Ok(s) => s.iter().cloned().collect(),
            Err(p) => p.into_inner().iter().cloned().collect(),
        };
        self.ops.set_meta(
            SIGNED_IN,
            &serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into()),
        )?;
        let training = self.till.training.load(std::sync::atomic::Ordering::SeqCst);
        self.ops
            .set_meta(TRAINING, if training { "on" } else { "off" })
    }

    /// Turns jobs caught while sending into `unknown`, then projects the journal records past
    /// each projection's cursor (print jobs, stock movements).
    fn recover(&self) -> Result<Projector, StartError> {
        let unknown = self.ops.sending_to_unknown()?;
        if unknown > 0 {
            tracing::warn!(
                count = unknown,
                "print jobs were being sent when posd stopped: marked unknown, not resent"
            );
        }
        let mut p = self.new_projector()?;
        let from = p.cursor();
        let head = p.head()?;
        let added = p.project_to(head)?;
        if added > 0 {
            tracing::warn!(
                count = added,
                from = from + 1,
                "print jobs recovered from the journal"
            );
        }
        Ok(p)
    }

    /// A projector of the journal to the print and stock projections (and to those added),
    /// each from its own cursor.
    pub fn new_projector(&self) -> Result<Projector, rusqlite::Error> {
        let print = PrintProjection::new(
            self.ops.clone(),
            self.printing.clone(),
            self.till.clone(),
            self.bus.clone(),
        );
        // A ledger without a cursor of its own had its movements recorded with the print jobs.
        let stock = StockProjection::new(self.stock.ledger.clone(), self.ops.cursor()?);
        let mut others: Vec<Box<dyn Projection>> = vec![Box::new(stock)];
        if self.config.backup.as_ref().is_some_and(|b| b.after_closure) {
            let head = self.till.journal.as_ref().map_or(0, |j| j.last_seq());
            others.push(Box::new(BackupProjection::new(
                self.ops.clone(),
                self.backups.due.clone(),
                head,
            )));
        }
        Ok(Projector::new(
            self.config.journal_path(),
            print,
            others,
            self.projections.clone(),
        ))
    }

    /// Adds a projection: the projector catches it up from its cursor (0 for an empty store:
    /// the start of the journal) at its next round, then feeds it every record appended.
    pub fn add_projection(&self, projection: Box<dyn Projection>) {
        match self.projections.lock() {
            Ok(mut p) => p.push(projection),
            Err(p) => p.into_inner().push(projection),
        }
    }

    /// Starts the projector thread (once).
    pub fn spawn_projector(app: &Arc<App>) -> std::io::Result<()> {
        let taken = match app.projector_start.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some((p, rx)) = taken {
            std::thread::Builder::new()
                .name("projector".into())
                .spawn(move || crate::project::run(p, rx))?;
        }
        Ok(())
    }

    /// See [`Till::project`].
    pub fn project(&self, seq: u64) -> tokio::sync::oneshot::Receiver<Option<i64>> {
        self.till.project(seq)
    }

    /// See [`Till::appended`].
    pub fn appended(&self, seq: u64) {
        self.till.appended(seq)
    }

    /// The first online shop (the one of a till with a single shop).
    pub fn shop(&self) -> Option<Arc<crate::stock::ShopSync>> {
        self.stock.shops.first().cloned()
    }

    /// The online shop named `name`.
    pub fn shop_named(&self, name: &str) -> Option<Arc<crate::stock::ShopSync>> {
        self.stock.shops.iter().find(|s| s.name == name).cloned()
    }

    /// See [`Printing::printer_state`].
    pub fn printer_state(&self) -> PrinterState {
        self.printing.printer_state()
    }

    /// See [`Printing::drawer_state`].
    pub fn drawer_state(&self) -> &'static str {
        self.printing.drawer_state()
    }

    /// See [`Printing::paper_width`].
    pub fn paper_width(&self) -> drivers::layout::PaperWidth {
        self.printing.paper_width()
    }

    /// What the backups need of the till: the service, the till, `ops.db`, and what a
    /// snapshot copies (this till's stores, key and anchors).
    pub fn backup_parts(&self) -> crate::backup::BackupParts {
        crate::backup::BackupParts {
            backups: self.backups.clone(),
            till: self.till.clone(),
            ops: self.ops.clone(),
            sources: crate::backup::sources_of(&self.config, &self.till.opening.register_id),
        }
    }

    /// See [`Till::current_opening`].
    pub fn current_opening(&self) -> OpeningBody {
        self.till.current_opening()
    }

    /// See [`Till::journal`].
    pub fn journal(&self) -> Result<Arc<Journal>, crate::till::JournalUnavailable> {
        self.till.journal()
    }

    /// See [`Till::journal_event`].
    pub async fn journal_event(&self, code: &'static str, message: &str) {
        self.till.journal_event(code, message).await
    }

    /// Journals the end of `operator`'s session left idle too long.
    pub async fn journal_idle_session_end(&self, operator: &str) {
        let secs = self.config.api.session_idle_secs;
        self.journal_event_by(
            pos_core::events::OPERATOR_SIGNED_OUT,
            &format!("session ended after {secs} s without a request"),
            Some(operator),
        )
        .await;
    }

    /// Ends the sessions left idle too long and journals their ends (`posd serve` runs it
    /// every [`SESSION_SWEEP`]; a session used after its end is ended when it comes, too).
    pub async fn end_idle_sessions(&self) {
        let now = self.till.clock.now_ms();
        let ended = match self.staff.sessions.lock() {
            Ok(mut s) => s.sweep(now),
            Err(_) => return,
        };
        for operator in ended {
            self.journal_idle_session_end(&operator).await;
        }
    }

    /// See [`Till::journal_event_by`].
    pub async fn journal_event_by(
        &self,
        code: &'static str,
        message: &str,
        operator: Option<&str>,
    ) {
        self.till.journal_event_by(code, message, operator).await
    }
}

/// The operators in force: the configuration's, as the back office changed them in `ops.db`
/// (changed, added, or removed).
fn operators_in_force(
    configured: &[crate::config::OperatorConfig],
    ops: &Ops,
) -> Result<Vec<crate::config::OperatorConfig>, StartError> {
    let mut by_id: std::collections::BTreeMap<String, crate::config::OperatorConfig> = configured
        .iter()
        .map(|o| (o.id.clone(), o.clone()))
        .collect();
    let changes = ops.operator_changes()?;
    for (op, active) in changes {
        if active {
            by_id.insert(op.id.clone(), op);
        } else {
            by_id.remove(&op.id);
        }
    }
    Ok(by_id.into_values().collect())
}
