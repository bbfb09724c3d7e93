//! Every log line of the test process, captured (all levels, all crates, no colour), for
//! the tests that prove no personal data or secret is ever logged.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// The captured bytes.
#[derive(Clone, Default)]
pub struct Buffer(pub Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process-wide capture (every test of the binary writes into it).
pub fn capture() -> Buffer {
    static BUF: OnceLock<Buffer> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Buffer::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(buf.clone())
            .try_init()
            .expect("the only subscriber");
        buf
    })
    .clone()
}
