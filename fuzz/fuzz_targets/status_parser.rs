//! Arbitrary printer reply bytes into the status parsers: no panic, and every ASB frame the
//! stream decoder accepts is one `from_asb` accepts on its own.
#![no_main]

use drivers::status;
use libfuzzer_sys::fuzz_target;
use status::{PrinterStatus, StatusDecoder, StatusEvent};

fuzz_target!(|data: &[u8]| {
    let _ = PrinterStatus::from_realtime(data);
    if let Ok(frame) = <[u8; 4]>::try_from(data.get(..4).unwrap_or(&[])) {
        if let Ok(status) = PrinterStatus::from_asb(frame) {
            let _ = (status.faults(), status.ready());
        }
    }
    let mut decoder = StatusDecoder::new();
    for chunk in data.chunks(3) {
        for event in decoder.feed(chunk) {
            match event {
                StatusEvent::RealTime(byte) => assert!(status::is_realtime_reply(byte)),
                StatusEvent::Asb(status) => {
                    let _ = status.faults();
                }
                StatusEvent::BadAsb(frame) => assert!(PrinterStatus::from_asb(frame).is_err()),
                StatusEvent::Unexpected(byte) => {
                    assert!(!status::is_realtime_reply(byte) && !status::is_asb_start(byte))
                }
            }
        }
    }
});
