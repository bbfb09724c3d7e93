//! Server-rendered HTML pages (minijinja templates from `templates/`, embedded at build
//! time). Every page is Arabic first (`lang="ar" dir="rtl"`) with English beside it.

use super::i18n::{AR, EN};
use minijinja::{Environment, context};
use serde::Serialize;
use std::sync::LazyLock;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `{{ x|when }}`: a <time> the console's script shows in the reader's language and time
    // zone; without the script it reads as UTC.
    env.add_filter("when", |v: minijinja::Value| -> minijinja::Value {
        let epoch = match v.as_i64() {
            Some(e) => Some(e),
            None => v.as_str().and_then(|s| {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .ok()
                    .map(|t| t.unix_timestamp())
            }),
        };
        let Some(t) = epoch.and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok()) else {
            return minijinja::Value::from("");
        };
        let iso = crate::domain::rfc3339(t.unix_timestamp());
        let shown = format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute());
        minijinja::Value::from_safe_string(format!("<time datetime=\"{iso}\">{shown}</time>"))
    });
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
            "console_macros.html",
            include_str!("../../templates/console_macros.html"),
        ),
        (
            "console_error.html",
            include_str!("../../templates/console_error.html"),
        ),
        (
            "console_home.html",
            include_str!("../../templates/console_home.html"),
        ),
        (
            "console_person.html",
            include_str!("../../templates/console_person.html"),
        ),
        (
            "console_person_form.html",
            include_str!("../../templates/console_person_form.html"),
        ),
        (
            "console_document_form.html",
            include_str!("../../templates/console_document_form.html"),
        ),
        (
            "console_credential.html",
            include_str!("../../templates/console_credential.html"),
        ),
        (
            "console_issue_warning.html",
            include_str!("../../templates/console_issue_warning.html"),
        ),
        (
            "console_users.html",
            include_str!("../../templates/console_users.html"),
        ),
        (
            "console_tokens.html",
            include_str!("../../templates/console_tokens.html"),
        ),
        (
            "console_keys.html",
            include_str!("../../templates/console_keys.html"),
        ),
        (
            "console_agencies.html",
            include_str!("../../templates/console_agencies.html"),
        ),
        (
            "console_reports.html",
            include_str!("../../templates/console_reports.html"),
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

/// A page's language: Arabic (the default) or English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Arabic, right to left.
    Ar,
    /// English, left to right.
    En,
}

impl Lang {
    /// `ar` or `en`, for `<html lang>` and the language cookie.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ar => "ar",
            Self::En => "en",
        }
    }

    /// Parse `ar`/`en` (and regional forms such as `en-GB`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        let primary = s.split(['-', '_']).next().unwrap_or_default();
        match primary {
            "ar" => Some(Self::Ar),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The first of Arabic or English in an `Accept-Language` header, by preference.
    pub fn from_accept_language(h: &str) -> Option<Self> {
        let mut best: Option<(f32, Self)> = None;
        for part in h.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Self::parse(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map(|(_, l)| l)
    }

    /// The string table of this language.
    pub fn table(self) -> &'static super::i18n::Table {
        match self {
            Self::Ar => &AR,
            Self::En => &EN,
        }
    }

    /// The other language (the switch offers it; error pages repeat the message in it).
    pub fn other(self) -> Self {
        match self {
            Self::Ar => Self::En,
            Self::En => Self::Ar,
        }
    }
}

/// Render a page in one language: `t` is its string table, `o` the other language's,
/// `lang` and `dir` go on `<html>`.
pub fn render_lang<S: Serialize>(
    name: &str,
    base: &str,
    lang: Lang,
    extra: S,
) -> Result<String, minijinja::Error> {
    let t = ENV.get_template(name)?;
    let dir = if lang == Lang::Ar { "rtl" } else { "ltr" };
    t.render(context! {
        t => lang.table(), o => lang.other().table(), lang => lang.code(), dir => dir,
        other_lang => lang.other().code(), ar => &*AR, en => &*EN, base => base,
        ..minijinja::Value::from(minijinja::value::Serde(&extra))
    })
}

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
