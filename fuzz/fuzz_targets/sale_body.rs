//! Arbitrary bytes (mutated from real sale bodies, `fuzz/seeds/sale_body`) into the verifier's
//! exact sale decoder: no panic, and whatever it accepts is canonical JSON that serde decodes to
//! the same sale, and that the one-pass encoder writes back byte for byte. The exact decoder lets the verifier skip the canonical check and serde for
//! the sales it accepts, so accepting one byte more than they would is a hole in the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pos_format::{canonical, exact_sale, ticket};

fuzz_target!(|data: &[u8]| {
    if let Some(sale) = exact_sale::decode(data) {
        assert!(
            canonical::validate_canonical(data).is_ok(),
            "accepted a body that is not canonical"
        );
        let by_serde: ticket::SaleBody =
            serde_json::from_slice(data).expect("serde decodes what the exact decoder accepts");
        assert_eq!(sale, by_serde);
        assert_eq!(
            exact_sale::encode(&sale).as_deref(),
            Some(data),
            "the one-pass encoder does not write back what was accepted"
        );
    }
});
