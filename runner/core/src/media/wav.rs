//! inference-perf's synthetic audio: silent 16-bit mono PCM WAV at 16 kHz, as long as asked
//! (its payload size follows the clip's length, not its content), and the length of a WAV read
//! back from its header (the simulator's prompt accounting).

/// inference-perf's sample rate for synthetic audio.
pub const SAMPLE_RATE: u32 = 16_000;
const CHANNELS: u16 = 1;
const BYTES_PER_SAMPLE: u16 = 2;
/// RIFF header, `fmt ` chunk and `data` chunk header.
const HEADER_BYTES: usize = 44;

/// A silent clip of `seconds` (at least one sample, the count rounded as inference-perf rounds it).
pub fn silent(seconds: f64) -> Vec<u8> {
    let samples = ((seconds * f64::from(SAMPLE_RATE)).round() as usize).max(1);
    let data_len = samples * usize::from(BYTES_PER_SAMPLE);
    let byte_rate = SAMPLE_RATE * u32::from(CHANNELS) * u32::from(BYTES_PER_SAMPLE);
    let mut out = Vec::with_capacity(HEADER_BYTES + data_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&((HEADER_BYTES - 8 + data_len) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&CHANNELS.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&(CHANNELS * BYTES_PER_SAMPLE).to_le_bytes());
    out.extend_from_slice(&(8 * BYTES_PER_SAMPLE).to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    out.resize(HEADER_BYTES + data_len, 0);
    out
}

/// The length in seconds of PCM WAV bytes, from their `fmt ` and `data` chunk headers; `None`
/// for anything else. Chunks other than those two are skipped.
pub fn seconds(bytes: &[u8]) -> Option<f64> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let mut at = 12;
    let mut byte_rate = None;
    // Each step moves past one chunk, so the loop ends within the bytes.
    while at + 8 <= bytes.len() {
        let (id, len) = (&bytes[at..at + 4], u32_at(at + 4)? as usize);
        match id {
            b"fmt " => byte_rate = Some(u32_at(at + 16)?).filter(|&r| r > 0),
            b"data" => return Some(len as f64 / f64::from(byte_rate?)),
            _ => {}
        }
        // Chunks are padded to an even length.
        at = at.checked_add(8 + len + (len & 1))?;
    }
    None
}

/// Base64 characters decoded to read a WAV's length: its `fmt ` and `data` chunk headers come
/// first, after any short metadata chunks.
const HEADER_BASE64_CHARS: usize = 4096;

/// The length in seconds of the base64 WAV `data`, from its header alone.
pub fn seconds_base64(data: &str) -> Option<f64> {
    seconds(&super::base64_head(data, HEADER_BASE64_CHARS)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_has_a_valid_header_and_the_asked_length() {
        let clip = silent(2.5);
        assert_eq!(&clip[..4], b"RIFF");
        assert_eq!(&clip[8..16], b"WAVEfmt ");
        assert_eq!(clip.len(), 44 + 2 * 40_000);
        assert_eq!(
            u32::from_le_bytes(clip[4..8].try_into().unwrap()) as usize,
            clip.len() - 8
        );
        assert_eq!(u16::from_le_bytes([clip[22], clip[23]]), 1, "mono");
        assert_eq!(u32::from_le_bytes(clip[24..28].try_into().unwrap()), 16_000);
        assert_eq!(
            u16::from_le_bytes([clip[34], clip[35]]),
            16,
            "bits per sample"
        );
        assert!(clip[44..].iter().all(|&b| b == 0), "silent");
        assert_eq!(seconds(&clip), Some(2.5));
        // inference-perf's rounding, and at least one sample.
        assert_eq!(silent(0.00001).len(), 46);
        assert_eq!(seconds(&silent(0.1)), Some(0.1));
    }

    #[test]
    fn other_bytes_have_no_length() {
        assert_eq!(seconds(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(seconds(b"not a wav file at all"), None);
        let mut no_fmt = silent(1.0);
        no_fmt[12..16].copy_from_slice(b"junk");
        assert_eq!(seconds(&no_fmt), None, "no fmt chunk before data");
        assert_eq!(seconds(&silent(1.0)[..20]), None, "truncated");
        let long = super::super::base64(&silent(60.0));
        assert!(long.len() > HEADER_BASE64_CHARS);
        assert_eq!(seconds_base64(&long), Some(60.0), "read from the header");
        assert_eq!(seconds_base64("!!!!"), None);
    }
}
