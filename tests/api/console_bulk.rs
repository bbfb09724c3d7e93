//! The console's bulk-issuance page on both databases: upload → job → progress → errors
//! file, in Arabic and English; who may use it; oversized and malformed files refused with
//! a clear message before any job starts; CSRF.

use crate::both_dbs;
use crate::callers::{Caller, with_second_agency};
use crate::helpers::{self, Res, TestApp, multipart};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use sanad::auth::Role;

/// A small file with one good row, then three bad ones, then a good one.
const CSV: &str = "request_key,name_ar,name_en,date_of_birth,national_id,programme\n\
    c1,فاطمة أحمد,Fatima Ahmed,1988-04-12,1098765432,family\n\
    c2,علي,Ali,1990-01-02,12,family\n\
    c1,سارة,Sara,1991-03-04,99887766,family\n\
    c4,علي,Ali\n\
    c5,منى,Mona,1992-05-06,55667788,family\n";

fn cookie_of(c: &Caller) -> String {
    match c {
        Caller::Session { cookie, .. } => format!("sanad_session={cookie}"),
        _ => panic!("a console caller has a session"),
    }
}

fn csrf_of(c: &Caller) -> String {
    match c {
        Caller::Session { csrf, .. } => csrf.clone(),
        _ => panic!("a console caller has a session"),
    }
}

async fn page(t: &TestApp, c: &Caller, path: &str) -> Res {
    t.send(
        Request::get(path)
            .header(header::COOKIE, cookie_of(c))
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

/// Post the upload form: `format` "" means "from the file name".
async fn upload(
    t: &TestApp,
    c: &Caller,
    csrf: &str,
    name: &str,
    ctype: &str,
    bytes: &[u8],
    format: &str,
) -> Res {
    let (ct, body) = multipart(
        &[("csrf", csrf), ("format", format)],
        Some(("file", name, ctype, bytes)),
    );
    t.send(
        Request::post("/console/bulk")
            .header(header::COOKIE, cookie_of(c))
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("request"),
    )
    .await
}

fn location(r: &Res) -> String {
    r.headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("a redirect: {} {}", r.status, r.text()))
        .to_owned()
}

async fn wait_done(t: &TestApp, id: &str) -> sanad::storage::BulkJobRow {
    for _ in 0..600 {
        let j = t.app.store.get_bulk_job(id).await.expect("job");
        if j.state != "running" {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

async fn jobs(t: &TestApp) -> usize {
    t.app
        .store
        .list_bulk_jobs("MOSD", 100, 0)
        .await
        .expect("jobs")
        .len()
}

/// Upload, follow the job to its end, read its errors on the page and in the file (Arabic
/// and English), download every row's result; the same file again issues nothing twice.
async fn upload_job_progress_errors(t: TestApp) {
    let reg = t.user("reg", Role::Registrar, Some("MOSD")).await;
    let csrf = csrf_of(&reg);
    // The menu leads to the page; the page shows the columns and offers samples.
    let home = page(&t, &reg, "/console").await.text();
    assert!(home.contains("href=\"/console/bulk\""), "nav link");
    let form = page(&t, &reg, "/console/bulk").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    let html = form.text();
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert!(html.contains("الإصدار الجماعي") && html.contains("الأعمدة المتوقعة"));
    for col in sanad::issuance::bulk::COLUMNS {
        assert!(
            html.contains(&format!("<code>{col}</code>")),
            "column {col} listed"
        );
    }
    assert!(html.contains("enctype=\"multipart/form-data\"") && html.contains("name=\"csrf\""));
    // The samples are files the importer takes as they are.
    for (name, format) in [
        ("sanad-bulk-sample.csv", "csv"),
        ("sanad-bulk-sample.ndjson", "ndjson"),
    ] {
        let s = page(&t, &reg, &format!("/console/bulk/sample/{name}")).await;
        assert_eq!(s.status, StatusCode::OK);
        assert!(
            s.headers[header::CONTENT_DISPOSITION]
                .to_str()
                .expect("header")
                .contains(name)
        );
        let r = upload(
            &t,
            &reg,
            &csrf,
            name,
            "application/octet-stream",
            &s.body,
            "",
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{name}: {}", r.text());
        let id = location(&r)
            .trim_start_matches("/console/bulk/")
            .split('?')
            .next()
            .expect("id")
            .to_owned();
        let j = wait_done(&t, &id).await;
        assert_eq!(j.format, format);
        assert_eq!((j.state.as_str(), j.failed), ("done", 0), "{name}: {j:?}");
        assert_eq!(j.issued + j.skipped, 3, "{name}: {j:?}");
    }

    // The file with bad rows.
    let r = upload(
        &t,
        &reg,
        &csrf,
        "programme.csv",
        "text/csv",
        CSV.as_bytes(),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = location(&r);
    assert!(to.ends_with("?msg=msg_bulk_started"), "{to}");
    let id = to
        .trim_start_matches("/console/bulk/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    let started = page(&t, &reg, &to).await;
    assert_eq!(started.status, StatusCode::OK);
    assert!(started.text().contains("استُلم الملف وبدأت المهمة"));
    let j = wait_done(&t, &id).await;
    assert_eq!(
        (
            j.state.as_str(),
            j.rows_total,
            j.issued,
            j.skipped,
            j.failed
        ),
        ("done", 5, 2, 0, 3),
        "{j:?}"
    );

    // The job's page: counts, state, the rows with errors with codes and words in Arabic.
    let p = page(&t, &reg, &format!("/console/bulk/{id}")).await;
    assert_eq!(p.status, StatusCode::OK);
    let html = p.text();
    assert!(html.contains("اكتملت"), "state in words");
    assert!(!html.contains("data-poll"), "an ended job is not polled");
    for s in [
        "<div class=\"stat\">2</div>",
        "<div class=\"stat\">3</div>",
        "<code>invalid</code>",
        "<code>duplicate_key</code>",
        "<code>malformed_csv</code>",
        "قيمة «رقم الهوية الوطنية» غير صحيحة.",
        "مفتاح الطلب هذا مكرر في الملف",
        "تعذّرت قراءة السطر بصيغة CSV",
        &format!("/console/bulk/{id}/errors.csv"),
        &format!("/console/bulk/{id}/result?format=csv"),
    ] {
        assert!(html.contains(s), "{s} on the job page");
    }
    let rows: Vec<&str> = html
        .split("<td class=\"num\" data-label=\"الصف\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap_or_default())
        .collect();
    assert_eq!(rows, ["2", "3", "4"], "the failed rows by number");
    let en = page(&t, &reg, &format!("/console/bulk/{id}?lang=en"))
        .await
        .text();
    assert!(en.contains("<html lang=\"en\" dir=\"ltr\">"));
    assert!(en.contains("“National ID number” is not valid."), "{en}");
    assert!(en.contains("Finished"));

    // The errors file: the failed rows only, codes and the reader's words.
    let f = page(&t, &reg, &format!("/console/bulk/{id}/errors.csv")).await;
    assert_eq!(f.status, StatusCode::OK);
    assert!(f.content_type().starts_with("text/csv"));
    assert!(
        f.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("header")
            .starts_with("attachment;")
    );
    let text = f.text();
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "row,request_key,error_code,field,message,detail",
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].starts_with(
            "2,c2,invalid,national_id,قيمة «رقم الهوية الوطنية» غير صحيحة.,national_id: must be"
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("3,c1,duplicate_key,request_key,"),
        "{}",
        lines[2]
    );
    assert!(lines[3].starts_with("4,,malformed_csv,,"), "{}", lines[3]);
    let f_en = page(&t, &reg, &format!("/console/bulk/{id}/errors.csv?lang=en"))
        .await
        .text();
    assert!(f_en.contains("2,c2,invalid,national_id,“National ID number” is not valid.,"));
    // Every row's result (the API's file).
    let all = page(&t, &reg, &format!("/console/bulk/{id}/result?format=csv")).await;
    assert_eq!(all.status, StatusCode::OK);
    let all = all.text();
    assert_eq!(all.lines().count(), 6, "{all}");
    assert!(
        all.lines()
            .nth(5)
            .is_some_and(|l| l.starts_with("5,c5,") && l.contains(",issued,"))
    );
    let nd = page(
        &t,
        &reg,
        &format!("/console/bulk/{id}/result?format=ndjson"),
    )
    .await;
    assert_eq!(nd.content_type(), "application/x-ndjson");
    assert_eq!(nd.text().lines().count(), 5);

    // The same file again: nothing issued twice.
    let r = upload(
        &t,
        &reg,
        &csrf,
        "programme.csv",
        "text/csv",
        CSV.as_bytes(),
        "",
    )
    .await;
    let id2 = location(&r)
        .trim_start_matches("/console/bulk/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    let j2 = wait_done(&t, &id2).await;
    assert_eq!((j2.issued, j2.skipped, j2.failed), (0, 2, 3), "{j2:?}");

    // Past jobs, newest first.
    let list = page(&t, &reg, "/console/bulk").await.text();
    let (a, b) = (
        list.find(&format!("/console/bulk/{id2}\""))
            .expect("second job listed"),
        list.find(&format!("/console/bulk/{id}\""))
            .expect("first job listed"),
    );
    assert!(a < b, "newest first");
    assert!(list.contains(">reg<"), "started by, by name");

    // Everything the console did is in the audit log, and the log verifies.
    let (ok, text) = sanad::cli::audit_verify(&t.app.store)
        .await
        .expect("verify");
    assert!(ok, "{text}");
}
both_dbs!(console_bulk_upload_both, upload_job_progress_errors);

/// Only principals that may issue see or use the page; another agency's job is not found;
/// a form without this session's CSRF token starts nothing.
async fn who_may_use_it(t: TestApp) {
    let t = with_second_agency(t).await;
    let reg = t.user("reg", Role::Registrar, Some("MOSD")).await;
    let r = upload(
        &t,
        &reg,
        &csrf_of(&reg),
        "a.csv",
        "text/csv",
        CSV.as_bytes(),
        "",
    )
    .await;
    let id = location(&r)
        .trim_start_matches("/console/bulk/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    wait_done(&t, &id).await;
    let before = jobs(&t).await;
    let job_paths = [
        format!("/console/bulk/{id}"),
        format!("/console/bulk/{id}/errors.csv"),
        format!("/console/bulk/{id}/result?format=csv"),
    ];
    for (name, role, agency) in [
        ("appr", Role::Approver, Some("MOSD")),
        ("off", Role::Officer, None),
        ("root", Role::Admin, None),
    ] {
        let who = t.user(name, role, agency).await;
        let home = page(&t, &who, "/console/credentials").await.text();
        assert!(
            !home.contains("href=\"/console/bulk\""),
            "{name}: no menu entry"
        );
        let p = page(&t, &who, "/console/bulk").await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{name}: {}", p.text());
        assert!(p.content_type().starts_with("text/html"));
        for path in &job_paths {
            let r = page(&t, &who, path).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{name} {path}");
            assert!(r.content_type().starts_with("text/html"), "{name} {path}");
        }
        let r = upload(
            &t,
            &who,
            &csrf_of(&who),
            "a.csv",
            "text/csv",
            CSV.as_bytes(),
            "",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {}", r.text());
    }
    // Another agency's registrar may issue, but not see MOSD's jobs.
    let moj = t.user("mojreg", Role::Registrar, Some("MOJ")).await;
    for path in &job_paths {
        assert_eq!(
            page(&t, &moj, path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert!(!page(&t, &moj, "/console/bulk").await.text().contains(&id));
    // A form from another session (or none) is stale: nothing starts.
    let r = upload(
        &t,
        &reg,
        "not-the-token",
        "a.csv",
        "text/csv",
        CSV.as_bytes(),
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        location(&r).ends_with("msg=msg_stale_form"),
        "{}",
        location(&r)
    );
    let r = upload(
        &t,
        &reg,
        &csrf_of(&moj),
        "a.csv",
        "text/csv",
        CSV.as_bytes(),
        "",
    )
    .await;
    assert!(location(&r).ends_with("msg=msg_stale_form"));
    // Signed out: to the sign-in page.
    let r = t
        .send(
            Request::get("/console/bulk")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(location(&r), "/console/login");
    assert_eq!(jobs(&t).await, before, "no job started");
}
both_dbs!(console_bulk_who_both, who_may_use_it);

/// What is wrong, the file's name, its bytes, the format chosen, the answer, the words shown.
type RefusedCase = (
    &'static str,
    &'static str,
    &'static [u8],
    &'static str,
    StatusCode,
    &'static str,
);

/// Oversized and malformed files are refused before any job starts, with the reason on
/// the form in the reader's language; nothing is left in the upload folder.
async fn refused_files(t: TestApp) {
    let reg = t.user("reg", Role::Registrar, Some("MOSD")).await;
    let csrf = csrf_of(&reg);
    let limit = usize::try_from(sanad::web::console::MAX_BULK_UPLOAD_BYTES).expect("fits");
    assert_eq!(limit, 64 * 1024 * 1024, "the page and the README say 64 MB");
    let mut big = CSV.as_bytes().to_vec();
    big.resize(limit + 1, b'\n');
    let r = upload(&t, &reg, &csrf, "big.csv", "text/csv", &big, "").await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let html = r.text();
    assert!(html.contains("role=\"alert\""));
    assert!(html.contains("حجم الملف أكبر من 64 ميغابايت"), "{html}");
    assert!(
        html.contains("name=\"file\""),
        "the form is there to try again"
    );
    drop(big);

    let cases: [RefusedCase; 7] = [
        (
            "unknown column",
            "a.csv",
            b"request_key,name_ar,colour\nk1,x,red\n",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "في سطر العناوين عمود لا يعرفه سند: <code>colour</code>",
        ),
        (
            "no request_key",
            "a.csv",
            b"name_ar,name_en\nx,y\n",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "لا يوجد في سطر العناوين عمود request_key",
        ),
        (
            "not text",
            "photo.csv",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "تعذّرت قراءة السطر الأول من الملف نصاً بترميز UTF-8",
        ),
        (
            "CSV sent as NDJSON",
            "a.csv",
            CSV.as_bytes(),
            "ndjson",
            StatusCode::UNPROCESSABLE_ENTITY,
            "السطر الأول ليس كائن JSON",
        ),
        (
            "unknown format",
            "a.txt",
            CSV.as_bytes(),
            "",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "تعذّرت معرفة صيغة الملف",
        ),
        (
            "header only",
            "a.csv",
            b"request_key,name_ar\n",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "لا صفوف للإصدار في الملف",
        ),
        (
            "no file",
            "a.csv",
            b"",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "اختر ملفاً لرفعه",
        ),
    ];
    for (what, name, bytes, format, status, words) in cases {
        let ctype = if name.ends_with(".txt") {
            "text/plain"
        } else {
            "text/csv"
        };
        let r = upload(&t, &reg, &csrf, name, ctype, bytes, format).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert!(r.text().contains(words), "{what}: {}", r.text());
    }
    // In English too.
    let (ct, body) = multipart(
        &[("csrf", &csrf), ("format", "")],
        Some(("file", "a.csv", "text/csv", b"request_key,colour\nk,x\n")),
    );
    let r = t
        .send(
            Request::post("/console/bulk?lang=en")
                .header(header::COOKIE, cookie_of(&reg))
                .header(header::CONTENT_TYPE, ct)
                .body(Body::from(body))
                .expect("request"),
        )
        .await;
    assert!(
        r.text()
            .contains("The header line names a column Sanad does not know: <code>colour</code>"),
        "{}",
        r.text()
    );
    assert_eq!(jobs(&t).await, 0, "no job started");
    let left: Vec<_> = std::fs::read_dir(t.app.config.data_dir.join("bulk-uploads"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "uploads left behind: {left:?}");
}
both_dbs!(console_bulk_refused_both, refused_files);
