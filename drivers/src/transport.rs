//! Byte transports to a printer: TCP (port 9100), serial (`tokio-serial`, no libudev), the Linux
//! USB printer class device `/dev/usb/lpN`, and a file or directory (demos). Every read, write
//! and connect has a timeout: a printer that stops answering must never hang the caller.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::timeout;

/// Default TCP port of network receipt printers (raw "JetDirect" printing).
pub const DEFAULT_TCP_PORT: u16 = 9100;
/// Default serial speed (the factory setting of most receipt printers).
pub const DEFAULT_BAUD: u32 = 9600;
/// Most bytes [`Connection::drain`] discards before giving up: a device that never stops
/// talking is a fault, not stale input.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// Where a printer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrinterAddress {
    /// `tcp:HOST[:PORT]`.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port (9100 by default).
        port: u16,
    },
    /// `serial:PATH[@BAUD]`.
    Serial {
        /// Device path.
        path: PathBuf,
        /// Speed.
        baud: u32,
    },
    /// `usb:/dev/usb/lpN`: the kernel's USB printer class device (read and write).
    Usb(PathBuf),
    /// `file:PATH`: write jobs to a file, or to a new file per job when PATH is a directory.
    /// Write-only: no status.
    File(PathBuf),
}

/// A printer address that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid printer address {0:?}: expected tcp:HOST[:PORT], serial:PATH[@BAUD], usb:PATH or file:PATH")]
pub struct AddressError(pub String);

impl FromStr for PrinterAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AddressError(s.to_owned());
        let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        match scheme {
            "tcp" => {
                // An IPv6 literal is written in brackets: tcp:[::1]:9100.
                let (host, port) = match rest.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && !port.contains(']') => {
                        (host, port.parse().map_err(|_| bad())?)
                    }
                    _ => (rest, DEFAULT_TCP_PORT),
                };
                Ok(PrinterAddress::Tcp {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port,
                })
            }
            "serial" => {
                let (path, baud) = match rest.rsplit_once('@') {
                    Some((path, baud)) => (path, baud.parse().map_err(|_| bad())?),
                    None => (rest, DEFAULT_BAUD),
                };
                Ok(PrinterAddress::Serial {
                    path: PathBuf::from(path),
                    baud,
                })
            }
            "usb" => Ok(PrinterAddress::Usb(PathBuf::from(rest))),
            "file" => Ok(PrinterAddress::File(PathBuf::from(rest))),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PrinterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrinterAddress::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp:[{host}]:{port}")
            }
            PrinterAddress::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            PrinterAddress::Serial { path, baud } => write!(f, "serial:{}@{baud}", path.display()),
            PrinterAddress::Usb(path) => write!(f, "usb:{}", path.display()),
            PrinterAddress::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// Time limits of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the connection.
    pub connect: Duration,
    /// Writing one job (a long receipt over 9600 baud takes a few seconds).
    pub write: Duration,
    /// Waiting for one reply byte.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            write: Duration::from_secs(10),
            read: Duration::from_millis(1500),
        }
    }
}

/// A transport failure.
#[derive(Debug, Error)]
pub enum TransportError {
    /// The connection could not be opened.
    #[error("cannot open {address}: {source}")]
    Open {
        /// The address.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// An operation took longer than its timeout.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The device closed the connection (or was unplugged).
    #[error("connection closed by the device")]
    Closed,
    /// Read or write failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The transport cannot read (a file): no status.
    #[error("this transport cannot read replies")]
    WriteOnly,
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// An open connection to a printer.
pub struct Connection {
    reader: Option<Reader>,
    writer: Writer,
    timeouts: Timeouts,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.reader.is_some())
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl Connection {
    /// Opens a connection.
    pub async fn open(
        address: &PrinterAddress,
        timeouts: Timeouts,
    ) -> Result<Self, TransportError> {
        let open_error = |source| TransportError::Open {
            address: address.to_string(),
            source,
        };
        let opened = timeout(timeouts.connect, open(address)).await;
        let (reader, writer) = match opened {
            Err(_) => return Err(TransportError::Timeout("connect")),
            Ok(result) => result.map_err(open_error)?,
        };
        Ok(Self {
            reader,
            writer,
            timeouts,
        })
    }

    /// Whether replies can be read (false for files).
    pub fn readable(&self) -> bool {
        self.reader.is_some()
    }

    /// Writes all bytes and flushes, within the write timeout.
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), TransportError> {
        let writer = &mut self.writer;
        let write = async {
            writer.write_all(bytes).await?;
            writer.flush().await
        };
        match timeout(self.timeouts.write, write).await {
            Err(_) => Err(TransportError::Timeout("write")),
            Ok(Err(e)) if is_disconnect(&e) => Err(TransportError::Closed),
            Ok(result) => Ok(result?),
        }
    }

    /// Reads what is available (at least one byte), waiting at most `wait`.
    pub async fn read_some(
        &mut self,
        buf: &mut [u8],
        wait: Duration,
    ) -> Result<usize, TransportError> {
        let reader = self.reader.as_mut().ok_or(TransportError::WriteOnly)?;
        match timeout(wait, reader.read(buf)).await {
            Err(_) => Err(TransportError::Timeout("read")),
            Ok(Ok(0)) => Err(TransportError::Closed),
            Ok(Err(e)) if is_disconnect(&e) => Err(TransportError::Closed),
            Ok(result) => Ok(result?),
        }
    }

    /// Reads one reply byte within the read timeout.
    pub async fn read_byte(&mut self) -> Result<u8, TransportError> {
        let mut byte = [0u8; 1];
        self.read_some(&mut byte, self.timeouts.read).await?;
        Ok(byte[0])
    }

    /// Returns whatever the device already sent (stale replies, status frames), without
    /// waiting more than a few milliseconds of silence.
    pub async fn drain(&mut self) -> Result<Vec<u8>, TransportError> {
        let mut stale = Vec::new();
        let mut buf = [0u8; 256];
        while stale.len() < MAX_DRAIN_BYTES {
            match self.read_some(&mut buf, Duration::from_millis(20)).await {
                Ok(n) => stale.extend_from_slice(&buf[..n]),
                Err(TransportError::Timeout(_)) | Err(TransportError::WriteOnly) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(stale)
    }

    /// The configured timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    ) || e.raw_os_error() == Some(libc::EIO)
        || e.raw_os_error() == Some(libc::ENODEV)
}

async fn open(address: &PrinterAddress) -> io::Result<(Option<Reader>, Writer)> {
    match address {
        PrinterAddress::Tcp { host, port } => {
            let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            stream.set_nodelay(true)?;
            let (r, w) = stream.into_split();
            Ok((Some(Box::new(r)), Box::new(w)))
        }
        PrinterAddress::Serial { path, baud } => {
            let path = path.to_str().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "serial path is not UTF-8")
            })?;
            let stream = tokio_serial::SerialStream::open(&tokio_serial::new(path, *baud))
                .map_err(io::Error::from)?;
            let (r, w) = tokio::io::split(stream);
            Ok((Some(Box::new(r)), Box::new(w)))
        }
        PrinterAddress::Usb(path) => {
            let (r, w) = tokio::io::split(FdStream::open(path)?);
            Ok((Some(Box::new(r)), Box::new(w)))
        }
        PrinterAddress::File(path) => {
            let target = if tokio::fs::metadata(path)
                .await
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                path.join(job_file_name())
            } else {
                path.clone()
            };
            let file = tokio::fs::File::create(target).await?;
            Ok((None, Box::new(file)))
        }
    }
}

fn job_file_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("job-{nanos}.bin")
}

/// A character device (`/dev/usb/lpN`, a tty) opened non-blocking and driven by tokio's
/// reactor, so reads honour timeouts instead of parking a blocking thread.
struct FdStream {
    fd: tokio::io::unix::AsyncFd<std::fs::File>,
}

impl FdStream {
    fn open(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        // SAFETY: `file` owns its descriptor, which stays open and unchanged until the AsyncFd
        // (which owns `file`) is dropped; nothing else closes or replaces it.
        let fd = unsafe { tokio::io::unix::AsyncFd::register(file) }?;
        Ok(Self { fd })
    }
}

impl AsyncRead for FdStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        use std::io::Read;
        loop {
            let mut guard = match self.fd.poll_read_ready(cx) {
                Poll::Ready(guard) => guard?,
                Poll::Pending => return Poll::Pending,
            };
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|inner| inner.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for FdStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        use std::io::Write;
        loop {
            let mut guard = match self.fd.poll_write_ready(cx) {
                Poll::Ready(guard) => guard?,
                Poll::Pending => return Poll::Pending,
            };
            match guard.try_io(|inner| inner.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            "tcp:127.0.0.1:9100".parse(),
            Ok(PrinterAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 9100
            })
        );
        assert_eq!(
            "tcp:printer.local".parse(),
            Ok(PrinterAddress::Tcp {
                host: "printer.local".into(),
                port: 9100
            })
        );
        assert_eq!(
            "tcp:[::1]:9100"
                .parse::<PrinterAddress>()
                .map(|a| a.to_string()),
            Ok("tcp:[::1]:9100".into())
        );
        assert_eq!(
            "serial:/dev/ttyUSB0@38400".parse(),
            Ok(PrinterAddress::Serial {
                path: "/dev/ttyUSB0".into(),
                baud: 38400
            })
        );
        assert_eq!(
            "usb:/dev/usb/lp0".parse(),
            Ok(PrinterAddress::Usb("/dev/usb/lp0".into()))
        );
        assert_eq!(
            "file:receipt.bin".parse(),
            Ok(PrinterAddress::File("receipt.bin".into()))
        );
        assert!("lpt:1".parse::<PrinterAddress>().is_err());
        assert!("tcp:".parse::<PrinterAddress>().is_err());
        assert!("tcp:host:notaport".parse::<PrinterAddress>().is_err());
    }
}
