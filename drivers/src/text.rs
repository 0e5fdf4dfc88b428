//! Text for the printer: Unicode to code page WPC1252 (`ESC t 16`), one byte per column.
//!
//! WPC1252 has every character French receipts need (é è à ç œ Œ € « » – ’), which PC858 lacks
//! (œ, –). A character outside the code page becomes a close ASCII form ("ő" -> "o",
//! "…" -> "..."), and a last resort `?`: never raw UTF-8, which prints as garbage. Control
//! characters become a space so a label can never smuggle an ESC/POS command into a job.

/// `ESC t 16`: select WPC1252 (Epson numbering; TM-T20 and most clones agree).
pub const SELECT_WPC1252: [u8; 3] = [0x1B, 0x74, 16];

/// WPC1252 bytes 0x80-0x9F (None: undefined in the code page).
const WPC1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

/// The WPC1252 byte of a character, if the code page has it. Control characters have none.
pub fn wpc1252_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    match code {
        0x20..=0x7E => u8::try_from(code).ok(),
        0xA0..=0xFF => u8::try_from(code).ok(),
        _ => WPC1252_HIGH
            .iter()
            .position(|&entry| entry == Some(c))
            .and_then(|i| u8::try_from(0x80 + i).ok()),
    }
}

/// An ASCII stand-in for a character the code page lacks.
fn fallback(c: char) -> &'static str {
    match c {
        '\u{2009}' | '\u{202F}' | '\u{2007}' | '\u{2002}' | '\u{2003}' => " ",
        '\u{2212}' | '\u{2010}' | '\u{2011}' => "-",
        '\u{2032}' => "'",
        '\u{2033}' => "\"",
        '≤' => "<=",
        '≥' => ">=",
        '≠' => "!=",
        '→' => "->",
        '←' => "<-",
        'ā' | 'ă' | 'ą' => "a",
        'Ā' | 'Ă' | 'Ą' => "A",
        'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ď' | 'đ' => "d",
        'Ď' | 'Đ' => "D",
        'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'ğ' | 'ġ' | 'ģ' => "g",
        'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'ł' | 'ľ' | 'ĺ' | 'ļ' => "l",
        'Ł' | 'Ľ' | 'Ĺ' | 'Ļ' => "L",
        'ń' | 'ň' | 'ņ' => "n",
        'Ń' | 'Ň' | 'Ņ' => "N",
        'ō' | 'ŏ' | 'ő' => "o",
        'Ō' | 'Ŏ' | 'Ő' => "O",
        'ŕ' | 'ř' | 'ŗ' => "r",
        'Ŕ' | 'Ř' | 'Ŗ' => "R",
        'ś' | 'ŝ' | 'ş' | 'ș' => "s",
        'Ś' | 'Ŝ' | 'Ş' | 'Ș' => "S",
        'ť' | 'ţ' | 'ț' => "t",
        'Ť' | 'Ţ' | 'Ț' => "T",
        'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ź' | 'ż' => "z",
        'Ź' | 'Ż' => "Z",
        _ => "?",
    }
}

/// Encodes text for a printer set to WPC1252: one byte per printed column.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push(b' ');
        } else if let Some(byte) = wpc1252_byte(c) {
            out.push(byte);
        } else {
            out.extend_from_slice(fallback(c).as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_characters_map_to_wpc1252() {
        assert_eq!(
            encode("é è à ç œ Œ € « » – ’"),
            vec![
                0xE9, b' ', 0xE8, b' ', 0xE0, b' ', 0xE7, b' ', 0x9C, b' ', 0x8C, b' ', 0x80, b' ',
                0xAB, b' ', 0xBB, b' ', 0x96, b' ', 0x92
            ]
        );
        assert_eq!(encode("ÉCOLE"), vec![0xC9, b'C', b'O', b'L', b'E']);
    }

    #[test]
    fn missing_characters_fall_back_to_ascii() {
        assert_eq!(encode("Dvořák"), b"Dvor\xe1k".to_vec());
        assert_eq!(encode("1\u{202F}000"), b"1 000".to_vec());
        assert_eq!(encode("好"), b"?".to_vec());
    }

    #[test]
    fn control_characters_cannot_inject_commands() {
        assert_eq!(encode("a\x1bp\x00b\n"), b"a p b ".to_vec());
    }

    #[test]
    fn output_is_never_raw_utf8() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let bytes = encode(&all);
        // Every byte is printable ASCII or a defined WPC1252 byte.
        assert!(bytes.iter().all(|&b| b >= 0x20
            && b != 0x7F
            && (!(0x80..0xA0).contains(&b) || WPC1252_HIGH[usize::from(b - 0x80)].is_some())));
    }
}
