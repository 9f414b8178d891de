//! Images as requests carry them: synthetic ones (inference-perf's solid-colour PNG or JPEG of
//! a configured size), `data:` URLs, and the size and format read from encoded bytes (dataset
//! images, and the simulator's prompt accounting). Audio is in [`wav`], MP4 video in [`mp4`].

pub mod mp4;
pub mod wav;

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::{ImageFormat, ImageOutputFormat, RgbImage};

/// inference-perf's JPEG quality for synthetic images.
const JPEG_QUALITY: u8 = 75;

/// An image's wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Png,
    Jpeg,
    Webp,
}

impl Encoding {
    pub fn mime_type(self) -> &'static str {
        match self {
            Encoding::Png => "image/png",
            Encoding::Jpeg => "image/jpeg",
            Encoding::Webp => "image/webp",
        }
    }
}

/// What encoded image bytes are: their encoding and size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub encoding: Encoding,
    pub width: u32,
    pub height: u32,
}

/// A `width`×`height` image of the single colour `rgb`, encoded (as inference-perf draws its
/// synthetic images: the size of the payload follows the size of the image, not its content).
pub fn solid(width: u32, height: u32, rgb: [u8; 3], encoding: Encoding) -> Vec<u8> {
    let image = RgbImage::from_pixel(width, height, image::Rgb(rgb));
    let format = match encoding {
        Encoding::Png => ImageOutputFormat::Png,
        Encoding::Jpeg => ImageOutputFormat::Jpeg(JPEG_QUALITY),
        Encoding::Webp => unreachable!("synthetic images are PNG or JPEG"),
    };
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .expect("encoding an image in memory cannot fail");
    out.into_inner()
}

/// The `data:` URL carrying `bytes` base64-encoded.
pub fn data_url(encoding: Encoding, bytes: &[u8]) -> String {
    format!("data:{};base64,{}", encoding.mime_type(), base64(bytes))
}

/// `bytes` in standard base64, as media travel in JSON bodies.
pub fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The encoding and size of PNG, JPEG or WebP bytes, read from their header; `None` for
/// anything else or bytes that are not a readable image.
pub fn probe(bytes: &[u8]) -> Option<Probe> {
    let format = image::guess_format(bytes).ok()?;
    let encoding = match format {
        ImageFormat::Png => Encoding::Png,
        ImageFormat::Jpeg => Encoding::Jpeg,
        ImageFormat::WebP => Encoding::Webp,
        _ => return None,
    };
    let (width, height) = image::io::Reader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .ok()?;
    Some(Probe {
        encoding,
        width,
        height,
    })
}

/// Base64 characters decoded to read an image's size: PNG's and WebP's header is at the start,
/// a JPEG's frame header after its tables and metadata.
const HEADER_BASE64_CHARS: usize = 1 << 16;

/// What the base64 image `data` is, from its header alone.
pub fn probe_base64(data: &str) -> Option<Probe> {
    probe(&base64_head(data, HEADER_BASE64_CHARS)?)
}

/// The bytes of the first `chars` (a multiple of 4) characters of base64 `data`.
fn base64_head(data: &str, chars: usize) -> Option<Vec<u8>> {
    STANDARD.decode(data.get(..data.len().min(chars))?).ok()
}

/// What the image of a base64 `data:` URL is (`None` for other URLs and unreadable images).
pub fn probe_data_url(url: &str) -> Option<Probe> {
    let (head, payload) = url.strip_prefix("data:")?.split_once(',')?;
    head.ends_with(";base64")
        .then(|| probe_base64(payload))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_images_have_the_asked_size_and_encoding() {
        for encoding in [Encoding::Png, Encoding::Jpeg] {
            let bytes = solid(64, 48, [10, 200, 30], encoding);
            assert_eq!(
                probe(&bytes),
                Some(Probe {
                    encoding,
                    width: 64,
                    height: 48
                })
            );
            let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
            assert_eq!(decoded.dimensions(), (64, 48));
            // JPEG is lossy: the colour comes back close, not exact.
            let pixel = decoded.get_pixel(13, 7).0;
            for (got, want) in pixel.iter().zip([10u8, 200, 30]) {
                assert!(got.abs_diff(want) <= 4, "{encoding:?}: {pixel:?}");
            }
        }
        let size = solid(512, 512, [0, 0, 0], Encoding::Png).len();
        assert!(size < 16384, "{size}");
    }

    #[test]
    fn data_urls_are_read_from_their_header_and_others_are_refused() {
        let bytes = solid(3, 2, [1, 2, 3], Encoding::Png);
        let url = data_url(Encoding::Png, &bytes);
        assert!(url.starts_with("data:image/png;base64,iVBOR"), "{url}");
        let png = Some(Probe {
            encoding: Encoding::Png,
            width: 3,
            height: 2,
        });
        assert_eq!(probe_data_url(&url), png);
        // A large image is read from its first bytes only.
        let big = solid(4000, 3000, [0, 0, 0], Encoding::Jpeg);
        let url = data_url(Encoding::Jpeg, &big);
        assert!(url.len() > HEADER_BASE64_CHARS, "{}", url.len());
        assert_eq!(
            probe_data_url(&url).map(|p| (p.width, p.height)),
            Some((4000, 3000))
        );
        assert_eq!(probe_data_url("https://example.com/a.png"), None);
        assert_eq!(probe_data_url("data:image/png,raw"), None);
        assert_eq!(probe_data_url("data:image/png;base64,!!!!"), None);
        assert_eq!(probe(b"GIF89a not ours"), None);
        assert_eq!(probe(b"\x89PNG\r\n\x1a\ntruncated"), None);
    }
}
