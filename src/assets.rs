//! Files built into the binary: the page templates with their language tables
//! (`templates/`) and the verifier web app (`verifier-app/`), whole folders embedded at
//! build time, so `sanad serve` needs nothing beside it and works from any folder. A file
//! added to either folder is picked up without code changes (`build.rs` makes cargo rebuild
//! when one appears). Migrations are embedded by `storage::migrate`.
//!
//! For development, `SANAD_ASSETS_DIR` (the source folder holding `templates/` and
//! `verifier-app/`) makes every request read them from disk instead, and
//! `SANAD_VERIFIER_DIR` does so for the verifier app alone.

use include_dir::{Dir, include_dir};
use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");
static VERIFIER: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/verifier-app");

static DEV_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Read templates and the verifier app from `dir` from now on (set once, at start).
pub fn set_dev_dir(dir: &Path) {
    if DEV_DIR.set(dir.to_owned()).is_ok() {
        tracing::warn!(dir = %dir.display(), "SANAD_ASSETS_DIR: templates and the verifier app are read from disk on every request (development only)");
    }
}

/// The development folder in force, if any.
pub fn dev_dir() -> Option<&'static Path> {
    DEV_DIR.get().map(PathBuf::as_path)
}

/// A relative path that stays inside its folder (no `..`, no root, no drive).
fn safe_relative(rel: &str) -> Option<&Path> {
    let p = Path::new(rel);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(p)
}

/// Every page template (`templates/*.html`, including subfolders), name → source.
pub fn templates() -> Vec<(String, Cow<'static, str>)> {
    let mut out = Vec::new();
    match dev_dir() {
        None => collect_embedded(&TEMPLATES, &mut out),
        Some(d) => collect_disk(&d.join("templates"), Path::new(""), &mut out),
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn collect_embedded(dir: &'static Dir<'static>, out: &mut Vec<(String, Cow<'static, str>)>) {
    for f in dir.files() {
        if f.path().extension().is_some_and(|e| e == "html")
            && let Some(src) = f.contents_utf8()
        {
            out.push((f.path().to_string_lossy().into_owned(), Cow::Borrowed(src)));
        }
    }
    for d in dir.dirs() {
        collect_embedded(d, out);
    }
}

fn collect_disk(root: &Path, rel: &Path, out: &mut Vec<(String, Cow<'static, str>)>) {
    let Ok(rd) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in rd.flatten() {
        let name = rel.join(e.file_name());
        let path = root.join(&name);
        if path.is_dir() {
            collect_disk(root, &name, out);
        } else if path.extension().is_some_and(|x| x == "html")
            && let Ok(src) = std::fs::read_to_string(&path)
        {
            out.push((name.to_string_lossy().into_owned(), Cow::Owned(src)));
        }
    }
}

/// A file under `templates/` (e.g. `i18n/ar.json`).
pub fn template_file(rel: &str) -> Option<Cow<'static, [u8]>> {
    let rel = safe_relative(rel)?;
    match dev_dir() {
        None => TEMPLATES.get_file(rel).map(|f| Cow::Borrowed(f.contents())),
        Some(d) => std::fs::read(d.join("templates").join(rel))
            .ok()
            .map(Cow::Owned),
    }
}

/// A file of the verifier app: from `verifier_dir` when given, else from the development
/// folder when set, else the copy built in.
pub fn verifier_file(verifier_dir: Option<&Path>, rel: &str) -> Option<Cow<'static, [u8]>> {
    let rel = safe_relative(rel)?;
    let disk = verifier_dir
        .map(Path::to_owned)
        .or_else(|| dev_dir().map(|d| d.join("verifier-app")));
    match disk {
        None => VERIFIER.get_file(rel).map(|f| Cow::Borrowed(f.contents())),
        Some(d) => {
            let p = d.join(rel);
            // A folder is not a file (ServeDir's behaviour: the caller adds index.html).
            if p.is_file() {
                std::fs::read(p).ok().map(Cow::Owned)
            } else {
                None
            }
        }
    }
}

/// The media type of a served file, by extension.
pub fn content_type(rel: &str) -> &'static str {
    match rel
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("wasm") => "application/wasm",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_folders_are_built_in() {
        let names: Vec<_> = templates().into_iter().map(|(n, _)| n).collect();
        assert!(names.iter().any(|n| n == "base.html"), "{names:?}");
        assert!(names.iter().any(|n| n == "record.html"), "{names:?}");
        assert!(template_file("i18n/ar.json").is_some());
        assert!(verifier_file(None, "index.html").is_some());
        assert!(verifier_file(None, "i18n/ar.json").is_some());
        // Every file of the source folder is in the binary.
        fn count(p: &Path) -> usize {
            std::fs::read_dir(p)
                .expect("dir")
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        count(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("verifier-app");
        fn embedded(d: &Dir<'_>) -> usize {
            d.files().count() + d.dirs().map(embedded).sum::<usize>()
        }
        assert_eq!(embedded(&VERIFIER), count(&src));
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        assert_eq!(embedded(&TEMPLATES), count(&src));
    }

    #[test]
    fn paths_cannot_leave_their_folder() {
        assert!(verifier_file(None, "../Cargo.toml").is_none());
        assert!(verifier_file(None, "/etc/passwd").is_none());
        assert!(template_file("../src/main.rs").is_none());
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("sw.js"), "text/javascript; charset=utf-8");
    }
}
