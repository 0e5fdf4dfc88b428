//! Stock ledger and online-shop synchronisation for the till.
//!
//! - [`ledger`]: stock movements keyed for exactly-once, levels as their projection, the
//!   zero-stock policy, receptions, inventory counts, the low-stock list, online orders and
//!   click & collect, and the outbox of changes to push.
//! - [`connector`]: the trait an online shop implements (WooCommerce, PrestaShop, Shopify).
//! - [`woo`]: the WooCommerce REST v3 connector.
//! - [`sync`]: the syncer (push, poll, reconcile) for one shop.
//! - [`clock`]: real or simulated time.
//!
//! Nothing here depends on the daemon; `shop-sync/README.md` says how `posd` wires it.

pub mod clock;
pub mod connector;
pub mod ledger;
pub mod sync;
pub mod woo;
