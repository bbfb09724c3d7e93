//! QR codes for credentials: the URL in a byte-mode segment and the token digits in a
//! numeric-mode segment, at the smallest version that fits the chosen error-correction level.

use qrcode::QrCode;
use qrcode::bits::Bits;
use qrcode::types::{EcLevel, Version};

/// Error-correction level M: the budget in SPEC §2 is stated at M, and M recovers ~15 % of a
/// scratched or creased card.
pub const DEFAULT_EC: EcLevel = EcLevel::M;

/// Modules of quiet zone on each side (ISO/IEC 18004's minimum for QR).
pub const QUIET: usize = 4;

/// Smallest printed side of a QR with its quiet zone, in millimetres: a phone held at a
/// comfortable distance still resolves the modules of a version 14-15 code at this size.
pub const MIN_PRINT_MM: f64 = 25.0;

/// One printer dot at 300 dpi, in millimetres.
const DOT_300_MM: f64 = 25.4 / 300.0;

/// A module's printed size in millimetres for a code of `modules` (without quiet zone): a
/// whole number of 300-dpi dots, at least 4 (0.339 mm, above the 0.33 mm that office
/// printers and phone cameras handle), and more when the code would otherwise be smaller
/// than [`MIN_PRINT_MM`] with its quiet zone. Whole dots keep every module the same width on
/// a 300-dpi printer.
pub fn module_mm(modules: usize) -> f64 {
    let total = (modules + 2 * QUIET) as f64;
    let dots = (MIN_PRINT_MM / (total * DOT_300_MM)).ceil().max(4.0);
    dots * DOT_300_MM
}

/// The largest module (whole 300-dpi dots, never below [`module_mm`]) at which the code
/// with its quiet zone fits in `max_side_mm`: printables use the room they have, since a
/// larger code reads faster from a worn card.
pub fn module_mm_within(modules: usize, max_side_mm: f64) -> f64 {
    let total = (modules + 2 * QUIET) as f64;
    let dots = (max_side_mm / (total * DOT_300_MM)).floor();
    module_mm(modules).max(dots * DOT_300_MM)
}

/// The printed side of the code with its quiet zone, in millimetres, at [`module_mm`].
pub fn print_mm(code: &QrCode) -> f64 {
    module_mm(code.width()) * (code.width() + 2 * QUIET) as f64
}

/// Why a QR could not be made.
#[derive(Debug, thiserror::Error)]
#[error("the text does not fit any QR version: {0}")]
pub struct QrError(String);

/// Encode `text`, splitting it at `#`: what comes before (and the `#`) in byte mode, the
/// fragment in numeric mode when it is all digits. Tries versions from 1 up and returns the
/// first that fits, so every saved version makes a printed code coarser and easier to scan.
pub fn encode(text: &str, ec: EcLevel) -> Result<QrCode, QrError> {
    let (head, digits) = match text.split_once('#') {
        Some((h, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            (&text[..h.len() + 1], f)
        }
        _ => (text, ""),
    };
    for v in 1..=40 {
        let mut bits = Bits::new(Version::Normal(v));
        let pushed = bits
            .push_byte_data(head.as_bytes())
            .and_then(|()| {
                if digits.is_empty() {
                    Ok(())
                } else {
                    bits.push_numeric_data(digits.as_bytes())
                }
            })
            .and_then(|()| bits.push_terminator(ec));
        if pushed.is_ok() {
            return QrCode::with_bits(bits, ec).map_err(|e| QrError(e.to_string()));
        }
    }
    Err(QrError(format!("{} characters", text.len())))
}

/// The QR version number (1–40).
pub fn version_of(code: &QrCode) -> i16 {
    match code.version() {
        Version::Normal(v) | Version::Micro(v) => v,
    }
}

/// Render as PNG, `module_px` pixels a module, with the standard 4-module quiet zone. The
/// image is 1-bit greyscale: a QR has two colours, and eight pixels a byte make the encoder's
/// work (and the file) several times smaller than 8-bit grey. Its `pHYs` chunk gives the
/// resolution at which a module prints at [`module_mm`], so an application that honours it
/// (word processors, print dialogs) prints the code at its physical size.
pub fn png(code: &QrCode, module_px: u32) -> Vec<u8> {
    let modules = code.width();
    let colors = code.to_colors();
    let px = module_px.max(1) as usize;
    let side = (modules + 2 * QUIET) * px;
    let stride = side.div_ceil(8);
    // In 1-bit greyscale a set bit is white: start all white, clear the dark modules.
    let mut row = vec![0u8; stride];
    let mut data = Vec::with_capacity(stride * side);
    for y in 0..modules + 2 * QUIET {
        row.fill(0xff);
        if (QUIET..QUIET + modules).contains(&y) {
            for x in 0..modules {
                if colors[(y - QUIET) * modules + x] == qrcode::Color::Dark {
                    for p in 0..px {
                        let bit = (QUIET + x) * px + p;
                        row[bit / 8] &= !(0x80 >> (bit % 8));
                    }
                }
            }
        }
        for _ in 0..px {
            data.extend_from_slice(&row);
        }
    }
    let mut out = Vec::with_capacity(data.len() / 8 + 1024);
    let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::One);
    enc.set_compression(png::Compression::Fast);
    let per_metre = (px as f64 / (module_mm(modules) / 1000.0)).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: per_metre,
        yppu: per_metre,
        unit: png::Unit::Meter,
    }));
    // Writing a well-formed in-memory image to a Vec cannot fail.
    if let Ok(mut w) = enc.write_header() {
        let _ = w.write_image_data(&data);
    }
    out
}

/// Render as SVG with a white background (dark modules on a transparent page would vanish
/// on a dark screen or a coloured card). One unit of the view box is a module; `width` and
/// `height` are in millimetres at [`module_mm`], so the code prints at its physical size
/// (a page may still set its own size with CSS). Dark modules are one path of horizontal
/// runs, which keeps the file small and leaves no hairline seams between modules.
pub fn svg(code: &QrCode) -> String {
    svg_at(code, module_mm(code.width()))
}

/// [`svg`] with modules of `module_mm` millimetres.
pub fn svg_at(code: &QrCode, module_mm: f64) -> String {
    use std::fmt::Write as _;
    let n = code.width();
    let side = n + 2 * QUIET;
    let mm = module_mm * side as f64;
    let colors = code.to_colors();
    let mut d = String::with_capacity(n * n);
    for y in 0..n {
        let mut x = 0;
        while x < n {
            if colors[y * n + x] == qrcode::Color::Dark {
                let start = x;
                while x < n && colors[y * n + x] == qrcode::Color::Dark {
                    x += 1;
                }
                let _ = write!(
                    d,
                    "M{} {}h{}v1h-{}z",
                    start + QUIET,
                    y + QUIET,
                    x - start,
                    x - start
                );
            } else {
                x += 1;
            }
        }
    }
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{mm:.2}mm" height="{mm:.2}mm" viewBox="0 0 {side} {side}" shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#ffffff"/><path fill="#000000" d="{d}"/></svg>"##
    )
}

/// Largest width or height of a photo of a QR (a phone photo is ~4000 px).
pub const MAX_SCAN_SIDE: u32 = 4096;
/// Most bytes the image decoder may allocate for one photo of a QR.
const MAX_SCAN_ALLOC: u64 = 96 * 1024 * 1024;

/// Decode the first QR code found in an image (PNG or JPEG bytes). Used for `POST
/// /api/v1/verify` with a photo and by `sanad verify` with a file.
///
/// The header is read first: anything but a complete JPEG or PNG of at most
/// [`MAX_SCAN_SIDE`] pixels a side is refused before a pixel is decoded (see
/// [`super::upload`]). Callers on the async runtime run this on the blocking pool.
pub fn decode_image(bytes: &[u8]) -> Result<String, String> {
    let checked =
        super::upload::check(bytes, MAX_SCAN_SIDE, MAX_SCAN_ALLOC).map_err(|e| e.to_string())?;
    let img = image::DynamicImage::from_decoder(checked.decoder)
        .map_err(|e| format!("not a readable image: {e}"))?;
    super::qr_read::decode_luma(img.to_luma8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_segment_saves_versions() {
        let digits: String = (0..700)
            .map(|i| char::from(b'0' + (i % 10) as u8))
            .collect();
        let text = format!("https://sanad.example.gov/v/0123456789abcdef#{digits}");
        let numeric = encode(&text, EcLevel::M).expect("fits");
        let mut plain = Bits::new(Version::Normal(version_of(&numeric)));
        let fits = plain
            .push_byte_data(text.as_bytes())
            .and_then(|()| plain.push_terminator(EcLevel::M));
        assert!(
            fits.is_err(),
            "byte mode alone should not fit the same version"
        );
        let back = decode_image(&png(&numeric, 4)).expect("decodes");
        assert_eq!(back, text);
    }

    #[test]
    fn printed_size_is_at_least_25mm_with_modules_of_whole_300dpi_dots() {
        for text in [
            "https://x/v/0123456789abcdef",
            &"https://sanad.example/v/ABC#".repeat(12),
        ] {
            let c = encode(text, EcLevel::M).expect("fits");
            let m = module_mm(c.width());
            assert!(m >= 0.33, "{m}");
            let dots = m / DOT_300_MM;
            assert!((dots - dots.round()).abs() < 1e-9, "{dots}");
            assert!(print_mm(&c) >= MIN_PRINT_MM, "{}", print_mm(&c));
        }
        // A version 14 code keeps the smallest module: 81 modules of 4 dots, 27.4 mm.
        assert!((module_mm(73) - 4.0 * DOT_300_MM).abs() < 1e-9);
    }

    #[test]
    fn png_carries_its_physical_size() {
        let c = encode("https://x/v/0123456789abcdef", EcLevel::M).expect("fits");
        let bytes = png(&c, 8);
        let dec = ::png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = dec.read_info().expect("png");
        let dims = reader.info().pixel_dims.expect("pHYs");
        assert_eq!(dims.unit, ::png::Unit::Meter);
        let side_px = (c.width() + 2 * QUIET) as f64 * 8.0;
        let side_mm = side_px / dims.xppu as f64 * 1000.0;
        assert!((side_mm - print_mm(&c)).abs() < 0.05, "{side_mm}");
    }

    #[test]
    fn svg_is_sized_in_millimetres() {
        let c = encode("https://x/v/0123456789abcdef", EcLevel::M).expect("fits");
        let s = svg(&c);
        assert!(
            s.contains(&format!(r#"width="{:.2}mm""#, print_mm(&c))),
            "{s}"
        );
        let png_back = {
            // The SVG's dark runs cover exactly the code's dark modules.
            let dark: usize = c
                .to_colors()
                .iter()
                .filter(|&&k| k == qrcode::Color::Dark)
                .count();
            let runs: usize = s
                .split('h')
                .skip(1)
                .filter_map(|p| p.split('v').next()?.parse::<usize>().ok())
                .sum();
            (dark, runs)
        };
        assert_eq!(png_back.0, png_back.1);
    }

    #[test]
    fn svg_has_white_background() {
        let c = encode("https://x/v/0123456789abcdef", EcLevel::M).expect("fits");
        let s = svg(&c);
        assert!(s.contains(r##"fill="#ffffff""##));
    }
}
