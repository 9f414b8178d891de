//! `data.multimodal`: the images, videos and audio clips of each `synthetic` chat prompt, as
//! inference-perf 0.7.0 samples them (per kind a count per request; per item a size, frame
//! count or length by weight, and a place in the text), drawn from the seed and the request's
//! index alone. The encoded bytes come from a pool made once per distinct size (see
//! [`super::media_pool`]), never per request.

use std::sync::Arc;

use rand::RngExt;

use crate::config::{
    AudioConfig, Distribution, ImageConfig, ImageRepresentation, MultimodalConfig, Resolution,
    VideoConfig, VideoProfile, VideoRepresentation,
};
use crate::media::{self, Encoding};

use super::media_pool::{Encoded, Slots, VARIANTS, Weighted};
use super::request::{AudioPart, FramesPart, ImagePart, MediaPart};
use super::rng::{PlanRng, Purpose, rng_at};
use super::sampling::LengthSampler;

/// inference-perf's image size when `resolutions` is unset.
const DEFAULT_RESOLUTION: Resolution = Resolution {
    height: 512,
    width: 512,
};
/// inference-perf's video when `profiles` is unset.
const DEFAULT_PROFILE: VideoProfile = VideoProfile {
    resolution: DEFAULT_RESOLUTION,
    frames: 10,
};
/// inference-perf's clip length when `durations` is unset.
const DEFAULT_SECONDS: f64 = 1.0;

/// The media samplers of a `multimodal` section.
#[derive(Debug, Clone)]
pub(super) struct MediaSampler {
    image: Option<ImageSampler>,
    video: Option<VideoSampler>,
    audio: Option<AudioSampler>,
    variants: Variants,
}

/// How an item picks among its size's pooled encodings.
#[derive(Debug, Clone, Copy)]
enum Variants {
    /// One of [`VARIANTS`] at random.
    Drawn,
    /// Shared-prefix media: the group's own, one per group (`count` groups), so groups never
    /// share bytes (a server's cache would merge their prefixes) and a group's requests always
    /// do (inference-perf seeds a prefix's bytes by its group).
    PerGroup { count: usize },
}

impl Variants {
    /// Prefix and question media draw (and colour) apart.
    fn side(self) -> u64 {
        match self {
            Variants::Drawn => 0,
            Variants::PerGroup { .. } => 1,
        }
    }

    fn count(self) -> usize {
        match self {
            Variants::Drawn => VARIANTS,
            Variants::PerGroup { count } => count,
        }
    }

    /// The variant of an item of request (or group) `index`.
    fn pick(self, draws: &mut PlanRng, index: u64) -> usize {
        match self {
            Variants::Drawn => draws.random_range(0..VARIANTS),
            Variants::PerGroup { .. } => index as usize,
        }
    }
}

impl MediaSampler {
    /// Per-request media (`data.multimodal`).
    pub(super) fn new(config: &MultimodalConfig) -> Self {
        Self::with_variants(config, Variants::Drawn)
    }

    /// Media of each of `groups` shared prefixes (`data.shared_prefix.multimodal`), drawn with
    /// [`media`](Self::media) by group.
    pub(super) fn per_group(config: &MultimodalConfig, groups: usize) -> Self {
        Self::with_variants(config, Variants::PerGroup { count: groups })
    }

    fn with_variants(config: &MultimodalConfig, variants: Variants) -> Self {
        let pool = Pool {
            variants: variants.count(),
            side: variants.side(),
        };
        MediaSampler {
            image: config.image.as_ref().map(|c| ImageSampler::new(c, pool)),
            video: config.video.as_ref().map(|c| VideoSampler::new(c, pool)),
            audio: config.audio.as_ref().map(AudioSampler::new),
            variants,
        }
    }

    /// The media of request (or group) `index`, placed in `prompt` and ordered by place:
    /// images, videos and clips in the order inference-perf lists them, a stable sort by
    /// insertion point.
    pub(super) fn media(&self, seed: u64, index: u64, prompt: &str) -> Vec<MediaPart> {
        let mut placed: Vec<(f64, MediaPart)> = Vec::new();
        // A group's draws are not a request's: prefix and payload media vary independently.
        let side = self.variants.side();
        let variant = |draws: &mut PlanRng| self.variants.pick(draws, index);
        if let Some(s) = &self.image {
            let draws = &mut rng_at(seed, Purpose::Image, index, &[side]);
            s.placement.each(draws, |draws| {
                placed.push(s.image(seed, draws, prompt, variant))
            });
        }
        if let Some(s) = &self.video {
            let draws = &mut rng_at(seed, Purpose::Video, index, &[side]);
            s.placement.each(draws, |draws| {
                placed.push(s.video(seed, draws, prompt, variant))
            });
        }
        if let Some(s) = &self.audio {
            let draws = &mut rng_at(seed, Purpose::Audio, index, &[side]);
            s.placement
                .each(draws, |draws| placed.push(s.clip(draws, prompt)));
        }
        placed.sort_by(|a, b| a.0.total_cmp(&b.0));
        placed.into_iter().map(|(_, part)| part).collect()
    }
}

/// A kind's `count` and `insertion_point`.
#[derive(Debug, Clone)]
struct Placement {
    /// `None`: none of the kind (inference-perf's unset `count`).
    count: Option<LengthSampler>,
    insertion_point: Option<f64>,
}

impl Placement {
    fn new(count: Option<&Distribution>, insertion_point: Option<f64>) -> Self {
        Placement {
            count: count.map(LengthSampler::for_shared_prefix),
            insertion_point,
        }
    }

    /// Calls `item` once per item of the request `draws` are of.
    fn each(&self, draws: &mut PlanRng, mut item: impl FnMut(&mut PlanRng)) {
        let Some(count) = &self.count else {
            return;
        };
        for _ in 0..count.sample(draws) {
            item(draws);
        }
    }

    /// An item's insertion point (clamped to [0, 1] as inference-perf clamps it) and its byte
    /// offset in `prompt`, drawn after the item's size as inference-perf draws them.
    fn place(&self, draws: &mut PlanRng, prompt: &str) -> (f64, usize) {
        let point = self
            .insertion_point
            .unwrap_or_else(|| draws.random::<f64>())
            .clamp(0.0, 1.0);
        // inference-perf cuts the text at a character index.
        let char_index = (point * prompt.chars().count() as f64) as usize;
        let at = prompt
            .char_indices()
            .nth(char_index)
            .map_or(prompt.len(), |(byte, _)| byte);
        (point, at)
    }
}

/// How a sampler's encodings are pooled.
#[derive(Debug, Clone, Copy)]
struct Pool {
    /// Encodings per size.
    variants: usize,
    /// [`Variants::side`].
    side: u64,
}

/// A solid-colour image of `size` in `encoding`, its colour that of slot `slot` of the pool of
/// `kind` on `side`.
fn pooled_image(
    seed: u64,
    (kind, side): (u64, u64),
    slot: usize,
    size: Resolution,
    encoding: Encoding,
) -> Encoded {
    let rgb = rng_at(seed, Purpose::MediaPool, kind, &[side, slot as u64]).random::<[u8; 3]>();
    let bytes = media::solid(size.width as u32, size.height as u32, rgb, encoding);
    Encoded {
        text: Arc::from(media::data_url(encoding, &bytes)),
        bytes: bytes.len(),
    }
}

/// Pool kinds, so images and video frames of one size get different colours.
const IMAGE_POOL: u64 = 1;
const FRAME_POOL: u64 = 2;

/// The encoding images asked as `representation` are sent in: inference-perf 0.7.0 sends PNG
/// for `webp` (its WebP passes dataset bytes through; it encodes no WebP).
fn image_encoding(representation: ImageRepresentation) -> Encoding {
    match representation {
        ImageRepresentation::Png | ImageRepresentation::Webp => Encoding::Png,
        ImageRepresentation::Jpeg => Encoding::Jpeg,
    }
}

#[derive(Debug, Clone)]
struct ImageSampler {
    placement: Placement,
    sizes: Weighted<Resolution>,
    encoding: Encoding,
    layout: Pool,
    pool: Slots,
}

impl ImageSampler {
    fn new(config: &ImageConfig, layout: Pool) -> Self {
        let sizes = Weighted::new(
            config
                .resolutions
                .as_ref()
                .map(|list| list.iter().map(|w| (w.resolution, w.weight))),
            DEFAULT_RESOLUTION,
        );
        ImageSampler {
            placement: Placement::new(config.count.as_ref(), config.insertion_point),
            pool: Slots::new(sizes.len() * layout.variants),
            layout,
            sizes,
            encoding: image_encoding(config.representation),
        }
    }

    fn image(
        &self,
        seed: u64,
        draws: &mut PlanRng,
        prompt: &str,
        variant: impl Fn(&mut PlanRng) -> usize,
    ) -> (f64, MediaPart) {
        let (size_index, size) = self.sizes.pick(draws.random::<f64>());
        let (point, at) = self.placement.place(draws, prompt);
        let slot = size_index * self.layout.variants + variant(draws);
        let encoded = self.pool.get(slot, || {
            pooled_image(
                seed,
                (IMAGE_POOL, self.layout.side),
                slot,
                size,
                self.encoding,
            )
        });
        let part = ImagePart {
            at,
            url: encoded.text.clone(),
            width: size.width as u32,
            height: size.height as u32,
            bytes: encoded.bytes,
        };
        (point, MediaPart::Image(part))
    }
}

#[derive(Debug, Clone)]
struct VideoSampler {
    placement: Placement,
    profiles: Weighted<VideoProfile>,
    /// Of each frame.
    encoding: Encoding,
    layout: Pool,
    pool: Slots,
}

impl VideoSampler {
    fn new(config: &VideoConfig, layout: Pool) -> Self {
        let profiles = Weighted::new(
            config
                .profiles
                .as_ref()
                .map(|list| list.iter().map(|w| (w.profile, w.weight))),
            DEFAULT_PROFILE,
        );
        VideoSampler {
            placement: Placement::new(config.count.as_ref(), config.insertion_point),
            pool: Slots::new(profiles.len() * layout.variants),
            layout,
            profiles,
            encoding: match config.representation {
                VideoRepresentation::JpegFrames => Encoding::Jpeg,
                // Validation refuses mp4.
                VideoRepresentation::PngFrames | VideoRepresentation::Mp4 => Encoding::Png,
            },
        }
    }

    fn video(
        &self,
        seed: u64,
        draws: &mut PlanRng,
        prompt: &str,
        variant: impl Fn(&mut PlanRng) -> usize,
    ) -> (f64, MediaPart) {
        let (profile_index, profile) = self.profiles.pick(draws.random::<f64>());
        let (point, at) = self.placement.place(draws, prompt);
        let size = profile.resolution;
        let mut bytes = 0;
        let frames = (0..profile.frames)
            .map(|_| {
                let slot = profile_index * self.layout.variants + variant(draws);
                let encoded = self.pool.get(slot, || {
                    pooled_image(
                        seed,
                        (FRAME_POOL, self.layout.side),
                        slot,
                        size,
                        self.encoding,
                    )
                });
                bytes += encoded.bytes;
                encoded.text.clone()
            })
            .collect();
        let part = FramesPart {
            at,
            frames,
            width: size.width as u32,
            height: size.height as u32,
            bytes,
        };
        (point, MediaPart::Frames(part))
    }
}

#[derive(Debug, Clone)]
struct AudioSampler {
    placement: Placement,
    durations: Weighted<f64>,
    /// One per length: the clips are silent, so variants would be the same bytes.
    pool: Slots,
}

impl AudioSampler {
    fn new(config: &AudioConfig) -> Self {
        let durations = Weighted::new(
            config
                .durations
                .as_ref()
                .map(|list| list.iter().map(|w| (w.duration, w.weight))),
            DEFAULT_SECONDS,
        );
        AudioSampler {
            placement: Placement::new(config.count.as_ref(), config.insertion_point),
            pool: Slots::new(durations.len()),
            durations,
        }
    }

    fn clip(&self, draws: &mut PlanRng, prompt: &str) -> (f64, MediaPart) {
        let (index, seconds) = self.durations.pick(draws.random::<f64>());
        let (point, at) = self.placement.place(draws, prompt);
        let encoded = self.pool.get(index, || {
            let wav = media::wav::silent(seconds);
            Encoded {
                text: Arc::from(media::base64(&wav)),
                bytes: wav.len(),
            }
        });
        let part = AudioPart {
            at,
            data: encoded.text.clone(),
            seconds,
            bytes: encoded.bytes,
        };
        (point, MediaPart::Audio(part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::probe;
    use base64::Engine;

    fn sampler(yaml: &str) -> MediaSampler {
        MediaSampler::new(&serde_yaml::from_str(yaml).unwrap())
    }

    fn decode(base64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(base64)
            .unwrap()
    }

    fn images(parts: Vec<MediaPart>) -> Vec<ImagePart> {
        parts
            .into_iter()
            .map(|part| match part {
                MediaPart::Image(image) => image,
                other => panic!("not an image: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn no_count_means_no_media() {
        let s = sampler("{image: {resolutions: 360p}, video: {}, audio: {durations: 2}}");
        assert!(s.media(1, 0, "text").is_empty());
    }

    #[test]
    fn images_have_the_configured_count_size_encoding_and_place() {
        let s = sampler(
            "image: {count: {type: fixed, mean: 3, min: 3, max: 3}, resolutions: {height: 20, width: 30}, representation: jpeg, insertion_point: 0.5}",
        );
        let prompt = "abcdéfgh";
        let parts = images(s.media(7, 4, prompt));
        assert_eq!(parts.len(), 3);
        for image in &parts {
            // Character 4 of 8 is 'é', at byte 4.
            assert_eq!(image.at, 4);
            assert_eq!((image.width, image.height), (30, 20));
            let bytes = decode(image.url.strip_prefix("data:image/jpeg;base64,").unwrap());
            assert_eq!(bytes.len(), image.bytes);
            let p = probe(&bytes).unwrap();
            assert_eq!((p.encoding, p.width, p.height), (Encoding::Jpeg, 30, 20));
        }
        assert_eq!(
            parts,
            images(s.media(7, 4, prompt)),
            "same seed and index, same images"
        );
    }

    #[test]
    fn images_asked_as_webp_are_png_as_inference_perf_sends_them() {
        let s =
            sampler("image: {count: {type: fixed, mean: 1, min: 1, max: 1}, representation: webp}");
        let image = &images(s.media(1, 0, "text"))[0];
        let bytes = decode(image.url.strip_prefix("data:image/png;base64,").unwrap());
        let p = probe(&bytes).unwrap();
        assert_eq!((p.encoding, p.width, p.height), (Encoding::Png, 512, 512));
    }

    #[test]
    fn encodings_come_from_the_pool_not_per_request() {
        let s =
            sampler("image: {count: {type: fixed, mean: 2, min: 2, max: 2}, resolutions: 360p}");
        let mut distinct = std::collections::HashSet::new();
        for index in 0..50 {
            for image in images(s.media(5, index, "some text")) {
                distinct.insert(image.url.as_ptr());
            }
        }
        assert_eq!(
            distinct.len(),
            VARIANTS,
            "one encoding per pooled variant, shared"
        );
    }

    #[test]
    fn each_group_has_its_own_bytes_and_keeps_them() {
        let config: MultimodalConfig = serde_yaml::from_str(
            "image: {count: {type: fixed, mean: 1, min: 1, max: 1}, resolutions: {height: 16, width: 16}}",
        )
        .unwrap();
        let groups = MediaSampler::per_group(&config, 8);
        let urls: Vec<Arc<str>> = (0..8)
            .map(|group| images(groups.media(3, group, "prefix"))[0].url.clone())
            .collect();
        let distinct: std::collections::HashSet<&str> = urls.iter().map(|u| &**u).collect();
        assert_eq!(distinct.len(), 8, "one encoding per group");
        assert_eq!(images(groups.media(3, 5, "prefix"))[0].url, urls[5]);
    }

    #[test]
    fn counts_sizes_and_places_follow_the_config() {
        let s = sampler(
            "image: {count: {type: uniform, min: 0, max: 2}, resolutions: [{resolution: {height: 2, width: 2}, weight: 3}, {resolution: {height: 4, width: 4}, weight: 1}, {resolution: 360p, weight: 0}]}",
        );
        let prompt = "0123456789";
        let (mut counts, mut small, mut total) = ([0; 3], 0, 0);
        for index in 0..400 {
            let images = images(s.media(3, index, prompt));
            counts[images.len()] += 1;
            for image in &images {
                assert!(image.at <= prompt.len());
                assert_ne!(image.width, 640, "weight 0 is never drawn");
                small += usize::from(image.width == 2);
                total += 1;
            }
            assert!(images.windows(2).all(|w| w[0].at <= w[1].at));
        }
        // sample_from_distribution rounds uniform draws: 0 and 2 are half as likely as 1.
        assert!(counts.iter().all(|&c| c > 40), "{counts:?}");
        let share = small as f64 / total as f64;
        assert!((0.65..0.85).contains(&share), "{share}");
    }

    #[test]
    fn videos_are_their_frames_of_the_profile_drawn() {
        let s = sampler(
            "video: {count: {type: fixed, mean: 2, min: 2, max: 2}, representation: jpeg_frames, insertion_point: 1, profiles: [{profile: {resolution: {height: 24, width: 40}, frames: 3}, weight: 1}, {profile: {resolution: 360p, frames: 5}, weight: 1}]}",
        );
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..20 {
            let parts = s.media(2, index, "four");
            assert_eq!(parts.len(), 2);
            for part in parts {
                let MediaPart::Frames(video) = part else {
                    panic!("not a video: {part:?}")
                };
                assert_eq!(video.at, 4, "insertion_point 1: after the text");
                let mut bytes = 0;
                for frame in &video.frames {
                    let encoded = decode(frame.strip_prefix("data:image/jpeg;base64,").unwrap());
                    let p = probe(&encoded).unwrap();
                    assert_eq!((p.width, p.height), (video.width, video.height));
                    bytes += encoded.len();
                }
                assert_eq!(bytes, video.bytes);
                seen.insert((video.width, video.height, video.frames.len()));
            }
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            vec![(40, 24, 3), (640, 360, 5)]
        );
    }

    #[test]
    fn clips_are_wavs_of_the_drawn_length_and_kinds_are_ordered_by_place() {
        let s = sampler(
            "audio: {count: {type: fixed, mean: 1, min: 1, max: 1}, durations: [{duration: 0.5}, {duration: 2, weight: 0}], insertion_point: 0}\nimage: {count: {type: fixed, mean: 1, min: 1, max: 1}, resolutions: {height: 8, width: 8}, insertion_point: 1}",
        );
        let parts = s.media(1, 0, "text");
        assert_eq!(parts.len(), 2);
        let MediaPart::Audio(clip) = &parts[0] else {
            panic!("the clip, at 0, goes first: {parts:?}")
        };
        assert_eq!((clip.at, clip.seconds), (0, 0.5));
        let wav = decode(&clip.data);
        assert_eq!(wav.len(), clip.bytes);
        assert_eq!(media::wav::seconds(&wav), Some(0.5));
        assert!(matches!(&parts[1], MediaPart::Image(image) if image.at == 4));
    }
}
