//! Person photos: a JPEG or PNG in, a small plain JPEG out.
//!
//! The upload is decoded and drawn again rather than passed through, so nothing the sender put
//! beside the pixels (EXIF with GPS and camera serials, PNG text chunks, ICC profiles, trailing
//! bytes) survives: the output carries only what the JPEG encoder writes. The EXIF orientation
//! is applied first so the stored picture stands upright without its metadata.

use super::upload::UploadError;
#[cfg(test)]
use image::ImageFormat;
use image::{DynamicImage, ImageDecoder as _};
#[cfg(test)]
use std::io::Cursor;

/// Largest upload accepted, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// Largest accepted width or height of the upload, in pixels.
pub const MAX_INPUT_SIDE: u32 = 4000;
/// The stored photo's longer side is at most this many pixels.
pub const MAX_OUTPUT_SIDE: u32 = 600;
/// JPEG quality of the stored photo.
const QUALITY: u8 = 85;

/// Why an upload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    /// Not a JPEG or PNG (by its bytes, whatever it was labelled).
    #[error("the photo must be a JPEG or PNG image")]
    NotJpegOrPng,
    /// Wider or taller than [`MAX_INPUT_SIDE`].
    #[error("the photo is {0}×{1} pixels; at most 4000×4000 is accepted")]
    TooManyPixels(u32, u32),
    /// Claims to be JPEG/PNG but does not decode.
    #[error("the photo could not be decoded: {0}")]
    Undecodable(String),
}

/// Decode a JPEG or PNG, upright it, shrink it to at most [`MAX_OUTPUT_SIDE`] on the longer
/// side and re-encode it as a baseline JPEG without metadata.
pub fn normalise(bytes: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let undecodable = |e: image::ImageError| PhotoError::Undecodable(e.to_string());
    let mut decoder = match super::upload::check(bytes, MAX_INPUT_SIDE, 256 * 1024 * 1024) {
        Ok(c) => c.decoder,
        Err(UploadError::NotJpegOrPng) => return Err(PhotoError::NotJpegOrPng),
        Err(UploadError::TooLarge(w, h, _)) => return Err(PhotoError::TooManyPixels(w, h)),
        Err(UploadError::Unreadable(m)) => return Err(PhotoError::Undecodable(m)),
    };
    let orientation = decoder.orientation().map_err(undecodable)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    img.apply_orientation(orientation);
    if img.width().max(img.height()) > MAX_OUTPUT_SIDE {
        img = img.resize(
            MAX_OUTPUT_SIDE,
            MAX_OUTPUT_SIDE,
            image::imageops::FilterType::Triangle,
        );
    }
    let rgb = flatten_on_white(img);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(&rgb)
        .map_err(undecodable)?;
    Ok(out)
}

/// JPEG has no transparency: transparent PNG pixels become white, not black.
fn flatten_on_white(img: DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let mix = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([mix(r), mix(g), mix(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 120, 200, 128]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).expect("png");
        out.into_inner()
    }

    #[test]
    fn shrinks_and_reencodes() {
        let out = normalise(&png(1200, 300)).expect("ok");
        assert_eq!(&out[..2], &[0xFF, 0xD8]);
        let img = image::load_from_memory(&out).expect("jpeg");
        assert_eq!((img.width(), img.height()), (600, 150));
    }

    #[test]
    fn keeps_small_images_small() {
        let img = image::load_from_memory(&normalise(&png(40, 30)).expect("ok")).expect("jpeg");
        assert_eq!((img.width(), img.height()), (40, 30));
    }

    #[test]
    fn refuses_other_things() {
        assert_eq!(
            normalise(b"GIF89a....").expect_err("refused"),
            PhotoError::NotJpegOrPng
        );
        assert_eq!(
            normalise(b"hello").expect_err("refused"),
            PhotoError::NotJpegOrPng
        );
        assert_eq!(
            normalise(&png(4001, 1)).expect_err("refused"),
            PhotoError::TooManyPixels(4001, 1)
        );
        let mut broken = png(10, 10);
        broken.truncate(60);
        assert!(matches!(
            normalise(&broken),
            Err(PhotoError::Undecodable(_))
        ));
    }
}
