//! Arbitrary bytes (mutated from real record bodies, `fuzz/seeds/canonical_body`) into the
//! verifier's canonical-form check: no panic, and the one-pass scanner never accepts what the
//! reference check (parse, encode again with `serde_json_canonicalizer`, compare the bytes)
//! refuses. The verifier takes the scanner's word for every record it accepts, so one body
//! accepted wrongly is a non-canonical record it would not report. The validator built on both
//! must give the reference's verdict and error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pos_format::canonical;

fuzz_target!(|data: &[u8]| {
    let reference = canonical::check_canonical(data).map(|_| ());
    if canonical::is_surely_canonical(data) {
        assert!(
            reference.is_ok(),
            "the scanner accepted a body the reference refuses: {reference:?}"
        );
    }
    assert_eq!(canonical::validate_canonical(data), reference);
});
