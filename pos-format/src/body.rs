//! Record bodies other than tickets: the opening (genesis), technical events, key changes; and
//! [`Body`], a stored body decoded according to its record's kind.

use crate::closure::ClosureBody;
use crate::key::PublicKeyInfo;
use crate::money::VatRate;
use crate::record::Kind;
use crate::ticket::{RefundBody, SaleBody};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who keeps the journal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merchant {
    /// Trading name.
    pub name: String,
    /// Postal address, one string (lines separated by `, `).
    pub address: String,
    /// SIRET: 14 digits.
    pub siret: String,
    /// Intra-community VAT number (empty when the merchant has none).
    pub vat_id: String,
}

/// The software that writes the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Software {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl Software {
    /// The journal's software: `pos-core` at this workspace's version (the crates of the
    /// workspace are released together, under one version).
    pub fn this() -> Software {
        Software {
            name: "pos-core".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The body of the `opening` record, the first record of every journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningBody {
    /// The merchant.
    pub merchant: Merchant,
    /// The register (till) this journal belongs to; one chain per register.
    pub register_id: String,
    /// The software that opened the journal.
    pub software: Software,
    /// IANA time zone of the shop (`Europe/Paris`), used for local dates of closures.
    pub time_zone: String,
    /// ISO 4217 currency code (`EUR`); amounts are in its hundredths.
    pub currency: String,
    /// The VAT rates the till may use (a `configuration_changed` event can replace them).
    pub vat_rates: Vec<VatRate>,
    /// The first month (1 to 12) of the fiscal year, for year closures.
    pub fiscal_year_start_month: u32,
    /// The signing key of the journal's first records.
    pub key: PublicKeyInfo,
    /// The fiscal rules the register follows for its whole life (closures, event codes, what
    /// an opening must carry): absent for the French rules ([`DEFAULT_FISCAL_RULES`]), which
    /// every journal opened before this field follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fiscal_rules: Option<String>,
}

/// The fiscal rules of an opening that names none: the French rules (NF525).
pub const DEFAULT_FISCAL_RULES: &str = "fr";

impl OpeningBody {
    /// The id of the fiscal rules the register follows.
    pub fn fiscal_rules_id(&self) -> &str {
        self.fiscal_rules.as_deref().unwrap_or(DEFAULT_FISCAL_RULES)
    }
}

/// The body of an `event` record (technical event journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// The event code (see [`crate::events`]).
    pub code: String,
    /// A short human-readable description.
    pub message: String,
    /// The operator involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Extra facts as text (old and new values of a setting, a software version...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// The body of a `key_change` record, signed by the old key; later records use the new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyChangeBody {
    /// The new key.
    pub new_key: PublicKeyInfo,
    /// Why the key changes.
    pub reason: String,
}

/// What a duplicate is a copy of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateOf {
    /// The original record's global sequence number.
    pub seq: u64,
    /// The original record's kind (`sale`, `refund`, `training` or `closure`).
    pub kind: String,
    /// The original's number within its kind (the ticket number).
    pub number: u64,
}

/// The body of a `duplicate` record: a reprint, journaled before the copy is printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateBody {
    /// The original.
    pub original: DuplicateOf,
    /// The copy number: 1 for the first reprint, then 2, 3...
    pub copy: u64,
    /// The operator who asked for it.
    pub operator: String,
    /// Why (customer request, paper jam...).
    pub reason: String,
}

/// The body of an `archive` record: an archive of the records `first_seq..=last_seq` was
/// written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveBody {
    /// What the archive holds (`2026-03`, `2026`, `seq 1-5000`).
    pub label: String,
    /// First sequence number archived.
    pub first_seq: u64,
    /// Last sequence number archived.
    pub last_seq: u64,
    /// Hash (hex) of the record at `last_seq`.
    pub last_hash: String,
    /// The archive file's name as written.
    pub file_name: String,
    /// SHA-256 (hex) of the whole archive file.
    pub file_sha256: String,
    /// SHA-256 (hex) of the archive's `manifest.json`.
    pub manifest_sha256: String,
}

/// The kinds a duplicate may copy.
pub const DUPLICABLE_KINDS: [Kind; 4] = [Kind::Sale, Kind::Refund, Kind::Training, Kind::Closure];

/// A stored body decoded according to its record's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// An `opening` record.
    Opening(OpeningBody),
    /// A `sale` record.
    Sale(SaleBody),
    /// A `refund` record.
    Refund(RefundBody),
    /// An `event` record.
    Event(EventBody),
    /// A `key_change` record.
    KeyChange(KeyChangeBody),
    /// A `closure` record.
    Closure(ClosureBody),
    /// A `duplicate` record.
    Duplicate(DuplicateBody),
    /// A `training` record (a sale body, never counted).
    Training(SaleBody),
    /// An `archive` record.
    Archive(ArchiveBody),
}

impl Body {
    /// Decodes body bytes of a known kind. Sales in the journal's exact layout (nearly every
    /// record) take the one-pass decoder, which gives serde's result (property-tested).
    pub fn decode(kind: Kind, bytes: &[u8]) -> Result<Body, serde_json::Error> {
        let sale = |bytes| match crate::exact_sale::decode(bytes) {
            Some(body) => Ok(body),
            None => parse(bytes),
        };
        Ok(match kind {
            Kind::Opening => Body::Opening(parse(bytes)?),
            Kind::Sale => Body::Sale(sale(bytes)?),
            Kind::Refund => Body::Refund(parse(bytes)?),
            Kind::Event => Body::Event(parse(bytes)?),
            Kind::KeyChange => Body::KeyChange(parse(bytes)?),
            Kind::Closure => Body::Closure(parse(bytes)?),
            Kind::Duplicate => Body::Duplicate(parse(bytes)?),
            Kind::Training => Body::Training(sale(bytes)?),
            Kind::Archive => Body::Archive(parse(bytes)?),
        })
    }

    /// The kind this body belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Opening(_) => Kind::Opening,
            Body::Sale(_) => Kind::Sale,
            Body::Refund(_) => Kind::Refund,
            Body::Event(_) => Kind::Event,
            Body::KeyChange(_) => Kind::KeyChange,
            Body::Closure(_) => Kind::Closure,
            Body::Duplicate(_) => Kind::Duplicate,
            Body::Training(_) => Kind::Training,
            Body::Archive(_) => Kind::Archive,
        }
    }
}

/// Parses a body. One UTF-8 check of the whole body costs less than `serde_json`'s check of
/// each string it reads from bytes; invalid UTF-8 goes the byte way, for its usual error.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}
