//! Bulk issuance on both databases: per-row errors, idempotency by request key, the audit
//! check of each batch, and a crash test of the real `sanad import` killed half-way.

use super::*;
use sanad::issuance::Actor;
use sanad::issuance::bulk::{self, Format, Options, Summary};
use sanad::storage::BulkResultRow;

async fn import(t: &TestApp, text: &str, format: Format) -> (Summary, Vec<BulkResultRow>) {
    let (start_seq, _) = t.app.store.audit_head().await.expect("head");
    let opts = Options {
        actor: Actor {
            id: "test".into(),
            agency: sanad::domain::AgencyCode::parse("MOSD").expect("code"),
        },
        job_id: None,
        subject: "import:test".into(),
        chunk_rows: 4,
        start_seq,
        skip_rows: 0,
    };
    let mut all = Vec::new();
    let sum = bulk::run(
        &t.app,
        std::io::Cursor::new(text.as_bytes().to_vec()),
        format,
        &opts,
        |r| all.extend_from_slice(r),
    )
    .await
    .expect("import runs");
    (sum, all)
}

fn by_row(rows: &[BulkResultRow], n: i64) -> &BulkResultRow {
    rows.iter().find(|r| r.row == n).expect("row reported")
}

both_dbs!(bulk_rows_errors_and_idempotency, |t: TestApp| async move {
    let p = t
        .post(
            "/api/v1/persons",
            json!({"name_ar": "فاطمة أحمد", "name_en": "Fatima Ahmed", "date_of_birth": "1988-04-12",
                   "national_id": "1098765432", "programme": "family of an inmate"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED, "{}", p.text());
    let pid = p.json()["id"].as_str().expect("id").to_owned();
    let unknown = sanad::domain::PersonId::generate().to_string();
    let digest = "ab".repeat(32);
    let csv = format!(
        "request_key,kind,person_id,name_ar,name_en,date_of_birth,national_id,programme,doc_type,number,title,recipient_name,issue_date,sha256\n\
         k1,,,{ARABIC_40},Ali Omar,1990-01-02,1234567,family,,,,,,\n\
         k2,digital_id,{pid},,,,,,,,,,,\n\
         k3,document,,,,,,,letter,N-1,Eligibility,Omar Ali,2026-01-01,{digest}\n\
         k4,,,علي,Ali,1990-01-02,12,family,,,,,,\n\
         k5,digital_id,{unknown},,,,,,,,,,,\n\
         k1,,,علي,Ali,1990-01-02,7654321,family,,,,,,\n\
         k7,,,علي\n\
         k8,,,علي,=HYPERLINK(\"http://evil\"),1990-01-02,7654321,family,,,,,,\n\
         k9,,,سارة,Sara,1991-03-04,99887766,family,,,,,,\n"
    );
    let (sum, rows) = import(&t, &csv, Format::Csv).await;
    assert_eq!(
        sum,
        Summary {
            rows: 9,
            issued: 4,
            skipped: 0,
            failed: 5
        },
        "{rows:?}"
    );
    for n in [1, 2, 3, 9] {
        let r = by_row(&rows, n);
        assert_eq!(r.outcome, "issued", "{r:?}");
        let id = r.credential_id.as_deref().expect("id");
        let c = t.app.store.get_credential(id).await.expect("stored");
        assert_eq!(c.status, "active");
    }
    let err = |n| by_row(&rows, n).error.clone().unwrap_or_default();
    assert!(err(4).starts_with("national_id:"), "{}", err(4));
    assert_eq!(err(5), "person_id: unknown person");
    assert!(err(6).contains("used twice"), "{}", err(6));
    assert!(err(7).starts_with("malformed CSV line"), "{}", err(7));
    assert!(
        err(8).starts_with("name_en:") && err(8).contains("formula"),
        "{}",
        err(8)
    );
    // The issued tokens verify like any other.
    let c1 = t
        .app
        .store
        .get_credential(by_row(&rows, 1).credential_id.as_deref().expect("id"))
        .await
        .expect("c1");
    let v = t.verify(json!({"token": c1.token})).await;
    assert_eq!(outcome(&v), "valid", "{v}");
    // The referenced person is the one the credential names.
    let c2 = by_row(&rows, 2).credential_id.clone().expect("id");
    assert_eq!(
        t.app
            .store
            .get_credential(&c2)
            .await
            .expect("c2")
            .person_id
            .as_deref(),
        Some(pid.as_str())
    );

    // The credentials of one chunk (rows 1-4) share their id's batch prefix.
    let prefix = |n| by_row(&rows, n).credential_id.clone().expect("id")[..2].to_owned();
    assert_eq!((prefix(1), prefix(2)), (prefix(3), prefix(3)));
    // Bulk persons carry the key the console's name search uses (nothing left to backfill).
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM persons WHERE search_key IS NULL").await,
        0
    );

    // The same file again issues nothing and reports the earlier credentials.
    let before: i64 = count(&t, "SELECT COUNT(*) FROM credentials").await;
    let (again, rows2) = import(&t, &csv, Format::Csv).await;
    // (Row 6 repeats k1 in another chunk: on a re-run it reads as "issued before", with
    // k1's credential, like row 1.)
    assert_eq!(again.issued, 0, "{rows2:?}");
    assert_eq!((again.skipped, again.failed), (5, 4), "{rows2:?}");
    assert_eq!(
        by_row(&rows2, 6).credential_id,
        by_row(&rows, 1).credential_id
    );
    assert_eq!(count(&t, "SELECT COUNT(*) FROM credentials").await, before);
    assert_eq!(
        by_row(&rows2, 1).credential_id,
        by_row(&rows, 1).credential_id
    );

    // NDJSON: a good row and a line that is not JSON.
    let nd = "{\"request_key\":\"n1\",\"name_ar\":\"سارة\",\"name_en\":\"Sara\",\"date_of_birth\":\"1991-03-04\",\"national_id\":\"556677889\",\"programme\":\"family\"}\n{\"request_key\":\"n2\",\n";
    let (s3, r3) = import(&t, nd, Format::Ndjson).await;
    assert_eq!((s3.issued, s3.failed), (1, 1), "{r3:?}");
    assert!(
        by_row(&r3, 2)
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("malformed JSON")
    );

    // The audit log vouches for every batch; changing one bulk row breaks it.
    let (ok, text) = sanad::cli::audit_verify(&t.app.store)
        .await
        .expect("verify");
    assert!(ok, "{text}");
    assert!(text.contains("bulk batches match"), "{text}");
    sqlx::query("UPDATE credentials SET status_index = status_index + 1 WHERE id = $1")
        .bind(c2.as_str())
        .execute(t.app.store.pool())
        .await
        .expect("tamper");
    let (ok, text) = sanad::cli::audit_verify(&t.app.store)
        .await
        .expect("verify");
    assert!(!ok && text.contains("bulk batch"), "{text}");
});

async fn count(t: &TestApp, sql: &'static str) -> i64 {
    use sqlx::Row as _;
    sqlx::query(sql)
        .fetch_one(t.app.store.pool())
        .await
        .expect("count")
        .try_get(0)
        .expect("int")
}

/// `sanad import` killed with SIGKILL half-way, then run again: every row issued exactly
/// once, nothing lost, the audit log whole.
async fn crash_test(db: helpers::Db) {
    use sqlx::Row as _;
    let dir = helpers::temp_dir();
    let Some(url) = helpers::database_url(db, &dir).await else {
        return;
    };
    const ROWS: usize = 6_000;
    let file = dir.join("people.csv");
    let mut csv = String::from("request_key,name_ar,name_en,date_of_birth,national_id,programme\n");
    for i in 0..ROWS {
        csv.push_str(&format!(
            "r{i},فاطمة أحمد,Fatima {i},1990-01-02,{},family\n",
            1_000_000 + i
        ));
    }
    std::fs::write(&file, csv).expect("write file");
    let cmd = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_sanad"));
        c.env("SANAD_DATA_DIR", dir.join("data"))
            .env("SANAD_KEYS_DIR", dir.join("keys"))
            .env("SANAD_DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .args(["import", "--chunk", "200"])
            .arg(&file);
        c
    };
    // Create the schema, agency and key first so the count below can be read at once.
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_sanad"))
        .env("SANAD_DATA_DIR", dir.join("data"))
        .env("SANAD_KEYS_DIR", dir.join("keys"))
        .env("SANAD_DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .args(["init"])
        .output()
        .expect("init");
    assert!(st.status.success());
    let store = sanad::storage::Store::connect(&url).await.expect("store");
    let issued = || async {
        sqlx::query("SELECT COUNT(*) FROM credentials")
            .fetch_one(store.pool())
            .await
            .expect("count")
            .try_get::<i64, _>(0)
            .expect("int")
    };
    let mut child = cmd()
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("import starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while issued().await < (ROWS / 4) as i64 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    let _ = child.wait();
    let after_kill = issued().await;
    assert!(
        after_kill > 0 && after_kill < ROWS as i64,
        "killed half-way: {after_kill} of {ROWS} issued"
    );
    let out = cmd().output().expect("import again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "{} issued, {after_kill} already issued before, 0 failed",
            ROWS as i64 - after_kill
        )),
        "{stdout}"
    );
    assert_eq!(issued().await, ROWS as i64);
    let distinct: i64 = sqlx::query("SELECT COUNT(DISTINCT request_key) FROM credentials")
        .fetch_one(store.pool())
        .await
        .expect("distinct")
        .try_get(0)
        .expect("int");
    assert_eq!(distinct, ROWS as i64, "every row issued exactly once");
    let feed: i64 = sqlx::query("SELECT COUNT(*) FROM status_changes")
        .fetch_one(store.pool())
        .await
        .expect("feed")
        .try_get(0)
        .expect("int");
    assert_eq!(feed, ROWS as i64, "one feed row per credential");
    let events: i64 = sqlx::query(
        "SELECT COUNT(DISTINCT credential_id) FROM events WHERE type = 'credential.issued'",
    )
    .fetch_one(store.pool())
    .await
    .expect("events")
    .try_get(0)
    .expect("int");
    assert_eq!(events, ROWS as i64, "one outbox event per credential");
    let slots: i64 =
        sqlx::query("SELECT COUNT(DISTINCT status_list * 1000000 + status_index) FROM credentials")
            .fetch_one(store.pool())
            .await
            .expect("slots")
            .try_get(0)
            .expect("int");
    assert_eq!(slots, ROWS as i64, "no status slot used twice");
    let v = std::process::Command::new(env!("CARGO_BIN_EXE_sanad"))
        .env("SANAD_DATA_DIR", dir.join("data"))
        .env("SANAD_KEYS_DIR", dir.join("keys"))
        .env("SANAD_DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success() && text.contains("intact"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_killed_half_way_sqlite() {
    crash_test(helpers::Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_killed_half_way_postgres() {
    crash_test(helpers::Db::Postgres).await;
}

async fn get(t: &TestApp, path: &str) -> helpers::Res {
    t.call(Method::GET, path, Some(&t.token), None).await
}

async fn wait_job(t: &TestApp, id: &str) -> Value {
    for _ in 0..600 {
        let j = get(t, &format!("/api/v1/credentials/bulk/{id}")).await;
        assert_eq!(j.status, StatusCode::OK, "{}", j.text());
        let v = j.json();
        if v["state"] != "running" {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("bulk job {id} did not finish");
}

both_dbs!(bulk_api_job, |t: TestApp| async move {
    let csv = "request_key,name_ar,name_en,date_of_birth,national_id,programme\n\
               =cmd|' /C calc'!A0,علي,Ali,1990-01-02,1234567,family\n\
               a1,علي,Ali,1990-01-02,1234567,family\n\
               a2,علي,@SUM(A1),1990-01-02,1234567,family\n\
               a3,علي,Ali,1990-01-02,12,family\n";
    let post = || {
        t.call_bytes(
            Method::POST,
            "/api/v1/credentials/bulk",
            "text/csv",
            csv.as_bytes().to_vec(),
        )
    };
    let r = post().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let j = wait_job(&t, &id).await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(
        (
            j["rows_total"].as_i64(),
            j["issued"].as_i64(),
            j["failed"].as_i64()
        ),
        (Some(4), Some(1), Some(3)),
        "{j}"
    );
    let errors = j["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 3);
    assert_eq!(errors[0]["row"], 1);
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("request_key")
    );
    assert!(
        errors[1]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("formula")
    );
    // The result file: every row; a formula-leading cell is escaped.
    let res = get(&t, &format!("/api/v1/credentials/bulk/{id}/result")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.content_type().starts_with("text/csv"));
    let text = res.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "row,request_key,credential_id,outcome,error");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[2].starts_with("2,a1,") && lines[2].contains(",issued,"),
        "{text}"
    );
    assert!(!text.contains("\n1,="), "formula cell not escaped: {text}");
    let nd = get(
        &t,
        &format!("/api/v1/credentials/bulk/{id}/result?format=ndjson"),
    )
    .await;
    let first: Value =
        serde_json::from_str(nd.text().lines().nth(1).expect("row 2")).expect("json");
    assert_eq!(first["outcome"], "issued");
    let cid = first["credential_id"].as_str().expect("cid").to_owned();
    // Posted again: nothing issued twice, the same credential reported.
    let r2 = post().await;
    let id2 = r2.json()["id"].as_str().expect("id").to_owned();
    let j2 = wait_job(&t, &id2).await;
    assert_eq!(
        (j2["issued"].as_i64(), j2["skipped"].as_i64()),
        (Some(0), Some(1)),
        "{j2}"
    );
    let nd2 = get(
        &t,
        &format!("/api/v1/credentials/bulk/{id2}/result?format=ndjson"),
    )
    .await;
    assert!(nd2.text().contains(&cid));
    // Not a format: 415; an unknown job: 404.
    let bad = t
        .call_bytes(
            Method::POST,
            "/api/v1/credentials/bulk",
            "application/pdf",
            b"x".to_vec(),
        )
        .await;
    bad.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    get(&t, "/api/v1/credentials/bulk/jnope")
        .await
        .assert_problem(StatusCode::NOT_FOUND);
    let (ok, text) = sanad::cli::audit_verify(&t.app.store)
        .await
        .expect("verify");
    assert!(ok, "{text}");
});

// A server stopped in the middle of a job: at start it goes on after the last stored row.
both_dbs!(bulk_job_resumes_after_restart, |t: TestApp| async move {
    let mut csv = String::from("request_key,name_ar,name_en,date_of_birth,national_id,programme\n");
    for i in 0..10 {
        csv.push_str(&format!(
            "res{i},علي,Ali {i},1990-01-02,{},family\n",
            5_000_000 + i
        ));
    }
    let (start_seq, _) = t.app.store.audit_head().await.expect("head");
    let job = sanad::storage::BulkJobRow {
        id: "jresume".into(),
        agency_code: "MOSD".into(),
        created_by: "token:test".into(),
        format: "csv".into(),
        state: "running".into(),
        start_seq,
        rows_total: 0,
        issued: 0,
        skipped: 0,
        failed: 0,
        error: None,
        created_at: 0,
        finished_at: None,
    };
    t.app.store.create_bulk_job(&job).await.expect("job");
    let stored = t.app.store.get_bulk_job("jresume").await.expect("stored");
    // The first four rows were done before the "crash".
    let first: String = csv.lines().take(5).map(|l| format!("{l}\n")).collect();
    let opts = Options {
        actor: Actor {
            id: "token:test".into(),
            agency: sanad::domain::AgencyCode::parse("MOSD").expect("code"),
        },
        job_id: Some("jresume".into()),
        subject: "jresume".into(),
        chunk_rows: 2,
        start_seq: stored.start_seq,
        skip_rows: 0,
    };
    bulk::run(
        &t.app,
        std::io::Cursor::new(first.into_bytes()),
        Format::Csv,
        &opts,
        |_| {},
    )
    .await
    .expect("first part");
    let dir = t.app.config.data_dir.join("bulk-uploads");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("jresume.csv"), &csv).expect("upload");
    let resumed = sanad::web::bulk::resume_jobs(&t.app).await.expect("resume");
    assert_eq!(resumed, 1);
    let j = wait_job(&t, "jresume").await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(
        (
            j["rows_total"].as_i64(),
            j["issued"].as_i64(),
            j["failed"].as_i64()
        ),
        (Some(10), Some(10), Some(0)),
        "{j}"
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM credentials WHERE request_key LIKE 'res%'"
        )
        .await,
        10
    );
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM bulk_results WHERE job_id = 'jresume'"
        )
        .await,
        10
    );
    assert!(
        !dir.join("jresume.csv").exists(),
        "the upload is removed when done"
    );
});

// A restart rebuilds the in-memory status view by replaying the audit log: every
// bulk-issued credential is found in its own slot with its status, a status changed after
// the import stays changed, and the view equals the one the running instance kept.
both_dbs!(bulk_statuses_survive_a_restart, |t: TestApp| async move {
    use sanad::domain::CredentialStatus::{Active, Revoked, Suspended};
    let rows = |from: usize, to: usize| {
        let mut csv =
            String::from("request_key,name_ar,name_en,date_of_birth,national_id,programme\n");
        for i in from..to {
            csv.push_str(&format!(
                "rs{i},علي,Ali {i},1990-01-02,{},family\n",
                7_000_000 + i
            ));
        }
        csv
    };
    // Three chunks (import() stores 4 rows a chunk), a single issuance, one more chunk.
    let (first, r1) = import(&t, &rows(0, 10), Format::Csv).await;
    assert_eq!(first.issued, 10, "{r1:?}");
    let single = t.issue_id("فاطمة أحمد الحربي").await;
    let (second, r2) = import(&t, &rows(10, 13), Format::Csv).await;
    assert_eq!(second.issued, 3, "{r2:?}");
    let ids: Vec<String> = r1
        .iter()
        .chain(&r2)
        .map(|r| r.credential_id.clone().expect("issued"))
        .collect();
    // Changed after their import: revoked, suspended, suspended then reinstated.
    for (i, action, reason) in [
        (1, "revoke", "issued_in_error"),
        (5, "suspend", "under_review"),
        (8, "suspend", "under_review"),
        (8, "reinstate", "review_cleared"),
        (11, "revoke", "issued_in_error"),
    ] {
        let r = t.action(&ids[i], action, reason).await;
        assert_eq!(r.status, StatusCode::OK, "{action} {i}: {}", r.text());
    }
    let expected = |i: usize| match i {
        1 | 11 => Revoked,
        5 => Suspended,
        _ => Active,
    };

    // The restart: a new instance on the same database, asked before it syncs again.
    let config = sanad::config::Config::for_tests(t.app.config.database_url(), t.dir.join("keys"));
    let b = sanad::app::App::build(config).await.expect("restart");
    let mut slots = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let c = t.app.store.get_credential(id).await.expect("stored");
        let (list, idx) = (c.status_list as u32, c.status_index as u32);
        let live = b
            .status
            .lookup(list, idx, id)
            .unwrap_or_else(|| panic!("bulk credential {i} ({id}) unknown after the restart"));
        assert_eq!(live.status, expected(i), "credential {i} after the restart");
        slots.push((list, idx));
    }
    // A slot answers for its own credential only.
    assert!(b.status.lookup(slots[0].0, slots[0].1, &ids[2]).is_none());
    let s = t
        .app
        .store
        .get_credential(single["id"].as_str().expect("id"))
        .await
        .expect("single");
    assert_eq!(
        b.status
            .lookup(s.status_list as u32, s.status_index as u32, &s.id)
            .map(|l| l.status),
        Some(Active)
    );
    // The published bytes are those the running instance kept.
    assert_eq!(b.status.list_ids(), t.app.status.list_ids());
    for list in t.app.status.list_ids() {
        let ours = t.app.status.snapshot(list).expect("list").0;
        let theirs = b.status.snapshot(list).expect("list").0;
        assert!(
            ours.bytes() == theirs.bytes(),
            "list {list} differs after the restart"
        );
    }
    assert_eq!(b.status.last_seq(), t.app.status.last_seq());
});

// The start-up backfill of the console's search key finds the persons without one through
// its partial index (on SQLite, checked in the query plan), not by scanning every person.
both_dbs!(
    search_key_backfill_reads_the_pending_index,
    |t: TestApp| async move {
        use sqlx::Row as _;
        let csv = "request_key,name_ar,name_en,date_of_birth,national_id,programme\n\
               bf1,علي,Ali Backfill,1990-01-02,8000001,family\n";
        let (_, rows) = import(&t, csv, Format::Csv).await;
        let cid = rows[0].credential_id.clone().expect("issued");
        let pid = t
            .app
            .store
            .get_credential(&cid)
            .await
            .expect("stored")
            .person_id
            .expect("person");
        sqlx::query("UPDATE persons SET search_key = NULL WHERE id = $1")
            .bind(&pid)
            .execute(t.app.store.pool())
            .await
            .expect("clear");
        assert_eq!(
            t.app.store.backfill_search_keys().await.expect("backfill"),
            1
        );
        assert_eq!(
            count(&t, "SELECT COUNT(*) FROM persons WHERE search_key IS NULL").await,
            0
        );
        assert_eq!(t.app.store.backfill_search_keys().await.expect("again"), 0);
        if t.app.config.database_url().starts_with("sqlite") {
            let plan: Vec<String> = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT id, name_ar, name_en FROM persons WHERE search_key IS NULL",
        )
        .fetch_all(t.app.store.pool())
        .await
        .expect("plan")
        .iter()
        .map(|r| r.try_get::<String, _>("detail").expect("detail"))
        .collect();
            assert!(
                plan.iter()
                    .any(|d| d.contains("persons_search_key_pending")),
                "{plan:?}"
            );
        }
    }
);

// Names are free text: a backslash (COPY's escape character on PostgreSQL) and the text `\N`
// (COPY's NULL) are stored as written, and the audit log still vouches for the rows.
both_dbs!(bulk_keeps_backslashes, |t: TestApp| async move {
    use sqlx::Row as _;
    let name = r"O\Brien \N \\t";
    let csv = format!(
        "request_key,name_ar,name_en,date_of_birth,national_id,programme\n\
         bs1,علي,{name},1990-01-02,7654321,{name}\n"
    );
    let (sum, rows) = import(&t, &csv, Format::Csv).await;
    assert_eq!(sum.issued, 1, "{rows:?}");
    let id = rows[0].credential_id.clone().expect("issued");
    let r = sqlx::query(
        "SELECT p.name_en, p.programme, c.name_printed, c.subject_json, c.request_key FROM credentials c JOIN persons p ON p.id = c.person_id WHERE c.id = $1",
    )
    .bind(&id)
    .fetch_one(t.app.store.pool())
    .await
    .expect("row");
    assert_eq!(r.try_get::<String, _>("name_en").expect("name"), name);
    assert_eq!(
        r.try_get::<String, _>("programme").expect("programme"),
        name
    );
    assert_eq!(r.try_get::<String, _>("request_key").expect("key"), "bs1");
    assert_eq!(
        r.try_get::<String, _>("name_printed").expect("printed"),
        "علي"
    );
    let subject: Value =
        serde_json::from_str(&r.try_get::<String, _>("subject_json").expect("subject"))
            .expect("subject is JSON");
    assert_eq!(subject["name_en"], name, "{subject}");
    let (ok, text) = sanad::cli::audit_verify(&t.app.store)
        .await
        .expect("verify");
    assert!(ok, "{text}");
});
