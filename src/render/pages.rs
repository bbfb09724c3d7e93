//! Server-rendered HTML pages (minijinja templates from `templates/`, embedded at build
//! time). Every page is Arabic first (`lang="ar" dir="rtl"`) with English beside it.

use super::i18n::{AR, EN};
use minijinja::{Environment, context};
use serde::Serialize;
use std::sync::LazyLock;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("record.html", include_str!("../../templates/record.html")),
        (
            "not_found.html",
            include_str!("../../templates/not_found.html"),
        ),
        (
            "console_base.html",
            include_str!("../../templates/console_base.html"),
        ),
        (
            "console_login.html",
            include_str!("../../templates/console_login.html"),
        ),
        (
            "console_persons.html",
            include_str!("../../templates/console_persons.html"),
        ),
        (
            "console_credentials.html",
            include_str!("../../templates/console_credentials.html"),
        ),
        (
            "console_approvals.html",
            include_str!("../../templates/console_approvals.html"),
        ),
        (
            "console_audit.html",
            include_str!("../../templates/console_audit.html"),
        ),
        (
            "console_officer.html",
            include_str!("../../templates/console_officer.html"),
        ),
        (
            "holder_card.html",
            include_str!("../../templates/holder_card.html"),
        ),
        (
            "console_holder.html",
            include_str!("../../templates/console_holder.html"),
        ),
        (
            "print_card.html",
            include_str!("../../templates/print_card.html"),
        ),
        (
            "print_certificate.html",
            include_str!("../../templates/print_certificate.html"),
        ),
    ] {
        // Templates are compiled in; a syntax error is caught by the page tests.
        if let Err(e) = env.add_template(name, src) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

/// Render a template with the string tables, `base` (the public URL) and `extra` values.
pub fn render<S: Serialize>(name: &str, base: &str, extra: S) -> Result<String, minijinja::Error> {
    let t = ENV.get_template(name)?;
    t.render(context! { ar => &*AR, en => &*EN, base => base, ..minijinja::Value::from(minijinja::value::Serde(&extra)) })
}

/// Format epoch seconds as a UTC calendar date, `YYYY-MM-DD`.
pub fn date(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}
