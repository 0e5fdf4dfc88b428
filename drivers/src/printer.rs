//! A receipt printer: status queries, a `print` that reports precisely what happened and never
//! resends, the cash drawer and automatic status back.
//!
//! A job sent to a printer that is out of paper (or whose cover is open, or that is offline) is
//! held and printed when the fault clears; resending it then prints the receipt twice. So
//! [`Printer::print`] asks for status first and refuses to send when the printer is not ready,
//! asks again after sending, and when it cannot tell (connection broken mid-job, fault after
//! the job) says [`PrintOutcome::Unknown`]: the caller decides, never this module.

use std::time::Duration;

use crate::commands::{automatic_status_back, drawer_kick, realtime_status_request, DrawerPin};
use crate::status::{DrawerSensor, PrinterStatus, StatusDecoder, StatusError, StatusEvent};
use crate::transport::{Connection, PrinterAddress, Timeouts, TransportError};
use thiserror::Error;

/// Options of a printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrinterOptions {
    /// Connect, read and write timeouts.
    pub timeouts: Timeouts,
    /// How the drawer's sensor is wired.
    pub drawer_sensor: DrawerSensor,
}

/// A status query that failed.
#[derive(Debug, Error)]
pub enum StatusQueryError {
    /// The transport failed (no reply in time, connection closed...).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The replies are not status bytes.
    #[error(transparent)]
    Parse(#[from] StatusError),
}

/// Why a job was not sent. Nothing reached the printer: sending it later is safe.
#[derive(Debug, Error)]
pub enum NotSent {
    /// The printer reports a fault that would hold the job.
    #[error("printer not ready: {:?}", .0.faults())]
    NotReady(PrinterStatus),
    /// The printer could not be reached or did not answer the status query.
    #[error("printer status unavailable: {0}")]
    NoStatus(StatusQueryError),
}

/// Why the fate of a sent job is unknown. Bytes may have reached the printer: do not resend
/// without a human decision (a reprint is a journaled duplicate).
#[derive(Debug, Error)]
pub enum Unknown {
    /// Writing failed part-way.
    #[error("connection failed while sending: {0}")]
    Send(TransportError),
    /// The job was sent but the status query after it failed.
    #[error("no status after sending: {0}")]
    StatusAfter(StatusQueryError),
    /// The job was sent, then the printer reported a fault: it may be held, and print when the
    /// fault clears.
    #[error("printer fault after sending: {:?}", .0.faults())]
    FaultAfter(PrinterStatus),
}

/// What became of a job.
#[derive(Debug)]
pub enum PrintOutcome {
    /// Sent, and the printer reported no fault after it. `None` for transports without a
    /// status channel (files), where "written" is all there is to know.
    Printed(Option<PrinterStatus>),
    /// Not sent; nothing reached the printer.
    NotSent(NotSent),
    /// Sent, at least in part; whether it printed is unknown.
    Unknown(Unknown),
}

impl PrintOutcome {
    /// True for [`PrintOutcome::Printed`].
    pub fn is_printed(&self) -> bool {
        matches!(self, PrintOutcome::Printed(_))
    }
}

/// What a sent job became, from the write result and the status query after it (`None` when
/// there is no status channel, or nothing to ask because the write failed).
fn outcome_after_send(
    sent: Result<(), TransportError>,
    after: Option<Result<PrinterStatus, StatusQueryError>>,
) -> PrintOutcome {
    match (sent, after) {
        (Err(e), _) => PrintOutcome::Unknown(Unknown::Send(e)),
        (Ok(()), None) => PrintOutcome::Printed(None),
        (Ok(()), Some(Ok(status))) if status.ready() => PrintOutcome::Printed(Some(status)),
        (Ok(()), Some(Ok(status))) => PrintOutcome::Unknown(Unknown::FaultAfter(status)),
        (Ok(()), Some(Err(e))) => PrintOutcome::Unknown(Unknown::StatusAfter(e)),
    }
}

/// Longest wait for an ASB frame after enabling it.
const ASB_FIRST_FRAME_WAIT: Duration = Duration::from_millis(500);

/// A printer at an address. Connects on first use and again after a failure.
#[derive(Debug)]
pub struct Printer {
    address: PrinterAddress,
    options: PrinterOptions,
    connection: Option<Connection>,
    decoder: StatusDecoder,
    last_asb: Option<PrinterStatus>,
}

impl Printer {
    /// A printer at `address`; nothing is opened yet.
    pub fn new(address: PrinterAddress, options: PrinterOptions) -> Self {
        Self {
            address,
            options,
            connection: None,
            decoder: StatusDecoder::new(),
            last_asb: None,
        }
    }

    /// The address.
    pub fn address(&self) -> &PrinterAddress {
        &self.address
    }

    /// How the drawer sensor is read.
    pub fn drawer_sensor(&self) -> DrawerSensor {
        self.options.drawer_sensor
    }

    /// The last automatic status received, if ASB is on.
    pub fn last_automatic_status(&self) -> Option<PrinterStatus> {
        self.last_asb
    }

    /// Opens the connection now (otherwise the first operation does).
    pub async fn connect(&mut self) -> Result<(), TransportError> {
        self.connection().await.map(|_| ())
    }

    /// Closes the connection; the next operation reconnects.
    pub fn disconnect(&mut self) {
        self.connection = None;
        self.decoder.reset();
    }

    async fn connection(&mut self) -> Result<&mut Connection, TransportError> {
        if self.connection.is_none() {
            let connection = Connection::open(&self.address, self.options.timeouts).await?;
            self.decoder.reset();
            self.connection = Some(connection);
        }
        self.connection.as_mut().ok_or(TransportError::Closed)
    }

    /// Whether the transport can report status (false for files).
    pub async fn has_status(&mut self) -> Result<bool, TransportError> {
        Ok(self.connection().await?.readable())
    }

    fn absorb(&mut self, bytes: &[u8]) {
        for event in self.decoder.feed(bytes) {
            if let StatusEvent::Asb(status) = event {
                self.last_asb = Some(status);
            }
        }
    }

    /// Drops the connection after a transport error so the next call starts clean.
    fn on_error<T, E>(&mut self, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.disconnect();
        }
        result
    }

    /// Queries `DLE EOT 1-4` after discarding stale input.
    pub async fn status(&mut self) -> Result<PrinterStatus, StatusQueryError> {
        let result = self.query_status().await;
        self.on_error(result)
    }

    async fn query_status(&mut self) -> Result<PrinterStatus, StatusQueryError> {
        let connection = self.connection().await?;
        if !connection.readable() {
            return Err(TransportError::WriteOnly.into());
        }
        let stale = connection.drain().await?;
        self.absorb(&stale);
        self.decoder.reset();
        let mut replies = [0u8; 4];
        for (n, reply) in (1u8..=4).zip(replies.iter_mut()) {
            let connection = self.connection().await?;
            connection.write_all(&realtime_status_request(n)).await?;
            *reply = self.next_realtime_reply().await?;
        }
        Ok(PrinterStatus::from_realtime(&replies)?)
    }

    /// Reads until a `DLE EOT` reply byte arrives; ASB frames on the way are recorded, other
    /// bytes skipped. The whole wait is bounded by the read timeout.
    async fn next_realtime_reply(&mut self) -> Result<u8, TransportError> {
        let deadline = tokio::time::Instant::now() + self.options.timeouts.read;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout("status reply"));
            }
            let connection = self.connection().await?;
            let mut byte = [0u8; 1];
            connection.read_some(&mut byte, left).await?;
            match self.decoder.push(byte[0]) {
                Some(StatusEvent::RealTime(reply)) => return Ok(reply),
                Some(StatusEvent::Asb(status)) => self.last_asb = Some(status),
                _ => {}
            }
        }
    }

    /// Sends a job: status before (refuse when not ready), the bytes, status after.
    /// Never resends.
    pub async fn print(&mut self, job: &[u8]) -> PrintOutcome {
        let has_status = match self.has_status().await {
            Ok(has) => has,
            Err(e) => {
                self.disconnect();
                return PrintOutcome::NotSent(NotSent::NoStatus(e.into()));
            }
        };
        if has_status {
            match self.status().await {
                Ok(status) if status.ready() => {}
                Ok(status) => return PrintOutcome::NotSent(NotSent::NotReady(status)),
                Err(e) => return PrintOutcome::NotSent(NotSent::NoStatus(e)),
            }
        }
        let sent = match self.connection().await {
            Ok(connection) => connection.write_all(job).await,
            Err(e) => Err(e),
        };
        let sent = self.on_error(sent);
        let after = match (&sent, has_status) {
            (Ok(()), true) => Some(self.status().await),
            _ => None,
        };
        outcome_after_send(sent, after)
    }

    /// Pulses the drawer (5-byte `ESC p`), with the same checks as [`Printer::print`]: a printer
    /// with a fault holds the command and would open the drawer later, unexpectedly.
    pub async fn open_drawer(&mut self, pin: DrawerPin) -> PrintOutcome {
        self.print(&drawer_kick(pin)).await
    }

    /// Whether the drawer is open, from a fresh status query.
    pub async fn drawer_open(&mut self) -> Result<bool, StatusQueryError> {
        let sensor = self.options.drawer_sensor;
        Ok(self.status().await?.drawer_open(sensor))
    }

    /// Enables Automatic Status Back for the categories in `mask` (0x0F: drawer, online,
    /// errors, paper). Printers that support it answer at once with the current status, which
    /// is returned; `None` when nothing came (the printer does not support it).
    pub async fn enable_automatic_status(
        &mut self,
        mask: u8,
    ) -> Result<Option<PrinterStatus>, TransportError> {
        let result = self.enable_asb(mask).await;
        self.on_error(result)
    }

    async fn enable_asb(&mut self, mask: u8) -> Result<Option<PrinterStatus>, TransportError> {
        let connection = self.connection().await?;
        let stale = connection.drain().await?;
        self.absorb(&stale);
        self.connection()
            .await?
            .write_all(&automatic_status_back(mask))
            .await?;
        match self.wait_automatic_status(ASB_FIRST_FRAME_WAIT).await {
            Ok(status) => Ok(Some(status)),
            Err(TransportError::Timeout(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits for the next ASB frame (a status change), at most `wait`.
    pub async fn wait_automatic_status(
        &mut self,
        wait: Duration,
    ) -> Result<PrinterStatus, TransportError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(TransportError::Timeout("automatic status"));
            }
            let connection = self.connection().await?;
            let mut buf = [0u8; 16];
            let n = match connection.read_some(&mut buf, left).await {
                Ok(n) => n,
                Err(TransportError::Timeout(what)) => return Err(TransportError::Timeout(what)),
                Err(e) => {
                    self.disconnect();
                    return Err(e);
                }
            };
            let mut latest = None;
            for event in self.decoder.feed(&buf[..n]) {
                if let StatusEvent::Asb(status) = event {
                    self.last_asb = Some(status);
                    latest = Some(status);
                }
            }
            if let Some(status) = latest {
                return Ok(status);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_sends_and_faults_after_are_unknown_never_printed() {
        let ready = PrinterStatus::default();
        let paper_out = PrinterStatus {
            paper_out: true,
            offline: true,
            ..PrinterStatus::default()
        };
        assert!(matches!(
            outcome_after_send(Err(TransportError::Closed), None),
            PrintOutcome::Unknown(Unknown::Send(TransportError::Closed))
        ));
        assert!(matches!(
            outcome_after_send(Err(TransportError::Timeout("write")), Some(Ok(ready))),
            PrintOutcome::Unknown(Unknown::Send(_))
        ));
        assert!(matches!(
            outcome_after_send(
                Ok(()),
                Some(Err(TransportError::Timeout("status reply").into()))
            ),
            PrintOutcome::Unknown(Unknown::StatusAfter(_))
        ));
        assert!(matches!(
            outcome_after_send(Ok(()), Some(Ok(paper_out))),
            PrintOutcome::Unknown(Unknown::FaultAfter(s)) if s == paper_out
        ));
        assert!(matches!(
            outcome_after_send(Ok(()), Some(Ok(ready))),
            PrintOutcome::Printed(Some(_))
        ));
        assert!(matches!(
            outcome_after_send(Ok(()), None),
            PrintOutcome::Printed(None)
        ));
    }
}
