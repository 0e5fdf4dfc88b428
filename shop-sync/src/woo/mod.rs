//! WooCommerce REST API v3 connector (see `REFERENCE.md` §5 for the behaviour it copes with).
//!
//! - SKUs are looked up with `GET /products?sku=A,B` (variations included).
//! - Writes are relative (`inventory_delta`) through `POST /products/batch` and
//!   `POST /products/{parent}/variations/batch`, at most 100 items each; per-item errors inside
//!   the HTTP 200 become [`ChangeOutcome::Rejected`]. There is no idempotency: a write whose
//!   answer was lost is [`ChangeOutcome::Unknown`] and never resent here.
//! - Orders are read with `modified_after` (strict, 1-second resolution), `dates_are_gmt`,
//!   `orderby=modified&order=asc`, 100 per page; page URLs are built here (the `Link` header
//!   drops the filters). Dates come from the `*_gmt` fields.
//! - Payloads are parsed leniently: ids as numbers or strings, `""` for empty, quantities as
//!   strings, money as strings (`"8.33"`, sometimes `"6.941667"`) or numbers, read exactly
//!   ([`Decimal`]) and rounded to cents once.
//! - 429 and 5xx are retried for reads with exponential back-off, honouring `Retry-After`;
//!   every request waits out a `Retry-After` the shop gave earlier.
//! - Basic auth over HTTPS; OAuth 1.0a one-legged (HMAC-SHA256) over plain HTTP.

use crate::clock::Clock;
use crate::connector::{
    BoxFuture, Capabilities, ChangeOutcome, Connector, ConnectorError, OnlineOrder, OrderCursor,
    OrderLine, OrderPage, RemoteItem, StockChange,
};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod parse;

use parse::lenient_str;
pub use parse::{
    format_gmt, lenient_cents, lenient_id, lenient_int, line_paid_cents, parse_gmt, woo_effect,
    Decimal,
};

/// The most items WooCommerce accepts in one batch (413 above).
pub const MAX_BATCH: usize = 100;
/// The most SKUs looked up in one request (keeps URLs short).
pub const MAX_SKUS_PER_LOOKUP: usize = 50;
/// Orders per page (`per_page` above 100 is a 400).
pub const PER_PAGE: usize = 100;
/// The largest response body read.
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// Attempts of a read before giving up for this round.
pub const READ_ATTEMPTS: u32 = 4;
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How to reach a WooCommerce shop.
#[derive(Clone)]
pub struct WooConfig {
    /// The shop's name in movement keys (`"woo"`).
    pub name: String,
    /// The site URL (`https://shop.example`), without `/wp-json`.
    pub url: String,
    /// REST API consumer key (`ck_…`).
    pub consumer_key: String,
    /// REST API consumer secret (`cs_…`).
    pub consumer_secret: String,
    /// The webhook secret (as entered in WooCommerce → Settings → Advanced → Webhooks).
    pub webhook_secret: String,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for WooConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("consumer_key", &"…")
            .finish_non_exhaustive()
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// HTTP Basic with the consumer key and secret (HTTPS only).
    Basic,
    /// OAuth 1.0a one-legged, HMAC-SHA256 (plain HTTP).
    OAuth1,
}

/// The WooCommerce connector.
pub struct WooConnector {
    cfg: WooConfig,
    api: String,
    auth: AuthMode,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// Not before this time (ms): a `Retry-After` the shop gave.
    not_before: Mutex<i64>,
    /// Product and variation ids to SKUs, learnt from lookups (order lines without a SKU).
    skus_by_id: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for WooConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooConnector")
            .field("cfg", &self.cfg)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

enum Fail {
    /// No answer (timeout, reset): a write may have been applied.
    Transport(String),
    /// An HTTP error status.
    Status(u16, String),
}

type HmacSha256 = Hmac<Sha256>;

const ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, ENCODE).to_string()
}

impl WooConnector {
    /// A connector; checks the configuration (URL scheme, keys) without contacting the shop.
    pub fn new(cfg: WooConfig, clock: Arc<dyn Clock>) -> Result<WooConnector, ConnectorError> {
        let url = cfg.url.trim_end_matches('/').to_string();
        let auth = if url.starts_with("https://") {
            AuthMode::Basic
        } else if url.starts_with("http://") {
            AuthMode::OAuth1
        } else {
            return Err(ConnectorError::Config(format!(
                "the shop URL must start with https:// or http://: {url:?}"
            )));
        };
        if cfg.consumer_key.is_empty() || cfg.consumer_secret.is_empty() {
            return Err(ConnectorError::Config(
                "the consumer key and secret are required".into(),
            ));
        }
        if cfg.name.is_empty() || cfg.name.contains(':') {
            return Err(ConnectorError::Config(format!(
                "bad shop name {:?}",
                cfg.name
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConnectorError::Config(format!("HTTP client: {e}")))?;
        Ok(WooConnector {
            api: format!("{url}/wp-json/wc/v3"),
            cfg,
            auth,
            http,
            clock,
            not_before: Mutex::new(0),
            skus_by_id: Mutex::new(HashMap::new()),
        })
    }

    /// The authentication used (Basic over HTTPS, OAuth 1.0a over HTTP).
    pub fn auth_mode(&self) -> AuthMode {
        self.auth
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        match m.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// OAuth 1.0a query parameters for a request (signature over method, URL and parameters).
    fn oauth_params(
        &self,
        method: &str,
        url: &str,
        query: &[(String, String)],
    ) -> Vec<(String, String)> {
        let nonce: u64 = rand::random();
        let mut params: Vec<(String, String)> = query.to_vec();
        params.push(("oauth_consumer_key".into(), self.cfg.consumer_key.clone()));
        params.push(("oauth_nonce".into(), format!("{nonce:016x}")));
        params.push(("oauth_signature_method".into(), "HMAC-SHA256".into()));
        params.push((
            "oauth_timestamp".into(),
            (self.clock.now_ms() / 1000).to_string(),
        ));
        let sig = oauth_signature(method, url, &params, &self.cfg.consumer_secret);
        params.push(("oauth_signature".into(), sig));
        params
    }

    async fn wait_not_before(&self) {
        let nb = *Self::lock(&self.not_before);
        let now = self.clock.now_ms();
        if nb > now {
            self.clock
                .sleep(Duration::from_millis((nb - now) as u64))
                .await;
        }
    }

    fn note_retry_after(&self, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
        let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
        let d = if let Ok(s) = v.trim().parse::<u64>() {
            Duration::from_secs(s)
        } else {
            let t = httpdate::parse_http_date(v.trim()).ok()?;
            let at = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
            Duration::from_millis((at - self.clock.now_ms()).max(0) as u64)
        };
        let d = d.min(MAX_RETRY_AFTER);
        let until = self.clock.now_ms() + d.as_millis() as i64;
        let mut nb = Self::lock(&self.not_before);
        *nb = (*nb).max(until);
        Some(d)
    }

    /// One request, no retry. The path is relative to `/wp-json/wc/v3`.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, Fail> {
        self.wait_not_before().await;
        let url = format!("{}{}", self.api, path);
        let q = match self.auth {
            AuthMode::Basic => query.to_vec(),
            AuthMode::OAuth1 => self.oauth_params(method.as_str(), &url, query),
        };
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        let full = if qs.is_empty() {
            url
        } else {
            format!("{url}?{}", qs.join("&"))
        };
        let mut rb = self.http.request(method, &full);
        if self.auth == AuthMode::Basic {
            rb = rb.basic_auth(&self.cfg.consumer_key, Some(&self.cfg.consumer_secret));
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let mut resp = rb
            .send()
            .await
            .map_err(|e| Fail::Transport(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if status == 429 || status == 503 {
            self.note_retry_after(resp.headers());
        }
        let mut buf = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if buf.len() + c.len() > MAX_BODY_BYTES {
                        return Err(Fail::Transport("response body too large".into()));
                    }
                    buf.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Fail::Transport(format!(
                        "reading the answer: {}",
                        e.without_url()
                    )))
                }
            }
        }
        if !(200..300).contains(&status) {
            let msg = serde_json::from_slice::<Value>(&buf)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&buf).chars().take(200).collect());
            return Err(Fail::Status(status, msg));
        }
        serde_json::from_slice(&buf).map_err(|e| Fail::Status(status, format!("bad JSON: {e}")))
    }

    /// A read, retried on 429, 5xx and transport failures with back-off.
    async fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, ConnectorError> {
        let mut delay = Duration::from_secs(1);
        let mut last = String::new();
        for attempt in 0..READ_ATTEMPTS {
            if attempt > 0 {
                self.clock.sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            match self.send(reqwest::Method::GET, path, query, None).await {
                Ok(v) => return Ok(v),
                Err(Fail::Status(401 | 403, m)) => return Err(ConnectorError::Auth(m)),
                Err(Fail::Status(s, m)) if s == 429 || s >= 500 || s == 405 => {
                    last = format!("HTTP {s}: {m}");
                }
                Err(Fail::Status(s, m)) => {
                    return Err(ConnectorError::Protocol(format!("HTTP {s}: {m}")))
                }
                Err(Fail::Transport(m)) => last = m,
            }
        }
        Err(ConnectorError::Unavailable(last))
    }

    fn remember(&self, id: &str, sku: &str) {
        let mut m = Self::lock(&self.skus_by_id);
        if m.len() < 100_000 {
            m.insert(id.to_string(), sku.to_string());
        }
    }
}

/// The OAuth 1.0a signature (HMAC-SHA256, key `secret&`) of a request, as WooCommerce checks
/// it: the base string is `METHOD&enc(url)&enc(sorted, encoded parameters)`.
pub fn oauth_signature(
    method: &str,
    url: &str,
    params: &[(String, String)],
    secret: &str,
) -> String {
    let mut p: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (enc(k), enc(v)))
        .collect();
    p.sort();
    let joined: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        enc(url),
        enc(&joined.join("&"))
    );
    let key = format!("{secret}&");
    let mut mac = match HmacSha256::new_from_slice(key.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks `X-WC-Webhook-Signature`: base64(HMAC-SHA256(raw body, secret)), in constant time.
pub fn verify_signature(secret: &str, signature: &str, body: &[u8]) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

impl WooConnector {
    fn parse_item(&self, v: &Value) -> Option<RemoteItem> {
        let id = lenient_id(v.get("id"))?;
        let sku = lenient_str(v.get("sku"));
        if sku.is_empty() {
            return None;
        }
        let parent = lenient_id(v.get("parent_id"));
        let manage = v.get("manage_stock");
        let (id, parent, managed) = match manage {
            Some(Value::Bool(b)) => (id, parent, *b),
            // A variation whose stock is its parent's: writes go to the parent.
            Some(Value::String(s)) if s == "parent" => match parent {
                Some(p) => (p, None, true),
                None => (id, None, false),
            },
            Some(Value::String(s)) => (id, parent, s == "true" || s == "1" || s == "yes"),
            _ => (id, parent, false),
        };
        let level = lenient_int(v.get("stock_quantity"));
        self.remember(&id, &sku);
        Some(RemoteItem {
            sku,
            id,
            parent_id: parent,
            managed: managed && level.is_some(),
            level: if managed { level } else { None },
        })
    }

    fn parse_order(&self, v: &Value) -> Result<OnlineOrder, String> {
        let id = lenient_id(v.get("id")).ok_or("an order without id")?;
        let modified = lenient_str(v.get("date_modified_gmt"));
        let modified = if modified.is_empty() {
            lenient_str(v.get("date_created_gmt"))
        } else {
            modified
        };
        let modified_ms =
            parse_gmt(&modified).ok_or_else(|| format!("order {id}: bad date {modified:?}"))?;
        let status = lenient_str(v.get("status"));
        let pickup = v
            .get("shipping_lines")
            .and_then(|s| s.as_array())
            .is_some_and(|a| {
                a.iter().any(|l| {
                    matches!(
                        lenient_str(l.get("method_id")).as_str(),
                        "local_pickup" | "pickup_location"
                    )
                })
            });
        let mut lines = Vec::new();
        if let Some(items) = v.get("line_items").and_then(|l| l.as_array()) {
            for (i, l) in items.iter().take(1000).enumerate() {
                let mut sku = lenient_str(l.get("sku"));
                if sku.is_empty() {
                    let vid = lenient_id(l.get("variation_id")).or(lenient_id(l.get("product_id")));
                    if let Some(vid) = vid {
                        if let Some(s) = Self::lock(&self.skus_by_id).get(&vid) {
                            sku = s.clone();
                        }
                    }
                }
                lines.push(OrderLine {
                    line_id: lenient_id(l.get("id")).unwrap_or_else(|| format!("#{i}")),
                    sku,
                    quantity: lenient_int(l.get("quantity")).unwrap_or(0),
                    name: lenient_str(l.get("name")).chars().take(256).collect(),
                    paid_cents: line_paid_cents(l),
                });
            }
        }
        Ok(OnlineOrder {
            effect: woo_effect(&status),
            id,
            modified,
            modified_ms,
            status,
            pickup,
            lines,
            total_cents: lenient_cents(v.get("total")),
        })
    }

    async fn apply_group(
        &self,
        path: &str,
        group: &[&StockChange],
    ) -> Result<Vec<ChangeOutcome>, ConnectorError> {
        let update: Vec<Value> = group
            .iter()
            .map(|c| {
                let id: Value = c
                    .item
                    .id
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(c.item.id.clone()));
                json!({"id": id, "inventory_delta": c.delta})
            })
            .collect();
        let body = json!({ "update": update });
        match self
            .send(reqwest::Method::POST, path, &[], Some(&body))
            .await
        {
            Ok(v) => {
                let mut by_id: HashMap<String, ChangeOutcome> = HashMap::new();
                if let Some(items) = v.get("update").and_then(|u| u.as_array()) {
                    for it in items {
                        let Some(id) = lenient_id(it.get("id")) else {
                            continue;
                        };
                        let outcome = if let Some(err) = it.get("error") {
                            let code = lenient_str(err.get("code"));
                            let msg = lenient_str(err.get("message"));
                            ChangeOutcome::Rejected {
                                retry: false,
                                reason: format!("{code}: {msg}"),
                            }
                        } else {
                            ChangeOutcome::Applied {
                                after: lenient_int(it.get("stock_quantity")),
                            }
                        };
                        by_id.insert(id, outcome);
                    }
                }
                Ok(group
                    .iter()
                    .map(|c| by_id.remove(&c.item.id).unwrap_or(ChangeOutcome::Unknown))
                    .collect())
            }
            Err(Fail::Status(401 | 403, m)) => Err(ConnectorError::Auth(m)),
            Err(Fail::Status(429, m)) => Ok(group
                .iter()
                .map(|_| ChangeOutcome::Rejected {
                    retry: true,
                    reason: format!("HTTP 429: {m}"),
                })
                .collect()),
            Err(Fail::Status(s, m)) if (400..500).contains(&s) && s != 408 => Ok(group
                .iter()
                .map(|_| ChangeOutcome::Rejected {
                    retry: false,
                    reason: format!("HTTP {s}: {m}"),
                })
                .collect()),
            // 5xx, 408 and lost answers: the batch may have been applied.
            Err(_) => Ok(group.iter().map(|_| ChangeOutcome::Unknown).collect()),
        }
    }
}

impl Connector for WooConnector {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            relative_writes: true,
            idempotent_writes: false,
            compare_writes: false,
            webhooks: true,
            max_batch: MAX_BATCH,
        }
    }

    fn lookup<'a>(
        &'a self,
        skus: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<RemoteItem>, ConnectorError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for chunk in skus.chunks(MAX_SKUS_PER_LOOKUP) {
                let list: Vec<&str> = chunk
                    .iter()
                    .map(String::as_str)
                    .filter(|s| !s.contains(','))
                    .collect();
                if list.is_empty() {
                    continue;
                }
                let q = vec![
                    ("sku".to_string(), list.join(",")),
                    (
                        "_fields".to_string(),
                        "id,parent_id,type,sku,manage_stock,stock_quantity,stock_status"
                            .to_string(),
                    ),
                    ("per_page".to_string(), PER_PAGE.to_string()),
                ];
                let v = self.get("/products", &q).await?;
                let arr = v
                    .as_array()
                    .ok_or_else(|| ConnectorError::Protocol("products: not a list".into()))?;
                for p in arr {
                    if let Some(it) = self.parse_item(p) {
                        if chunk.contains(&it.sku) {
                            out.push(it);
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    fn apply<'a>(
        &'a self,
        changes: &'a [StockChange],
    ) -> BoxFuture<'a, Result<Vec<ChangeOutcome>, ConnectorError>> {
        Box::pin(async move {
            if changes.len() > MAX_BATCH {
                return Err(ConnectorError::Protocol(format!(
                    "at most {MAX_BATCH} changes per call"
                )));
            }
            let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
            for (i, c) in changes.iter().enumerate() {
                let path = match &c.item.parent_id {
                    Some(p) => format!("/products/{}/variations/batch", enc(p)),
                    None => "/products/batch".to_string(),
                };
                match groups.iter_mut().find(|g| g.0 == path) {
                    Some(g) => g.1.push(i),
                    None => groups.push((path, vec![i])),
                }
            }
            let mut out = vec![ChangeOutcome::Unknown; changes.len()];
            for (path, idx) in groups {
                let group: Vec<&StockChange> = idx.iter().map(|i| &changes[*i]).collect();
                let res = self.apply_group(&path, &group).await?;
                for (i, r) in idx.into_iter().zip(res) {
                    out[i] = r;
                }
            }
            Ok(out)
        })
    }

    fn orders<'a>(
        &'a self,
        cursor: &'a OrderCursor,
    ) -> BoxFuture<'a, Result<OrderPage, ConnectorError>> {
        Box::pin(async move {
            // `modified_after` is strictly after, to the second: ask from one second before.
            let after = (cursor.after_ms.div_euclid(1000) - 1) * 1000;
            let q = vec![
                ("modified_after".to_string(), format_gmt(after)),
                ("dates_are_gmt".to_string(), "true".to_string()),
                ("orderby".to_string(), "modified".to_string()),
                ("order".to_string(), "asc".to_string()),
                ("per_page".to_string(), PER_PAGE.to_string()),
                ("page".to_string(), cursor.page.max(1).to_string()),
            ];
            let v = self.get("/orders", &q).await?;
            let arr = v
                .as_array()
                .ok_or_else(|| ConnectorError::Protocol("orders: not a list".into()))?;
            let mut orders = Vec::with_capacity(arr.len());
            for o in arr {
                match self.parse_order(o) {
                    Ok(o) => orders.push(o),
                    Err(e) => tracing::warn!(shop = %self.cfg.name, error = %e, "order skipped"),
                }
            }
            orders.sort_by_key(|o| o.modified_ms);
            Ok(OrderPage {
                more: arr.len() >= PER_PAGE,
                orders,
            })
        })
    }

    fn verify_webhook(&self, signature: &str, body: &[u8]) -> bool {
        !self.cfg.webhook_secret.is_empty()
            && verify_signature(&self.cfg.webhook_secret, signature, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cents(v: Value) -> Option<i64> {
        lenient_cents(Some(&v))
    }

    #[test]
    fn money_is_parsed_exactly_and_rounded_half_away_from_zero() {
        assert_eq!(cents(json!("8.33")), Some(833));
        assert_eq!(cents(json!(" 12 ")), Some(1200));
        assert_eq!(cents(json!("0.5")), Some(50));
        assert_eq!(cents(json!(".5")), Some(50));
        assert_eq!(cents(json!("7.")), Some(700));
        assert_eq!(cents(json!("+1.00")), Some(100));
        assert_eq!(cents(json!("-1.50")), Some(-150));
        // Many decimals: rounded once, half away from zero on both sides of zero.
        assert_eq!(cents(json!("6.941667")), Some(694));
        assert_eq!(cents(json!("0.125")), Some(13));
        assert_eq!(cents(json!("-0.125")), Some(-13));
        assert_eq!(cents(json!("0.124999999999999999999")), Some(12));
        // JSON numbers, from their decimal text (no float arithmetic).
        assert_eq!(cents(json!(8.33)), Some(833));
        assert_eq!(cents(json!(12)), Some(1200));
        assert_eq!(cents(json!(-0.07)), Some(-7));
        assert_eq!(cents(json!(1.5e3)), Some(150_000));
        assert_eq!(cents(json!("1e-50")), Some(0));
        assert_eq!(cents(json!("2.5E1")), Some(2500));
        // Not money.
        for v in [
            json!(""),
            json!("  "),
            json!("-"),
            json!("."),
            json!("abc"),
            json!("1,50"),
            json!("1.2.3"),
            json!("12 €"),
            json!("--1"),
            json!("1e"),
            json!("1e99999999999"),
            json!("1234567890123456789012345678901"),
            json!(null),
            json!(true),
            json!([1]),
        ] {
            assert_eq!(cents(v.clone()), None, "{v}");
        }
        assert_eq!(lenient_cents(None), None);
    }

    #[test]
    fn a_line_paid_amount_sums_total_and_tax_before_rounding() {
        // Rounded separately, 6.941667 + 1.388333 would give 6.94 + 1.39 = 8.33 as well, but
        // 0.005 + 0.005 shows the difference: 0.01 exactly, not 0.01 + 0.01.
        let l = json!({"total": "6.941667", "total_tax": "1.388333"});
        assert_eq!(line_paid_cents(&l), Some(833));
        let l = json!({"total": "0.005", "total_tax": "0.005"});
        assert_eq!(line_paid_cents(&l), Some(1));
        let l = json!({"total": 10, "total_tax": "2.00"});
        assert_eq!(line_paid_cents(&l), Some(1200));
        let l = json!({"total": "-5.00", "total_tax": "-1.00"});
        assert_eq!(line_paid_cents(&l), Some(-600));
        assert_eq!(line_paid_cents(&json!({"total": "8.33"})), None);
        assert_eq!(
            line_paid_cents(&json!({"total": "", "total_tax": "1"})),
            None
        );
        assert_eq!(
            line_paid_cents(&json!({"total": "x", "total_tax": "1"})),
            None
        );
    }

    #[test]
    fn order_lines_carry_their_name_and_paid_amount() {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SimClock::new(0));
        let w = WooConnector::new(
            WooConfig {
                name: "woo".into(),
                url: "https://shop.example".into(),
                consumer_key: "ck".into(),
                consumer_secret: "cs".into(),
                webhook_secret: String::new(),
                timeout: Duration::from_secs(1),
            },
            clock,
        )
        .expect("connector");
        let o = w
            .parse_order(&json!({
                "id": 7, "status": "processing", "date_modified_gmt": "2025-03-01T10:00:00",
                "total": "9.90",
                "line_items": [
                    {"id": 1, "sku": "A", "name": "Pain", "quantity": 2,
                     "total": "6.941667", "total_tax": "1.388333"},
                    {"id": "2", "sku": "B", "quantity": "1", "total": "", "total_tax": ""}
                ],
                "shipping_lines": [{"method_id": "local_pickup"}]
            }))
            .expect("order");
        assert_eq!(o.total_cents, Some(990));
        assert!(o.pickup);
        assert_eq!(
            (o.lines[0].name.as_str(), o.lines[0].paid_cents),
            ("Pain", Some(833))
        );
        assert_eq!(
            (o.lines[1].name.as_str(), o.lines[1].paid_cents),
            ("", None)
        );
    }
}
