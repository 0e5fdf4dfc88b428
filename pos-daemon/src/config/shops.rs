//! The online shops of the configuration: `[[shops]]` tables, each with its platform's
//! settings (or the older single `[shops.woocommerce]`).

use serde::{Deserialize, Serialize};

/// Online shops: a list of `[[shops]]` tables, each with its `kind` (`"woocommerce"`), or the
/// one WooCommerce shop of the older form `[shops.woocommerce]`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct ShopsConfig {
    /// The shops, in the configuration's order.
    pub list: Vec<ShopConfig>,
}

/// One online shop, by platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ShopConfig {
    /// A WooCommerce shop.
    Woocommerce(WooShopConfig),
}

impl ShopConfig {
    /// The shop's name (in movement keys and its webhook's path).
    pub fn name(&self) -> &str {
        match self {
            ShopConfig::Woocommerce(w) => &w.name,
        }
    }

    /// Whether a tracked product with this SKU syncs with this shop.
    pub fn syncs(&self, sku: &str) -> bool {
        match self {
            ShopConfig::Woocommerce(w) => w.skus.includes(sku),
        }
    }

    /// The SKUs listed to sync (`None`: every tracked product).
    pub fn listed_skus(&self) -> Option<&[String]> {
        match self {
            ShopConfig::Woocommerce(w) => match &w.skus {
                SyncSkus::List(l) => Some(l),
                SyncSkus::All(_) => None,
            },
        }
    }
}

impl<'de> Deserialize<'de> for ShopsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        /// `[shops.woocommerce]`, as configurations said before shops were a list.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct OneShop {
            #[serde(default)]
            woocommerce: Option<WooShopConfig>,
        }
        match toml::Value::deserialize(d)? {
            v @ toml::Value::Array(_) => Vec::<ShopConfig>::deserialize(v)
                .map(|list| ShopsConfig { list })
                .map_err(D::Error::custom),
            v @ toml::Value::Table(_) => OneShop::deserialize(v)
                .map(|o| ShopsConfig {
                    list: o
                        .woocommerce
                        .map(ShopConfig::Woocommerce)
                        .into_iter()
                        .collect(),
                })
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "shops: [[shops]] tables, each with kind = \"woocommerce\"",
            )),
        }
    }
}

/// How requests to WooCommerce are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WooAuth {
    /// HTTP Basic with the consumer key and secret; needs an `https://` URL.
    BasicOverHttps,
    /// OAuth 1.0a signatures (HMAC-SHA256); needs an `http://` URL.
    Oauth1OverHttp,
}

/// Which till products sync with the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SyncSkus {
    /// `"all"`: every product whose stock is tracked at the till.
    All(String),
    /// These SKUs (each must be tracked at the till).
    List(Vec<String>),
}

impl SyncSkus {
    /// Whether a tracked product with this SKU syncs.
    pub fn includes(&self, sku: &str) -> bool {
        match self {
            SyncSkus::All(_) => true,
            SyncSkus::List(l) => l.iter().any(|s| s == sku),
        }
    }
}

impl Default for SyncSkus {
    fn default() -> Self {
        SyncSkus::All("all".into())
    }
}

/// A WooCommerce shop. The key and secrets are never logged nor shown by the API.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WooShopConfig {
    /// The shop's name in stock movement keys; never change it once synced. Default `woo`.
    #[serde(default = "default_shop_name")]
    pub name: String,
    /// The site URL (`https://boutique.example`), without `/wp-json`.
    pub url: String,
    /// REST API consumer key (`ck_…`).
    #[serde(skip_serializing)]
    pub consumer_key: String,
    /// REST API consumer secret (`cs_…`).
    #[serde(skip_serializing)]
    pub consumer_secret: String,
    /// `basic-over-https` or `oauth1-over-http`; default: from the URL's scheme.
    #[serde(default)]
    pub auth: Option<WooAuth>,
    /// `"all"` (every tracked product, the default) or a list of SKUs.
    #[serde(default)]
    pub skus: SyncSkus,
    /// Seconds between polls of the shop's orders (a webhook delivery polls sooner).
    #[serde(default = "default_poll_secs")]
    pub poll_secs: u64,
    /// Seconds between reconciliations (the till's levels correct the shop's).
    #[serde(default = "default_reconcile_secs")]
    pub reconcile_secs: u64,
    /// The webhook secret set in WooCommerce; empty: webhook deliveries are refused.
    #[serde(default, skip_serializing)]
    pub webhook_secret: String,
    /// Per-request timeout, in seconds.
    #[serde(default = "default_shop_timeout")]
    pub timeout_secs: u64,
    /// Seconds after which a stock write whose answer was lost can no longer land: at least
    /// the shop's longest request (PHP's `max_execution_time`, 30 s by default). Until then a
    /// write not seen applied is neither sent again nor reconciled (it may still be applied).
    #[serde(default = "default_write_deadline")]
    pub write_deadline_secs: u64,
}

impl std::fmt::Debug for WooShopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooShopConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("skus", &self.skus)
            .finish_non_exhaustive()
    }
}

fn default_shop_name() -> String {
    "woo".into()
}
fn default_poll_secs() -> u64 {
    60
}
fn default_reconcile_secs() -> u64 {
    3600
}
fn default_shop_timeout() -> u64 {
    20
}
fn default_write_deadline() -> u64 {
    120
}
