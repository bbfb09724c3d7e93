//! Printable forms of a credential, for the registrars of its agency: the ID-1 card (front
//! and back) and the A4 authenticity certificate of a document. Plain HTML with print CSS
//! (`@page { size }`), Arabic first with English, so any browser prints them to paper or
//! PDF at their true size. The QR is an inline SVG whose modules are whole 300-dpi dots
//! (at least 0.339 mm) and whose side with its quiet zone is at least 25 mm; the photo is
//! inlined too, so the page needs nothing else to print. Every print is audited.

use super::console::Console;
use crate::app::App;
use crate::auth::Scope;
use crate::domain::{CredentialId, CredentialKind, Invalid};
use crate::error::AppError;
use crate::issuance;
use crate::render::{pages, qr};
use crate::storage::CredentialRow;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use std::sync::Arc;

/// Largest QR side on the card's back (of its 53.98 mm height), in millimetres.
const CARD_QR_MAX_MM: f64 = 36.0;
/// Largest QR side on the A4 certificate, in millimetres.
const CERT_QR_MAX_MM: f64 = 45.0;

/// The printables' routes (HTML; not in OpenAPI).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/console/credentials/{id}/print/card", get(card))
        .route(
            "/console/credentials/{id}/print/certificate",
            get(certificate),
        )
}

/// The credential, if the signed-in user reads for its agency and it is of `kind`.
async fn printable(
    app: &App,
    c: &Console,
    id: &str,
    kind: CredentialKind,
    form: &'static str,
) -> Result<CredentialRow, AppError> {
    let actor = c.p.require(Scope::Read)?;
    let id = CredentialId::parse(id).map_err(|_| AppError::NotFound("credential"))?;
    let row = issuance::own_credential(app, &actor, &id).await?;
    if row.kind != kind.as_str() {
        return Err(Invalid::new(
            "kind",
            match kind {
                CredentialKind::DigitalId => "the ID card is printed for digital IDs",
                CredentialKind::Document => "the certificate is printed for document certificates",
            },
        )
        .into());
    }
    app.store
        .audit_event(
            &actor.id,
            "credential.print",
            &row.id,
            &serde_json::json!({ "form": form }),
        )
        .await?;
    Ok(row)
}

/// The QR of `row` as an inline SVG at the largest whole-dot module within `max_mm`, and
/// its printed side in millimetres.
fn qr_svg(app: &App, row: &CredentialRow, max_mm: f64) -> Result<(String, f64), AppError> {
    let text = issuance::qr_text(app.config.public_base(), &row.id, &row.token);
    let code = qr::encode(&text, qr::DEFAULT_EC).map_err(|e| AppError::Internal(e.into()))?;
    let m = qr::module_mm_within(code.width(), max_mm);
    let side = m * (code.width() + 2 * qr::QUIET) as f64;
    Ok((qr::svg_at(&code, m), side))
}

/// `a1b2 c3d4 e5f6 a7b8 … 9c0d 1e2f`: enough of the digest to compare by eye.
fn short_digest(hex: &str) -> String {
    let group = |s: &str| {
        s.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if hex.len() < 24 {
        return group(hex);
    }
    format!("{} … {}", group(&hex[..16]), group(&hex[hex.len() - 8..]))
}

fn html(app: &App, name: &str, ctx: serde_json::Value) -> Response {
    let mut res = super::console::render(app, name, ctx);
    // Personal data: keep it out of shared caches and search engines.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res.headers_mut().insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    res
}

async fn card(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match Console::from(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let r = async {
        let row = printable(&app, &c, &id, CredentialKind::DigitalId, "card").await?;
        let (svg, side) = qr_svg(&app, &row, CARD_QR_MAX_MM)?;
        let photo = match &row.person_id {
            Some(p) => app.store.get_person_photo(p).await?,
            None => None,
        }
        .map(|b| {
            format!(
                "data:image/jpeg;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(b)
            )
        });
        let out = super::api::credential_out(&app, row.clone());
        Ok::<_, AppError>(serde_json::json!({
            "c": out,
            "subject": out.subject,
            "issued_date": pages::date(row.issued_at),
            "photo": photo,
            "qr_svg": svg,
            "qr_mm": format!("{side:.2}"),
            "live_url": format!("{}/v/{}", app.config.public_base(), row.id),
        }))
    }
    .await;
    match r {
        Ok(ctx) => html(&app, "print_card.html", ctx),
        Err(e) => c.fail(&app, e, "/console/credentials"),
    }
}

async fn certificate(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = match Console::from(&app, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let r = async {
        let row = printable(&app, &c, &id, CredentialKind::Document, "certificate").await?;
        let (svg, side) = qr_svg(&app, &row, CERT_QR_MAX_MM)?;
        let out = super::api::credential_out(&app, row.clone());
        let digest = row.doc_sha256.clone().unwrap_or_default();
        Ok::<_, AppError>(serde_json::json!({
            "c": out,
            "subject": out.subject,
            "issued_date": pages::date(row.issued_at),
            "digest_short": short_digest(&digest),
            "digest": digest,
            "qr_svg": svg,
            "qr_mm": format!("{side:.2}"),
            "live_url": format!("{}/v/{}", app.config.public_base(), row.id),
        }))
    }
    .await;
    match r {
        Ok(ctx) => html(&app, "print_certificate.html", ctx),
        Err(e) => c.fail(&app, e, "/console/credentials"),
    }
}

#[cfg(test)]
mod tests {
    use super::short_digest;

    #[test]
    fn digest_short_form_keeps_both_ends() {
        let hex = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f09c0d";
        assert_eq!(short_digest(hex), "a1b2 c3d4 e5f6 a7b8 … e9f0 9c0d");
    }
}
