//! Server-rendered HTML pages (minijinja templates: every file of `templates/`, embedded
//! at build time by `crate::assets`). Every page is Arabic first (`lang="ar" dir="rtl"`) with English beside it.

use super::i18n::{AR, EN};
use minijinja::{Environment, context};
use serde::Serialize;
use std::sync::LazyLock;

fn environment<'a>(templates: &'a [(String, std::borrow::Cow<'static, str>)]) -> Environment<'a> {
    let mut env = Environment::new();
    for (name, src) in templates {
        // Templates are compiled in; a syntax error is caught by the page tests.
        if let Err(e) = env.add_template(name, src) {
            tracing::error!(template = %name, error = %e, "template does not compile");
        }
    }
    env
}

/// Every file of `templates/`, built in (see `crate::assets`).
static TEMPLATES: LazyLock<Vec<(String, std::borrow::Cow<'static, str>)>> =
    LazyLock::new(crate::assets::templates);
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| environment(&TEMPLATES));

/// Render a template with the string tables, `base` (the public URL) and `extra` values.
pub fn render<S: Serialize>(name: &str, base: &str, extra: S) -> Result<String, minijinja::Error> {
    if crate::assets::dev_dir().is_some() {
        // Development: templates and tables re-read from disk on every page.
        let templates = crate::assets::templates();
        let env = environment(&templates);
        let (ar, en) = (super::i18n::load("ar"), super::i18n::load("en"));
        let t = env.get_template(name)?;
        return t.render(context! { ar => &ar, en => &en, base => base, ..minijinja::Value::from(minijinja::value::Serde(&extra)) });
    }
    let t = ENV.get_template(name)?;
    t.render(context! { ar => &*AR, en => &*EN, base => base, ..minijinja::Value::from(minijinja::value::Serde(&extra)) })
}

/// Format epoch seconds as a UTC calendar date, `YYYY-MM-DD`.
pub fn date(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}
