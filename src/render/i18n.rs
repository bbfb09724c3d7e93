//! Per-language string tables (`templates/i18n/{ar,en}.json`), embedded at build time
//! (`crate::assets`). Arabic is the first language of every page; English follows.

use std::collections::BTreeMap;
use std::sync::LazyLock;

/// A language's strings, by key.
pub type Table = BTreeMap<String, String>;

/// A language's table as it is now: built in, or read from `SANAD_ASSETS_DIR` in development.
pub fn load(lang: &str) -> Table {
    // The tables are part of the binary and checked by a test; an error here is a build bug
    // (or, in development, a file being edited).
    crate::assets::template_file(&format!("i18n/{lang}.json"))
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Arabic strings.
pub static AR: LazyLock<Table> = LazyLock::new(|| load("ar"));
/// English strings.
pub static EN: LazyLock<Table> = LazyLock::new(|| load("en"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_and_have_the_same_keys() {
        assert!(AR.len() > 20);
        let a: Vec<_> = AR.keys().collect();
        let e: Vec<_> = EN.keys().collect();
        assert_eq!(a, e);
        // Every status and reason code has words in both languages.
        for s in ["active", "suspended", "revoked", "superseded"] {
            assert!(AR.contains_key(&format!("status_{s}")));
        }
        for r in [
            "data_changed",
            "lost",
            "stolen",
            "deceased",
            "fraud",
            "eligibility_ended",
            "under_review",
            "issued_in_error",
            "review_cleared",
            "key_compromise",
            "other",
        ] {
            assert!(AR.contains_key(&format!("reason_{r}")), "{r}");
        }
    }
}
