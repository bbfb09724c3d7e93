//! Person photos over HTTP: registrars upload, the agency's readers and officers (any agency,
//! audited) fetch. The image work itself is in [`crate::render::photo`].

use crate::app::App;
use crate::auth::{Principal, Scope};
use crate::domain::{CredentialId, Invalid, PersonId};
use crate::error::{AppError, Problem};
use crate::issuance;
use crate::render::photo::{self, MAX_UPLOAD_BYTES, PhotoError};
use axum::extract::{FromRequest as _, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Body limit of the photo routes: the image plus room for a multipart envelope.
pub const MAX_PHOTO_BODY: usize = MAX_UPLOAD_BYTES + 64 * 1024;

impl From<PhotoError> for AppError {
    fn from(e: PhotoError) -> Self {
        Invalid::new("photo", e.to_string()).into()
    }
}

/// Multipart form of a photo upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PhotoUpload {
    /// The photo, JPEG or PNG, up to 5 MiB (5,242,880 bytes) and 4000×4000 pixels.
    #[schema(format = Binary, content_media_type = "image/jpeg")]
    photo: String,
}

/// The upload's bytes: the body itself (`image/jpeg`, `image/png`) or the multipart field
/// `photo`.
async fn read_upload(req: Request) -> Result<Vec<u8>, AppError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim().to_owned();
    let bytes = match essence.as_str() {
        "image/jpeg" | "image/png" => axum::body::to_bytes(req.into_body(), MAX_UPLOAD_BYTES)
            .await
            .map_err(|_| AppError::TooLarge)?
            .to_vec(),
        "multipart/form-data" => {
            let mp = Multipart::from_request(req, &())
                .await
                .map_err(|e| AppError::BadRequest(e.body_text()))?;
            let (_, file) = super::api::read_form(mp, &["photo"], MAX_UPLOAD_BYTES).await?;
            file.ok_or_else(|| Invalid::new("photo", "the photo is missing"))?
                .1
        }
        _ => {
            return Err(AppError::UnsupportedMedia(
                "send the photo as image/jpeg, image/png or multipart field `photo`".into(),
            ));
        }
    };
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(AppError::TooLarge);
    }
    if bytes.is_empty() {
        return Err(Invalid::new("photo", "the photo is empty").into());
    }
    Ok(bytes)
}

fn jpeg(bytes: Vec<u8>) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    // A face is personal data: no shared or on-disk caches.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res
}

/// Upload or replace a person's photo. JPEG or PNG in (body, or multipart field `photo`);
/// stored re-encoded as a JPEG of at most 600 px on the longer side, without EXIF or any
/// other metadata.
#[utoipa::path(put, path = "/api/v1/persons/{id}/photo", tag = "persons",
    params(("id" = String, Path, description = "person id")), security(("bearer" = [])),
    request_body(description = "the photo", content(
        (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (PhotoUpload = "multipart/form-data"))),
    responses((status = 204, description = "stored"), (status = 404, body = Problem),
        (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all, fields(person.id = %id))]
pub async fn put_photo(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
    req: Request,
) -> Result<StatusCode, AppError> {
    let actor = &auth.require(Scope::Issue)?;
    let pid = PersonId::parse(&id).map_err(|_| AppError::NotFound("person"))?;
    issuance::own_person(&app, actor, &pid).await?;
    let upload = read_upload(req).await?;
    let out = super::blocking::image_work(move || photo::normalise(&upload)).await??;
    app.store
        .set_person_photo(pid.as_str(), actor.agency.as_str(), &out, &actor.id)
        .await?;
    tracing::info!(photo.bytes = out.len(), "photo stored");
    Ok(StatusCode::NO_CONTENT)
}

/// A person's photo (JPEG), for the agency's readers.
#[utoipa::path(get, path = "/api/v1/persons/{id}/photo", tag = "persons",
    params(("id" = String, Path, description = "person id")), security(("bearer" = [])),
    responses((status = 200, description = "the photo", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, body = Problem)))]
pub async fn get_photo(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let actor = &auth.require(Scope::Read)?;
    let pid = PersonId::parse(&id).map_err(|_| AppError::NotFound("person"))?;
    issuance::own_person(&app, actor, &pid).await?;
    let bytes = app
        .store
        .get_person_photo(pid.as_str())
        .await?
        .ok_or(AppError::NotFound("photo"))?;
    Ok(jpeg(bytes))
}

/// The photo of a digital ID's holder, for officers (and admins) of any agency. Every view
/// is written to the audit log with the viewer's id.
#[utoipa::path(get, path = "/api/v1/officer/credentials/{id}/photo", tag = "officer",
    params(("id" = String, Path, description = "credential id")), security(("bearer" = [])),
    responses((status = 200, description = "the photo", content_type = "image/jpeg", body = Vec<u8>),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn officer_photo(
    State(app): State<Arc<App>>,
    auth: Principal,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    auth.require_global(Scope::OfficerView)?;
    let id = CredentialId::parse(&id).map_err(|_| AppError::NotFound("credential"))?;
    let c = app
        .store
        .get_credential(id.as_str())
        .await
        .map_err(AppError::not_found("credential"))?;
    let pid = c.person_id.as_deref().ok_or(AppError::NotFound("photo"))?;
    let bytes = app
        .store
        .get_person_photo(pid)
        .await?
        .ok_or(AppError::NotFound("photo"))?;
    app.store
        .audit_event(
            &auth.id,
            "credential.view_photo",
            &c.id,
            &serde_json::json!({"agency": c.agency_code}),
        )
        .await?;
    tracing::info!(credential.id = %c.id, "photo viewed");
    Ok(jpeg(bytes))
}
