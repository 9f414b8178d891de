//! Prompt tokens of audio clips, roughly as an audio-language model served by vLLM counts them:
//! one token per 40 ms of sound (Qwen2-Audio's encoder frames pooled to 25 per second), the
//! length read from the WAV's own header.

use ibench_core::media::wav;

/// Tokens per second of audio.
pub(super) const TOKENS_PER_SECOND: f64 = 25.0;

/// A clip the sim cannot read; the request is refused (400), as a model server refuses it.
#[derive(Debug, thiserror::Error)]
#[error("input_audio: {0}")]
pub(super) struct Unreadable(&'static str);

impl Unreadable {
    /// An `input_audio` part without its `input_audio` object.
    pub(super) const MISSING: Unreadable = Unreadable("the part has no input_audio {data, format}");
}

/// Tokens of an OpenAI `input_audio` part.
pub(super) fn tokens(data: &str, format: &str) -> Result<usize, Unreadable> {
    if format != "wav" {
        return Err(Unreadable("format must be wav"));
    }
    let seconds =
        wav::seconds_base64(data).ok_or(Unreadable("data is not a readable base64 WAV"))?;
    Ok((seconds * TOKENS_PER_SECOND).ceil() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibench_core::media::base64;

    #[test]
    fn a_clip_counts_its_length() {
        let clip = base64(&wav::silent(2.0));
        assert_eq!(tokens(&clip, "wav").unwrap(), 50);
        assert_eq!(tokens(&base64(&wav::silent(0.01)), "wav").unwrap(), 1);
        assert!(tokens(&clip, "mp3").is_err());
        assert!(tokens("!!!!", "wav").is_err());
        assert!(tokens(&base64(b"not a wav"), "wav").is_err());
    }
}
