//! Test callers: the public, console users signed in with a session cookie, API tokens;
//! plus a second agency (MOJ) with its own signing key so "other agency" is real.

use crate::helpers::{Res, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, header};
use sanad::auth::Role;
use serde_json::{Value, json};

/// Password of every test user.
pub const PW: &str = "correct horse battery staple";

/// Who makes a request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No credentials.
    Public,
    /// A console session: the cookie secret and its CSRF token.
    Session { cookie: String, csrf: String },
    /// A bearer API token.
    Token(String),
}

/// Add MOJ (a second agency) and rebuild the app so MOJ gets its signing key.
pub async fn with_second_agency(t: TestApp) -> TestApp {
    t.app
        .store
        .insert_agency(&sanad::storage::AgencyRow {
            code: "MOJ".into(),
            name_ar: "وزارة العدل".into(),
            name_en: "Ministry of Justice".into(),
            base_url: String::new(),
            created_at: 0,
            origin: String::new(),
        })
        .await
        .expect("agency");
    let app = sanad::app::App::build(t.app.config.clone())
        .await
        .expect("rebuild");
    TestApp {
        router: sanad::web::router(app.clone()),
        app,
        token: t.token,
        dir: t.dir,
        db: t.db,
    }
}

impl TestApp {
    /// Send a request as `c`; sessions send their CSRF token on unsafe methods.
    pub async fn req(&self, c: &Caller, method: Method, path: &str, body: Option<Value>) -> Res {
        let mut b = Request::builder().method(method.clone()).uri(path);
        match c {
            Caller::Public => {}
            Caller::Token(t) => b = b.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Caller::Session { cookie, csrf } => {
                b = b.header(header::COOKIE, format!("sanad_session={cookie}"));
                if method != Method::GET {
                    b = b.header("x-csrf-token", csrf.as_str());
                }
            }
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

    /// Send a raw body of `content_type` as `c` (uploads).
    pub async fn req_bytes(
        &self,
        c: &Caller,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Res {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::CONTENT_TYPE, content_type);
        match c {
            Caller::Public => {}
            Caller::Token(t) => b = b.header(header::AUTHORIZATION, format!("Bearer {t}")),
            Caller::Session { cookie, csrf } => {
                b = b.header(header::COOKIE, format!("sanad_session={cookie}"));
                if method != Method::GET {
                    b = b.header("x-csrf-token", csrf.as_str());
                }
            }
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }

    /// Add a user (Argon2id hashing included).
    pub async fn add_user(&self, name: &str, role: Role, agency: Option<&str>) -> String {
        sanad::auth::add_user(&self.app.store, name, role, agency, PW, "test")
            .await
            .expect("user")
            .id
    }

    /// Sign in through the API; returns the session caller.
    pub async fn login(&self, name: &str, pw: &str) -> Result<Caller, Res> {
        let r = self
            .req(
                &Caller::Public,
                Method::POST,
                "/api/v1/session",
                Some(json!({"username": name, "password": pw})),
            )
            .await;
        if r.status != 200 {
            return Err(r);
        }
        let set = r
            .headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("set-cookie")
            .to_owned();
        let cookie = set
            .strip_prefix("sanad_session=")
            .and_then(|s| s.split(';').next())
            .expect("cookie")
            .to_owned();
        let csrf = r.json()["csrf_token"].as_str().expect("csrf").to_owned();
        Ok(Caller::Session { cookie, csrf })
    }

    /// Sign in an existing user with [`PW`].
    pub async fn signed_in(&self, name: &str) -> Caller {
        match self.login(name, PW).await {
            Ok(c) => c,
            Err(r) => panic!("login of {name}: {} {}", r.status, r.text()),
        }
    }

    /// Add a user and sign them in.
    pub async fn user(&self, name: &str, role: Role, agency: Option<&str>) -> Caller {
        self.add_user(name, role, agency).await;
        self.signed_in(name).await
    }

    /// A token of `agency` with `scopes`.
    pub async fn token_for(&self, agency: &str, scopes: &[&str]) -> Caller {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        Caller::Token(
            sanad::app::create_api_token(&self.app.store, agency, &scopes, "test")
                .await
                .expect("token"),
        )
    }
}
