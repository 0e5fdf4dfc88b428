//! The web till's pages, built into the binary: posd serves them with no network, no CDN and
//! no Node toolchain, at `/` (the till), `/admin` (the back office) and under `/assets/`.
//!
//! The pages hold no secret: they call the API with the browser session's cookie (see
//! `api::session`). Every page is served with a content security policy that allows only
//! posd's own scripts, styles and API (no inline script, no other origin, no framing: a PIN
//! pad cannot be overlaid by another site).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One built-in file.
struct Asset {
    /// Its name under `/assets/`.
    name: &'static str,
    /// Its media type.
    content_type: &'static str,
    /// Its bytes.
    body: &'static [u8],
}

/// The till's page.
const TILL_HTML: &[u8] = include_bytes!("../web/till.html");
/// The back office's page.
const ADMIN_HTML: &[u8] = include_bytes!("../web/admin.html");

/// A built-in file of `web/`, by name.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../web/", $name)),
        }
    };
}

/// Every file under `/assets/`. The till's script is split by what each part does (loaded in
/// this order by `till.html`, `till.js` last: it starts the page).
const ASSETS: &[Asset] = &[
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("till-signin.js", "text/javascript; charset=utf-8"),
    asset!("till-ticket.js", "text/javascript; charset=utf-8"),
    asset!("till-scan.js", "text/javascript; charset=utf-8"),
    asset!("till-pay.js", "text/javascript; charset=utf-8"),
    asset!("till-manager.js", "text/javascript; charset=utf-8"),
    asset!("till-returns.js", "text/javascript; charset=utf-8"),
    asset!("till-reports.js", "text/javascript; charset=utf-8"),
    asset!("till-status.js", "text/javascript; charset=utf-8"),
    asset!("till.js", "text/javascript; charset=utf-8"),
    asset!("admin.js", "text/javascript; charset=utf-8"),
    asset!("till.css", "text/css; charset=utf-8"),
    asset!("admin.css", "text/css; charset=utf-8"),
    asset!("i18n/fr.json", "application/json"),
    asset!("i18n/en.json", "application/json"),
];

/// The languages the pages speak, the first the default.
pub const LANGUAGES: &[&str] = &["fr", "en"];

/// What every page and asset is served with.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The routes of the pages: the till at `/`, the back office at `/admin`, their files under
/// `/assets/`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(till))
        .route("/admin", get(admin))
        .route("/assets/{*name}", get(asset))
}

/// The bytes of every built-in file, by name (the till's page as `till.html`): for the size
/// budget and the tests.
pub fn files() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    [("till.html", TILL_HTML), ("admin.html", ADMIN_HTML)]
        .into_iter()
        .chain(ASSETS.iter().map(|a| (a.name, a.body)))
}

async fn till() -> Response {
    page("text/html; charset=utf-8", TILL_HTML)
}

async fn admin() -> Response {
    page("text/html; charset=utf-8", ADMIN_HTML)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => page(a.content_type, a.body),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such file",
        )
            .into_response(),
    }
}

/// A built-in file with its headers. `no-cache`: a browser asks again (cheaply, on the same
/// machine) so that a new posd's pages are used at once after an upgrade.
fn page(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every text of the pages comes from one catalogue per language: both catalogues name the
    /// same keys, and every key the pages use is in them.
    #[test]
    fn every_language_has_every_text_the_pages_use() {
        let catalogue = |lang: &str| -> BTreeSet<String> {
            let name = format!("i18n/{lang}.json");
            let (_, bytes) = files().find(|(n, _)| *n == name).expect("catalogue");
            let v: serde_json::Value = serde_json::from_slice(bytes).expect("JSON");
            v.as_object().expect("object").keys().cloned().collect()
        };
        let fr = catalogue("fr");
        for lang in LANGUAGES {
            assert_eq!(catalogue(lang), fr, "{lang} and fr name different texts");
        }
        // Keys the pages name literally: data-t="..." and t('...').
        let mut used = BTreeSet::new();
        for (name, bytes) in files().filter(|(n, _)| !n.ends_with(".json")) {
            let text = std::str::from_utf8(bytes).expect("UTF-8");
            for marker in ["data-t=\"", "data-t-placeholder=\"", "t('"] {
                for (at, _) in text.match_indices(marker) {
                    // `t('` alone, not the end of another name (`createElement('`).
                    let before = text[..at].chars().next_back().unwrap_or(' ');
                    if marker == "t('" && (before.is_alphanumeric() || before == '_') {
                        continue;
                    }
                    let key: String = text[at + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                        .collect();
                    if !key.is_empty() {
                        used.insert((name, key));
                    }
                }
            }
        }
        let missing: Vec<_> = used.iter().filter(|(_, k)| !fr.contains(k)).collect();
        assert!(
            missing.is_empty(),
            "texts missing from the catalogues: {missing:?}"
        );
    }

    #[test]
    fn the_pages_fit_the_size_budget() {
        let total: usize = files().map(|(_, b)| b.len()).sum();
        assert!(total < 500 * 1024, "{total} bytes of pages and assets");
    }
}
