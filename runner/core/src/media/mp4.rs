//! Videos as inference-perf 0.7.0 sends `representation: mp4`: an H.264 stream (yuv420p, even
//! sides) in an MP4 container, every frame a solid colour a little brighter than the one
//! before (`generate_mp4_bytes`), encoded by OpenH264 and muxed by the `mp4` crate; and the
//! size and frame count read back from such bytes (the simulator's prompt accounting).

use std::io::Cursor;

use openh264::OpenH264API;
use openh264::encoder::{Encoder, EncoderConfig, FrameRate, FrameType, RateControlMode};
use openh264::formats::{RgbSliceU8, YUVBuffer};

use super::STANDARD;
use base64::Engine;

/// inference-perf's frame rate for synthetic videos.
pub const FPS: u32 = 10;
/// OpenH264 encodes at most 3840 pixels on the longer side and 2160 on the shorter, and at
/// least 16 on each.
pub const MAX_LONG_SIDE: u32 = 3840;
pub const MAX_SHORT_SIDE: u32 = 2160;
pub const MIN_SIDE: u32 = 16;
/// Track time units per second: a frame lasts `TIMESCALE / FPS` of them.
const TIMESCALE: u32 = 1000;

/// What went wrong making or reading a video.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("H.264 encoding failed: {0}")]
    Encode(#[from] openh264::Error),
    #[error("MP4 muxing failed: {0}")]
    Mux(#[from] ::mp4::Error),
    #[error("the encoder skipped frame {0} (a video must carry every frame)")]
    Skipped(u32),
    #[error("the encoder gave no sequence or picture parameter set")]
    NoParameterSets,
}

/// A side as H.264's 4:2:0 sampling needs it: even, at least 2 (inference-perf's `_round_even`).
pub fn even(side: u32) -> u32 {
    if side < 2 { 2 } else { side - side % 2 }
}

/// Whether OpenH264 encodes a `width`×`height` video (after rounding both to even sides).
pub fn encodable(width: u32, height: u32) -> bool {
    let (w, h) = (even(width), even(height));
    w.max(h) <= MAX_LONG_SIDE && w.min(h) <= MAX_SHORT_SIDE && w.min(h) >= MIN_SIDE
}

/// An MP4 of `frames` frames of `width`×`height` (rounded to even sides) at [`FPS`]: frame `i`
/// is `rgb` raised by `(7 i) mod 32` per channel, so that the codec cannot collapse the stream
/// to one picture.
pub fn solid(width: u32, height: u32, frames: u32, rgb: [u8; 3]) -> Result<Vec<u8>, VideoError> {
    let (w, h) = (even(width), even(height));
    let config = EncoderConfig::new()
        .max_frame_rate(FrameRate::from_hz(FPS as f32))
        // Rate control may drop frames to hit a bitrate; the frame count is what is measured.
        // With it off, OpenH264 has no bitrate to warn about not controlling.
        .rate_control_mode(RateControlMode::Off)
        .skip_frames(false)
        // One thread: the bytes depend on the seed alone, and workers share the cores.
        .num_threads(1);
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)?;
    let mut picture = vec![0u8; w as usize * h as usize * 3];
    let (mut sps, mut pps) = (None, None);
    let mut samples = Vec::with_capacity(frames as usize);
    for i in 0..frames {
        let offset = ((i * 7) % 32) as u8;
        let colour = rgb.map(|channel| channel.saturating_add(offset));
        for pixel in picture.chunks_exact_mut(3) {
            pixel.copy_from_slice(&colour);
        }
        let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(&picture, (w as usize, h as usize)));
        let stream = encoder.encode(&yuv)?;
        if matches!(stream.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Err(VideoError::Skipped(i));
        }
        // Annex B units to MP4's length-prefixed ones; the parameter sets go to the track's
        // `avcC` box instead.
        let mut sample = Vec::new();
        for layer in (0..stream.num_layers()).filter_map(|l| stream.layer(l)) {
            for nal in (0..layer.nal_count()).filter_map(|n| layer.nal_unit(n)) {
                let nal = strip_start_code(nal);
                match nal.first().map(|b| b & 0x1f) {
                    Some(7) => sps = Some(nal.to_vec()),
                    Some(8) => pps = Some(nal.to_vec()),
                    Some(_) => {
                        sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        sample.extend_from_slice(nal);
                    }
                    None => {}
                }
            }
        }
        samples.push((sample, stream.frame_type() == FrameType::IDR));
    }
    let (Some(seq_param_set), Some(pic_param_set)) = (sps, pps) else {
        return Err(VideoError::NoParameterSets);
    };
    mux(w, h, seq_param_set, pic_param_set, samples)
}

fn strip_start_code(nal: &[u8]) -> &[u8] {
    nal.strip_prefix(&[0, 0, 0, 1])
        .or_else(|| nal.strip_prefix(&[0, 0, 1]))
        .unwrap_or(nal)
}

fn mux(
    width: u32,
    height: u32,
    seq_param_set: Vec<u8>,
    pic_param_set: Vec<u8>,
    samples: Vec<(Vec<u8>, bool)>,
) -> Result<Vec<u8>, VideoError> {
    let brand = |name: &[u8; 4]| ::mp4::FourCC::from(*name);
    let config = ::mp4::Mp4Config {
        major_brand: brand(b"isom"),
        minor_version: 512,
        compatible_brands: vec![
            brand(b"isom"),
            brand(b"iso2"),
            brand(b"avc1"),
            brand(b"mp41"),
        ],
        timescale: TIMESCALE,
    };
    let mut writer = ::mp4::Mp4Writer::write_start(Cursor::new(Vec::new()), &config)?;
    writer.add_track(&::mp4::TrackConfig {
        track_type: ::mp4::TrackType::Video,
        timescale: TIMESCALE,
        language: "und".to_owned(),
        media_conf: ::mp4::MediaConfig::AvcConfig(::mp4::AvcConfig {
            // `encodable` sizes fit.
            width: width as u16,
            height: height as u16,
            seq_param_set,
            pic_param_set,
        }),
    })?;
    let duration = TIMESCALE / FPS;
    for (i, (bytes, is_sync)) in samples.into_iter().enumerate() {
        writer.write_sample(
            1,
            &::mp4::Mp4Sample {
                start_time: i as u64 * u64::from(duration),
                duration,
                rendering_offset: 0,
                is_sync,
                bytes: bytes.into(),
            },
        )?;
    }
    writer.write_end()?;
    Ok(writer.into_writer().into_inner())
}

/// What an MP4's H.264 track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoProbe {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
}

/// The first H.264 track of MP4 `bytes`; `None` for anything else.
pub fn probe(bytes: &[u8]) -> Option<VideoProbe> {
    let reader = ::mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64).ok()?;
    let track = reader
        .tracks()
        .values()
        .find(|t| matches!(t.media_type(), Ok(::mp4::MediaType::H264)))?;
    Some(VideoProbe {
        width: track.width().into(),
        height: track.height().into(),
        frames: track.sample_count(),
    })
}

/// What the MP4 of a base64 `data:video/mp4` URL is (`None` for other URLs and unreadable
/// videos). The whole video is decoded: its index (`moov`) may come after its frames.
pub fn probe_data_url(url: &str) -> Option<VideoProbe> {
    let payload = url.strip_prefix("data:video/mp4;base64,")?;
    probe(&STANDARD.decode(payload).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_video_has_its_even_size_and_every_frame() {
        let bytes = solid(33, 20, 7, [250, 10, 128]).unwrap();
        assert_eq!(
            probe(&bytes),
            Some(VideoProbe {
                width: 32,
                height: 20,
                frames: 7
            })
        );
        let url = format!("data:video/mp4;base64,{}", super::super::base64(&bytes));
        assert_eq!(probe_data_url(&url).map(|p| p.frames), Some(7));
        assert_eq!(
            probe(&solid(17, 16, 1, [0; 3]).unwrap()).map(|p| (p.width, p.height)),
            Some((16, 16)),
            "the smallest the encoder takes"
        );
        assert_eq!(probe(b"not a video"), None);
        assert_eq!(probe_data_url("data:image/png;base64,AAAA"), None);
    }

    #[test]
    fn sizes_past_the_encoder_are_refused_and_the_largest_encode() {
        assert!(encodable(3840, 2160) && encodable(2161, 3841));
        assert!(!encodable(3842, 2160) && !encodable(2162, 2162));
        assert!(encodable(17, 16) && !encodable(16, 15) && !encodable(2, 2));
        let bytes = solid(2160, 3840, 2, [1, 2, 3]).unwrap();
        assert_eq!(
            probe(&bytes).map(|p| (p.width, p.height, p.frames)),
            Some((2160, 3840, 2))
        );
    }
}
