//! Test harness: a real `App` and router per test on a fresh database (a new SQLite file,
//! or a new PostgreSQL database), driven in-process with `oneshot`.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use sanad::app::{App, create_api_token};
use sanad::config::Config;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt as _;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub app: Arc<App>,
    pub router: axum::Router,
    /// A token of agency MOSD with issue, revoke and read.
    pub token: String,
    pub dir: PathBuf,
    /// The PostgreSQL test database, dropped with the last holder (last field: dropped
    /// after the app).
    pub db: Option<Arc<PgDatabase>>,
}

/// A PostgreSQL database created for one test; dropped (`WITH (FORCE)`, closing the
/// test's connections) when this is dropped, i.e. at the end of the test.
#[derive(Debug)]
pub struct PgDatabase {
    admin: String,
    pub name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime: use a thread with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                use sqlx::Connection as _;
                let mut c = sqlx::AnyConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = c.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = done.map_err(|_| "panicked".to_owned()) {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "warning: test database {} not dropped: {e}",
                self.name
            );
        }
    }
}

/// Databases registered by [`postgres_url`] for [`spawn_with`] to take charge of.
static PG_CREATED: std::sync::Mutex<Vec<Arc<PgDatabase>>> = std::sync::Mutex::new(Vec::new());

/// The guard of the test database a URL names, if this process created it.
pub fn pg_guard(url: &str) -> Option<Arc<PgDatabase>> {
    let g = PG_CREATED.lock().unwrap_or_else(|p| p.into_inner());
    g.iter()
        .find(|d| url.ends_with(&format!("/{}", d.name)))
        .cloned()
}

/// Tests skipped in this process so far.
static SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Say that a test is skipped where the reader sees it: straight to the terminal (the test
/// runner captures `eprintln!` and hides it for passing tests), with a running count.
pub fn report_skip(what: &str, reason: &str) {
    use std::io::Write as _;
    let n = SKIPPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED ({what}) {test}: {reason} [{n} skipped so far in this test binary; with CI=true this fails]"
    );
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", sanad::domain::random_base32(12))
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// A fresh PostgreSQL database, or `None` (with a printed reason) when no server answers
/// and we are not in CI. In CI a missing server fails the test.
pub async fn postgres_url() -> Option<String> {
    let admin = std::env::var("SANAD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sqlx::any::install_default_drivers();
    // Probe the port once per test process, so a machine without PostgreSQL skips every
    // PostgreSQL test at once instead of waiting for a pool timeout in each.
    static REACHABLE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let probe = REACHABLE.get_or_init(|| {
        let hostport = admin
            .split('@')
            .next_back()
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("127.0.0.1:5432");
        let addr = std::net::ToSocketAddrs::to_socket_addrs(hostport)
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| format!("{hostport} does not resolve"))?;
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
            .map(drop)
            .map_err(|e| e.to_string())
    });
    if let Err(e) = probe {
        if ci() {
            panic!("CI=true but PostgreSQL is not reachable at {admin}: {e}");
        }
        report_skip(
            "PostgreSQL test",
            &format!("no server at {admin}: {e}; set SANAD_TEST_POSTGRES_URL or start PostgreSQL"),
        );
        return None;
    }
    let pool = match sqlx::AnyPool::connect(&admin).await {
        Ok(p) => p,
        Err(e) => {
            if ci() {
                panic!("CI=true but PostgreSQL is not reachable at {admin}: {e}");
            }
            report_skip(
                "PostgreSQL test",
                &format!(
                    "no server at {admin}: {e}; set SANAD_TEST_POSTGRES_URL or start PostgreSQL"
                ),
            );
            return None;
        }
    };
    // Once per process: drop test databases left over by runs that were killed (created
    // more than an hour ago; a live test's database is younger).
    static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CLEANED
        .get_or_init(|| async {
            let stale: Vec<String> = sqlx::query_scalar(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 'sanad\\_t\\_%' \
                 AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification < now() - interval '1 hour'",
            )
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
            for d in stale {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {d} WITH (FORCE)"
                )))
                .execute(&pool)
                .await;
            }
        })
        .await;
    let name = unique("sanad_t_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    PG_CREATED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Arc::new(PgDatabase {
            admin: admin.clone(),
            name: name.clone(),
        }));
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(b, _)| b)
        .to_owned();
    Some(format!("{base}/{name}"))
}

pub async fn database_url(db: Db, dir: &std::path::Path) -> Option<String> {
    match db {
        Db::Sqlite => Some(format!(
            "sqlite://{}?mode=rwc",
            dir.join("test.db").display()
        )),
        Db::Postgres => postgres_url().await,
    }
}

pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("sanad-test-"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub async fn spawn(db: Db) -> Option<TestApp> {
    let dir = temp_dir();
    let url = database_url(db, &dir).await?;
    spawn_with(Config::for_tests(url, dir.join("keys")), dir).await
}

pub async fn spawn_with(config: Config, dir: PathBuf) -> Option<TestApp> {
    spawn_with_agency(config, dir, "MOSD").await
}

pub async fn spawn_with_agency(config: Config, dir: PathBuf, agency: &str) -> Option<TestApp> {
    // Take charge of the test database first: dropped at the end even if the build fails.
    let db = pg_guard(&config.database_url());
    if let Some(d) = &db {
        PG_CREATED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|x| x.name != d.name);
    }
    let app = App::build(config).await.expect("app builds");
    let token = create_api_token(
        &app.store,
        agency,
        &["issue".into(), "revoke".into(), "read".into()],
        "tests",
    )
    .await
    .expect("token");
    let router = sanad::web::router(app.clone());
    Some(TestApp {
        app,
        router,
        token,
        dir,
        db,
    })
}

pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
    /// Assert a problem+json answer with this status.
    pub fn assert_problem(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text()
        );
        let j = self.json();
        assert_eq!(j["status"], status.as_u16());
        assert!(
            j["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:sanad:problem:"))
        );
        j
    }
}

impl TestApp {
    pub async fn send(&self, req: Request<Body>) -> Res {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        Res {
            status,
            headers,
            body,
        }
    }

    pub async fn call_bytes(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Res {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn get(&self, path: &str) -> Res {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn get_json(&self, path: &str) -> Res {
        let req = Request::get(path)
            .header(header::ACCEPT, "application/json")
            .body(Body::empty())
            .expect("request");
        self.send(req).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.call(Method::POST, path, Some(&self.token.clone()), Some(body))
            .await
    }

    pub async fn verify(&self, body: Value) -> Value {
        let r = self
            .call(Method::POST, "/api/v1/verify", None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }

    /// Create a person and issue a digital ID; returns the credential JSON.
    pub async fn issue_id(&self, name_ar: &str) -> Value {
        let p = self
            .post(
                "/api/v1/persons",
                serde_json::json!({
                    "name_ar": name_ar, "name_en": "Fatima Ahmed Al-Harbi",
                    "date_of_birth": "1988-04-12", "national_id": "1098765432",
                    "programme": "family of an inmate"
                }),
            )
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{}", p.text());
        let pid = p.json()["id"].as_str().expect("id").to_owned();
        let c = self
            .post(
                "/api/v1/credentials",
                serde_json::json!({"kind": "digital_id", "person_id": pid}),
            )
            .await;
        assert_eq!(c.status, StatusCode::CREATED, "{}", c.text());
        c.json()
    }

    /// Issue a document certificate by uploading `file`.
    pub async fn issue_doc_upload(&self, file: &[u8]) -> Value {
        let (ct, body) = multipart(
            &[
                ("doc_type", "social support eligibility letter"),
                ("number", "MOSD/2026/004211"),
                ("title", "إفادة استحقاق دعم اجتماعي"),
                ("recipient_name", "فاطمة أحمد الحربي"),
                ("issue_date", "2026-11-20"),
            ],
            Some(("file", "letter.pdf", "application/pdf", file)),
        );
        let req = Request::post("/api/v1/credentials/document")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("request");
        let r = self.send(req).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    pub async fn action(&self, id: &str, action: &str, reason: &str) -> Res {
        self.post(
            &format!("/api/v1/credentials/{id}/{action}"),
            serde_json::json!({"reason_code": reason, "reason_text": "case 7781"}),
        )
        .await
    }
}

/// A multipart/form-data body.
pub fn multipart(
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &str, &[u8])>,
) -> (String, Vec<u8>) {
    let boundary = "----sanadtestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, filename, ct, bytes)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {ct}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Run a test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_dbs {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(t) = helpers::spawn(helpers::Db::Sqlite).await {
                    ($body)(t).await;
                }
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(t) = helpers::spawn(helpers::Db::Postgres).await {
                    ($body)(t).await;
                }
            }
        }
    };
}
