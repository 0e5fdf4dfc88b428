//! The connector trait: what the syncer needs from an online shop, written so that WooCommerce
//! (REST/JSON, relative writes without idempotency), PrestaShop (XML webservice, absolute writes
//! only, no webhooks) and Shopify (GraphQL, relative writes with idempotency keys and
//! compare-quantities) all fit.
//!
//! The syncer owns every decision about exactly-once: it keeps at most one write in flight per
//! product, records what it sent before sending, and after an unknown outcome reads the online
//! level back before deciding (see [`Connector::apply`]). A connector only translates.

use serde::{Deserialize, Serialize};
use std::future::Future;

/// The largest number of stock changes a connector is handed at once.
pub const MAX_CHANGES_PER_CALL: usize = 100;

/// Where a SKU lives online. Ids are strings: platforms disagree on their type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteItem {
    /// The SKU (the key shared with the till).
    pub sku: String,
    /// The product or variation id (WooCommerce), `stock_available` id (PrestaShop) or
    /// `InventoryItem` gid (Shopify).
    pub id: String,
    /// The parent product of a variation (WooCommerce); `None` otherwise.
    pub parent_id: Option<String>,
    /// Whether the platform manages this item's stock. An unmanaged item is reported as a
    /// configuration error and never written.
    pub managed: bool,
    /// The online level in whole units (`None` when not managed).
    pub level: Option<i64>,
}

/// One relative stock change to make online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChange {
    /// The item.
    pub item: RemoteItem,
    /// The change in whole units.
    pub delta: i64,
    /// The level read just before (the syncer always reads first). PrestaShop writes
    /// `before + delta` as its absolute value; Shopify sends it as `changeFromQuantity` so a
    /// concurrent change makes the write fail instead of being lost; WooCommerce ignores it.
    pub before: i64,
    /// A key unique to this change, stable across retries: Shopify's `@idempotent(key)`;
    /// WooCommerce and PrestaShop have no such thing and ignore it.
    pub idempotency_key: String,
}

/// What became of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Applied; the level after it when the platform said so.
    Applied {
        /// The level the platform returned.
        after: Option<i64>,
    },
    /// Refused by the platform, nothing changed (a per-item error in a WooCommerce batch, a
    /// Shopify compare-quantity mismatch). `retry` says whether trying again later can succeed.
    Rejected {
        /// Worth retrying (after a re-read).
        retry: bool,
        /// The platform's message.
        reason: String,
    },
    /// The request may or may not have been applied (timeout, connection cut). Without
    /// idempotency the syncer re-reads the level before deciding; with it
    /// ([`Capabilities::idempotent_writes`]) it may resend with the same key.
    Unknown,
}

/// What a platform can do, so the syncer can pick the safe protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Relative writes exist (WooCommerce, Shopify); otherwise the connector writes absolute
    /// values computed from [`StockChange::before`] (PrestaShop).
    pub relative_writes: bool,
    /// Resending a change with the same key is safe (Shopify).
    pub idempotent_writes: bool,
    /// Writes fail on a concurrent change instead of losing it (Shopify's compare-quantity).
    pub compare_writes: bool,
    /// The platform signs webhooks that can serve as hints (WooCommerce, Shopify).
    pub webhooks: bool,
    /// The largest write batch (WooCommerce 100; Shopify by query cost; PrestaShop 1).
    pub max_batch: usize,
}

/// How an order's state touches stock on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StockEffect {
    /// The platform holds stock for the order (WooCommerce processing / on-hold / completed;
    /// PrestaShop from creation; Shopify unless cancelled).
    Holds,
    /// The platform gives stock back if it held some (WooCommerce cancelled, or pending after
    /// a hold; cancelled elsewhere).
    Releases,
    /// No change (WooCommerce pending before any hold, refunded, failed, trash).
    Keeps,
}

/// One line of an online order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The platform's line id (part of the movement key).
    pub line_id: String,
    /// The SKU; empty when the platform has none (such lines are ignored and reported).
    pub sku: String,
    /// Whole units ordered (kilograms for goods sold by weight: see [`crate::ledger::units`]).
    pub quantity: i64,
    /// The line's name on the platform (the product's name when it was ordered); empty when
    /// the platform gave none.
    #[serde(default)]
    pub name: String,
    /// What the customer paid for the line, VAT included, after discounts, in cents; `None`
    /// when the platform did not say.
    #[serde(default)]
    pub paid_cents: Option<i64>,
}

/// An online order as the syncer needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineOrder {
    /// The platform's order id.
    pub id: String,
    /// The platform's modification time, as a UTC string (part of the dedupe key).
    pub modified: String,
    /// The same as milliseconds since the epoch (the poll cursor).
    pub modified_ms: i64,
    /// The platform's status, verbatim.
    pub status: String,
    /// What the status does to stock.
    pub effect: StockEffect,
    /// Picked up at the shop (WooCommerce `local_pickup` / `pickup_location`).
    pub pickup: bool,
    /// The lines.
    pub lines: Vec<OrderLine>,
    /// What the customer paid for the whole order (lines, shipping, fees), VAT included, in
    /// cents; `None` when the platform did not say.
    #[serde(default)]
    pub total_cents: Option<i64>,
}

/// One page of orders and where to continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    /// Orders, oldest modification first.
    pub orders: Vec<OnlineOrder>,
    /// Whether more may follow at once.
    pub more: bool,
}

/// A position in the platform's order stream, opaque to the syncer but for storage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderCursor {
    /// Orders modified at or after this time (milliseconds) are (re)read; the connector
    /// applies its own overlap below it.
    pub after_ms: i64,
    /// The page within that time (for platforms that page by number).
    pub page: u32,
}

/// Why a connector call failed as a whole.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// The shop refused the credentials (401/403): a configuration error.
    #[error("the shop refused the credentials: {0}")]
    Auth(String),
    /// Bad configuration (URL, scheme, missing key).
    #[error("configuration: {0}")]
    Config(String),
    /// The shop is unreachable or overloaded; try later.
    #[error("the shop is unavailable: {0}")]
    Unavailable(String),
    /// The shop answered something that cannot be understood.
    #[error("unexpected answer from the shop: {0}")]
    Protocol(String),
}

/// A boxed future: connectors are trait objects (a till syncs several shops, of different
/// platforms, through one syncer type), and a trait with `async fn` cannot be one.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An online shop, as the syncer uses it. All methods are bounded: they take at most
/// [`MAX_CHANGES_PER_CALL`] items (or [`Capabilities::max_batch`]) and return at most one page.
pub trait Connector: Send + Sync {
    /// A short stable name for the shop (`"woo"`), part of every movement key it causes.
    fn name(&self) -> &str;

    /// What the platform can do.
    fn capabilities(&self) -> Capabilities;

    /// Looks SKUs up, variations included, with their current online level. A SKU absent from
    /// the answer is unknown online. WooCommerce: `GET /products?sku=A,B`; PrestaShop:
    /// `products` + `combinations` filtered by `reference`, then `stock_availables`; Shopify:
    /// `productVariants(query: "sku:…")` → `inventoryItem` and its `inventoryLevel`.
    fn lookup<'a>(
        &'a self,
        skus: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<RemoteItem>, ConnectorError>>;

    /// Applies changes (at most [`Capabilities::max_batch`]), at most one per item, and says
    /// per change what happened, in the same order. A transport failure of the whole request
    /// returns `Ok` with every outcome [`ChangeOutcome::Unknown`]: the request may have been
    /// applied. WooCommerce: `POST /products/batch` (and `/products/{id}/variations/batch`)
    /// with `inventory_delta`; PrestaShop: `PUT /stock_availables/{id}` with
    /// `before + delta` (absolute); Shopify: `inventoryAdjustQuantities` with
    /// `@idempotent(key)` and `changeFromQuantity: before`.
    fn apply<'a>(
        &'a self,
        changes: &'a [StockChange],
    ) -> BoxFuture<'a, Result<Vec<ChangeOutcome>, ConnectorError>>;

    /// Reads one page of orders modified since the cursor (oldest first), with their stock
    /// effect mapped from the platform's states. The syncer dedupes on
    /// ([`OnlineOrder::id`], [`OnlineOrder::modified`], [`OnlineOrder::status`]) so overlapping
    /// pages are harmless.
    /// PrestaShop dates are shop-local: its connector converts them to UTC.
    fn orders<'a>(
        &'a self,
        cursor: &'a OrderCursor,
    ) -> BoxFuture<'a, Result<OrderPage, ConnectorError>>;

    /// Checks a webhook delivery's signature (WooCommerce `X-WC-Webhook-Signature`, Shopify
    /// `X-Shopify-Hmac-Sha256`). A valid webhook is only a hint to poll sooner.
    fn verify_webhook(&self, signature: &str, body: &[u8]) -> bool;
}
