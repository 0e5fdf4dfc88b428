//! `/v1/products`: the catalogue.

use super::error::ApiError;
use super::extract::{blocking, ApiJson, ApiResult, AppState};
use super::operators::authorize;
use super::Route;
use crate::app::App;
use crate::catalog::{CatalogError, Product};
use crate::config::Role;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The routes of this resource.
pub(super) fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/v1/products", list_products),
        Route::new(Method::POST, "/v1/products", create_product),
        Route::new(Method::PUT, "/v1/products/{sku}", update_product),
        Route::new(
            Method::GET,
            "/v1/products/by-barcode/{code}",
            product_by_barcode,
        ),
    ]
}

async fn list_products(State(app): AppState) -> ApiResult {
    let app2 = app.clone();
    let products = blocking(move || {
        let mut products = app2.ops.products().map_err(|e| e.to_string())?;
        let l = crate::stock::lock(&app2.stock.ledger);
        for p in products.iter_mut().filter(|p| p.track_stock) {
            p.stock_milli = l
                .level(&p.sku)
                .map_err(|e| e.to_string())?
                .map(|lv| lv.on_hand_milli);
        }
        Ok::<_, String>(products)
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok(Json(json!({ "products": products })))
}

/// A product created or changed by a manager.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductRequest {
    operator: String,
    pin: String,
    product: Product,
}

async fn save_product(app: Arc<App>, req: ProductRequest, must_exist: Option<bool>) -> ApiResult {
    let journal = app.journal()?;
    authorize(&app, &req.operator, &req.pin, Role::Manager).await?;
    let p = req.product;
    {
        let catalog = app
            .catalog
            .read()
            .map_err(|_| ApiError::internal("catalog lock"))?;
        match must_exist {
            Some(true) if catalog.get(&p.sku).is_none() => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_sku",
                    format!("no product {:?}", p.sku),
                ))
            }
            Some(false) if catalog.get(&p.sku).is_some() => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "sku_exists",
                    format!("product {:?} exists: use PUT", p.sku),
                ))
            }
            _ => {}
        }
        catalog.check(&p, &journal.vat_rates())?;
    }
    let app2 = app.clone();
    let stored = p.clone();
    blocking(move || {
        app2.ops
            .upsert_product(&stored)
            .map_err(|e| e.to_string())?;
        if stored.track_stock {
            let mut l = crate::stock::lock(&app2.stock.ledger);
            l.track(&stored.sku, app2.config.stock.low_of(&stored.sku))
                .map_err(|e| e.to_string())?;
            if let Some(q) = stored.stock_milli {
                // A level given with the product is an inventory count.
                let id = format!("product-{}", crate::stock::unique_id());
                l.count(&id, &[(stored.sku.clone(), q)])
                    .map_err(|e| e.to_string())?;
            }
            for shop in &app2.config.shops.list {
                if shop.syncs(&stored.sku) {
                    l.sync_with(shop.name(), &stored.sku)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok::<_, String>(())
    })
    .await?
    .map_err(ApiError::internal)?;
    let mut p = p;
    // The level lives in the ledger only.
    p.stock_milli = None;
    if let Ok(mut c) = app.catalog.write() {
        c.insert(p.clone());
    }
    with_level(&app, &mut p);
    Ok(Json(json!({ "product": p })))
}

/// Fills a tracked product's `stock_milli` (on hand) from the ledger.
fn with_level(app: &App, p: &mut Product) {
    if p.track_stock {
        p.stock_milli = crate::stock::lock(&app.stock.ledger)
            .level(&p.sku)
            .ok()
            .flatten()
            .map(|l| l.on_hand_milli);
    }
}

async fn create_product(State(app): AppState, ApiJson(p): ApiJson<ProductRequest>) -> ApiResult {
    save_product(app, p, Some(false)).await
}

async fn update_product(
    State(app): AppState,
    Path(sku): Path<String>,
    ApiJson(p): ApiJson<ProductRequest>,
) -> ApiResult {
    if p.product.sku != sku {
        return Err(ApiError::invalid(
            "invalid_product",
            "the body's sku differs from the path",
        ));
    }
    save_product(app, p, Some(true)).await
}

async fn product_by_barcode(State(app): AppState, Path(code): Path<String>) -> ApiResult {
    let catalog = app
        .catalog
        .read()
        .map_err(|_| ApiError::internal("catalog lock"))?;
    let mut found = catalog.lookup(&code, &app.barcodes).map_err(|e| match e {
        CatalogError::UnknownBarcode(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_barcode", e.to_string())
        }
        other => other.into(),
    })?;
    drop(catalog);
    with_level(&app, &mut found.product);
    Ok(Json(serde_json::to_value(found).unwrap_or_default()))
}
