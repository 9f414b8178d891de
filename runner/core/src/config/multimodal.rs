//! `data.multimodal` and `data.shared_prefix.multimodal`: synthetic images, videos and audio
//! clips in `synthetic` and `shared_prefix` chat prompts, with inference-perf 0.7.0's keys
//! (`SyntheticMultimodalDatagenConfig`), and the rules that keep a run from sending what the
//! user did not mean.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::distribution::Distribution;
use super::error::Issue;
use super::types::{ApiType, Config, DataType};
use super::validate::{Sampler, distribution};
use crate::media::mp4;

/// Larger sides would make one image hundreds of megabytes before encoding.
pub const MAX_IMAGE_SIDE: i64 = 16384;
/// More frames would make one request's body gigabytes at the larger frame sizes.
pub const MAX_VIDEO_FRAMES: i64 = 4096;
/// An hour of inference-perf's 16 kHz 16-bit mono audio is 115 MB before base64.
pub const MAX_AUDIO_SECONDS: f64 = 3600.0;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultimodalConfig {
    /// Synthetic images attached to each prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageConfig>,
    /// Synthetic videos attached to each prompt, sent as frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoConfig>,
    /// Synthetic audio clips attached to each prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoConfig {
    /// Videos per request (none when unset), sampled per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Distribution>,
    /// Where each video goes in the prompt text: 0 (before it) to 1 (after it); a uniformly
    /// random place per video when unset.
    #[serde(
        default,
        deserialize_with = "insertion_point",
        skip_serializing_if = "Option::is_none"
    )]
    pub insertion_point: Option<f64>,
    /// The frame sizes and frame counts videos are drawn from, by weight (default 512×512, 10
    /// frames). A single `{resolution, frames}` is read too.
    #[serde(
        default,
        deserialize_with = "profiles",
        skip_serializing_if = "Option::is_none"
    )]
    pub profiles: Option<Vec<WeightedVideoProfile>>,
    /// Wire format: `mp4` (one `video_url` part of H.264 in MP4, the default) or `png_frames`
    /// or `jpeg_frames` (each frame an `image_url` part at the video's place).
    #[serde(default)]
    pub representation: VideoRepresentation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedVideoProfile {
    pub profile: VideoProfile,
    /// Relative frequency of this profile.
    #[serde(default = "one")]
    pub weight: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoProfile {
    /// `{height, width}` of each frame, or a preset name.
    #[serde(deserialize_with = "resolution")]
    pub resolution: Resolution,
    /// Frames per video.
    pub frames: i64,
}

/// inference-perf's `VideoRepresentation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum VideoRepresentation {
    /// One `video_url` part carrying an H.264 MP4 (inference-perf's default).
    #[default]
    #[serde(rename = "mp4")]
    Mp4,
    /// `frames` PNG `image_url` parts.
    #[serde(rename = "png_frames")]
    PngFrames,
    /// `frames` JPEG `image_url` parts.
    #[serde(rename = "jpeg_frames")]
    JpegFrames,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioConfig {
    /// Audio clips per request (none when unset), sampled per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Distribution>,
    /// Where each clip goes in the prompt text: 0 (before it) to 1 (after it); a uniformly
    /// random place per clip when unset.
    #[serde(
        default,
        deserialize_with = "insertion_point",
        skip_serializing_if = "Option::is_none"
    )]
    pub insertion_point: Option<f64>,
    /// The clip lengths in seconds, by weight (default 1 s). A single number is read too.
    #[serde(
        default,
        deserialize_with = "durations",
        skip_serializing_if = "Option::is_none"
    )]
    pub durations: Option<Vec<WeightedDuration>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedDuration {
    /// Seconds.
    pub duration: f64,
    /// Relative frequency of this length.
    #[serde(default = "one")]
    pub weight: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// Images per request (none when unset), sampled per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Distribution>,
    /// Where each image goes in the prompt text: 0 (before it) to 1 (after it); a uniformly
    /// random place per image when unset.
    #[serde(
        default,
        deserialize_with = "insertion_point",
        skip_serializing_if = "Option::is_none"
    )]
    pub insertion_point: Option<f64>,
    /// The sizes images are drawn from, by weight (default 512×512). inference-perf's preset
    /// names (`4k`, `1080p`, `720p`, `360p`), a single `{height, width}` and a single preset
    /// are read too.
    #[serde(
        default,
        deserialize_with = "resolutions",
        skip_serializing_if = "Option::is_none"
    )]
    pub resolutions: Option<Vec<WeightedResolution>>,
    /// Wire encoding of the images.
    #[serde(default)]
    pub representation: ImageRepresentation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedResolution {
    /// `{height, width}`, or a preset name.
    #[serde(deserialize_with = "resolution")]
    pub resolution: Resolution,
    /// Relative frequency of this size.
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    pub height: i64,
    pub width: i64,
}

impl Resolution {
    /// inference-perf's `ResolutionPreset`s.
    fn preset(name: &str) -> Option<Self> {
        let (width, height) = match name {
            "4k" => (3840, 2160),
            "1080p" => (1920, 1080),
            "720p" => (1280, 720),
            "360p" => (640, 360),
            _ => return None,
        };
        Some(Resolution { height, width })
    }
}

/// inference-perf's `ImageRepresentation` for synthetic images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ImageRepresentation {
    /// Lossless.
    #[default]
    #[serde(rename = "png")]
    Png,
    /// Lossy, smaller.
    #[serde(rename = "jpeg")]
    Jpeg,
    /// Sent as PNG, as inference-perf 0.7.0 sends synthetic images asked as WebP (its WebP is
    /// for dataset bytes passed through).
    #[serde(rename = "webp")]
    Webp,
}

/// `data.visionarena`: inference-perf's settings of the VisionArena-Chat dataset, whose rows
/// come from `data.path` here (the hub is not reached: its `hf_*` keys are refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VisionArenaConfig {
    /// Usable rows read into the pool the requests cycle through.
    #[serde(default = "default_num_rows")]
    pub num_rows: i64,
    /// Images of a row sent with its prompt (the rest are dropped).
    #[serde(default = "default_max_images")]
    pub max_images_per_request: i64,
    /// Where the images go in the prompt text: 0 (before it, the default) to 1 (after it).
    #[serde(default, deserialize_with = "required_insertion_point")]
    pub insertion_point: f64,
}

impl Default for VisionArenaConfig {
    fn default() -> Self {
        VisionArenaConfig {
            num_rows: default_num_rows(),
            max_images_per_request: default_max_images(),
            insertion_point: 0.0,
        }
    }
}

fn default_num_rows() -> i64 {
    1000
}

fn default_max_images() -> i64 {
    1
}

fn required_insertion_point<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    insertion_point(d).map(Option::unwrap_or_default)
}

fn insertion_point<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct Point;
    impl<'de> Visitor<'de> for Point {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number from 0 (start of the prompt) to 1 (end)")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<f64, A::Error> {
            // inference-perf samples whole numbers from it, so only 0 or 1 can come out.
            Err(de::Error::custom(
                "a distribution of insertion points is not supported; give a number from 0 to 1, or leave it unset for a random place per image",
            ))
        }
    }
    d.deserialize_any(Point).map(Some)
}

/// A preset name or `{height, width}`.
struct ResolutionVisitor;

impl<'de> Visitor<'de> for ResolutionVisitor {
    type Value = Resolution;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a resolution: 4k, 1080p, 720p, 360p or {height, width}")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Resolution, E> {
        Resolution::preset(v).ok_or_else(|| {
            E::custom(format!(
                "unknown resolution preset {v:?} (expected 4k, 1080p, 720p, 360p or {{height, width}})"
            ))
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Resolution, A::Error> {
        Resolution::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

fn resolution<'de, D: Deserializer<'de>>(d: D) -> Result<Resolution, D::Error> {
    d.deserialize_any(ResolutionVisitor)
}

fn resolutions<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<WeightedResolution>>, D::Error> {
    struct Resolutions;
    impl<'de> Visitor<'de> for Resolutions {
        type Value = Vec<WeightedResolution>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a resolution (4k, 1080p, 720p, 360p or {height, width}) or a list of {resolution, weight}")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let resolution = ResolutionVisitor.visit_str(v)?;
            Ok(vec![WeightedResolution {
                resolution,
                weight: 1.0,
            }])
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let resolution = ResolutionVisitor.visit_map(map)?;
            Ok(vec![WeightedResolution {
                resolution,
                weight: 1.0,
            }])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(Resolutions).map(Some)
}

fn profiles<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<WeightedVideoProfile>>, D::Error> {
    struct Profiles;
    impl<'de> Visitor<'de> for Profiles {
        type Value = Vec<WeightedVideoProfile>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a video profile {resolution, frames} or a list of {profile, weight}")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let profile = VideoProfile::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(vec![WeightedVideoProfile {
                profile,
                weight: 1.0,
            }])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(Profiles).map(Some)
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<WeightedDuration>>, D::Error> {
    struct Durations;
    impl Durations {
        fn single(duration: f64) -> Vec<WeightedDuration> {
            vec![WeightedDuration {
                duration,
                weight: 1.0,
            }]
        }
    }
    impl<'de> Visitor<'de> for Durations {
        type Value = Vec<WeightedDuration>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration in seconds or a list of {duration, weight}")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Self::single(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Self::single(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Self::single(v as f64))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(Durations).map(Some)
}

fn insertion_point_within_bounds(point: f64, path: &str, issues: &mut Vec<Issue>) {
    if !(0.0..=1.0).contains(&point) {
        issues.push(Issue::new(
            path,
            format!("must be within [0, 1] (0: before the text, 1: after it), got {point}"),
        ));
    }
}

fn chat_only(what: &str, issues: &mut Vec<Issue>) {
    issues.push(Issue::new(
        "api.type",
        format!("{what} sends media as chat content parts (inference-perf's generator speaks chat only); set api.type: chat"),
    ));
}

/// `data.visionarena`, for `data.type: visionarena` (its `data.path` is checked with the
/// other dataset files).
pub(super) fn validate_vision_arena(config: &Config, issues: &mut Vec<Issue>) {
    let Some(arena) = &config.data.visionarena else {
        issues.push(Issue::new(
            "data.visionarena",
            "required by data.type visionarena (as in inference-perf), e.g. {num_rows: 1000, max_images_per_request: 1}",
        ));
        return;
    };
    let at = |field: &str| format!("data.visionarena.{field}");
    for (field, value) in [
        ("num_rows", arena.num_rows),
        ("max_images_per_request", arena.max_images_per_request),
    ] {
        if value < 1 {
            issues.push(Issue::new(at(field), format!("must be > 0, got {value}")));
        }
    }
    insertion_point_within_bounds(arena.insertion_point, &at("insertion_point"), issues);
    if config.api.api_type != ApiType::Chat {
        chat_only("data.type visionarena", issues);
    }
}

pub(super) fn validate(config: &Config, issues: &mut Vec<Issue>) {
    let data = &config.data;
    let shared = data
        .shared_prefix
        .as_ref()
        .filter(|_| data.data_type == DataType::SharedPrefix);
    let prefix = shared.and_then(|s| s.multimodal.as_ref());
    if data.multimodal.is_none() && prefix.is_none() {
        return;
    }
    if data.multimodal.is_some()
        && !matches!(data.data_type, DataType::Synthetic | DataType::SharedPrefix)
    {
        issues.push(Issue::new(
            "data.multimodal",
            "used by data.type synthetic and shared_prefix only (inference-perf ignores it elsewhere); set data.type: synthetic or remove it",
        ));
    }
    if config.api.api_type != ApiType::Chat {
        let what = if data.multimodal.is_some() {
            "data.multimodal"
        } else {
            "data.shared_prefix.multimodal"
        };
        chat_only(what, issues);
    }
    if shared.is_some_and(|s| s.enable_multi_turn_chat) {
        issues.push(Issue::new(
            "data.shared_prefix.enable_multi_turn_chat",
            "multi-turn conversations are text only (inference-perf refuses media with them); set it false or remove data.multimodal and data.shared_prefix.multimodal",
        ));
    }
    if let Some(multimodal) = &data.multimodal {
        validate_media(multimodal, "data.multimodal", issues);
    }
    if let Some(prefix) = prefix {
        validate_media(prefix, "data.shared_prefix.multimodal", issues);
    }
}

/// The media sections of `multimodal`, found at `base`.
fn validate_media(multimodal: &MultimodalConfig, base: &str, issues: &mut Vec<Issue>) {
    if let Some(image) = &multimodal.image {
        validate_section(image, &format!("{base}.image"), issues);
    }
    if let Some(video) = &multimodal.video {
        validate_section(video, &format!("{base}.video"), issues);
    }
    if let Some(audio) = &multimodal.audio {
        validate_section(audio, &format!("{base}.audio"), issues);
    }
}

/// What the image, video and audio sections share: how many items a request has, where they
/// go, and a weighted list of what an item is (a size, a video profile, a clip length). The
/// plan samples every section through it, and validation checks every section through it.
pub trait MediaSection {
    /// What an item is.
    type Choice: Copy + fmt::Debug;
    /// The weighted list's key, and each entry's key for its choice.
    const LIST: &'static str;
    const ITEM: &'static str;
    /// inference-perf's choice when the list is unset, and how to say it.
    const DEFAULT: Self::Choice;
    const DEFAULT_TEXT: &'static str;
    /// `count` (none of the kind when unset) and `insertion_point` (a random place per item
    /// when unset).
    fn placement(&self) -> (Option<&Distribution>, Option<f64>);
    /// The listed choices with their weights; `None` when the list is unset.
    fn choices(&self) -> Option<Vec<(Self::Choice, f64)>>;
    /// What is wrong with the listed `choice` found at `at`.
    fn check(&self, choice: Self::Choice, at: &str, issues: &mut Vec<Issue>);
}

/// inference-perf's image size when `resolutions` is unset.
const DEFAULT_RESOLUTION: Resolution = Resolution {
    height: 512,
    width: 512,
};

impl MediaSection for ImageConfig {
    type Choice = Resolution;
    const LIST: &'static str = "resolutions";
    const ITEM: &'static str = "resolution";
    const DEFAULT: Resolution = DEFAULT_RESOLUTION;
    const DEFAULT_TEXT: &'static str = "512×512";
    fn placement(&self) -> (Option<&Distribution>, Option<f64>) {
        (self.count.as_ref(), self.insertion_point)
    }
    fn choices(&self) -> Option<Vec<(Resolution, f64)>> {
        let list = self.resolutions.as_ref()?;
        Some(list.iter().map(|w| (w.resolution, w.weight)).collect())
    }
    fn check(&self, choice: Resolution, at: &str, issues: &mut Vec<Issue>) {
        resolution_within_bounds(choice, at, issues);
    }
}

impl MediaSection for VideoConfig {
    type Choice = VideoProfile;
    const LIST: &'static str = "profiles";
    const ITEM: &'static str = "profile";
    const DEFAULT: VideoProfile = VideoProfile {
        resolution: DEFAULT_RESOLUTION,
        frames: 10,
    };
    const DEFAULT_TEXT: &'static str = "512×512, 10 frames";
    fn placement(&self) -> (Option<&Distribution>, Option<f64>) {
        (self.count.as_ref(), self.insertion_point)
    }
    fn choices(&self) -> Option<Vec<(VideoProfile, f64)>> {
        let list = self.profiles.as_ref()?;
        Some(list.iter().map(|w| (w.profile, w.weight)).collect())
    }
    fn check(&self, profile: VideoProfile, at: &str, issues: &mut Vec<Issue>) {
        let resolution = format!("{at}.resolution");
        resolution_within_bounds(profile.resolution, &resolution, issues);
        let Resolution { height, width } = profile.resolution;
        let sides = (u32::try_from(width), u32::try_from(height));
        if self.representation == VideoRepresentation::Mp4
            && let (Ok(w @ 1..), Ok(h @ 1..)) = sides
            && !mp4::encodable(w, h)
        {
            issues.push(Issue::new(
                resolution,
                format!(
                    "{width}×{height} is not what the H.264 encoder takes: sides of {} to {} pixels, the shorter at most {}; use another resolution, or representation: png_frames or jpeg_frames",
                    mp4::MIN_SIDE,
                    mp4::MAX_LONG_SIDE,
                    mp4::MAX_SHORT_SIDE
                ),
            ));
        }
        if !(1..=MAX_VIDEO_FRAMES).contains(&profile.frames) {
            issues.push(Issue::new(
                format!("{at}.frames"),
                format!("must be 1 to {MAX_VIDEO_FRAMES}, got {}", profile.frames),
            ));
        }
    }
}

impl MediaSection for AudioConfig {
    type Choice = f64;
    const LIST: &'static str = "durations";
    const ITEM: &'static str = "duration";
    const DEFAULT: f64 = 1.0;
    const DEFAULT_TEXT: &'static str = "1 second";
    fn placement(&self) -> (Option<&Distribution>, Option<f64>) {
        (self.count.as_ref(), self.insertion_point)
    }
    fn choices(&self) -> Option<Vec<(f64, f64)>> {
        let list = self.durations.as_ref()?;
        Some(list.iter().map(|w| (w.duration, w.weight)).collect())
    }
    fn check(&self, seconds: f64, at: &str, issues: &mut Vec<Issue>) {
        if !(seconds > 0.0 && seconds <= MAX_AUDIO_SECONDS) {
            issues.push(Issue::new(
                at,
                format!(
                    "must be more than 0 and at most {MAX_AUDIO_SECONDS} seconds, got {seconds}"
                ),
            ));
        }
    }
}

/// A media section found at `at`: its count, its place and its weighted list.
fn validate_section<S: MediaSection>(section: &S, at: &str, issues: &mut Vec<Issue>) {
    let (count, point) = section.placement();
    if let Some(count) = count {
        distribution(count, &format!("{at}.count"), Sampler::Sample, issues);
    }
    if let Some(point) = point {
        insertion_point_within_bounds(point, &format!("{at}.insertion_point"), issues);
    }
    let Some(list) = section.choices() else {
        return;
    };
    let path = format!("{at}.{}", S::LIST);
    if list.is_empty() {
        issues.push(Issue::new(
            &path,
            format!(
                "lists nothing; give at least one or remove it for {}",
                S::DEFAULT_TEXT
            ),
        ));
        return;
    }
    for (i, &(choice, weight)) in list.iter().enumerate() {
        if !(weight >= 0.0 && weight.is_finite()) {
            issues.push(Issue::new(
                format!("{path}[{i}].weight"),
                format!("must be a finite number >= 0, got {weight}"),
            ));
        }
        section.check(choice, &format!("{path}[{i}].{}", S::ITEM), issues);
    }
    if list.iter().all(|&(_, weight)| weight == 0.0) {
        issues.push(Issue::new(
            path,
            "every weight is 0; give at least one a weight > 0",
        ));
    }
}

fn resolution_within_bounds(resolution: Resolution, at: &str, issues: &mut Vec<Issue>) {
    let Resolution { height, width } = resolution;
    for (side, value) in [("height", height), ("width", width)] {
        if !(1..=MAX_IMAGE_SIDE).contains(&value) {
            issues.push(Issue::new(
                format!("{at}.{side}"),
                format!("must be 1 to {MAX_IMAGE_SIDE} pixels, got {value}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(yaml: &str) -> Result<ImageConfig, String> {
        serde_yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn every_inference_perf_form_of_resolutions_reads() {
        let list = image(
            "resolutions: [{resolution: 1080p, weight: 3}, {resolution: {height: 10, width: 20}}]",
        )
        .unwrap()
        .resolutions
        .unwrap();
        assert_eq!(
            list,
            vec![
                WeightedResolution {
                    resolution: Resolution {
                        height: 1080,
                        width: 1920
                    },
                    weight: 3.0
                },
                WeightedResolution {
                    resolution: Resolution {
                        height: 10,
                        width: 20
                    },
                    weight: 1.0
                },
            ]
        );
        let single = |yaml: &str| image(yaml).unwrap().resolutions.unwrap();
        assert_eq!(single("resolutions: 360p")[0].resolution.width, 640);
        assert_eq!(
            single("resolutions: {height: 7, width: 9}")[0].resolution,
            Resolution {
                height: 7,
                width: 9
            }
        );
        let err = image("resolutions: 8k").unwrap_err();
        assert!(err.contains("unknown resolution preset \"8k\""), "{err}");
    }

    #[test]
    fn insertion_points_are_numbers_and_a_distribution_is_refused_with_the_fix() {
        assert_eq!(
            image("insertion_point: 1").unwrap().insertion_point,
            Some(1.0)
        );
        assert_eq!(
            image("insertion_point: 0.25").unwrap().insertion_point,
            Some(0.25)
        );
        let err = image("insertion_point: {type: uniform, min: 0, max: 1}").unwrap_err();
        assert!(err.contains("give a number from 0 to 1"), "{err}");
        assert_eq!(
            image("representation: jpeg").unwrap().representation,
            ImageRepresentation::Jpeg
        );
    }

    #[test]
    fn the_canonical_form_reads_back() {
        let config = image("count: {type: fixed, mean: 2, min: 2, max: 2}\nresolutions: 720p\ninsertion_point: 0.5").unwrap();
        let back: ImageConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }
}
