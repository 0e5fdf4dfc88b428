//! The print worker: sends queued jobs in order, one at a time, and never resends silently.
//!
//! - `NotSent` (the printer reported a fault or could not be reached before anything was sent):
//!   the job stays first in the queue, the fault is shown on the API and the event stream, and
//!   the worker asks again every [`FAULT_RETRY`] until it clears.
//! - `Unknown` (bytes may have reached the printer): the job is marked `unknown` and never sent
//!   again; the cashier decides whether to reprint, which writes a journaled duplicate.
//! - A job is marked `sending` durably before its bytes leave: after a crash it becomes
//!   `unknown`, never a silent second print.

use crate::bus::Bus;
use crate::config::Config;
use crate::ops::{Job, JobKind, JobState, Ops};
use crate::till::Till;
use drivers::commands::{drawer_kick, DrawerPin};
use drivers::printer::{PrintOutcome, Printer, PrinterOptions};
use drivers::transport::PrinterAddress;
use serde::Serialize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often a held queue asks the printer again.
pub const FAULT_RETRY: Duration = Duration::from_millis(500);
/// How often an idle worker looks at the queue without being woken.
pub const IDLE_POLL: Duration = Duration::from_secs(2);
/// How often an idle worker asks the printer about the cash drawer, when one is configured.
pub const DRAWER_POLL: Duration = Duration::from_millis(500);
/// How often an idle worker asks the printer for its status: a fault (paper out, cover open,
/// the printer gone) shows on the API and the event stream without waiting for a receipt, and
/// on the web till within 2 s (a status request is a few bytes each way).
pub const STATUS_POLL: Duration = Duration::from_secs(1);

/// The printer as the API shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PrinterState {
    /// Whether a printer is configured.
    pub configured: bool,
    /// `idle`, `printing`, `fault` or `unknown` (never tried yet).
    pub state: String,
    /// The fault or error, when there is one.
    pub error: Option<String>,
    /// Faults reported by the printer: `paper_out`, `cover_open`, `offline`, `cutter_error`,
    /// `unrecoverable_error`, `auto_recoverable_error`.
    pub faults: Vec<String>,
    /// Paper near its end.
    pub paper_near_end: bool,
}

fn fault_names(s: &drivers::status::PrinterStatus) -> Vec<String> {
    s.faults()
        .iter()
        .map(|f| fault_name(*f).to_string())
        .collect()
}

/// A fault's name as the API and the event stream give it (snake_case).
fn fault_name(f: drivers::status::Fault) -> &'static str {
    use drivers::status::Fault;
    match f {
        Fault::Offline => "offline",
        Fault::CoverOpen => "cover_open",
        Fault::PaperOut => "paper_out",
        Fault::CutterError => "cutter_error",
        Fault::UnrecoverableError => "unrecoverable_error",
        Fault::AutoRecoverableError => "auto_recoverable_error",
    }
}

/// The printing service: the printer's and the drawer's state as last seen, and what wakes
/// the worker. Jobs themselves are in `ops.db`'s queue.
pub struct Printing {
    config: Arc<Config>,
    till: Arc<Till>,
    ops: Arc<Ops>,
    bus: Bus,
    /// The printer as last seen. A read-write lock: the API and health read it on every call,
    /// the worker writes it on a change.
    state: RwLock<PrinterState>,
    /// The cash drawer as the printer last reported it (`None`: not known).
    drawer_open: RwLock<Option<bool>>,
    /// Wakes the worker (a job was queued).
    pub notify: tokio::sync::Notify,
}

impl std::fmt::Debug for Printing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printing")
            .field("state", &self.printer_state())
            .finish_non_exhaustive()
    }
}

impl Printing {
    /// The service for the configured printer (none: the state says `none`).
    pub fn new(config: Arc<Config>, till: Arc<Till>, ops: Arc<Ops>, bus: Bus) -> Printing {
        let configured = config.printer.is_some();
        Printing {
            state: RwLock::new(PrinterState {
                configured,
                state: if configured { "unknown" } else { "none" }.into(),
                ..Default::default()
            }),
            config,
            till,
            ops,
            bus,
            drawer_open: RwLock::new(None),
            notify: tokio::sync::Notify::new(),
        }
    }

    /// Records the drawer's state as the printer reports it; a change goes on the event stream.
    fn set_drawer_open(&self, open: Option<bool>) {
        let changed = match self.drawer_open.write() {
            Ok(mut cur) => std::mem::replace(&mut *cur, open) != open,
            Err(p) => std::mem::replace(&mut *p.into_inner(), open) != open,
        };
        if changed {
            self.bus
                .publish("drawer", serde_json::json!({ "state": drawer_label(open) }));
        }
    }

    /// The drawer as last reported: `open`, `closed` or `unknown`.
    pub fn drawer_state(&self) -> &'static str {
        let open = match self.drawer_open.read() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        drawer_label(open)
    }

    fn set_printer_state(&self, new: PrinterState) {
        let changed = {
            let mut cur = match self.state.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let changed = *cur != new;
            *cur = new.clone();
            changed
        };
        if changed {
            self.bus
                .publish("printer", serde_json::to_value(&new).unwrap_or_default());
        }
    }

    /// The printer's state now.
    pub fn printer_state(&self) -> PrinterState {
        match self.state.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn job_event(&self, job: &Job, state: JobState, error: Option<&str>) {
        self.bus.publish(
            "print_job",
            serde_json::json!({ "id": job.id, "seq": job.seq, "state": state, "error": error }),
        );
    }

    async fn set_job(&self, job: &Job, state: JobState, error: Option<String>) -> bool {
        let ops = Arc::clone(&self.ops);
        let id = job.id;
        let e = error.clone();
        // Only `sending` must be on disk before the bytes leave; the other changes may be lost
        // in a power cut, leaving `sending`, which the next start turns `unknown`.
        let ok = tokio::task::spawn_blocking(move || {
            if state == JobState::Sending {
                ops.set_state(id, state, e.as_deref())
            } else {
                ops.set_state_relaxed(id, state, e.as_deref())
            }
        })
        .await
        .map(|r| r.is_ok())
        .unwrap_or(false);
        if !ok {
            tracing::error!(job = id, "cannot record the print job's state in ops.db");
        }
        self.job_event(job, state, error.as_deref());
        ok
    }

    /// Renders a job; `Err` is a layout or journal read failure (the job cannot ever print).
    fn render_job(
        &self,
        job: &Job,
        reader: &Option<pos_core::reader::JournalReader>,
    ) -> Result<(Vec<u8>, Option<String>), String> {
        let mut bytes = match (job.kind, job.seq) {
            (JobKind::XReport, _) => {
                return job
                    .payload
                    .clone()
                    .map(|b| (b, None))
                    .ok_or_else(|| "empty X report job".to_string())
            }
            (JobKind::Record, Some(seq)) => {
                let reader = reader.as_ref().ok_or("the journal cannot be read")?;
                let (bytes, text) = crate::printout::render_record(
                    reader,
                    seq,
                    &self.till.current_opening(),
                    &self.config,
                    &self.till.key,
                    self.paper_width(),
                )
                .map_err(|e| e.to_string())?;
                (bytes, Some(text))
            }
            (JobKind::Record, None) => return Err("record job without a sequence number".into()),
            // The drawer kick alone (appended below), for a ticket whose receipt is held.
            (JobKind::Drawer, _) => (Vec::new(), None),
        };
        if job.drawer {
            if let Some(d) = &self.config.drawer {
                let pin = if d.pin == 5 {
                    DrawerPin::Pin5
                } else {
                    DrawerPin::Pin2
                };
                bytes.0.extend_from_slice(&drawer_kick(pin));
            }
        }
        Ok(bytes)
    }

    /// Whether tickets' receipts wait for the customer to ask (`[printer] receipts`).
    pub fn receipts_on_request(&self) -> bool {
        self.config
            .printer
            .as_ref()
            .is_some_and(|p| p.receipts == crate::config::ReceiptMode::OnRequest)
    }

    fn write_text_copy(&self, job: &Job, text: &str) {
        let (Some(dir), Some(seq)) = (
            self.config
                .printer
                .as_ref()
                .and_then(|p| p.text_dir.as_ref()),
            job.seq,
        ) else {
            return;
        };
        let path = dir.join(format!("{seq:08}.txt"));
        if let Err(e) = std::fs::write(&path, text) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the receipt text");
        }
    }

    /// The paper width of the configured printer.
    pub fn paper_width(&self) -> drivers::layout::PaperWidth {
        self.config
            .printer
            .as_ref()
            .and_then(|p| drivers::layout::PaperWidth::from_mm(p.paper_mm))
            .unwrap_or_default()
    }
}

fn drawer_label(open: Option<bool>) -> &'static str {
    match open {
        Some(true) => "open",
        Some(false) => "closed",
        None => "unknown",
    }
}

/// Asks the printer whether the drawer is open (printers with a status channel only).
async fn poll_drawer(printing: &Printing, printer: &mut Printer) {
    if printing.config.drawer.is_none() || matches!(printer.address(), PrinterAddress::File(_)) {
        return;
    }
    match printer.drawer_open().await {
        Ok(open) => printing.set_drawer_open(Some(open)),
        Err(_) => printing.set_drawer_open(None),
    }
}

/// Asks the printer for its status (printers with a status channel only) and shows what it
/// says; a fault is journaled once, as when a receipt finds it. Returns whether the printer is
/// at fault now, or `None` when it cannot say (a file, a write-only transport).
async fn poll_status(
    printing: &Printing,
    printer: &mut Printer,
    fault_journaled: &mut bool,
) -> Option<bool> {
    if matches!(printer.address(), PrinterAddress::File(_)) {
        return None;
    }
    let (faults, error, near_end) = match printer.status().await {
        Ok(s) => (fault_names(&s), None, s.paper_near_end),
        // A transport without a status channel says nothing, and is not at fault for it.
        Err(drivers::printer::StatusQueryError::Transport(
            drivers::transport::TransportError::WriteOnly,
        )) => return None,
        Err(e) => (vec!["unreachable".to_string()], Some(e.to_string()), false),
    };
    if faults.is_empty() {
        *fault_journaled = false;
        printing.set_printer_state(PrinterState {
            configured: true,
            state: "idle".into(),
            paper_near_end: near_end,
            ..Default::default()
        });
        return Some(false);
    }
    let error = error.unwrap_or_else(|| format!("printer not ready: {faults:?}"));
    show_fault(printing, error, faults, near_end, fault_journaled).await;
    Some(true)
}

/// Shows a printer fault on the API and the event stream; journals it once per fault (until
/// the printer is seen ready again).
async fn show_fault(
    printing: &Printing,
    error: String,
    faults: Vec<String>,
    paper_near_end: bool,
    fault_journaled: &mut bool,
) {
    if !*fault_journaled {
        *fault_journaled = true;
        printing
            .till
            .journal_event(pos_core::events::PRINTER_FAILURE, &error)
            .await;
    }
    printing.set_printer_state(PrinterState {
        configured: true,
        state: "fault".into(),
        error: Some(error),
        faults,
        paper_near_end,
    });
}

/// Waits before asking a printer at fault again; `true` when posd is stopping.
async fn wait_retry(stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    let mut changed = stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(FAULT_RETRY) => {}
        _ = changed.changed() => {}
    }
    let stopping = *stop.borrow();
    stopping
}

/// Runs the worker until `stop` is set and the queue is empty (or held by a fault).
pub async fn run(
    printing: Arc<Printing>,
    address: PrinterAddress,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut printer = Printer::new(address, PrinterOptions::default());
    let journal_path = printing.config.journal_path();
    let mut reader = None;
    let mut fault_journaled = false;
    let mut status_asked: Option<std::time::Instant> = None;
    printing.set_printer_state(PrinterState {
        configured: true,
        state: "unknown".into(),
        ..Default::default()
    });
    loop {
        let ops = Arc::clone(&printing.ops);
        let next = tokio::task::spawn_blocking(move || ops.next_pending())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let Some(job) = next else {
            if *stop.borrow() {
                return;
            }
            poll_drawer(&printing, &mut printer).await;
            if status_asked.is_none_or(|at| at.elapsed() >= STATUS_POLL) {
                status_asked = Some(std::time::Instant::now());
                let _ = poll_status(&printing, &mut printer, &mut fault_journaled).await;
            }
            let idle = if printing.config.drawer.is_some() {
                DRAWER_POLL
            } else {
                IDLE_POLL.min(STATUS_POLL)
            };
            let mut stop2 = stop.clone();
            tokio::select! {
                _ = printing.notify.notified() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = stop2.changed() => {}
            }
            continue;
        };
        if reader.is_none() {
            reader = pos_core::reader::JournalReader::open(&journal_path).ok();
        }
        let (bytes, text) = match printing.render_job(&job, &reader) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "print job cannot be rendered");
                reader = None;
                printing.set_job(&job, JobState::Failed, Some(e)).await;
                continue;
            }
        };
        if printing.printer_state().state == "fault" {
            // A printer known at fault is asked first: the job stays `pending` (no durable
            // `sending` mark every retry) until the printer says it is ready.
            // A printer that cannot say is tried as before (the job's outcome tells).
            if poll_status(&printing, &mut printer, &mut fault_journaled).await == Some(true) {
                if wait_retry(&stop).await {
                    return;
                }
                continue;
            }
        }
        if !printing.set_job(&job, JobState::Sending, None).await {
            // Without a durable `sending` mark a crash could resend: wait and retry.
            tokio::time::sleep(FAULT_RETRY).await;
            continue;
        }
        let outcome = printer.print(&bytes).await;
        if matches!(printer.address(), PrinterAddress::File(_)) {
            // One file per job in a directory: reopen for the next one.
            printer.disconnect();
        }
        match outcome {
            PrintOutcome::Printed(status) => {
                printing.set_job(&job, JobState::Printed, None).await;
                if let (Some(s), Some(_)) = (status, &printing.config.drawer) {
                    printing.set_drawer_open(Some(s.drawer_open(printer.drawer_sensor())));
                }
                if let Some(t) = text {
                    printing.write_text_copy(&job, &t);
                }
                fault_journaled = false;
                printing.set_printer_state(PrinterState {
                    configured: true,
                    state: "idle".into(),
                    paper_near_end: status.is_some_and(|s| s.paper_near_end),
                    ..Default::default()
                });
            }
            PrintOutcome::NotSent(why) => {
                // Nothing reached the printer: back to the head of the queue.
                printing
                    .set_job(&job, JobState::Pending, Some(why.to_string()))
                    .await;
                let faults = match &why {
                    drivers::printer::NotSent::NotReady(s) => fault_names(s),
                    drivers::printer::NotSent::NoStatus(_) => vec!["unreachable".into()],
                };
                show_fault(
                    &printing,
                    why.to_string(),
                    faults,
                    false,
                    &mut fault_journaled,
                )
                .await;
                if wait_retry(&stop).await {
                    return;
                }
            }
            PrintOutcome::Unknown(why) => {
                let msg = format!("{why}; not resent: reprint it if it did not come out");
                tracing::warn!(job = job.id, seq = ?job.seq, "print job fate unknown: {why}");
                printing
                    .set_job(&job, JobState::Unknown, Some(msg.clone()))
                    .await;
                printing
                    .till
                    .journal_event(pos_core::events::PRINTER_FAILURE, &msg)
                    .await;
                printing.set_printer_state(PrinterState {
                    configured: true,
                    state: "fault".into(),
                    error: Some(why.to_string()),
                    faults: match &why {
                        drivers::printer::Unknown::FaultAfter(s) => fault_names(s),
                        _ => vec!["unreachable".into()],
                    },
                    paper_near_end: false,
                });
            }
        }
    }
}
