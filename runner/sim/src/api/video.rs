//! Prompt tokens of MP4 videos (`video_url` parts), roughly as a vision-language model served
//! by vLLM counts them: each frame as an image of its size (see [`super::vision`]), so that a
//! video sent as `mp4` counts what the same video sent as `png_frames` does. The size and frame
//! count are read from the MP4's own H.264 track; a video given by http(s) URL is not fetched
//! and is refused.

use ibench_core::media::mp4::probe_data_url;

use super::vision::tiles;

/// A video the sim cannot read; the request is refused (400), as a model server refuses it.
#[derive(Debug, thiserror::Error)]
#[error("{0}: not a readable H.264 MP4 (a data:video/mp4;base64, URL)")]
pub(super) struct Unreadable(pub(super) &'static str);

/// Tokens of an OpenAI `video_url` part.
pub(super) fn url_tokens(url: &str) -> Result<usize, Unreadable> {
    let video = probe_data_url(url).ok_or(Unreadable("video_url.url"))?;
    Ok(video.frames as usize * tiles(video.width, video.height))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibench_core::media::{base64, mp4};

    #[test]
    fn a_video_counts_each_frame_as_an_image() {
        let bytes = mp4::solid(56, 29, 3, [9, 9, 9]).unwrap();
        let url = format!("data:video/mp4;base64,{}", base64(&bytes));
        // 3 frames of 56×28 (the encoder's even sides): 3 × (2 × 1) tiles.
        assert_eq!(url_tokens(&url).unwrap(), 6);
        assert!(url_tokens("https://example.com/a.mp4").is_err());
        assert!(url_tokens("data:video/mp4;base64,AAAA").is_err());
    }
}
