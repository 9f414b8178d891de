//! `data.multimodal`: synthetic images in `synthetic` chat prompts, with inference-perf 0.7.0's
//! keys (`SyntheticMultimodalDatagenConfig`; its `video` and `audio` are refused as not
//! supported yet), and the rules that keep a run from sending what the user did not mean.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::distribution::Distribution;
use super::error::Issue;
use super::types::{ApiType, Config, DataType};
use super::validate::{Sampler, distribution};

/// Larger sides would make one image hundreds of megabytes before encoding.
pub const MAX_IMAGE_SIDE: i64 = 16384;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultimodalConfig {
    /// Synthetic images attached to each prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageConfig>,
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

/// inference-perf's `ImageRepresentation` for synthetic images (its `webp` is for dataset
/// bytes passed through; see the unsupported values in `keys.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ImageRepresentation {
    /// Lossless.
    #[default]
    #[serde(rename = "png")]
    Png,
    /// Lossy, smaller.
    #[serde(rename = "jpeg")]
    Jpeg,
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

fn insertion_point_within_bounds(point: f64, path: &str, issues: &mut Vec<Issue>) {
    if !(0.0..=1.0).contains(&point) {
        issues.push(Issue::new(
            path,
            format!("must be within [0, 1] (0: before the text, 1: after it), got {point}"),
        ));
    }
}

fn chat_only(data_type: &str, issues: &mut Vec<Issue>) {
    issues.push(Issue::new(
        "api.type",
        format!("{data_type} sends images as chat content parts (inference-perf's generator speaks chat only); set api.type: chat"),
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
    let Some(multimodal) = &config.data.multimodal else {
        return;
    };
    match config.data.data_type {
        DataType::Synthetic => {}
        DataType::SharedPrefix => issues.push(Issue::new(
            "data.multimodal",
            "images in shared_prefix prompts are not supported yet; use data.type synthetic or remove it",
        )),
        _ => issues.push(Issue::new(
            "data.multimodal",
            "used by data.type synthetic only (inference-perf ignores it elsewhere); set data.type: synthetic or remove it",
        )),
    }
    if config.api.api_type != ApiType::Chat {
        chat_only("data.multimodal", issues);
    }
    let Some(image) = &multimodal.image else {
        return;
    };
    let at = |field: &str| format!("data.multimodal.image.{field}");
    if let Some(count) = &image.count {
        distribution(count, &at("count"), Sampler::Sample, issues);
    }
    if let Some(point) = image.insertion_point {
        insertion_point_within_bounds(point, &at("insertion_point"), issues);
    }
    if let Some(list) = &image.resolutions {
        if list.is_empty() {
            issues.push(Issue::new(
                at("resolutions"),
                "lists no resolution; give at least one or remove it for 512×512",
            ));
        }
        for (i, weighted) in list.iter().enumerate() {
            let item = |field: &str| format!("{}[{i}].{field}", at("resolutions"));
            let Resolution { height, width } = weighted.resolution;
            for (side, value) in [("height", height), ("width", width)] {
                if !(1..=MAX_IMAGE_SIDE).contains(&value) {
                    issues.push(Issue::new(
                        item(&format!("resolution.{side}")),
                        format!("must be 1 to {MAX_IMAGE_SIDE} pixels, got {value}"),
                    ));
                }
            }
            if !(weighted.weight >= 0.0 && weighted.weight.is_finite()) {
                issues.push(Issue::new(
                    item("weight"),
                    format!("must be a finite number >= 0, got {}", weighted.weight),
                ));
            }
        }
        if !list.is_empty() && list.iter().all(|w| w.weight == 0.0) {
            issues.push(Issue::new(
                at("resolutions"),
                "every weight is 0; give at least one resolution a weight > 0",
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
