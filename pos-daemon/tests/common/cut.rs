//! A TCP relay between a browser and posd that the test can cut: refusing connections (the
//! network gone), or passing requests on and dropping their answers (the network gone after
//! posd received the request: the client cannot know whether it was served).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const PASS: u8 = 0;
const REFUSE: u8 = 1;
const DROP_ANSWERS: u8 = 2;

/// The relay, listening on `port` for `upstream`.
pub struct Cut {
    pub port: u16,
    mode: Arc<AtomicU8>,
}

impl Cut {
    /// Relays `127.0.0.1:port` to `127.0.0.1:upstream` until the test ends.
    pub fn start(upstream: u16) -> Cut {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(AtomicU8::new(PASS));
        let m = mode.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if m.load(Ordering::SeqCst) == REFUSE {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                relay(client, server, m.clone());
            }
        });
        Cut { port, mode }
    }

    /// Passes everything.
    pub fn pass(&self) {
        self.mode.store(PASS, Ordering::SeqCst);
    }

    /// Refuses every connection and closes the open ones at their next byte.
    pub fn refuse(&self) {
        self.mode.store(REFUSE, Ordering::SeqCst);
    }

    /// Passes requests on, but closes the connection instead of passing an answer back.
    pub fn drop_answers(&self) {
        self.mode.store(DROP_ANSWERS, Ordering::SeqCst);
    }
}

fn relay(client: TcpStream, server: TcpStream, mode: Arc<AtomicU8>) {
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = mode.clone();
    // Browser to posd: stops when the network is refused.
    std::thread::spawn(move || copy(client, server, |_| up.load(Ordering::SeqCst) == REFUSE));
    // posd to browser: stops when refused or when answers are dropped.
    std::thread::spawn(move || copy(s2, c2, |_| mode.load(Ordering::SeqCst) != PASS));
}

fn copy(mut from: TcpStream, mut to: TcpStream, cut: impl Fn(&[u8]) -> bool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if cut(&buf[..n]) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
