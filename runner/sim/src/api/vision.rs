//! Prompt tokens of images, roughly as a vision-language model served by vLLM counts them: one
//! token per 28×28-pixel tile (Qwen2-VL's 14-pixel patches merged 2×2), the size read from the
//! image's own header. An image given by URL is not fetched; it counts a fixed 576 tokens
//! (LLaVA-1.5's 24×24 patches).

use ibench_core::media::{Probe, probe_base64, probe_data_url};

/// Pixels per side of the tile one image token covers.
pub(super) const TILE_PIXELS: u32 = 28;
/// Tokens of an image given by an http(s) URL.
pub(super) const URL_IMAGE_TOKENS: usize = 576;

/// An image the sim cannot read; the request is refused (400), as a model server refuses it.
#[derive(Debug, thiserror::Error)]
#[error("{0}: not a readable PNG, JPEG or WebP image")]
pub(super) struct Unreadable(pub(super) &'static str);

/// Tokens of an OpenAI `image_url` part.
pub(super) fn url_tokens(url: &str) -> Result<usize, Unreadable> {
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(URL_IMAGE_TOKENS);
    }
    probe_data_url(url)
        .map(tokens)
        .ok_or(Unreadable("image_url.url"))
}

/// Tokens of an Anthropic `image` block with a base64 source.
pub(super) fn base64_tokens(data: &str) -> Result<usize, Unreadable> {
    probe_base64(data)
        .map(tokens)
        .ok_or(Unreadable("image.source.data"))
}

fn tokens(image: Probe) -> usize {
    tiles(image.width, image.height)
}

/// Tokens of one `width`×`height` picture (an image, or a video's frame).
pub(super) fn tiles(width: u32, height: u32) -> usize {
    (width.div_ceil(TILE_PIXELS) * height.div_ceil(TILE_PIXELS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibench_core::media::{Encoding, data_url, solid};

    #[test]
    fn an_image_counts_its_tiles() {
        let url = data_url(Encoding::Png, &solid(512, 300, [9, 9, 9], Encoding::Png));
        // ceil(512/28) × ceil(300/28) = 19 × 11
        assert_eq!(url_tokens(&url).unwrap(), 209);
        let payload = url.split_once(',').unwrap().1;
        assert_eq!(base64_tokens(payload).unwrap(), 209);
        assert_eq!(url_tokens("https://example.com/cat.png").unwrap(), 576);
        assert!(url_tokens("data:image/png;base64,AAAA").is_err());
        assert!(base64_tokens("not base64").is_err());
    }
}
