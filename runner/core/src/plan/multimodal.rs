//! `data.multimodal`: the images, videos and audio clips of each `synthetic` chat prompt, as
//! inference-perf 0.7.0 samples them (per kind a count per request; per item a size, frame
//! count or length by weight, and a place in the text), drawn from the seed and the request's
//! index alone. The encoded bytes come from a pool made once per distinct size (see
//! [`super::media_pool`]), never per request.

use std::sync::Arc;

use rand::RngExt;

use crate::config::{
    AudioConfig, ImageConfig, ImageRepresentation, MediaSection, MultimodalConfig, VideoConfig,
    VideoProfile, VideoRepresentation,
};
use crate::media::{self, Encoding};

use super::media_pool::{Encoded, Slots, VARIANTS, Weighted};
use super::request::{AudioPart, FramesPart, ImagePart, MediaPart, VideoPart};
use super::rng::{PlanRng, Purpose, rng_at};
use super::sampling::LengthSampler;

/// The media samplers of a `multimodal` section.
#[derive(Debug, Clone)]
pub(super) struct MediaSampler {
    image: Option<Sampler<ImageConfig>>,
    video: Option<Sampler<VideoConfig>>,
    audio: Option<Sampler<AudioConfig>>,
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
        MediaSampler {
            image: config.image.as_ref().map(|c| Sampler::new(c, variants)),
            video: config.video.as_ref().map(|c| Sampler::new(c, variants)),
            audio: config.audio.as_ref().map(|c| Sampler::new(c, variants)),
            variants,
        }
    }

    /// The media of request (or group) `index`, placed in `prompt` and ordered by place:
    /// images, videos and clips in the order inference-perf lists them, a stable sort by
    /// insertion point.
    pub(super) fn media(&self, seed: u64, index: u64, prompt: &str) -> Vec<MediaPart> {
        let mut placed: Vec<(f64, MediaPart)> = Vec::new();
        let item = (seed, index, self.variants, prompt);
        if let Some(s) = &self.image {
            s.items(item, &mut placed);
        }
        if let Some(s) = &self.video {
            s.items(item, &mut placed);
        }
        if let Some(s) = &self.audio {
            s.items(item, &mut placed);
        }
        placed.sort_by(|a, b| a.0.total_cmp(&b.0));
        placed.into_iter().map(|(_, part)| part).collect()
    }
}

/// A kind of media as the plan makes it: its section's settings, plus how one of its items is
/// encoded and sent.
trait Modality: MediaSection + Clone {
    /// The stream of a request's draws of this kind (and of its pool's colours).
    const PURPOSE: Purpose;
    /// Whether a choice's pooled encodings differ: silent clips of one length are one WAV.
    const VARIED: bool = true;
    /// An encoding of `choice`, in `colour` where it has one.
    fn encode(&self, choice: Self::Choice, colour: [u8; 3]) -> Encoded;
    /// The part of an item of `choice` at byte `at`, with as many pooled encodings from
    /// `encoded` as it carries.
    fn part(
        &self,
        at: usize,
        choice: Self::Choice,
        encoded: &mut dyn FnMut() -> Encoded,
    ) -> MediaPart;
}

/// One kind's sampler, as inference-perf samples it: per request a count; per item a choice by
/// weight, then a place in the text, then its pooled encodings.
#[derive(Debug, Clone)]
struct Sampler<M: Modality> {
    modality: M,
    /// `None`: none of the kind (inference-perf's unset `count`).
    count: Option<LengthSampler>,
    choices: Weighted<M::Choice>,
    /// Encodings kept per choice.
    per_choice: usize,
    pool: Slots,
}

impl<M: Modality> Sampler<M> {
    fn new(modality: &M, variants: Variants) -> Self {
        let choices = Weighted::new(modality.choices(), M::DEFAULT);
        let per_choice = if M::VARIED { variants.count() } else { 1 };
        Sampler {
            modality: modality.clone(),
            count: modality.placement().0.map(LengthSampler::for_shared_prefix),
            pool: Slots::new(choices.len() * per_choice),
            per_choice,
            choices,
        }
    }

    /// The items of request (or group) `index` placed in `prompt`, each with its insertion
    /// point, added to `placed`.
    fn items(
        &self,
        (seed, index, variants, prompt): (u64, u64, Variants, &str),
        placed: &mut Vec<(f64, MediaPart)>,
    ) {
        let Some(count) = &self.count else {
            return;
        };
        // A group's draws are not a request's: prefix and payload media vary independently.
        let side = variants.side();
        let draws = &mut rng_at(seed, M::PURPOSE, index, &[side]);
        for _ in 0..count.sample(draws) {
            let (choice_index, choice) = self.choices.pick(draws.random::<f64>());
            let (point, at) = self.place(draws, prompt);
            let mut encoded = || {
                let variant = if M::VARIED {
                    variants.pick(draws, index)
                } else {
                    0
                };
                let slot = choice_index * self.per_choice + variant;
                self.pool
                    .get(slot, || {
                        let path = [side, slot as u64];
                        let colour = rng_at(seed, Purpose::MediaPool, M::PURPOSE as u64, &path)
                            .random::<[u8; 3]>();
                        self.modality.encode(choice, colour)
                    })
                    .clone()
            };
            placed.push((point, self.modality.part(at, choice, &mut encoded)));
        }
    }

    /// An item's insertion point (clamped to [0, 1] as inference-perf clamps it) and its byte
    /// offset in `prompt`, drawn after the item's choice as inference-perf draws them.
    fn place(&self, draws: &mut PlanRng, prompt: &str) -> (f64, usize) {
        let point = (self.modality.placement().1)
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

/// A solid-colour image of `width`×`height` in `encoding`.
fn solid_image(width: i64, height: i64, colour: [u8; 3], encoding: Encoding) -> Encoded {
    let bytes = media::solid(width as u32, height as u32, colour, encoding);
    Encoded {
        text: Arc::from(media::data_url(encoding, &bytes)),
        bytes: bytes.len(),
    }
}

impl Modality for ImageConfig {
    const PURPOSE: Purpose = Purpose::Image;

    fn encode(&self, size: Self::Choice, colour: [u8; 3]) -> Encoded {
        // inference-perf 0.7.0 sends PNG for `webp` (its WebP passes dataset bytes through; it
        // encodes no WebP).
        let encoding = match self.representation {
            ImageRepresentation::Png | ImageRepresentation::Webp => Encoding::Png,
            ImageRepresentation::Jpeg => Encoding::Jpeg,
        };
        solid_image(size.width, size.height, colour, encoding)
    }

    fn part(
        &self,
        at: usize,
        size: Self::Choice,
        encoded: &mut dyn FnMut() -> Encoded,
    ) -> MediaPart {
        let Encoded { text, bytes } = encoded();
        MediaPart::Image(ImagePart {
            at,
            url: text,
            width: size.width as u32,
            height: size.height as u32,
            bytes,
        })
    }
}

impl Modality for VideoConfig {
    const PURPOSE: Purpose = Purpose::Video;

    /// An MP4, or one frame (frames of a video each draw their pooled variant).
    fn encode(&self, profile: VideoProfile, colour: [u8; 3]) -> Encoded {
        let size = profile.resolution;
        match self.representation {
            VideoRepresentation::Mp4 => {
                let bytes = media::mp4::solid(
                    size.width as u32,
                    size.height as u32,
                    profile.frames as u32,
                    colour,
                )
                .expect("validation keeps mp4 videos within what the encoder takes");
                Encoded {
                    text: Arc::from(format!("data:video/mp4;base64,{}", media::base64(&bytes))),
                    bytes: bytes.len(),
                }
            }
            VideoRepresentation::PngFrames => {
                solid_image(size.width, size.height, colour, Encoding::Png)
            }
            VideoRepresentation::JpegFrames => {
                solid_image(size.width, size.height, colour, Encoding::Jpeg)
            }
        }
    }

    fn part(
        &self,
        at: usize,
        profile: VideoProfile,
        encoded: &mut dyn FnMut() -> Encoded,
    ) -> MediaPart {
        // inference-perf records the asked size and frames, whatever the codec rounds.
        let (width, height) = (
            profile.resolution.width as u32,
            profile.resolution.height as u32,
        );
        if self.representation == VideoRepresentation::Mp4 {
            let Encoded { text, bytes } = encoded();
            return MediaPart::Video(VideoPart {
                at,
                url: text,
                width,
                height,
                frames: profile.frames as u32,
                bytes,
            });
        }
        let mut bytes = 0;
        let frames = (0..profile.frames)
            .map(|_| {
                let frame = encoded();
                bytes += frame.bytes;
                frame.text
            })
            .collect();
        MediaPart::Frames(FramesPart {
            at,
            frames,
            width,
            height,
            bytes,
        })
    }
}

impl Modality for AudioConfig {
    const PURPOSE: Purpose = Purpose::Audio;
    const VARIED: bool = false;

    fn encode(&self, seconds: f64, _silent: [u8; 3]) -> Encoded {
        let wav = media::wav::silent(seconds);
        Encoded {
            text: Arc::from(media::base64(&wav)),
            bytes: wav.len(),
        }
    }

    fn part(&self, at: usize, seconds: f64, encoded: &mut dyn FnMut() -> Encoded) -> MediaPart {
        let Encoded { text, bytes } = encoded();
        MediaPart::Audio(AudioPart {
            at,
            data: text,
            seconds,
            bytes,
        })
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
    fn mp4_videos_are_one_pooled_part_of_the_profile_drawn() {
        let s = sampler(
            "video: {count: {type: fixed, mean: 1, min: 1, max: 1}, profiles: {resolution: {height: 21, width: 33}, frames: 3}}",
        );
        let mut distinct = std::collections::HashSet::new();
        for index in 0..30 {
            let parts = s.media(4, index, "text");
            let [MediaPart::Video(video)] = parts.as_slice() else {
                panic!("not one mp4 video: {parts:?}")
            };
            // The asked size is recorded; the stream's sides are even.
            assert_eq!((video.width, video.height, video.frames), (33, 21, 3));
            let bytes = decode(video.url.strip_prefix("data:video/mp4;base64,").unwrap());
            assert_eq!(bytes.len(), video.bytes);
            let stream = media::mp4::probe(&bytes).unwrap();
            assert_eq!((stream.width, stream.height, stream.frames), (32, 20, 3));
            distinct.insert(video.url.as_ptr());
        }
        assert_eq!(distinct.len(), VARIANTS, "encoded once per pooled variant");
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
