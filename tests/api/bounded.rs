//! Issue #8, finding 5: public input costs bounded work. Image bombs are refused from their
//! header (memory stays flat, other requests keep being answered), truncated images are
//! refused, multipart limits count parts, and a real server on a loopback port closes
//! slow-header and idle connections and caps how many are open.

use crate::helpers::{self, TestApp};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use std::io::Cursor;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A PNG of a few tens of KB declaring 20000×20000 pixels (1-bit, all black: compresses to
/// almost nothing, decodes to 400 MB of luma).
fn png_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 20000, 20000);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        enc.set_compression(png::Compression::High);
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&vec![0u8; 2500 * 20000]).expect("data");
    }
    out
}

fn rss_mb() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096 / (1024 * 1024)
}

async fn post_image(t: &TestApp, body: Vec<u8>) -> helpers::Res {
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(body))
        .expect("request");
    t.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_bombs_are_refused_from_the_header() {
    let Some(t) = helpers::spawn(helpers::Db::Sqlite).await else {
        return;
    };
    let bomb = png_bomb();
    assert!(bomb.len() < 256 * 1024, "bomb is {} bytes", bomb.len());
    let before = rss_mb();
    let started = Instant::now();
    // Eight at once, as in the finding, while /healthz is asked repeatedly.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let router = t.router.clone();
        let body = bomb.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::post("/api/v1/verify")
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from(body))
                .expect("request");
            tower::ServiceExt::oneshot(router, req)
                .await
                .expect("response")
                .status()
        }));
    }
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let s = Instant::now();
        assert_eq!(t.get("/healthz").await.status, StatusCode::OK);
        worst = worst.max(s.elapsed());
    }
    for task in tasks {
        assert_eq!(task.await.expect("join"), StatusCode::BAD_REQUEST);
    }
    let took = started.elapsed();
    let grown = rss_mb().saturating_sub(before);
    eprintln!(
        "8 PNG bombs ({} bytes, 20000x20000): refused in {took:?}, RSS +{grown} MB, worst /healthz {worst:?}",
        bomb.len()
    );
    assert!(grown < 100, "RSS grew {grown} MB");
    assert!(worst < Duration::from_millis(500), "healthz took {worst:?}");
    let r = post_image(&t, bomb).await;
    let p = r.assert_problem(StatusCode::BAD_REQUEST);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("20000")),
        "{p}"
    );
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_photos_are_refused() {
    let Some(t) = helpers::spawn(helpers::Db::Sqlite).await else {
        return;
    };
    let p = t
        .post(
            "/api/v1/persons",
            serde_json::json!({"name_ar": "صورة", "name_en": "Photo", "date_of_birth": "1990-01-01",
                "national_id": "1098765431", "programme": "p"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.text());
    let pid = p.json()["id"].as_str().expect("id").to_owned();
    let put = |body: Vec<u8>, ct: &'static str| {
        Request::put(format!("/api/v1/persons/{pid}/photo"))
            .header(header::AUTHORIZATION, format!("Bearer {}", t.token))
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("request")
    };
    let whole = jpeg(300, 200);
    assert_eq!(
        t.send(put(whole.clone(), "image/jpeg")).await.status,
        StatusCode::NO_CONTENT
    );
    let cut = whole[..whole.len() * 2 / 3].to_vec();
    let r = t.send(put(cut, "image/jpeg")).await;
    let p = r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cut short")),
        "{p}"
    );
    // A PNG cut short likewise, and as a photo of a QR on the public endpoint.
    let mut png = Cursor::new(Vec::new());
    image::RgbImage::from_pixel(50, 50, image::Rgb([1, 2, 3]))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let png = png.into_inner();
    let cut = png[..png.len() - 16].to_vec();
    t.send(put(cut.clone(), "image/png"))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_image(&t, cut).await;
    r.assert_problem(StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_counts_parts_not_names() {
    let Some(t) = helpers::spawn(helpers::Db::Sqlite).await else {
        return;
    };
    let boundary = "b0undary";
    let mut body = Vec::new();
    for _ in 0..200_000 {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let started = Instant::now();
    let req = Request::post("/api/v1/verify")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("request");
    let r = t.send(req).await;
    // Either the body limit or the part count stops it; never 200,000 parts read.
    assert!(
        r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::PAYLOAD_TOO_LARGE,
        "{} {}",
        r.status,
        r.text()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // Small enough for the body limit: the part count decides.
    let mut body = Vec::new();
    for i in 0..40 {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\n1\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let req = Request::post("/api/v1/verify")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("request");
    let p = t.send(req).await.assert_problem(StatusCode::BAD_REQUEST);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("too many form parts")),
        "{p}"
    );
    // One name twice is refused too.
    let (ct, body) = helpers::multipart(&[("id", "a"), ("id", "b")], None);
    let req = Request::post("/api/v1/verify")
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body))
        .expect("request");
    let p = t.send(req).await.assert_problem(StatusCode::BAD_REQUEST);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("twice")),
        "{p}"
    );
}

/// A real server on a free loopback port with small limits.
async fn serve(t: &TestApp, max_connections: usize, header_timeout: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let router = t.router.clone();
    tokio::spawn(sanad::web::server::serve(
        listener,
        router,
        sanad::web::server::Limits {
            max_connections,
            header_timeout,
        },
        std::future::pending(),
    ));
    addr
}

/// Read until the server closes the connection; the time it took.
async fn closed_after(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), stream.read(&mut buf))
            .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn healthz(addr: &str) -> Duration {
    let start = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .expect("read");
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_and_idle_connections_are_closed() {
    let Some(t) = helpers::spawn(helpers::Db::Sqlite).await else {
        return;
    };
    let timeout = Duration::from_secs(1);
    let addr = serve(&t, 64, timeout).await;
    // Idle from the start: nothing sent.
    let mut idle = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    // Slow headers: a line, then silence.
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("write");
    // Kept alive after one request, then idle.
    let mut kept = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 512];
    let n = kept.read(&mut first).await.expect("response");
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    for (what, s) in [
        ("idle", &mut idle),
        ("slow header", &mut slow),
        ("kept-alive idle", &mut kept),
    ] {
        let closed = closed_after(s, Duration::from_secs(5)).await;
        eprintln!("{what} connection closed after {closed:?}");
        assert!(
            closed.is_some_and(|d| d < Duration::from_secs(4)),
            "{what}: {closed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_capped_and_others_still_answered() {
    let Some(t) = helpers::spawn(helpers::Db::Sqlite).await else {
        return;
    };
    let timeout = Duration::from_secs(1);
    let addr = serve(&t, 4, timeout).await;
    // Normal service first.
    assert!(healthz(&addr).await < Duration::from_secs(1));
    // Four idle connections take every slot...
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connect"),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...so a fifth client waits in the backlog (the cap holds) until the idle ones are
    // cut by the timeout, and is then answered.
    let waited = healthz(&addr).await;
    eprintln!("with 4/4 slots held idle, /healthz answered after {waited:?}");
    assert!(
        waited >= Duration::from_millis(600),
        "cap not applied: {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    // Twelve idle connections (three times the cap) delay others by about three timeouts,
    // never for ever.
    let mut flood = Vec::new();
    for _ in 0..12 {
        if let Ok(s) = tokio::net::TcpStream::connect(&addr).await {
            flood.push(s);
        }
    }
    let waited = healthz(&addr).await;
    eprintln!("behind 12 idle connections (cap 4), /healthz answered after {waited:?}");
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    drop(held);
    drop(flood);
}
