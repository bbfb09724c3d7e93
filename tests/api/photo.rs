//! Person photos: what goes in (JPEG/PNG with metadata, too big, not an image) and what comes
//! out (a small JPEG with no metadata), who may upload and fetch, and the audit of officers'
//! views.

use crate::both_dbs;
use crate::callers::{Caller, with_second_agency};
use crate::helpers::{self, TestApp, multipart};
use axum::http::{Method, StatusCode};
use sanad::auth::Role;
use std::io::Cursor;

/// What the metadata of the test uploads says; it must never come back out.
const MARKER: &[u8] = b"SANAD-PRIVATE-GPS-24.7136N-46.6753E";

fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn gradient(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
}

/// A JPEG with an EXIF APP1 segment (orientation 1 and the marker) right after SOI.
fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    let jpeg = encode(&gradient(w, h), image::ImageFormat::Jpeg);
    let mut tiff = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x01\0\0\0\0\0\0".to_vec();
    tiff.extend_from_slice(MARKER);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let len = u16::try_from(app1.len() + 2).expect("short");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    assert!(
        image::load_from_memory(&out).is_ok(),
        "the test JPEG decodes"
    );
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG with an EXIF-like `tEXt` chunk before IEND.
fn png_with_text(w: u32, h: u32) -> Vec<u8> {
    let png = encode(&gradient(w, h), image::ImageFormat::Png);
    let iend = png.len() - 12;
    let mut body = b"tEXt".to_vec();
    body.extend_from_slice(b"Exif\0");
    body.extend_from_slice(MARKER);
    let mut chunk = u32::try_from(body.len() - 4)
        .expect("short")
        .to_be_bytes()
        .to_vec();
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32(&body).to_be_bytes());
    let mut out = png[..iend].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[iend..]);
    assert!(
        image::load_from_memory(&out).is_ok(),
        "the test PNG decodes"
    );
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The stored photo is a plain JPEG of at most 600 px on the longer side.
fn assert_clean(bytes: &[u8], expect: (u32, u32)) {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(
        image::guess_format(bytes).expect("format"),
        image::ImageFormat::Jpeg
    );
    let img = image::load_from_memory(bytes).expect("decodes");
    assert_eq!((img.width(), img.height()), expect);
    assert!(!contains(bytes, b"Exif"), "no EXIF left");
    assert!(!contains(bytes, MARKER), "no metadata left");
}

async fn photos(t: TestApp) {
    let t = with_second_agency(t).await;
    let me = Caller::Token(t.token.clone());
    let c = t.issue_id("ليلى").await;
    let cid = c["id"].as_str().expect("id").to_owned();
    let pid = c["person_id"].as_str().expect("pid").to_owned();
    let put = format!("/api/v1/persons/{pid}/photo");

    // No photo yet.
    t.req(&me, Method::GET, &put, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);

    // A JPEG with EXIF: shrunk, re-encoded, stripped.
    let r = t
        .req_bytes(
            &me,
            Method::PUT,
            &put,
            "image/jpeg",
            jpeg_with_exif(1200, 900),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let got = t.req(&me, Method::GET, &put, None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.content_type(), "image/jpeg");
    assert_eq!(got.headers["cache-control"], "private, no-store");
    assert_clean(&got.body, (600, 450));

    // A PNG with a text chunk, as a multipart field; small images keep their size.
    let (ct, body) = multipart(
        &[],
        Some(("photo", "p.png", "image/png", &png_with_text(300, 500))),
    );
    let r = t.req_bytes(&me, Method::PUT, &put, &ct, body).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let got = t.req(&me, Method::GET, &put, None).await;
    assert_clean(&got.body, (300, 500));
    let r = t
        .req_bytes(
            &me,
            Method::PUT,
            &put,
            "image/png",
            png_with_text(2000, 4000),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_clean(&t.req(&me, Method::GET, &put, None).await.body, (300, 600));

    // Refusals.
    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    t.req_bytes(&me, Method::PUT, &put, "image/jpeg", big.clone())
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    let (ct, body) = multipart(&[], Some(("photo", "p.jpg", "image/jpeg", &big)));
    t.req_bytes(&me, Method::PUT, &put, &ct, body)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE);
    t.req_bytes(
        &me,
        Method::PUT,
        &put,
        "image/png",
        b"not an image".to_vec(),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    t.req_bytes(&me, Method::PUT, &put, "image/jpeg", gif)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    t.req_bytes(&me, Method::PUT, &put, "text/plain", b"hello".to_vec())
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = encode(&image::RgbImage::new(4001, 10), image::ImageFormat::Png);
    let p = t
        .req_bytes(&me, Method::PUT, &put, "image/png", huge)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["field"], "photo");

    // Another agency sees no such person; a reader may fetch but not upload.
    let moj = t.token_for("MOJ", &["issue", "read"]).await;
    t.req_bytes(&moj, Method::PUT, &put, "image/png", png_with_text(10, 10))
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    t.req(&moj, Method::GET, &put, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let reader = t.token_for("MOSD", &["read"]).await;
    t.req_bytes(
        &reader,
        Method::PUT,
        &put,
        "image/png",
        png_with_text(10, 10),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN);
    assert_eq!(t.req(&reader, Method::GET, &put, None).await.status, 200);

    // An officer of another agency fetches it through the officer route, audited.
    let officer = t.user("off-moj", Role::Officer, Some("MOJ")).await;
    let off = format!("/api/v1/officer/credentials/{cid}/photo");
    let got = t.req(&officer, Method::GET, &off, None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text());
    assert_eq!(got.content_type(), "image/jpeg");
    assert_clean(&got.body, (300, 600));
    t.req(&Caller::Token(t.token.clone()), Method::GET, &off, None)
        .await
        .assert_problem(StatusCode::FORBIDDEN);

    let entries = t.app.store.audit_entries().await.expect("audit");
    let uploads: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "person.photo" && e.subject == pid)
        .collect();
    assert_eq!(uploads.len(), 3, "three stored uploads");
    assert!(
        uploads
            .iter()
            .all(|e| !e.detail.contains("ليلى") && !e.detail.contains("1098765432"))
    );
    let views: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "credential.view_photo" && e.subject == cid)
        .map(|e| e.actor.clone())
        .collect();
    assert_eq!(views.len(), 1);
    assert!(views[0].starts_with("user:u"), "{views:?}");
    assert_eq!(sanad::audit::verify_chain(&entries), Ok(entries.len()));
}

both_dbs!(person_photos, photos);
