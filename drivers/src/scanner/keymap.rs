//! Key-code decoder for keyboard-wedge scanners: Linux input key codes in, scans out.
//!
//! A wedge scanner "types" the code as key presses for the keyboard layout it is configured
//! for. The codes are physical key positions, so the same scan means different text under US
//! QWERTY and French AZERTY (where the digits need Shift). Pure: tested with golden sequences,
//! no `/dev/input` needed. A key the layout does not map makes the whole scan an error rather
//! than a guess.

use thiserror::Error;

/// Longest scan kept, in characters.
pub const MAX_WEDGE_SCAN: usize = 512;

/// The layout the scanner types for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyboardLayout {
    /// US QWERTY.
    #[default]
    UsQwerty,
    /// French AZERTY (Linux `fr` layout).
    FrAzerty,
}

/// A scan the decoder could not read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WedgeError {
    /// A key the layout does not map (or a Ctrl/Alt combination) was pressed.
    #[error("key code {0} has no character in this layout")]
    UnmappedKey(u16),
    /// More than [`MAX_WEDGE_SCAN`] characters before Enter.
    #[error("scan longer than {MAX_WEDGE_SCAN} characters")]
    TooLong,
}

/// Linux input key codes (`linux/input-event-codes.h`) the decoder uses.
pub mod codes {
    /// Tab.
    pub const KEY_TAB: u16 = 15;
    /// Enter.
    pub const KEY_ENTER: u16 = 28;
    /// Left Ctrl.
    pub const KEY_LEFTCTRL: u16 = 29;
    /// Left Shift.
    pub const KEY_LEFTSHIFT: u16 = 42;
    /// Right Shift.
    pub const KEY_RIGHTSHIFT: u16 = 54;
    /// Left Alt.
    pub const KEY_LEFTALT: u16 = 56;
    /// Caps Lock.
    pub const KEY_CAPSLOCK: u16 = 58;
    /// Num Lock.
    pub const KEY_NUMLOCK: u16 = 69;
    /// Keypad Enter.
    pub const KEY_KPENTER: u16 = 96;
    /// Right Ctrl.
    pub const KEY_RIGHTCTRL: u16 = 97;
    /// Right Alt (AltGr).
    pub const KEY_RIGHTALT: u16 = 100;
}

use codes::*;

/// Key state as evdev reports it in `value`.
pub const KEY_RELEASED: i32 = 0;
/// Key pressed.
pub const KEY_PRESSED: i32 = 1;
/// Auto-repeat (ignored: a scanner does not hold keys).
pub const KEY_REPEAT: i32 = 2;

/// (normal, shifted) characters of the keys both layouts share positions for but not
/// characters; `None` for no character.
fn us_key(code: u16) -> Option<(char, char)> {
    Some(match code {
        2 => ('1', '!'),
        3 => ('2', '@'),
        4 => ('3', '#'),
        5 => ('4', '$'),
        6 => ('5', '%'),
        7 => ('6', '^'),
        8 => ('7', '&'),
        9 => ('8', '*'),
        10 => ('9', '('),
        11 => ('0', ')'),
        12 => ('-', '_'),
        13 => ('=', '+'),
        16 => ('q', 'Q'),
        17 => ('w', 'W'),
        18 => ('e', 'E'),
        19 => ('r', 'R'),
        20 => ('t', 'T'),
        21 => ('y', 'Y'),
        22 => ('u', 'U'),
        23 => ('i', 'I'),
        24 => ('o', 'O'),
        25 => ('p', 'P'),
        26 => ('[', '{'),
        27 => (']', '}'),
        30 => ('a', 'A'),
        31 => ('s', 'S'),
        32 => ('d', 'D'),
        33 => ('f', 'F'),
        34 => ('g', 'G'),
        35 => ('h', 'H'),
        36 => ('j', 'J'),
        37 => ('k', 'K'),
        38 => ('l', 'L'),
        39 => (';', ':'),
        40 => ('\'', '"'),
        41 => ('`', '~'),
        43 => ('\\', '|'),
        44 => ('z', 'Z'),
        45 => ('x', 'X'),
        46 => ('c', 'C'),
        47 => ('v', 'V'),
        48 => ('b', 'B'),
        49 => ('n', 'N'),
        50 => ('m', 'M'),
        51 => (',', '<'),
        52 => ('.', '>'),
        53 => ('/', '?'),
        57 => (' ', ' '),
        _ => return None,
    })
}

fn fr_key(code: u16) -> Option<(char, Option<char>)> {
    Some(match code {
        41 => ('²', None),
        2 => ('&', Some('1')),
        3 => ('é', Some('2')),
        4 => ('"', Some('3')),
        5 => ('\'', Some('4')),
        6 => ('(', Some('5')),
        7 => ('-', Some('6')),
        8 => ('è', Some('7')),
        9 => ('_', Some('8')),
        10 => ('ç', Some('9')),
        11 => ('à', Some('0')),
        12 => (')', Some('°')),
        13 => ('=', Some('+')),
        16 => ('a', Some('A')),
        17 => ('z', Some('Z')),
        18 => ('e', Some('E')),
        19 => ('r', Some('R')),
        20 => ('t', Some('T')),
        21 => ('y', Some('Y')),
        22 => ('u', Some('U')),
        23 => ('i', Some('I')),
        24 => ('o', Some('O')),
        25 => ('p', Some('P')),
        // 26 is the dead circumflex: it types nothing on its own, so it is not mapped.
        27 => ('$', Some('£')),
        30 => ('q', Some('Q')),
        31 => ('s', Some('S')),
        32 => ('d', Some('D')),
        33 => ('f', Some('F')),
        34 => ('g', Some('G')),
        35 => ('h', Some('H')),
        36 => ('j', Some('J')),
        37 => ('k', Some('K')),
        38 => ('l', Some('L')),
        39 => ('m', Some('M')),
        40 => ('ù', Some('%')),
        43 => ('*', Some('µ')),
        86 => ('<', Some('>')),
        44 => ('w', Some('W')),
        45 => ('x', Some('X')),
        46 => ('c', Some('C')),
        47 => ('v', Some('V')),
        48 => ('b', Some('B')),
        49 => ('n', Some('N')),
        50 => (',', Some('?')),
        51 => (';', Some('.')),
        52 => (':', Some('/')),
        53 => ('!', Some('§')),
        57 => (' ', Some(' ')),
        _ => return None,
    })
}

fn fr_altgr(code: u16) -> Option<char> {
    Some(match code {
        3 => '~',
        4 => '#',
        5 => '{',
        6 => '[',
        7 => '|',
        8 => '`',
        9 => '\\',
        10 => '^',
        11 => '@',
        12 => ']',
        13 => '}',
        18 => '€',
        27 => '¤',
        _ => return None,
    })
}

/// Keypad keys type the same in every layout (Num Lock on, as scanners expect).
fn keypad(code: u16) -> Option<char> {
    Some(match code {
        71 => '7',
        72 => '8',
        73 => '9',
        74 => '-',
        75 => '4',
        76 => '5',
        77 => '6',
        78 => '+',
        79 => '1',
        80 => '2',
        81 => '3',
        82 => '0',
        83 => '.',
        55 => '*',
        98 => '/',
        _ => return None,
    })
}

/// Stateful decoder: feed every key event, get a scan at each Enter (or Tab).
#[derive(Debug, Clone, Default)]
pub struct KeyDecoder {
    layout: KeyboardLayout,
    left_shift: bool,
    right_shift: bool,
    altgr: bool,
    ctrl: bool,
    alt: bool,
    caps_lock: bool,
    buf: String,
    len: usize,
    error: Option<WedgeError>,
}

impl KeyDecoder {
    /// A decoder for `layout`, no modifier held.
    pub fn new(layout: KeyboardLayout) -> Self {
        Self {
            layout,
            ..Self::default()
        }
    }

    /// Feeds one key event (`value`: 0 released, 1 pressed, 2 repeat). Returns a scan when
    /// Enter or Tab ends one; empty scans are dropped.
    pub fn key(&mut self, code: u16, value: i32) -> Option<Result<String, WedgeError>> {
        let pressed = value == KEY_PRESSED;
        match code {
            KEY_LEFTSHIFT => self.left_shift = value != KEY_RELEASED,
            KEY_RIGHTSHIFT => self.right_shift = value != KEY_RELEASED,
            KEY_RIGHTALT => self.altgr = value != KEY_RELEASED,
            KEY_LEFTCTRL | KEY_RIGHTCTRL => self.ctrl = value != KEY_RELEASED,
            KEY_LEFTALT => self.alt = value != KEY_RELEASED,
            KEY_CAPSLOCK if pressed => self.caps_lock = !self.caps_lock,
            KEY_NUMLOCK => {}
            KEY_ENTER | KEY_KPENTER | KEY_TAB if pressed => return self.finish(),
            _ if pressed => self.character(code),
            _ => {}
        }
        None
    }

    fn finish(&mut self) -> Option<Result<String, WedgeError>> {
        let scan = std::mem::take(&mut self.buf);
        self.len = 0;
        if let Some(error) = self.error.take() {
            return Some(Err(error));
        }
        (!scan.is_empty()).then_some(Ok(scan))
    }

    fn character(&mut self, code: u16) {
        if self.error.is_some() {
            return;
        }
        let shift = self.left_shift || self.right_shift;
        let c = if self.ctrl || self.alt {
            None
        } else if let Some(c) = keypad(code) {
            Some(c)
        } else {
            match self.layout {
                KeyboardLayout::UsQwerty if !self.altgr => us_key(code).map(|(normal, shifted)| {
                    let upper = shift ^ (self.caps_lock && normal.is_ascii_alphabetic());
                    if upper {
                        shifted
                    } else {
                        normal
                    }
                }),
                KeyboardLayout::UsQwerty => None,
                KeyboardLayout::FrAzerty if self.altgr => fr_altgr(code),
                KeyboardLayout::FrAzerty => fr_key(code).and_then(|(normal, shifted)| {
                    // Caps Lock shifts letters only, as the Linux `fr` layout does.
                    let upper = shift ^ (self.caps_lock && normal.is_ascii_alphabetic());
                    if upper {
                        shifted
                    } else {
                        Some(normal)
                    }
                }),
            }
        };
        match c {
            Some(_) if self.len >= MAX_WEDGE_SCAN => self.error = Some(WedgeError::TooLong),
            Some(c) => {
                self.buf.push(c);
                self.len += 1;
            }
            None => self.error = Some(WedgeError::UnmappedKey(code)),
        }
    }
}

/// Decodes a whole sequence of `(code, value)` key events.
pub fn decode_keys(
    layout: KeyboardLayout,
    events: &[(u16, i32)],
) -> Vec<Result<String, WedgeError>> {
    let mut decoder = KeyDecoder::new(layout);
    events
        .iter()
        .filter_map(|&(code, value)| decoder.key(code, value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(code: u16) -> [(u16, i32); 2] {
        [(code, KEY_PRESSED), (code, KEY_RELEASED)]
    }

    fn shifted(code: u16) -> [(u16, i32); 4] {
        [
            (KEY_LEFTSHIFT, KEY_PRESSED),
            (code, KEY_PRESSED),
            (code, KEY_RELEASED),
            (KEY_LEFTSHIFT, KEY_RELEASED),
        ]
    }

    const DIGIT_KEYS: [u16; 10] = [11, 2, 3, 4, 5, 6, 7, 8, 9, 10];

    /// What a US-configured scanner sends for `3017620422003` + Enter.
    fn us_events(text: &str) -> Vec<(u16, i32)> {
        let mut events = Vec::new();
        for c in text.chars() {
            let digit = c.to_digit(10).map(|d| DIGIT_KEYS[d as usize]);
            events.extend(tap(digit.unwrap_or(57)));
        }
        events.extend(tap(KEY_ENTER));
        events
    }

    /// What an AZERTY-configured scanner sends: Shift + digit-row key for each digit.
    fn fr_events(text: &str) -> Vec<(u16, i32)> {
        let mut events = Vec::new();
        for c in text.chars() {
            let digit = c.to_digit(10).map(|d| DIGIT_KEYS[d as usize]);
            events.extend(shifted(digit.unwrap_or(57)));
        }
        events.extend(tap(KEY_ENTER));
        events
    }

    #[test]
    fn golden_us_digits() {
        assert_eq!(
            decode_keys(KeyboardLayout::UsQwerty, &us_events("3017620422003")),
            vec![Ok("3017620422003".to_owned())]
        );
    }

    #[test]
    fn golden_azerty_digits_need_shift() {
        let events = fr_events("3017620422003");
        assert_eq!(
            decode_keys(KeyboardLayout::FrAzerty, &events),
            vec![Ok("3017620422003".to_owned())]
        );
        // The same keys without Shift: what an AZERTY PC shows for a US-configured scanner.
        assert_eq!(
            decode_keys(KeyboardLayout::FrAzerty, &us_events("3017620422003")),
            vec![Ok("\"à&è-éà'ééàà\"".to_owned())]
        );
        // And a US decoder reading an AZERTY scanner's keys sees the shifted US symbols.
        assert_eq!(
            decode_keys(KeyboardLayout::UsQwerty, &fr_events("96385074")),
            vec![Ok("(^#*%)&$".to_owned())]
        );
    }

    #[test]
    fn golden_letters_and_symbols() {
        // "aZ-1" on US: a, Shift+z, minus, 1.
        let mut us = Vec::new();
        us.extend(tap(30));
        us.extend(shifted(44));
        us.extend(tap(12));
        us.extend(tap(2));
        us.extend(tap(KEY_KPENTER));
        assert_eq!(
            decode_keys(KeyboardLayout::UsQwerty, &us),
            vec![Ok("aZ-1".to_owned())]
        );
        // The same physical keys on AZERTY: q, Shift+w, ), &.
        assert_eq!(
            decode_keys(KeyboardLayout::FrAzerty, &us),
            vec![Ok("qW)&".to_owned())]
        );
        // AltGr+0 is @ on AZERTY; keypad digits are layout independent.
        let mut fr = vec![(KEY_RIGHTALT, KEY_PRESSED)];
        fr.extend(tap(11));
        fr.push((KEY_RIGHTALT, KEY_RELEASED));
        fr.extend(tap(79));
        fr.extend(tap(82));
        fr.extend(tap(KEY_TAB));
        assert_eq!(
            decode_keys(KeyboardLayout::FrAzerty, &fr),
            vec![Ok("@10".to_owned())]
        );
    }

    #[test]
    fn caps_lock_affects_letters_only() {
        let mut events = Vec::new();
        events.extend(tap(KEY_CAPSLOCK));
        events.extend(tap(16));
        events.extend(tap(2));
        events.extend(tap(KEY_CAPSLOCK));
        events.extend(tap(16));
        events.extend(tap(KEY_ENTER));
        assert_eq!(
            decode_keys(KeyboardLayout::UsQwerty, &events),
            vec![Ok("Q1q".to_owned())]
        );
        assert_eq!(
            decode_keys(KeyboardLayout::FrAzerty, &events),
            vec![Ok("A&a".to_owned())]
        );
    }

    #[test]
    fn unmapped_keys_fail_the_scan_only() {
        let mut events = Vec::new();
        events.extend(tap(2));
        events.extend(tap(26)); // dead circumflex on AZERTY
        events.extend(tap(3));
        events.extend(tap(KEY_ENTER));
        events.extend(shifted(2));
        events.extend(tap(KEY_ENTER));
        assert_eq!(
            decode_keys(KeyboardLayout::FrAzerty, &events),
            vec![Err(WedgeError::UnmappedKey(26)), Ok("1".to_owned())]
        );
        let ctrl_c = [
            (KEY_LEFTCTRL, KEY_PRESSED),
            (46, KEY_PRESSED),
            (KEY_LEFTCTRL, KEY_RELEASED),
            (KEY_ENTER, KEY_PRESSED),
        ];
        assert_eq!(
            decode_keys(KeyboardLayout::UsQwerty, &ctrl_c),
            vec![Err(WedgeError::UnmappedKey(46))]
        );
    }

    #[test]
    fn repeats_releases_and_empty_scans_are_ignored() {
        let events = [
            (KEY_ENTER, KEY_PRESSED),
            (2, KEY_PRESSED),
            (2, KEY_REPEAT),
            (2, KEY_RELEASED),
            (KEY_ENTER, KEY_PRESSED),
        ];
        assert_eq!(
            decode_keys(KeyboardLayout::UsQwerty, &events),
            vec![Ok("1".to_owned())]
        );
    }

    #[test]
    fn overlong_scans_are_errors() {
        let mut events = Vec::new();
        for _ in 0..=MAX_WEDGE_SCAN {
            events.extend(tap(2));
        }
        events.extend(tap(KEY_ENTER));
        events.extend(tap(3));
        events.extend(tap(KEY_ENTER));
        assert_eq!(
            decode_keys(KeyboardLayout::UsQwerty, &events),
            vec![Err(WedgeError::TooLong), Ok("2".to_owned())]
        );
    }
}
