//! OAuth 1.0a request signatures as WooCommerce checks them over plain HTTP, written here from
//! RFC 5849 (section 3.4.1: the signature base string) rather than taken from the client in
//! `shop-sync`, so that a mistake in the client's signing fails the tests instead of being
//! repeated by the fake. WooCommerce signs with HMAC-SHA256 (the RFC's example uses
//! HMAC-SHA1; its base string, which does not depend on the method, is the test vector).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Percent-encoding of RFC 3986 section 2.1 as RFC 5849 section 3.6 asks: every byte but the
/// unreserved characters, as `%` and two uppercase hex digits.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The signature base string of a request: the method in uppercase, the base URL and the
/// normalized parameters (each name and value encoded, sorted by name then value, joined),
/// each encoded again and joined with `&`. `params` are decoded, without `oauth_signature`
/// (it is left out if present).
pub fn base_string(method: &str, base_url: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_url),
        encode(&normalized)
    )
}

/// The HMAC-SHA256 signature (base64) of a request, with the consumer secret and no token
/// secret (the key is `secret&`).
pub fn signature(
    method: &str,
    base_url: &str,
    params: &[(String, String)],
    secret: &str,
) -> String {
    let key = format!("{}&", encode(secret));
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(base_string(method, base_url, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    /// RFC 5849, section 3.4.1.1: the request of section 3.4.1's example and its base string.
    #[test]
    fn the_base_string_of_rfc_5849s_example() {
        let params = [
            p("b5", "=%3D"),
            p("a3", "a"),
            p("c@", ""),
            p("a2", "r b"),
            p("oauth_consumer_key", "9djdj82h48djs9d2"),
            p("oauth_token", "kkk9d7dh3k39sjv7"),
            p("oauth_signature_method", "HMAC-SHA1"),
            p("oauth_timestamp", "137131201"),
            p("oauth_nonce", "7d8f3e4a"),
            p("oauth_signature", "djosJKDKJSD8743243/jdk33klY="),
            p("c2", ""),
            p("a3", "2 q"),
        ];
        assert_eq!(
            base_string("post", "http://example.com/request", &params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26\
             b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26\
             oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D\
             137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    #[test]
    fn unreserved_characters_stay_and_the_rest_is_encoded_in_uppercase() {
        assert_eq!(encode("Az09-._~"), "Az09-._~");
        assert_eq!(encode("a b+c/é"), "a%20b%2Bc%2F%C3%A9");
    }
}
