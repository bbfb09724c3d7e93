//! What people see: QR codes (PNG, SVG) and the HTML pages with their string tables.
//! Rendering takes plain values and has no database access.

pub mod i18n;
pub mod pages;
pub mod photo;
pub mod qr;
pub mod qr_read;
pub mod upload;
