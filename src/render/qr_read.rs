//! Reading QR codes from photos (`POST /api/v1/verify` with an image, `sanad verify FILE`).
//!
//! rqrr, the decoder used before, read none of 24 simulated phone photos (a card about
//! 200–240 px across, tilted 10°, blurred, noisy, JPEG 60; levels M and Q) of which zbar
//! read 18; scaling up by 2–4× and local-mean binarisation first raised rqrr to 3 of 24. rxing,
//! a port of zxing, binarises locally (`HybridBinarizer`) and searches hard (`TryHarder`);
//! it read 23 of the 24 as they are and 24 with the scaled-up second attempt below, and
//! the test in `tests/api/qr_photos.rs` holds it to at least zbar's rate on the same images. It is
//! built with QR decoding only (no image codecs of its own: the image crate decodes, rxing
//! gets the grey pixels).

use image::{GrayImage, imageops};
use rxing::{BarcodeFormat, DecodeHints};

/// Below this many pixels on the longer side, a second attempt scales the image up first:
/// zxing's finder search samples rows, and very small codes fall between them.
const SMALL: u32 = 400;

fn rxing_decode(img: &GrayImage) -> Result<String, String> {
    let (w, h) = img.dimensions();
    let mut hints = DecodeHints {
        TryHarder: Some(true),
        AlsoInverted: Some(true),
        ..Default::default()
    };
    rxing::helpers::detect_in_luma_with_hints(
        img.as_raw().clone(),
        w,
        h,
        Some(BarcodeFormat::QR_CODE),
        &mut hints,
    )
    .map(|r| r.getText().to_owned())
    .map_err(|e| format!("no QR code could be read in the image ({e})"))
}

/// Decode the first QR code in a greyscale image.
pub fn decode_luma(img: GrayImage) -> Result<String, String> {
    let first = match rxing_decode(&img) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let (w, h) = img.dimensions();
    let longest = w.max(h).max(1);
    if longest < SMALL {
        let f = (2 * SMALL).div_ceil(longest);
        let up = imageops::resize(&img, w * f, h * f, imageops::FilterType::CatmullRom);
        if let Ok(t) = rxing_decode(&up) {
            return Ok(t);
        }
    }
    Err(first)
}
