//! QR codes for credentials: the URL in a byte-mode segment and the token digits in a
//! numeric-mode segment, at the smallest version that fits the chosen error-correction level.

use qrcode::QrCode;
use qrcode::bits::Bits;
use qrcode::types::{EcLevel, Version};

/// Error-correction level M: the budget in SPEC §2 is stated at M, and M recovers ~15 % of a
/// scratched or creased card.
pub const DEFAULT_EC: EcLevel = EcLevel::M;

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
/// work (and the file) several times smaller than 8-bit grey.
pub fn png(code: &QrCode, module_px: u32) -> Vec<u8> {
    const QUIET: usize = 4;
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
    // Writing a well-formed in-memory image to a Vec cannot fail.
    if let Ok(mut w) = enc.write_header() {
        let _ = w.write_image_data(&data);
    }
    out
}

/// Render as SVG with a white background (dark modules on a transparent page would vanish
/// on a dark screen or a coloured card).
pub fn svg(code: &QrCode) -> String {
    code.render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .min_dimensions(256, 256)
        .build()
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
    let mut prepared = rqrr::PreparedImage::prepare(img.to_luma8());
    let grids = prepared.detect_grids();
    let mut last = String::from("no QR code found in the image");
    for g in grids {
        match g.decode() {
            Ok((_, text)) => return Ok(text),
            Err(e) => last = format!("a QR code was found but could not be read: {e}"),
        }
    }
    Err(last)
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
    fn svg_has_white_background() {
        let c = encode("https://x/v/0123456789abcdef", EcLevel::M).expect("fits");
        let s = svg(&c);
        assert!(s.contains(r##"fill="#ffffff""##));
    }
}
