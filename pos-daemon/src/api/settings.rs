//! `/v1/config` and `/v1/journal/verify`: the settings kept in the journal, and its check.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, Answer, ApiJson, AppState};
use super::operators::authorize;
use crate::app::App;
use crate::config::Role;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pos_core::body::Merchant;
use pos_core::events;
use pos_core::journal::JournalError;
use pos_core::money::VatRate;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(verify))
        .routes(routes!(get_config))
        .routes(routes!(set_vat_rates))
        .routes(routes!(set_merchant))
}

/// The settings kept in the journal.
#[derive(Serialize, ToSchema)]
struct ConfigAnswer {
    /// The merchant identity printed on receipts.
    merchant: Merchant,
    /// The register's id (one journal per register).
    register_id: String,
    /// The shop's IANA time zone (dates of tickets and closures).
    time_zone: String,
    /// The VAT rates in force, hundredths of a percent.
    vat_rates: Vec<VatRate>,
}

/// The merchant identity, register, time zone and VAT rates in force.
#[utoipa::path(get, path = "/v1/config", tag = "settings",
    responses((status = 200, description = "The settings", body = ConfigAnswer)))]
async fn get_config(State(app): AppState) -> Answer<ConfigAnswer> {
    let journal = app.journal()?;
    let merchant = app.current_opening().merchant;
    Ok(Json(ConfigAnswer {
        merchant,
        register_id: app.till.opening.register_id.clone(),
        time_zone: app.till.opening.time_zone.clone(),
        vat_rates: journal.vat_rates(),
    }))
}

/// New VAT rates.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VatRatesRequest {
    /// Every rate in force, in hundredths of a percent (2000 = 20 %).
    rates: Vec<u32>,
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
}

/// The VAT rates in force.
#[derive(Serialize, ToSchema)]
struct VatRatesAnswer {
    /// The rates, hundredths of a percent.
    vat_rates: Vec<VatRate>,
    /// Whether they changed (the same rates sent again change nothing).
    changed: bool,
    /// The configuration change's sequence number, when they changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
}

/// Set the VAT rates (manager).
///
/// Journaled as a configuration_changed event with the old and new rates; a rate used by a
/// product cannot be removed (409 vat_rate_in_use).
#[utoipa::path(put, path = "/v1/config/vat-rates", tag = "settings",
    request_body = VatRatesRequest,
    responses((status = 200, description = "The rates in force", body = VatRatesAnswer)))]
async fn set_vat_rates(
    State(app): AppState,
    ApiJson(req): ApiJson<VatRatesRequest>,
) -> Answer<VatRatesAnswer> {
    let journal = app.journal()?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    // A rate still used by a product stays: its sales would be refused.
    let in_use: Vec<String> = app
        .catalog
        .read()
        .map_err(|_| ApiError::internal("catalog lock"))?
        .products()
        .filter(|p| !req.rates.contains(&p.vat_rate))
        .map(|p| p.sku.clone())
        .collect();
    if !in_use.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "vat_rate_in_use",
            format!("products use a rate left out: {}", in_use.join(", ")),
        ));
    }
    let rates: Vec<pos_core::money::VatRate> = req
        .rates
        .iter()
        .map(|r| pos_core::money::VatRate(*r))
        .collect();
    let old = journal.vat_rates();
    if rates == old {
        return Ok(Json(VatRatesAnswer {
            vat_rates: old,
            changed: false,
            seq: None,
        }));
    }
    let app2 = app.clone();
    let a = blocking(move || {
        let a = journal.append(pos_core::journal::Draft::SetVatRates {
            rates,
            operator: op.id,
        })?;
        app2.appended(a.seq);
        Ok::<_, JournalError>((a, journal.vat_rates()))
    })
    .await?
    .map_err(journal_error)?;
    Ok(Json(VatRatesAnswer {
        vat_rates: a.1,
        changed: true,
        seq: Some(a.0.seq),
    }))
}

/// A new merchant identity.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MerchantRequest {
    /// The identity: name, address, SIRET (14 digits), VAT number.
    merchant: Merchant,
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
}

/// The merchant identity in force.
#[derive(Serialize, ToSchema)]
struct MerchantAnswer {
    /// The identity.
    merchant: Merchant,
    /// Whether it changed.
    changed: bool,
    /// The configuration change's sequence number, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
}

/// Change the merchant identity printed on receipts (manager).
///
/// Journaled as a configuration_changed event with the old and new values. 422
/// invalid_merchant (a SIRET that is not 14 digits, control characters).
#[utoipa::path(put, path = "/v1/config/merchant", tag = "settings",
    request_body = MerchantRequest,
    responses((status = 200, description = "The identity in force", body = MerchantAnswer)))]
async fn set_merchant(
    State(app): AppState,
    ApiJson(req): ApiJson<MerchantRequest>,
) -> Answer<MerchantAnswer> {
    let journal = app.journal()?;
    let mut check = app.till.opening.clone();
    check.merchant = req.merchant.clone();
    crate::config::check_merchant_text(&check.merchant)
        .map_err(|e| ApiError::invalid("invalid_merchant", e.to_string()))?;
    pos_core::body::validate_opening(&check)
        .map_err(|e| ApiError::invalid("invalid_merchant", e))?;
    let op = authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let old = app.current_opening().merchant;
    if old == req.merchant {
        return Ok(Json(MerchantAnswer {
            merchant: old,
            changed: false,
            seq: None,
        }));
    }
    let new = req.merchant;
    let to_json = |m: &pos_core::body::Merchant| serde_json::to_string(m).unwrap_or_default();
    let body = pos_core::body::EventBody {
        code: events::CONFIGURATION_CHANGED.to_string(),
        message: "merchant identity changed".to_string(),
        operator: Some(op.id.clone()),
        details: [
            ("setting".to_string(), "merchant".to_string()),
            ("old".to_string(), to_json(&old)),
            ("new".to_string(), to_json(&new)),
        ]
        .into(),
    };
    let app2 = app.clone();
    let stored = to_json(&new);
    let a = blocking(move || {
        // Journaled first: the change exists once the event is durable.
        let a = journal
            .append(pos_core::journal::Draft::Event(body))
            .map_err(journal_error)?;
        app2.appended(a.seq);
        app2.ops
            .set_meta(crate::app::MERCHANT, &stored)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok::<_, ApiError>(a)
    })
    .await??;
    if let Ok(mut m) = app.till.merchant.write() {
        *m = new.clone();
    }
    Ok(Json(MerchantAnswer {
        merchant: new,
        changed: true,
        seq: Some(a.seq),
    }))
}

/// The journal's check.
#[derive(Serialize, ToSchema)]
struct VerifyAnswer {
    /// No finding: every link, signature and closure checks.
    intact: bool,
    /// Records verified.
    records: u64,
    /// The first 100 findings, described.
    findings: Vec<String>,
}

/// Verify the whole journal now.
///
/// The result is journaled (integrity_check_passed / integrity_check_failed).
#[utoipa::path(post, path = "/v1/journal/verify", tag = "settings",
    responses((status = 200, description = "The check's result", body = VerifyAnswer)))]
async fn verify(State(app): AppState) -> Answer<VerifyAnswer> {
    let path = app.config.journal_path();
    let (records, findings) = blocking(move || {
        let reader = pos_core::reader::JournalReader::open(&path).map_err(|e| e.to_string())?;
        let mut sink = pos_core::verify::CollectFindings::default();
        let summary = pos_core::verify::verify_journal(
            &reader,
            &pos_core::verify::VerifyOptions::default(),
            &mut sink,
        )
        .map_err(|e| e.to_string())?;
        Ok::<_, String>((summary.records, sink.findings))
    })
    .await?
    .map_err(ApiError::unavailable)?;
    let list: Vec<String> = findings
        .iter()
        .take(100)
        .map(|f| format!("{f:?}"))
        .collect();
    if findings.is_empty() {
        app.journal_event(
            events::INTEGRITY_CHECK_PASSED,
            &format!("{records} records verified"),
        )
        .await;
    } else {
        app.journal_event(
            events::INTEGRITY_CHECK_FAILED,
            &format!("{} findings in {records} records", findings.len()),
        )
        .await;
    }
    Ok(Json(VerifyAnswer {
        intact: findings.is_empty(),
        records,
        findings: list,
    }))
}
