//! The evdev wedge reader refuses what is not an input device. (The key decoding itself is
//! covered by the golden tests in `scanner::keymap`; this machine has no /dev/input.)
#![cfg(target_os = "linux")]

use drivers::scanner::keymap::KeyboardLayout;
use drivers::scanner::wedge::WedgeScanner;

#[tokio::test]
async fn missing_or_non_input_devices_are_errors() {
    let missing = std::path::Path::new("/dev/input/by-id/no-such-scanner-event-kbd");
    assert!(WedgeScanner::open(missing, KeyboardLayout::FrAzerty).is_err());
    assert!(
        WedgeScanner::open(std::path::Path::new("/dev/null"), KeyboardLayout::UsQwerty).is_err()
    );
}
