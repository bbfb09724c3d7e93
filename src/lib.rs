//! Sanad: signed digital IDs and document-authenticity certificates whose QR codes resolve
//! to live records.
//!
//! The crate is organised by capability (see `STYLE.md`): `domain` holds the pure types,
//! `keys`, `issuance`, `status`, `verification` and `audit` the behaviour, `storage` the one
//! database interface, `render` what people see, and `web` the HTTP surface that calls them.
//! `main.rs` only parses the command line and calls [`cli::run`].

#![forbid(unsafe_code)]

pub mod app;
pub mod approval;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod issuance;
pub mod keys;
pub mod metrics;
pub mod net;
pub mod render;
pub mod status;
pub mod storage;
pub mod verification;
pub mod web;

/// The memory allocator of every program built on this crate (the server, the CLI, the
/// benches and tests). A scan makes many small short-lived allocations (HTTP buffers, JSON,
/// the token, the answer); glibc's allocator spent about a quarter of the request path's
/// CPU on them (profiled in BENCHMARKS.md, "Verify: where the time goes").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
