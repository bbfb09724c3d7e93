//! Reports for managers: credentials by agency, kind and status; issuance and status
//! changes per day; verifications per day by outcome and by verifying agency. Charts are
//! SVG drawn here (they print as sharply as the text); every table downloads as CSV that
//! spreadsheets open as data, never as formulas. Counts only: no personal data.

use super::{Console, error_page};
use crate::app::App;
use crate::auth::Scope;
use crate::error::AppError;
use crate::storage::now;
use crate::web::extract::ApiQuery;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/console/reports", get(page))
        .route("/console/reports.csv", get(csv))
}

#[derive(Debug, Default, Deserialize)]
struct ReportQuery {
    days: Option<String>,
    agency: Option<String>,
    table: Option<String>,
}

/// The figures of one report.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    /// First day covered, `YYYY-MM-DD`.
    pub from: String,
    /// Agency, or `None` for the whole deployment.
    pub agency: Option<String>,
    /// `(agency, kind, status, n)`.
    pub credentials: Vec<(String, String, String, i64)>,
    /// Per day: `(day, issued, suspended, active (reinstated), revoked, superseded)`.
    pub changes: Vec<(String, [i64; 5])>,
    /// Per day and outcome.
    pub verifications: Vec<(String, String, i64)>,
    /// Per day, channel and verifying agency.
    pub verifiers: Vec<(String, String, String, i64)>,
}

/// The change kinds of [`Report::changes`], in column order.
pub const CHANGE_KINDS: [&str; 5] = ["issued", "suspended", "active", "revoked", "superseded"];

fn day_of(epoch_day: i64) -> String {
    crate::render::pages::date(epoch_day * 86_400)
}

/// Build the report for `agency` (or all) over the last `days` days (today included).
pub async fn build(app: &App, agency: Option<&str>, days: i64) -> Result<Report, AppError> {
    let today = now() / 86_400;
    let first = today - (days - 1);
    let creds = app.store.count_credentials(agency).await?;
    let changes = app.store.changes_per_day(agency, first * 86_400).await?;
    let verifs = app.store.verification_counts(&day_of(first)).await?;
    let mut per_day: BTreeMap<i64, [i64; 5]> = (first..=today).map(|d| (d, [0; 5])).collect();
    for c in changes {
        let d: i64 = c.keys[0].parse().unwrap_or_default();
        if let (Some(row), Some(i)) = (
            per_day.get_mut(&d),
            CHANGE_KINDS.iter().position(|k| *k == c.keys[1]),
        ) {
            row[i] += c.n;
        }
    }
    let mut by_outcome: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut by_verifier: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for v in verifs {
        let [day, channel, verifier, outcome] = [&v.keys[0], &v.keys[1], &v.keys[2], &v.keys[3]];
        *by_outcome
            .entry((day.clone(), outcome.clone()))
            .or_default() += v.n;
        *by_verifier
            .entry((day.clone(), channel.clone(), verifier.clone()))
            .or_default() += v.n;
    }
    Ok(Report {
        from: day_of(first),
        agency: agency.map(str::to_owned),
        credentials: creds
            .into_iter()
            .map(|c| (c.keys[0].clone(), c.keys[1].clone(), c.keys[2].clone(), c.n))
            .collect(),
        changes: per_day.into_iter().map(|(d, r)| (day_of(d), r)).collect(),
        verifications: by_outcome
            .into_iter()
            .map(|((d, o), n)| (d, o, n))
            .collect(),
        verifiers: by_verifier
            .into_iter()
            .map(|((d, c, v), n)| (d, c, v, n))
            .collect(),
    })
}

/// Who may read which agency's report: admins any (or all), others their own.
fn scope(c: &Console, q: &ReportQuery) -> Result<Option<String>, AppError> {
    if c.p.scopes.contains(&Scope::Admin) {
        Ok(q.agency
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| crate::domain::AgencyCode::parse(a).map(|a| a.to_string()))
            .transpose()?)
    } else {
        Ok(Some(c.p.require(Scope::Read)?.agency.to_string()))
    }
}

fn days_of(q: &ReportQuery) -> i64 {
    q.days
        .as_deref()
        .and_then(|d| d.parse().ok())
        .unwrap_or(30)
        .clamp(1, 366)
}

async fn page(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Response {
    let days = days_of(&q);
    let r = async {
        let agency = scope(&c, &q)?;
        build(&app, agency.as_deref(), days).await
    }
    .await;
    let report = match r {
        Ok(r) => r,
        Err(e) => return c.fail(&app, e, "/console"),
    };
    let t = c.lang.table();
    let word = |k: &str| t.get(k).cloned().unwrap_or_else(|| k.to_owned());
    let changes_chart = bar_chart(
        &report
            .changes
            .iter()
            .map(|(d, r)| (d.clone(), r.to_vec()))
            .collect::<Vec<_>>(),
        &CHANGE_KINDS
            .iter()
            .map(|k| word(&format!("change_{k}")))
            .collect::<Vec<_>>(),
        &word("chart_changes"),
    );
    let outcomes: Vec<String> = {
        let mut o: Vec<_> = report.verifications.iter().map(|v| v.1.clone()).collect();
        o.sort();
        o.dedup();
        o
    };
    let mut vdays: BTreeMap<String, Vec<i64>> = report
        .changes
        .iter()
        .map(|(d, _)| (d.clone(), vec![0; outcomes.len()]))
        .collect();
    for (d, o, n) in &report.verifications {
        if let (Some(row), Some(i)) = (vdays.get_mut(d), outcomes.iter().position(|x| x == o)) {
            row[i] += n;
        }
    }
    let verif_chart = bar_chart(
        &vdays.into_iter().collect::<Vec<_>>(),
        &outcomes
            .iter()
            .map(|o| word(&format!("outcome_{o}")))
            .collect::<Vec<_>>(),
        &word("chart_verifications"),
    );
    let agencies: Vec<_> = if c.p.scopes.contains(&Scope::Admin) {
        app.agencies()
            .into_iter()
            .filter(|a| a.is_local())
            .map(|a| a.code)
            .collect()
    } else {
        vec![]
    };
    c.page(
        &app,
        "console_reports.html",
        serde_json::json!({"r": report, "days": days, "changes_chart": changes_chart,
            "verif_chart": verif_chart, "agencies": agencies}),
    )
}

/// One CSV cell: quoted, and a leading `=`, `+`, `-`, `@`, tab or carriage return is
/// prefixed with `'` so a spreadsheet shows it as text instead of running it as a formula
/// (OWASP "CSV injection").
pub fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

fn csv_line(cells: &[String]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// A report table as CSV.
pub fn to_csv(r: &Report, table: &str) -> Option<String> {
    let mut out = String::new();
    match table {
        "credentials" => {
            out += &csv_line(&[
                "agency".into(),
                "kind".into(),
                "status".into(),
                "count".into(),
            ]);
            for (a, k, s, n) in &r.credentials {
                out += &csv_line(&[a.clone(), k.clone(), s.clone(), n.to_string()]);
            }
        }
        "changes" => {
            let mut head = vec!["day".to_owned()];
            head.extend(CHANGE_KINDS.iter().map(|k| (*k).to_owned()));
            out += &csv_line(&head);
            for (d, row) in &r.changes {
                let mut cells = vec![d.clone()];
                cells.extend(row.iter().map(ToString::to_string));
                out += &csv_line(&cells);
            }
        }
        "verifications" => {
            out += &csv_line(&["day".into(), "outcome".into(), "count".into()]);
            for (d, o, n) in &r.verifications {
                out += &csv_line(&[d.clone(), o.clone(), n.to_string()]);
            }
        }
        "verifiers" => {
            out += &csv_line(&[
                "day".into(),
                "channel".into(),
                "verifying_agency".into(),
                "count".into(),
            ]);
            for (d, c, v, n) in &r.verifiers {
                out += &csv_line(&[d.clone(), c.clone(), v.clone(), n.to_string()]);
            }
        }
        _ => return None,
    }
    Some(out)
}

async fn csv(
    State(app): State<Arc<App>>,
    c: Console,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Response {
    let days = days_of(&q);
    let r = async {
        let agency = scope(&c, &q)?;
        let report = build(&app, agency.as_deref(), days).await?;
        let table = q.table.as_deref().unwrap_or("credentials");
        let body = to_csv(&report, table).ok_or(AppError::NotFound("report table"))?;
        Ok::<_, AppError>((table.to_owned(), report.from, body))
    }
    .await;
    match r {
        Ok((table, from, body)) => {
            // A byte-order mark so spreadsheet programs read the UTF-8 as UTF-8.
            let mut res = format!("\u{feff}{body}").into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"sanad-{table}-from-{from}.csv\""
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Err(e) => error_page(&app, c.lang, e, "/console/reports"),
    }
}

const COLOURS: [&str; 8] = [
    "#1d4e89", "#8a5a00", "#0a6b2f", "#a4161a", "#5b3c88", "#00707a", "#6b6b6b", "#b3541e",
];

/// A stacked bar chart as SVG: one bar per row, one colour per series, with a legend.
/// Text is escaped; the chart scales to its container and prints as vectors.
pub fn bar_chart(rows: &[(String, Vec<i64>)], series: &[String], title: &str) -> String {
    let (w, h, left, bottom, top) = (760.0_f64, 260.0_f64, 44.0, 40.0, 16.0);
    // Three grid steps of a whole number each, so every axis label is an integer.
    let peak = rows
        .iter()
        .map(|(_, v)| v.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let step = (peak + 2) / 3;
    let max = (step * 3) as f64;
    let n = rows.len().max(1) as f64;
    let slot = (w - left - 8.0) / n;
    let bar = (slot * 0.7).max(1.0);
    let plot_h = h - bottom - top;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"{}\" direction=\"ltr\" font-family=\"Noto Sans, DejaVu Sans, sans-serif\" font-size=\"14\">",
        h + 22.0 * ((series.len() as f64) / 4.0).ceil(),
        esc(title)
    );
    // Axis and three grid lines with their values.
    for i in 0..=3 {
        let v = step * i64::from(i);
        let y = top + plot_h - plot_h * f64::from(i) / 3.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ccc\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#333\">{}</text>",
            left - 4.0,
            y + 4.0,
            v
        );
    }
    let label_every = (rows.len() / 10).max(1);
    for (i, (label, values)) in rows.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        for (j, v) in values.iter().enumerate() {
            if *v <= 0 {
                continue;
            }
            let bh = plot_h * (*v as f64) / max;
            y -= bh;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{} · {}: {v}</title></rect>",
                COLOURS[j % COLOURS.len()],
                esc(label),
                esc(series.get(j).map_or("", String::as_str))
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#333\">{}</text>",
                x + bar / 2.0,
                h - bottom + 14.0,
                esc(label.get(5..).unwrap_or(label))
            );
        }
    }
    for (j, name) in series.iter().enumerate() {
        let x = left + (j % 4) as f64 * 175.0;
        let y = h - 8.0 + 22.0 * (j / 4) as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{y:.1}\" fill=\"#222\">{}</text>",
            y - 10.0,
            COLOURS[j % COLOURS.len()],
            x + 16.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_cannot_be_formulas() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "\"'+1\"");
        assert_eq!(csv_cell("-1"), "\"'-1\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("\tx"), "\"'\tx\"");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        assert_eq!(csv_cell("MOSD"), "\"MOSD\"");
    }

    #[test]
    fn chart_escapes_and_scales() {
        let svg = bar_chart(
            &[
                ("2026-01-01".into(), vec![2, 1]),
                ("2026-01-02".into(), vec![0, 3]),
            ],
            &["<a>".into(), "b".into()],
            "t&t",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;a&gt;") && svg.contains("t&amp;t"));
        assert!(!svg.contains("<a>"));
        assert_eq!(svg.matches("<rect").count(), 3 + 2);
    }
}
