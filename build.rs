//! Rebuild when a file is added to a folder embedded in the binary (`src/assets.rs`):
//! edits to existing files are tracked by the compiler, new files are not.

fn main() {
    for dir in ["templates", "verifier-app", "migrations"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
