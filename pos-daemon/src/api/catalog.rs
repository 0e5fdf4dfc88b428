//! `/v1/products`: the catalogue.

use super::error::ApiError;
use super::extract::{blocking, Answer, ApiJson, AppState};
use super::operators::authorize;
use crate::app::App;
use crate::catalog::{CatalogError, Lookup, Product};
use crate::config::Role;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this resource.
pub(super) fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::default()
        .routes(routes!(list_products, create_product))
        .routes(routes!(update_product))
        .routes(routes!(product_by_barcode))
}

/// The catalogue.
#[derive(Serialize, ToSchema)]
struct ProductsAnswer {
    /// Every product, with its stock level (`stock_milli`: on hand) when tracked.
    products: Vec<Product>,
}

/// A product as stored.
#[derive(Serialize, ToSchema)]
struct ProductAnswer {
    /// The product, with its stock level when tracked.
    product: Product,
}

/// List products (with stock).
#[utoipa::path(get, path = "/v1/products", tag = "catalogue",
    responses((status = 200, description = "The catalogue", body = ProductsAnswer)))]
async fn list_products(State(app): AppState) -> Answer<ProductsAnswer> {
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
    Ok(Json(ProductsAnswer { products }))
}

/// A product created or changed by a manager.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductRequest {
    /// A manager.
    operator: String,
    /// The manager's PIN.
    pin: String,
    /// The product. A `stock_milli` given with a tracked product is an inventory count.
    product: Product,
}

async fn save_product(
    app: Arc<App>,
    req: ProductRequest,
    must_exist: Option<bool>,
) -> Answer<ProductAnswer> {
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
    Ok(Json(ProductAnswer { product: p }))
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

/// Create a product (manager).
///
/// 409 sku_exists (use PUT); 422 invalid_product (fields out of range, a VAT rate not in
/// force, a barcode invalid or another product's, control characters in the label).
#[utoipa::path(post, path = "/v1/products", tag = "catalogue",
    request_body = ProductRequest,
    responses((status = 200, description = "The product, stored", body = ProductAnswer)))]
async fn create_product(
    State(app): AppState,
    ApiJson(p): ApiJson<ProductRequest>,
) -> Answer<ProductAnswer> {
    save_product(app, p, Some(false)).await
}

/// Update a product (manager).
///
/// 404 unknown_sku; 422 invalid_product, also when the body's SKU differs from the path's.
#[utoipa::path(put, path = "/v1/products/{sku}", tag = "catalogue",
    params(("sku" = String, Path, description = "The SKU")),
    request_body = ProductRequest,
    responses((status = 200, description = "The product, stored", body = ProductAnswer)))]
async fn update_product(
    State(app): AppState,
    Path(sku): Path<String>,
    ApiJson(p): ApiJson<ProductRequest>,
) -> Answer<ProductAnswer> {
    if p.product.sku != sku {
        return Err(ApiError::invalid(
            "invalid_product",
            "the body's sku differs from the path",
        ));
    }
    save_product(app, p, Some(true)).await
}

/// Look a scanned code up: the product and, for variable-measure codes, the weight or price.
///
/// 404 unknown_barcode; 422 bad_barcode (a wrong check digit).
#[utoipa::path(get, path = "/v1/products/by-barcode/{code}", tag = "catalogue",
    params(("code" = String, Path, description = "EAN-13, EAN-8, UPC-A, a variable-measure EAN-13 (prefixes 20-29) or any text")),
    responses((status = 200, description = "The product found", body = Lookup)))]
async fn product_by_barcode(State(app): AppState, Path(code): Path<String>) -> Answer<Lookup> {
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
    Ok(Json(found))
}
