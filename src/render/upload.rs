//! Checks on an uploaded image before any pixel is decoded.
//!
//! A few kilobytes of PNG can declare 20000×20000 pixels and make a decoder allocate 1.6 GB,
//! so the size is read from the header and refused before decoding; and a JPEG or PNG cut
//! short still decodes (the missing part comes out grey), so an upload must end as its format
//! says a file ends.

use image::{ImageDecoder as _, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// A JPEG or PNG whose header has been read and checked, ready to decode.
pub struct Checked<'a> {
    /// The decoder, positioned after the header.
    pub decoder: Box<dyn image::ImageDecoder + 'a>,
    /// Width and height from the header.
    pub dimensions: (u32, u32),
}

/// Why an image was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// Not a JPEG or PNG by its bytes.
    #[error("the image must be a JPEG or PNG")]
    NotJpegOrPng,
    /// Its header declares more pixels than allowed.
    #[error("the image is {0}×{1} pixels; at most {2} pixels on a side are accepted")]
    TooLarge(u32, u32, u32),
    /// Cut short (no end-of-image marker / IEND chunk) or otherwise unreadable.
    #[error("the image could not be read: {0}")]
    Unreadable(String),
}

/// Does the file end as a complete JPEG (an EOI marker after the last start-of-scan) or PNG
/// (an IEND chunk)? Inside JPEG scan data every 0xFF byte is followed by 0x00 or a restart
/// marker, so an `FF D9` after the last `FF DA` is the real end of the image; trailers some
/// cameras append after it are allowed.
pub fn is_complete(bytes: &[u8], format: ImageFormat) -> bool {
    match format {
        ImageFormat::Jpeg => {
            let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
            let last_eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
            matches!((last_sos, last_eoi), (Some(s), Some(e)) if e > s)
        }
        ImageFormat::Png => bytes
            .windows(8)
            .rev()
            .take(4096)
            .any(|w| w == b"IEND\xAE\x42\x60\x82"),
        _ => false,
    }
}

/// Read an upload's header: JPEG or PNG only, complete, at most `max_side` pixels on a side,
/// and a decoder that will not allocate more than `max_alloc` bytes.
pub fn check(bytes: &[u8], max_side: u32, max_alloc: u64) -> Result<Checked<'_>, UploadError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| UploadError::Unreadable(e.to_string()))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png)) => f,
        _ => return Err(UploadError::NotJpegOrPng),
    };
    if !is_complete(bytes, format) {
        return Err(UploadError::Unreadable("the file is cut short".into()));
    }
    // The side is checked below, from the header, to name it in the answer; the decoder's
    // own allocation cap stays as a second line.
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_alloc);
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| UploadError::Unreadable(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w > max_side || h > max_side {
        return Err(UploadError::TooLarge(w, h, max_side));
    }
    if w == 0 || h == 0 {
        return Err(UploadError::Unreadable("the image is empty".into()));
    }
    Ok(Checked {
        decoder: Box::new(decoder),
        dimensions: (w, h),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(format: ImageFormat) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 10, 10]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    #[test]
    fn truncated_images_are_refused() {
        for f in [ImageFormat::Jpeg, ImageFormat::Png] {
            let full = encode(f);
            assert!(check(&full, 100, 1 << 20).is_ok(), "{f:?} whole");
            let cut = &full[..full.len() - 20];
            assert!(
                matches!(check(cut, 100, 1 << 20), Err(UploadError::Unreadable(_))),
                "{f:?} cut"
            );
        }
    }

    #[test]
    fn header_size_is_refused_before_decoding() {
        // A PNG header declaring 20000×20000 with almost no data: refused from the header.
        let mut png = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png, 20000, 20000);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::One);
            let mut w = enc.write_header().expect("header");
            let row = vec![0u8; 2500];
            let data: Vec<u8> = row.iter().cycle().take(2500 * 20000).copied().collect();
            w.write_image_data(&data).expect("data");
        }
        assert!(png.len() < 200 * 1024, "{} bytes", png.len());
        assert_eq!(
            check(&png, 4096, 1 << 26).err(),
            Some(UploadError::TooLarge(20000, 20000, 4096))
        );
    }
}
