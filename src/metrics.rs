//! Operators' figures: counters kept in memory on the request path and written out in the
//! Prometheus text exposition format (version 0.0.4) at `GET /metrics`.
//!
//! The format is a few lines of text, so it is written here rather than pulled in with a
//! metrics crate and its registry types. Counting takes one uncontended mutex per event;
//! nothing here touches the database except [`Metrics::flush_verifications`], which adds
//! the verification counts of the last seconds to `verification_counts` for the reports.
//! Labels carry routes, statuses, outcomes and agency codes only: never an id or a name.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds of the request-latency histogram, in seconds.
pub const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; 11],
    sum: f64,
    n: u64,
}

/// `(channel, verifier, outcome)`: `public` or `officer`; the verifying agency (`public`
/// for the public, `none` for an officer without an agency); the outcome (or the status an
/// officer saw).
type VerifyKey = (String, String, String);

/// One verification counter: the total since start and what was counted since the last
/// flush, by UTC day number (days since the epoch). Counters are few (channels × agencies ×
/// outcomes) and found by comparing borrowed labels, so counting allocates nothing once a
/// label set has been seen.
#[derive(Debug)]
struct VerifyCount {
    key: VerifyKey,
    total: u64,
    pending: Vec<(i64, i64)>,
}

impl VerifyCount {
    fn is(&self, channel: &str, verifier: &str, outcome: &str) -> bool {
        self.key.2 == outcome && self.key.1 == verifier && self.key.0 == channel
    }

    /// Add `n` to day `day`'s pending count.
    fn add_pending(&mut self, day: i64, n: i64) {
        match self.pending.iter_mut().rev().find(|(d, _)| *d == day) {
            Some((_, m)) => *m += n,
            None => self.pending.push((day, n)),
        }
    }
}

/// One route's histograms by (method, status).
type RouteRow = Vec<((String, u16), Histogram)>;

/// In-memory counters of one instance.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// By route, then by (method, status): looked up with borrowed strings, so counting a
    /// request allocates only the first time a route is seen.
    requests: Mutex<HashMap<String, RouteRow>>,
    verifications: Mutex<Vec<VerifyCount>>,
    issued: Mutex<BTreeMap<(String, String), u64>>,
    changes: Mutex<BTreeMap<(String, String), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requests: Mutex::default(),
            verifications: Mutex::default(),
            issued: Mutex::default(),
            changes: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Escape a label value (backslash, double quote, line feed).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Count one answered request: `route` is the matched route pattern.
    pub fn request(&self, route: &str, method: &str, status: u16, secs: f64) {
        let mut g = lock(&self.requests);
        if !g.contains_key(route) {
            g.insert(route.to_owned(), Vec::new());
        }
        let Some(row) = g.get_mut(route) else { return };
        let i = match row
            .iter()
            .position(|((m, s), _)| m == method && *s == status)
        {
            Some(i) => i,
            None => {
                row.push(((method.to_owned(), status), Histogram::default()));
                row.len() - 1
            }
        };
        let h = &mut row[i].1;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.n += 1;
    }

    /// Count one verification.
    pub fn verification(&self, channel: &str, verifier: &str, outcome: &str) {
        let day = crate::storage::now() / 86_400;
        let mut g = lock(&self.verifications);
        let i = match g.iter().position(|c| c.is(channel, verifier, outcome)) {
            Some(i) => i,
            None => {
                g.push(VerifyCount {
                    key: (channel.to_owned(), verifier.to_owned(), outcome.to_owned()),
                    total: 0,
                    pending: Vec::new(),
                });
                g.len() - 1
            }
        };
        let c = &mut g[i];
        c.total += 1;
        c.add_pending(day, 1);
    }

    /// Count one issuance.
    pub fn issued(&self, agency: &str, kind: &str) {
        *lock(&self.issued)
            .entry((agency.to_owned(), kind.to_owned()))
            .or_default() += 1;
    }

    /// Count one status change.
    pub fn status_change(&self, agency: &str, to: &str) {
        *lock(&self.changes)
            .entry((agency.to_owned(), to.to_owned()))
            .or_default() += 1;
    }

    /// Add the verification counts since the last flush to the database (put back on error).
    pub async fn flush_verifications(
        &self,
        store: &crate::storage::Store,
    ) -> Result<(), crate::storage::StoreError> {
        let batch: Vec<(i64, VerifyKey, i64)> = lock(&self.verifications)
            .iter_mut()
            .flat_map(|c| {
                let key = &c.key;
                c.pending.drain(..).map(move |(d, n)| (d, key.clone(), n))
            })
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = batch
            .iter()
            .map(|(d, (c, v, o), n)| {
                let day = crate::render::pages::date(d * 86_400);
                (day, c.clone(), v.clone(), o.clone(), *n)
            })
            .collect();
        if let Err(e) = store.add_verification_counts(&rows).await {
            // Put back: the counters are never removed, so each key is still there.
            let mut g = lock(&self.verifications);
            for (d, (c, v, o), n) in batch {
                if let Some(count) = g.iter_mut().find(|x| x.is(&c, &v, &o)) {
                    count.add_pending(d, n);
                }
            }
            return Err(e);
        }
        Ok(())
    }

    /// The counters in the Prometheus text format; `gauges` are appended as they are.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# HELP sanad_build_info Build of this instance.");
        let _ = writeln!(o, "# TYPE sanad_build_info gauge");
        let _ = writeln!(
            o,
            "sanad_build_info{{version=\"{}\"}} 1",
            esc(env!("CARGO_PKG_VERSION"))
        );
        let _ = writeln!(
            o,
            "# HELP sanad_uptime_seconds Seconds since this instance started."
        );
        let _ = writeln!(o, "# TYPE sanad_uptime_seconds gauge");
        let _ = writeln!(
            o,
            "sanad_uptime_seconds {:.3}",
            self.started.elapsed().as_secs_f64()
        );

        let _ = writeln!(
            o,
            "# HELP sanad_http_request_duration_seconds Answered HTTP requests by route, method and status."
        );
        let _ = writeln!(o, "# TYPE sanad_http_request_duration_seconds histogram");
        let reqs: BTreeMap<(String, String, u16), Histogram> = lock(&self.requests)
            .iter()
            .flat_map(|(r, row)| {
                row.iter()
                    .map(move |((m, s), h)| ((r.clone(), m.clone(), *s), h.clone()))
            })
            .collect();
        for ((route, method, status), h) in reqs {
            let l = format!(
                "route=\"{}\",method=\"{}\",status=\"{status}\"",
                esc(&route),
                esc(&method)
            );
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "sanad_http_request_duration_seconds_bucket{{{l},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                o,
                "sanad_http_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}",
                h.n
            );
            let _ = writeln!(
                o,
                "sanad_http_request_duration_seconds_sum{{{l}}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "sanad_http_request_duration_seconds_count{{{l}}} {}",
                h.n
            );
        }

        let _ = writeln!(
            o,
            "# HELP sanad_verifications_total Verifications by channel, verifying agency and outcome."
        );
        let _ = writeln!(o, "# TYPE sanad_verifications_total counter");
        let verifications: BTreeMap<VerifyKey, u64> = lock(&self.verifications)
            .iter()
            .map(|c| (c.key.clone(), c.total))
            .collect();
        for ((c, v, out), n) in &verifications {
            let _ = writeln!(
                o,
                "sanad_verifications_total{{channel=\"{}\",verifier=\"{}\",outcome=\"{}\"}} {n}",
                esc(c),
                esc(v),
                esc(out)
            );
        }
        let _ = writeln!(
            o,
            "# HELP sanad_issued_total Credentials issued by agency and kind."
        );
        let _ = writeln!(o, "# TYPE sanad_issued_total counter");
        for ((a, k), n) in lock(&self.issued).iter() {
            let _ = writeln!(
                o,
                "sanad_issued_total{{agency=\"{}\",kind=\"{}\"}} {n}",
                esc(a),
                esc(k)
            );
        }
        let _ = writeln!(
            o,
            "# HELP sanad_status_changes_total Status changes by agency and new status."
        );
        let _ = writeln!(o, "# TYPE sanad_status_changes_total counter");
        for ((a, s), n) in lock(&self.changes).iter() {
            let _ = writeln!(
                o,
                "sanad_status_changes_total{{agency=\"{}\",to=\"{}\"}} {n}",
                esc(a),
                esc(s)
            );
        }
        for g in gauges {
            let _ = writeln!(o, "# HELP {} {}", g.name, g.help);
            let _ = writeln!(o, "# TYPE {} gauge", g.name);
            let _ = writeln!(o, "{} {}", g.name, g.value);
        }
        o
    }
}

/// A gauge read at scrape time.
#[derive(Debug)]
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Value.
    pub value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.request("/v/{id}", "GET", 200, 0.003);
        m.request("/v/{id}", "GET", 200, 0.3);
        let t = m.render(&[]);
        assert!(t.contains(
            "sanad_http_request_duration_seconds_bucket{route=\"/v/{id}\",method=\"GET\",status=\"200\",le=\"0.005\"} 1"
        ));
        assert!(t.contains(
            "sanad_http_request_duration_seconds_bucket{route=\"/v/{id}\",method=\"GET\",status=\"200\",le=\"0.5\"} 2"
        ));
        assert!(t.contains(
            "sanad_http_request_duration_seconds_count{route=\"/v/{id}\",method=\"GET\",status=\"200\"} 2"
        ));
    }

    #[test]
    fn verifications_are_counted_by_labels_and_rendered_in_order() {
        let m = Metrics::default();
        m.verification("public", "public", "valid");
        m.verification("public", "public", "revoked");
        m.verification("public", "public", "valid");
        m.verification("officer", "MOSD", "active");
        let t = m.render(&[]);
        let lines: Vec<&str> = t
            .lines()
            .filter(|l| l.starts_with("sanad_verifications_total{"))
            .collect();
        assert_eq!(
            lines,
            [
                "sanad_verifications_total{channel=\"officer\",verifier=\"MOSD\",outcome=\"active\"} 1",
                "sanad_verifications_total{channel=\"public\",verifier=\"public\",outcome=\"revoked\"} 1",
                "sanad_verifications_total{channel=\"public\",verifier=\"public\",outcome=\"valid\"} 2",
            ]
        );
        let g = lock(&m.verifications);
        let valid = g
            .iter()
            .find(|c| c.is("public", "public", "valid"))
            .expect("counted");
        let today = crate::storage::now() / 86_400;
        assert_eq!(valid.pending, [(today, 2)]);
    }

    #[test]
    fn pending_counts_merge_by_day() {
        let mut c = VerifyCount {
            key: ("public".into(), "public".into(), "valid".into()),
            total: 0,
            pending: vec![],
        };
        c.add_pending(10, 1);
        c.add_pending(11, 2);
        c.add_pending(10, 3);
        assert_eq!(c.pending, [(10, 4), (11, 2)]);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
