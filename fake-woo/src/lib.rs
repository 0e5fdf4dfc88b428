//! A fake WooCommerce (REST API v3) in axum, faithful to what `REFERENCE.md` §5 observed on a
//! real WooCommerce 10.0.2, shared by the tests of `shop-sync` and `pos-daemon` (a dev-only
//! crate, never shipped). It copies:
//!
//! - SKU lookups `GET /products?sku=A,B` returning products *and variations*, with
//!   `stock_quantity: null` when stock is not managed and `manage_stock: "parent"` on
//!   variations that use their parent's stock;
//! - absolute writes (`stock_quantity`) and relative writes (`inventory_delta`) that are *not
//!   atomic* (read, yield, write: concurrent deltas lose updates), through `PUT /products/{id}`,
//!   `POST /products/batch` and `POST /products/{pid}/variations/batch`; batches above 100 items
//!   are a 413, and a bad item's error comes back inside the HTTP 200;
//! - `GET /orders` with `modified_after` strictly after, at 1-second resolution, `orderby=modified`
//!   ascending, `per_page` above 100 a 400, and a `Link` header whose page URLs drop the filters;
//! - order states: processing / on-hold / completed reduce stock atomically once per line
//!   (`_reduced_stock`), cancelled (and pending after a hold) restores it; checkout refuses
//!   orders beyond stock, API-created orders skip the check (stock can go negative);
//!   `shipping_lines[].method_id` `local_pickup` for click & collect;
//! - loose payloads: ids sometimes as strings, quantities as strings, `""` SKUs on some order
//!   lines, local dates without offset next to the `*_gmt` ones, money as strings;
//! - order amounts as WooCommerce computes them with prices entered VAT included: each line's
//!   `name`, `price` (a JSON number, per unit, VAT excluded, after discounts), `subtotal` /
//!   `subtotal_tax` (before coupons) and `total` / `total_tax` (after them) as 2-decimal
//!   strings, where the VAT-included amount is the price times the quantity less the coupon's
//!   percentage (rounded to the cent), its VAT-excluded part `round(incl / (1 + rate))` and
//!   the tax the rest; fees (`fee_lines`), and the order's `total` as the sum of it all. The
//!   amounts are fixed when the order is placed (a later price change does not touch it);
//! - webhooks signed base64(HMAC-SHA256(body, secret)), delivered late (30 s), carrying the
//!   state at delivery time, some lost;
//! - OAuth 1.0a (HMAC-SHA256, key `secret&`, timestamps within 15 minutes) over plain HTTP.
//!   Signatures ([`oauth`], RFC 5849 with its test vector) and dates ([`dates`]) are checked
//!   and written with code of this crate, not the client's: a mistake in the client fails.
//!
//! Fault injection: a lost answer after the change was applied (the handler stalls past the
//! client's timeout), a connection cut after or before applying (the body stream fails), 429
//! with `Retry-After`, bursts of 503, the shop down until a simulated time, and "kill" hooks
//! that tell the test to drop the syncer (or SIGKILL the daemon running it) right after a write
//! was applied (`kill_next_write`), at a write that is then never applied
//! (`kill_before_next_write`) or applied only later, when the test calls [`land_held_write`]
//! or at a shop time set by `land_held_after` (`hold_next_write`: PHP finishing a request whose
//! client is gone), or while a given page of orders is being answered (`kill_at_orders_page`).

#![allow(dead_code, clippy::result_large_err)]

pub mod dates;
pub mod oauth;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sha2::Sha256;
use shop_sync::clock::{Clock, SimClock};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const KEY: &str = "ck_test";
pub const SECRET: &str = "cs_test";
pub const HOOK_SECRET: &str = "hook-secret";
/// The price of a new product, VAT included, in cents.
pub const DEFAULT_PRICE_CENTS: i64 = 1_000;
/// The VAT rate of a new product, in hundredths of a percent (20 %).
pub const DEFAULT_TAX_RATE_BP: i64 = 2_000;

#[derive(Debug, Clone)]
pub struct Product {
    pub id: u64,
    pub parent_id: u64,
    pub sku: String,
    /// `Some(true)`, `Some(false)`, or `None` for `"parent"`.
    pub manage: Option<bool>,
    pub stock: i64,
    /// The product's name.
    pub name: String,
    /// The price per unit, VAT included, in cents.
    pub price_cents: i64,
    /// The VAT rate, in hundredths of a percent.
    pub tax_rate_bp: i64,
}

/// What an order line was sold at, fixed when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePrice {
    /// The product's name then.
    pub name: String,
    /// The price per unit, VAT included, in cents.
    pub price_cents: i64,
    /// The VAT rate, in hundredths of a percent.
    pub tax_rate_bp: i64,
}

/// The amounts of one order line, in cents, as WooCommerce reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAmounts {
    /// Before coupons, VAT excluded.
    pub subtotal: i64,
    /// Its VAT.
    pub subtotal_tax: i64,
    /// After coupons, VAT excluded.
    pub total: i64,
    /// Its VAT.
    pub total_tax: i64,
}

impl LineAmounts {
    /// What the customer pays for the line: `total + total_tax`.
    pub fn paid(&self) -> i64 {
        self.total + self.total_tax
    }
}

/// `n / d` rounded half away from zero (`d > 0`).
fn div_round(n: i64, d: i64) -> i64 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Splits a VAT-included amount as WooCommerce does: the VAT-excluded part
/// `round(incl / (1 + rate))`, and the tax the rest.
fn split_vat(incl: i64, rate_bp: i64) -> (i64, i64) {
    let excl = div_round(incl * 10_000, 10_000 + rate_bp);
    (excl, incl - excl)
}

/// Cents as WooCommerce writes money: a string with two decimals.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: u64,
    pub status: String,
    pub modified_ms: i64,
    /// (line id, product id holding the stock, product or variation id, qty, reduced)
    pub lines: Vec<(u64, u64, u64, i64, bool)>,
    /// What each line (same order) was sold at.
    pub prices: Vec<LinePrice>,
    /// A percentage coupon applied to every line (0: none).
    pub coupon_pct: i64,
    /// Fees (VAT included, cents) charged on top of the lines.
    pub fee_cents: i64,
    pub pickup: bool,
}

impl Order {
    /// The amounts of line `i`, as WooCommerce computes them.
    pub fn amounts(&self, i: usize) -> Option<LineAmounts> {
        let (_, _, _, q, _) = self.lines.get(i)?;
        let p = self.prices.get(i)?;
        let sub_incl = p.price_cents * q;
        let incl = sub_incl - div_round(sub_incl * self.coupon_pct, 100);
        let (subtotal, subtotal_tax) = split_vat(sub_incl, p.tax_rate_bp);
        let (total, total_tax) = split_vat(incl, p.tax_rate_bp);
        Some(LineAmounts {
            subtotal,
            subtotal_tax,
            total,
            total_tax,
        })
    }

    /// What the customer pays for the whole order: the lines and the fees, VAT included.
    pub fn total_cents(&self) -> i64 {
        (0..self.lines.len())
            .filter_map(|i| self.amounts(i))
            .map(|a| a.paid())
            .sum::<i64>()
            + self.fee_cents
    }
}

/// A fault to inject into the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Apply, then stall past the client's timeout.
    TimeoutAfterApply,
    /// Apply, then cut the connection mid-answer.
    ResetAfterApply,
    /// Cut the connection without applying.
    ResetBefore,
    /// 429 with Retry-After (seconds).
    TooMany(u64),
    /// A burst of 503s (this and the next n-1 requests).
    Burst(u32),
    /// Apply, then ask the test to kill the syncer.
    Kill,
}

pub struct Shop {
    pub clock: Arc<SimClock>,
    pub products: BTreeMap<u64, Product>,
    pub orders: BTreeMap<u64, Order>,
    next_id: u64,
    rng: StdRng,
    /// Probability that a request fails.
    pub fault_rate: f64,
    /// Faults to inject next, in order (before random ones).
    pub queued: Vec<Fault>,
    pub down_until_ms: i64,
    burst_left: u32,
    pub requests: u64,
    pub faults_injected: HashMap<&'static str, u64>,
    /// Writes being processed per product (to check one write in flight per product).
    in_flight: HashMap<u64, u32>,
    pub max_in_flight: u32,
    pub webhooks: Vec<(i64, u64)>,
    pub webhook_loss: f64,
    pub kill: Arc<tokio::sync::Notify>,
    pub nonces: std::collections::HashSet<String>,
    /// Apply the next batch write, then ask the test to kill the syncer.
    pub kill_next_write: bool,
    /// At the next batch write, ask the test to kill the syncer *before* applying it: the
    /// request stalls, then its connection is cut and the write is never applied (it died
    /// with its client).
    pub kill_before_next_write: bool,
    /// At the next batch write, ask the test to kill the syncer and keep the write unapplied
    /// until [`land_held_write`]: a request PHP is still processing when its client dies, and
    /// whose change lands afterwards.
    pub hold_next_write: bool,
    /// With [`Shop::hold_next_write`]: the held write lands on its own this long (shop time)
    /// after it was received, before the first request served from then on (a client sees the
    /// shop only through requests, so it cannot tell). `None`: only [`land_held_write`] lands it.
    pub land_held_after: Option<Duration>,
    /// The held write's items.
    held: Option<Vec<Value>>,
    /// When the held write lands on its own (ms).
    held_due_ms: Option<i64>,
    /// Build the next answer for this page of `GET /orders`, then ask the test to kill the
    /// syncer (the answer stalls, as with [`Fault::Kill`]): a poll cut between two pages.
    pub kill_at_orders_page: Option<u32>,
    /// A fault for the next batch write only.
    pub write_fault: Option<Fault>,
}

pub type Fake = Arc<Mutex<Shop>>;

pub fn lock(s: &Fake) -> MutexGuard<'_, Shop> {
    match s.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn id_value(id: u64) -> Value {
    // Loose payloads: odd ids come back as strings.
    if id % 2 == 1 {
        Value::from(id.to_string())
    } else {
        Value::from(id)
    }
}

fn gmt(ms: i64) -> String {
    dates::format_gmt(ms)
}

impl Shop {
    pub fn new(clock: Arc<SimClock>, seed: u64) -> Shop {
        Shop {
            clock,
            products: BTreeMap::new(),
            orders: BTreeMap::new(),
            next_id: 100,
            rng: StdRng::seed_from_u64(seed),
            fault_rate: 0.0,
            queued: Vec::new(),
            down_until_ms: 0,
            burst_left: 0,
            requests: 0,
            faults_injected: HashMap::new(),
            in_flight: HashMap::new(),
            max_in_flight: 0,
            webhooks: Vec::new(),
            webhook_loss: 0.2,
            kill: Arc::new(tokio::sync::Notify::new()),
            nonces: Default::default(),
            kill_next_write: false,
            kill_before_next_write: false,
            hold_next_write: false,
            held: None,
            land_held_after: None,
            held_due_ms: None,
            kill_at_orders_page: None,
            write_fault: None,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_product(&mut self, sku: &str, stock: i64, managed: bool) -> u64 {
        let id = self.id();
        self.products.insert(
            id,
            Product {
                id,
                parent_id: 0,
                sku: sku.into(),
                manage: Some(managed),
                stock,
                name: sku.into(),
                price_cents: DEFAULT_PRICE_CENTS,
                tax_rate_bp: DEFAULT_TAX_RATE_BP,
            },
        );
        id
    }

    pub fn add_variation(&mut self, parent: u64, sku: &str, stock: i64) -> u64 {
        let id = self.id();
        self.products.insert(
            id,
            Product {
                id,
                parent_id: parent,
                sku: sku.into(),
                manage: Some(true),
                stock,
                name: sku.into(),
                price_cents: DEFAULT_PRICE_CENTS,
                tax_rate_bp: DEFAULT_TAX_RATE_BP,
            },
        );
        id
    }

    /// Sets a product's price (VAT included, cents) and VAT rate (hundredths of a percent)
    /// for the orders placed from now on.
    pub fn set_price(&mut self, sku: &str, price_cents: i64, tax_rate_bp: i64) {
        for p in self.products.values_mut().filter(|p| p.sku == sku) {
            p.price_cents = price_cents;
            p.tax_rate_bp = tax_rate_bp;
        }
    }

    /// Renames a product (order lines carry the name they were placed with).
    pub fn set_name(&mut self, sku: &str, name: &str) {
        for p in self.products.values_mut().filter(|p| p.sku == sku) {
            p.name = name.into();
        }
    }

    /// Applies a percentage coupon to an order (an edit: the order is modified now).
    pub fn set_coupon(&mut self, id: u64, pct: i64) {
        let now = self.clock.now_ms().div_euclid(1000) * 1000;
        if let Some(o) = self.orders.get_mut(&id) {
            o.coupon_pct = pct.clamp(0, 100);
            o.modified_ms = now;
        }
        self.hook(id);
    }

    /// Adds a fee (VAT included, cents) to an order (an edit: the order is modified now).
    pub fn set_fee(&mut self, id: u64, cents: i64) {
        let now = self.clock.now_ms().div_euclid(1000) * 1000;
        if let Some(o) = self.orders.get_mut(&id) {
            o.fee_cents = cents;
            o.modified_ms = now;
        }
        self.hook(id);
    }

    pub fn by_sku(&self, sku: &str) -> Option<&Product> {
        self.products.values().find(|p| p.sku == sku)
    }

    pub fn stock(&self, sku: &str) -> Option<i64> {
        self.by_sku(sku).map(|p| p.stock)
    }

    /// The product whose stock a line moves (a variation may use its parent's).
    fn holder(&self, id: u64) -> u64 {
        match self.products.get(&id) {
            Some(p) if p.manage.is_none() => p.parent_id,
            _ => id,
        }
    }

    /// Places an order: through the checkout (`api = false`: refused beyond stock) or the
    /// REST API (`api = true`: no stock check). Starts `pending`.
    pub fn place_order(&mut self, lines: &[(&str, i64)], pickup: bool, api: bool) -> Option<u64> {
        let mut ls = Vec::new();
        let mut prices = Vec::new();
        for (sku, q) in lines {
            let product = self.by_sku(sku)?;
            let p = product.id;
            prices.push(LinePrice {
                name: product.name.clone(),
                price_cents: product.price_cents,
                tax_rate_bp: product.tax_rate_bp,
            });
            let h = self.holder(p);
            if !api && self.products.get(&h).map(|p| p.stock).unwrap_or(0) < *q {
                return None;
            }
            let lid = self.id();
            ls.push((lid, h, p, *q, false));
        }
        let id = self.id();
        let now = self.clock.now_ms();
        self.orders.insert(
            id,
            Order {
                id,
                status: "pending".into(),
                modified_ms: now.div_euclid(1000) * 1000,
                lines: ls,
                prices,
                coupon_pct: 0,
                fee_cents: 0,
                pickup,
            },
        );
        self.hook(id);
        Some(id)
    }

    /// Changes an order's status, moving stock as WooCommerce does.
    pub fn set_status(&mut self, id: u64, status: &str) {
        let now = self.clock.now_ms().div_euclid(1000) * 1000;
        let Some(mut o) = self.orders.remove(&id) else {
            return;
        };
        let holds = matches!(status, "processing" | "on-hold" | "completed");
        let gives = matches!(status, "cancelled" | "pending");
        for l in o.lines.iter_mut() {
            if holds && !l.4 {
                if let Some(p) = self.products.get_mut(&l.1) {
                    p.stock -= l.3;
                }
                l.4 = true;
            } else if gives && l.4 {
                if let Some(p) = self.products.get_mut(&l.1) {
                    p.stock += l.3;
                }
                l.4 = false;
            }
        }
        o.status = status.into();
        o.modified_ms = now;
        self.orders.insert(id, o);
        self.hook(id);
    }

    fn hook(&mut self, id: u64) {
        if !self.rng.gen_bool(self.webhook_loss) {
            let due = self.clock.now_ms() + 30_000;
            self.webhooks.push((due, id));
        }
    }

    /// Webhook deliveries due now: (signature, body), the body showing the order as it is now.
    pub fn due_webhooks(&mut self) -> Vec<(String, Vec<u8>)> {
        let now = self.clock.now_ms();
        let (due, later): (Vec<_>, Vec<_>) = self.webhooks.drain(..).partition(|w| w.0 <= now);
        self.webhooks = later;
        due.into_iter()
            .filter_map(|(_, id)| {
                let body = serde_json::to_vec(&self.order_json(self.orders.get(&id)?)).ok()?;
                Some((sign(&body), body))
            })
            .collect()
    }

    pub fn order_json(&self, o: &Order) -> Value {
        let local = gmt(o.modified_ms + 3_600_000);
        let items: Vec<Value> = o
            .lines
            .iter()
            .enumerate()
            .map(|(i, (lid, _h, pid, q, reduced))| {
                let p = self.products.get(pid);
                let sku = p.map(|p| p.sku.clone()).unwrap_or_default();
                let (product_id, variation_id) = match p {
                    Some(p) if p.parent_id != 0 => (p.parent_id, p.id),
                    _ => (*pid, 0),
                };
                let mut item = json!({
                    "id": id_value(*lid),
                    // Loose payloads: some lines carry no SKU, some quantities are strings.
                    "sku": if lid % 7 == 0 { String::new() } else { sku },
                    "product_id": product_id,
                    "variation_id": variation_id,
                    "quantity": if lid % 3 == 0 { Value::from(q.to_string()) } else { Value::from(*q) },
                    "meta_data": if *reduced { json!([{"key": "_reduced_stock", "value": q.to_string()}]) } else { json!([]) },
                });
                let price = o.prices.get(i);
                let a = o.amounts(i);
                if let (Some(obj), Some(price), Some(a)) = (item.as_object_mut(), price, a) {
                    obj.insert("name".into(), Value::from(price.name.clone()));
                    // `price`: per unit, VAT excluded, after coupons, a float as WooCommerce
                    // sends it.
                    let per_unit = if *q != 0 { a.total as f64 / 100.0 / *q as f64 } else { 0.0 };
                    obj.insert("price".into(), json!(per_unit));
                    obj.insert("subtotal".into(), Value::from(money(a.subtotal)));
                    obj.insert("subtotal_tax".into(), Value::from(money(a.subtotal_tax)));
                    obj.insert("total".into(), Value::from(money(a.total)));
                    obj.insert("total_tax".into(), Value::from(money(a.total_tax)));
                }
                item
            })
            .collect();
        let shipping = if o.pickup {
            json!([{"id": 1, "method_id": if o.id.is_multiple_of(2) { "local_pickup" } else { "pickup_location" }}])
        } else {
            json!([{"id": 1, "method_id": "flat_rate"}])
        };
        json!({
            "id": id_value(o.id),
            "status": o.status,
            "date_modified": local,
            "date_modified_gmt": gmt(o.modified_ms),
            "date_created_gmt": gmt(o.modified_ms),
            "customer_note": "",
            "total": money(o.total_cents()),
            "line_items": items,
            "fee_lines": if o.fee_cents != 0 {
                let (excl, tax) = split_vat(o.fee_cents, DEFAULT_TAX_RATE_BP);
                json!([{"id": 1, "name": "Fee", "total": money(excl), "total_tax": money(tax)}])
            } else {
                json!([])
            },
            "shipping_lines": shipping,
        })
    }

    fn product_json(&self, p: &Product) -> Value {
        json!({
            "id": id_value(p.id),
            "parent_id": p.parent_id,
            "type": if p.parent_id != 0 { "variation" } else { "simple" },
            "sku": p.sku,
            "manage_stock": match p.manage { Some(b) => Value::from(b), None => Value::from("parent") },
            "stock_quantity": match p.manage {
                Some(true) => Value::from(p.stock),
                Some(false) => Value::Null,
                None => self.products.get(&p.parent_id).map(|q| Value::from(q.stock)).unwrap_or(Value::Null),
            },
            "stock_status": if p.stock > 0 { "instock" } else { "outofstock" },
        })
    }

    fn pick_fault(&mut self) -> Option<Fault> {
        if !self.queued.is_empty() {
            return Some(self.queued.remove(0));
        }
        if self.fault_rate > 0.0 && self.rng.gen_bool(self.fault_rate) {
            return Some(match self.rng.gen_range(0..5) {
                0 => Fault::TimeoutAfterApply,
                1 => Fault::ResetAfterApply,
                2 => Fault::ResetBefore,
                3 => Fault::TooMany(self.rng.gen_range(1..120)),
                _ => Fault::Burst(self.rng.gen_range(1..4)),
            });
        }
        None
    }

    fn count(&mut self, what: &'static str) {
        *self.faults_injected.entry(what).or_default() += 1;
    }

    /// Lands the held write if it is due (see [`Shop::land_held_after`]).
    fn land_held_if_due(&mut self) {
        let now = self.clock.now_ms();
        if self.held_due_ms.is_some_and(|due| now >= due) {
            self.land_held_now();
        }
    }

    /// Lands the held write, if any, now.
    fn land_held_now(&mut self) {
        let Some(items) = self.held.take() else {
            return;
        };
        self.held_due_ms = None;
        for item in items {
            let id = parse_id(item.get("id"));
            if let Some(p) = self
                .products
                .get_mut(&id)
                .filter(|p| p.manage != Some(false))
            {
                p.stock = written_level(p.stock, &item);
            }
        }
        self.count("hold_landed");
    }
}

pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).expect("hmac key");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn woo_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message, "data": {"status": status.as_u16()}})),
    )
        .into_response()
}

/// What the front of every request decided.
enum Gate {
    Go(Option<Fault>),
    Stop(Response),
}

fn gate(shop: &Fake, method: &Method, uri: &Uri, headers: &HeaderMap) -> Gate {
    let mut s = lock(shop);
    s.requests += 1;
    s.land_held_if_due();
    if let Err(r) = check_oauth(&mut s, method, uri, headers) {
        return Gate::Stop(r);
    }
    if s.clock.now_ms() < s.down_until_ms {
        s.count("down");
        return Gate::Stop(woo_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "down",
            "Service Unavailable",
        ));
    }
    if s.burst_left > 0 {
        s.burst_left -= 1;
        s.count("503");
        return Gate::Stop(woo_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Service Unavailable",
        ));
    }
    match s.pick_fault() {
        Some(Fault::TooMany(secs)) => {
            s.count("429");
            let mut r = woo_error(StatusCode::TOO_MANY_REQUESTS, "rate", "Too Many Requests");
            if let Ok(v) = secs.to_string().parse() {
                r.headers_mut().insert("retry-after", v);
            }
            Gate::Stop(r)
        }
        Some(Fault::Burst(n)) => {
            s.count("503");
            s.burst_left = n.saturating_sub(1);
            Gate::Stop(woo_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "Service Unavailable",
            ))
        }
        Some(Fault::ResetBefore) => {
            s.count("reset_before");
            Gate::Stop(cut())
        }
        f => Gate::Go(f),
    }
}

fn check_oauth(
    s: &mut Shop,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let bad = |m: &str| {
        Err(woo_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            m,
        ))
    };
    let q: Vec<(String, String)> = url_pairs(uri.query().unwrap_or(""));
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    if get("oauth_consumer_key").as_deref() != Some(KEY) {
        return bad("Consumer key is invalid.");
    }
    let Some(sig) = get("oauth_signature") else {
        return bad("Missing OAuth signature.");
    };
    let ts: i64 = get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    if (s.clock.now_ms() / 1000 - ts).abs() > 15 * 60 {
        return bad("Invalid timestamp.");
    }
    let nonce = get("oauth_nonce").unwrap_or_default();
    if !s.nonces.insert(format!("{ts}:{nonce}")) {
        return bad("Invalid nonce - nonce has already been used.");
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let url = format!("http://{host}{}", uri.path());
    let want = oauth::signature(method.as_str(), &url, &q, SECRET);
    if want != sig {
        return bad("Invalid signature - provided signature does not match.");
    }
    Ok(())
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .to_string()
            };
            (d(k), d(v))
        })
        .collect()
}

/// An answer whose body fails mid-way: the connection is cut.
fn cut() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"upd")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "cut",
        )),
    ];
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn after_apply(shop: &Fake, fault: Option<Fault>, ok: Response) -> Response {
    match fault {
        Some(Fault::TimeoutAfterApply) => {
            lock(shop).count("timeout_after_apply");
            tokio::time::sleep(Duration::from_secs(5)).await;
            ok
        }
        Some(Fault::ResetAfterApply) => {
            lock(shop).count("reset_after_apply");
            cut()
        }
        Some(Fault::Kill) => {
            let k = {
                let mut s = lock(shop);
                s.count("kill");
                s.kill.clone()
            };
            k.notify_one();
            tokio::time::sleep(Duration::from_secs(5)).await;
            ok
        }
        _ => ok,
    }
}

async fn list_products(
    State(shop): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fault = match gate(&shop, &method, &uri, &headers) {
        Gate::Stop(r) => return r,
        Gate::Go(f) => f,
    };
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    if per_page > 100 {
        return woo_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_param",
            "Invalid parameter(s): per_page",
        );
    }
    let body = {
        let s = lock(&shop);
        let skus: Vec<&str> = q
            .get("sku")
            .map(|v| v.split(',').collect())
            .unwrap_or_default();
        let list: Vec<Value> = s
            .products
            .values()
            .filter(|p| skus.is_empty() || skus.contains(&p.sku.as_str()))
            .take(per_page)
            .map(|p| s.product_json(p))
            .collect();
        axum::Json(Value::from(list)).into_response()
    };
    after_apply(&shop, fault, body).await
}

/// Applies the write held by [`Shop::hold_next_write`] (the shop finishing a request whose
/// client is gone); `false` if none is held.
pub async fn land_held_write(shop: &Fake) -> bool {
    let mut s = lock(shop);
    let held = s.held.is_some();
    s.land_held_now();
    held
}

/// A relative or absolute write of one product, not atomic: read, yield, write.
async fn write_one(shop: &Fake, id: u64, item: &Value) -> Value {
    let read = {
        let mut s = lock(shop);
        let Some(p) = s.products.get(&id).cloned() else {
            return json!({"id": id_value(id), "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}});
        };
        if p.manage == Some(false)
            && (item.get("inventory_delta").is_some() || item.get("stock_quantity").is_some())
        {
            return s.product_json(&p);
        }
        let n = s.in_flight.entry(id).or_default();
        *n += 1;
        let n = *n;
        s.max_in_flight = s.max_in_flight.max(n);
        p.stock
    };
    tokio::task::yield_now().await;
    let mut s = lock(shop);
    if let Some(n) = s.in_flight.get_mut(&id) {
        *n -= 1;
    }
    let new = written_level(read, item);
    let out = match s.products.get_mut(&id) {
        Some(p) => {
            p.stock = new;
            p.clone()
        }
        None => return json!({"id": id_value(id)}),
    };
    s.product_json(&out)
}

/// The level a write of `item` leaves on a product at `read`: its absolute `stock_quantity`, or
/// `read` moved by its `inventory_delta`.
fn written_level(read: i64, item: &Value) -> i64 {
    let delta = item.get("inventory_delta").and_then(|d| d.as_i64());
    let abs = item.get("stock_quantity").and_then(|d| d.as_i64());
    match (abs, delta) {
        (Some(a), _) => a,
        (None, Some(d)) => read + d,
        _ => read,
    }
}

/// An id as WooCommerce reads one from a request body: a number, or a string of digits; 0
/// for anything else (no such object).
fn parse_id(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

async fn batch(
    shop: Fake,
    parent: Option<u64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shop, &method, &uri, &headers) {
        Gate::Stop(r) => return r,
        Gate::Go(f) => f,
    };
    // Killed before the write is applied: never applied, or held to land later.
    let stall = {
        let mut s = lock(&shop);
        if std::mem::take(&mut s.kill_before_next_write) {
            s.count("kill_before");
            Some(s.kill.clone())
        } else if std::mem::take(&mut s.hold_next_write) {
            s.count("hold");
            let items = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("update").and_then(|u| u.as_array()).cloned())
                .unwrap_or_default();
            // One write held at a time: an earlier one lands first.
            s.land_held_now();
            s.held = Some(items);
            let now = s.clock.now_ms();
            s.held_due_ms = s
                .land_held_after
                .map(|d| now + i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            Some(s.kill.clone())
        } else {
            None
        }
    };
    if let Some(k) = stall {
        k.notify_one();
        tokio::time::sleep(Duration::from_secs(5)).await;
        return cut();
    }
    let fault = {
        let mut s = lock(&shop);
        if std::mem::take(&mut s.kill_next_write) {
            Some(Fault::Kill)
        } else if let Some(f) = s.write_fault.take() {
            if f == Fault::ResetBefore {
                s.count("reset_before");
                return cut();
            }
            Some(f)
        } else {
            fault
        }
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return woo_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_json",
            "Invalid JSON body.",
        );
    };
    let items = v
        .get("update")
        .and_then(|u| u.as_array())
        .cloned()
        .unwrap_or_default();
    if items.len() > 100 {
        return woo_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "woocommerce_rest_request_entity_too_large",
            "Unable to accept more than 100 items for this request.",
        );
    }
    let mut out = Vec::new();
    for it in &items {
        let id = parse_id(it.get("id"));
        let belongs = {
            let s = lock(&shop);
            s.products.get(&id).is_some_and(|p| match parent {
                Some(pid) => p.parent_id == pid,
                None => p.parent_id == 0,
            })
        };
        if !belongs {
            out.push(json!({"id": id_value(id), "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 400}}}));
            continue;
        }
        out.push(write_one(&shop, id, it).await);
    }
    let ok = axum::Json(json!({"update": out})).into_response();
    after_apply(&shop, fault, ok).await
}

async fn products_batch(
    State(shop): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    batch(shop, None, method, uri, headers, body).await
}

async fn variations_batch(
    State(shop): State<Fake>,
    Path(pid): Path<u64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    batch(shop, Some(pid), method, uri, headers, body).await
}

async fn put_product(
    State(shop): State<Fake>,
    Path(id): Path<u64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = match gate(&shop, &method, &uri, &headers) {
        Gate::Stop(r) => return r,
        Gate::Go(f) => f,
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return woo_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_json",
            "Invalid JSON body.",
        );
    };
    let out = write_one(&shop, id, &v).await;
    if out.get("error").is_some() {
        return woo_error(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_product_invalid_id",
            "Invalid ID.",
        );
    }
    after_apply(&shop, fault, axum::Json(out).into_response()).await
}

async fn list_orders(
    State(shop): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fault = match gate(&shop, &method, &uri, &headers) {
        Gate::Stop(r) => return r,
        Gate::Go(f) => f,
    };
    let per_page: usize = q.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(10);
    if per_page > 100 || per_page == 0 {
        return woo_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_param",
            "Invalid parameter(s): per_page",
        );
    }
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let fault = {
        let mut s = lock(&shop);
        if s.kill_at_orders_page.is_some_and(|p| p as usize == page) {
            s.kill_at_orders_page = None;
            Some(Fault::Kill)
        } else {
            fault
        }
    };
    // Strictly after, to the second.
    let after_sec = q
        .get("modified_after")
        .and_then(|a| dates::parse(a))
        .map(|ms| ms.div_euclid(1000));
    let resp = {
        let s = lock(&shop);
        let mut list: Vec<&Order> = s
            .orders
            .values()
            .filter(|o| after_sec.is_none_or(|a| o.modified_ms.div_euclid(1000) > a))
            .collect();
        list.sort_by_key(|o| (o.modified_ms, o.id));
        let total = list.len();
        let pages = total.div_ceil(per_page).max(1);
        let body: Vec<Value> = list
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|o| s.order_json(o))
            .collect();
        let mut r = axum::Json(Value::from(body)).into_response();
        // The real Link header drops the filters: following it would list every order.
        if page < pages {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let link = format!(
                "<http://{host}/wp-json/wc/v3/orders?page={}>; rel=\"next\"",
                page + 1
            );
            if let Ok(v) = link.parse() {
                r.headers_mut().insert("link", v);
            }
        }
        if let Ok(v) = total.to_string().parse() {
            r.headers_mut().insert("x-wp-total", v);
        }
        r
    };
    after_apply(&shop, fault, resp).await
}

/// Starts the fake on a free port; returns its base URL.
pub async fn start(shop: Fake) -> String {
    let app = Router::new()
        .route("/wp-json/wc/v3/products", get(list_products))
        .route("/wp-json/wc/v3/products/batch", post(products_batch))
        .route("/wp-json/wc/v3/products/{id}", put(put_product))
        .route(
            "/wp-json/wc/v3/products/{pid}/variations/batch",
            post(variations_batch),
        )
        .route("/wp-json/wc/v3/orders", get(list_orders))
        .with_state(shop);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_lines_carry_amounts_computed_as_woocommerce_does() {
        let clock = Arc::new(SimClock::new(1_736_150_400_000));
        let mut s = Shop::new(clock, 1);
        s.add_product("PAIN", 10, true);
        s.set_price("PAIN", 150, 550);
        s.set_name("PAIN", "Pain au levain");
        s.add_product("VIN", 10, false);
        let id = s.place_order(&[("PAIN", 2), ("VIN", 1)], true, false);
        let id = id.expect("placed");
        // A later price change does not touch the order.
        s.set_price("PAIN", 999, 550);
        s.set_coupon(id, 10);
        let o = s.orders.get(&id).expect("order");
        let j = s.order_json(o);
        let pain = &j["line_items"][0];
        assert_eq!(pain["name"], "Pain au levain");
        // 3.00 VAT included before the coupon: 2.84 + 0.16 (5.5 %).
        assert_eq!(
            (pain["subtotal"].as_str(), pain["subtotal_tax"].as_str()),
            (Some("2.84"), Some("0.16"))
        );
        // 2.70 after 10 %: round(2.70 / 1.055) = 2.56, tax 0.14.
        assert_eq!(
            (pain["total"].as_str(), pain["total_tax"].as_str()),
            (Some("2.56"), Some("0.14"))
        );
        assert_eq!(pain["price"], json!(1.28));
        let vin = &j["line_items"][1];
        // The default price, 10.00 at 20 %, less 10 %: 9.00 = 7.50 + 1.50.
        assert_eq!(
            (vin["total"].as_str(), vin["total_tax"].as_str()),
            (Some("7.50"), Some("1.50"))
        );
        assert_eq!(j["total"], "11.70");
        assert_eq!(shop_sync::woo::line_paid_cents(pain), Some(270));
        assert_eq!(shop_sync::woo::lenient_cents(j.get("total")), Some(1170));
        // Fees add to the order's total only.
        s.set_fee(id, 250);
        let j = s.order_json(s.orders.get(&id).expect("order"));
        assert_eq!(j["total"], "14.20");
        assert_eq!(j["fee_lines"][0]["total"], "2.08");
        assert_eq!(money(-5), "-0.05");
    }
}
