//! `/v1/config` and `/v1/journal/verify`: the settings kept in the journal, and its check.

use super::error::{journal_error, ApiError};
use super::extract::{blocking, ApiJson, ApiResult, AppState};
use super::operators::authorize;
use super::Route;
use crate::config::Role;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::Json;
use pos_core::events;
use pos_core::journal::JournalError;
use serde::Deserialize;
use serde_json::json;

/// The routes of this resource.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/v1/journal/verify", verify),
        Route::new(Method::GET, "/v1/config", get_config),
        Route::new(Method::PUT, "/v1/config/vat-rates", set_vat_rates),
        Route::new(Method::PUT, "/v1/config/merchant", set_merchant),
    ]
}

async fn get_config(State(app): AppState) -> ApiResult {
    let journal = app.journal()?;
    let merchant = app.current_opening().merchant;
    Ok(Json(json!({
        "merchant": merchant,
        "register_id": app.till.opening.register_id,
        "time_zone": app.till.opening.time_zone,
        "vat_rates": journal.vat_rates(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VatRatesRequest {
    /// Rates in hundredths of a percent.
    rates: Vec<u32>,
    operator: String,
    pin: String,
}

async fn set_vat_rates(State(app): AppState, ApiJson(req): ApiJson<VatRatesRequest>) -> ApiResult {
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
        return Ok(Json(json!({ "vat_rates": old, "changed": false })));
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
    Ok(Json(
        json!({ "vat_rates": a.1, "changed": true, "seq": a.0.seq }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantRequest {
    merchant: pos_core::body::Merchant,
    operator: String,
    pin: String,
}

async fn set_merchant(State(app): AppState, ApiJson(req): ApiJson<MerchantRequest>) -> ApiResult {
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
        return Ok(Json(json!({ "merchant": old, "changed": false })));
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
    Ok(Json(
        json!({ "merchant": new, "changed": true, "seq": a.seq }),
    ))
}

async fn verify(State(app): AppState) -> ApiResult {
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
    Ok(Json(
        json!({ "intact": findings.is_empty(), "records": records, "findings": list }),
    ))
}
