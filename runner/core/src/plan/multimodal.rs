//! `data.multimodal`: the images of each `synthetic` chat prompt, as inference-perf 0.7.0
//! samples them (a count per request; per image a size by weight, a place in the text and a
//! solid colour), drawn from the seed and the request's index alone.

use std::sync::Arc;

use rand::RngExt;

use crate::config::{ImageConfig, ImageRepresentation, Resolution};
use crate::media::{self, Encoding};

use super::request::ImagePart;
use super::rng::{Purpose, rng};
use super::sampling::LengthSampler;

/// inference-perf's size when `resolutions` is unset.
const DEFAULT_RESOLUTION: Resolution = Resolution {
    height: 512,
    width: 512,
};

#[derive(Debug, Clone)]
pub(super) struct ImageSampler {
    /// `None`: no images (inference-perf's unset `count`).
    count: Option<LengthSampler>,
    insertion_point: Option<f64>,
    /// Sizes with their cumulative weights.
    sizes: Vec<(Resolution, f64)>,
    encoding: Encoding,
}

impl ImageSampler {
    pub(super) fn new(config: &ImageConfig) -> Self {
        let mut total = 0.0;
        let sizes = match &config.resolutions {
            None => vec![(DEFAULT_RESOLUTION, 1.0)],
            Some(list) => list
                .iter()
                .map(|w| {
                    total += w.weight;
                    (w.resolution, total)
                })
                .collect(),
        };
        ImageSampler {
            count: config.count.as_ref().map(LengthSampler::for_shared_prefix),
            insertion_point: config.insertion_point,
            sizes,
            encoding: match config.representation {
                ImageRepresentation::Png => Encoding::Png,
                ImageRepresentation::Jpeg => Encoding::Jpeg,
            },
        }
    }

    /// The images of request `index`, placed in `prompt` and ordered by place.
    pub(super) fn images(&self, seed: u64, index: u64, prompt: &str) -> Vec<ImagePart> {
        let Some(count) = &self.count else {
            return Vec::new();
        };
        let draws = &mut rng(seed, Purpose::Image, index);
        let n = count.sample(draws);
        let chars = prompt.chars().count();
        let mut images: Vec<ImagePart> = (0..n)
            .map(|_| {
                let size = self.size(draws.random::<f64>());
                let point = self
                    .insertion_point
                    .unwrap_or_else(|| draws.random::<f64>());
                // inference-perf cuts the text at a character index.
                let char_index = (point * chars as f64) as usize;
                let at = prompt
                    .char_indices()
                    .nth(char_index)
                    .map_or(prompt.len(), |(byte, _)| byte);
                let rgb = draws.random::<[u8; 3]>();
                let (width, height) = (size.width as u32, size.height as u32);
                let bytes = media::solid(width, height, rgb, self.encoding);
                ImagePart {
                    at,
                    url: Arc::from(media::data_url(self.encoding, &bytes)),
                    width,
                    height,
                    bytes: bytes.len(),
                }
            })
            .collect();
        // Stable: images at the same place keep their drawing order, as in inference-perf.
        images.sort_by_key(|image| image.at);
        images
    }

    fn size(&self, unit: f64) -> Resolution {
        let total = self.sizes.last().map_or(0.0, |(_, c)| *c);
        let target = unit * total;
        self.sizes
            .iter()
            .find(|(_, cumulative)| target < *cumulative)
            .or(self.sizes.last())
            .map_or(DEFAULT_RESOLUTION, |(size, _)| *size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::probe;

    fn sampler(yaml: &str) -> ImageSampler {
        ImageSampler::new(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn no_count_means_no_images() {
        assert!(sampler("resolutions: 360p").images(1, 0, "text").is_empty());
    }

    #[test]
    fn images_have_the_configured_count_size_encoding_and_place() {
        let s = sampler(
            "count: {type: fixed, mean: 3, min: 3, max: 3}\nresolutions: {height: 20, width: 30}\nrepresentation: jpeg\ninsertion_point: 0.5",
        );
        let prompt = "abcdéfgh";
        let images = s.images(7, 4, prompt);
        assert_eq!(images.len(), 3);
        for image in &images {
            // Character 4 of 8 is 'é', at byte 4.
            assert_eq!(image.at, 4);
            assert_eq!((image.width, image.height), (30, 20));
            use base64::Engine;
            let payload = image.url.strip_prefix("data:image/jpeg;base64,").unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(payload)
                .unwrap();
            assert_eq!(bytes.len(), image.bytes);
            let p = probe(&bytes).unwrap();
            assert_eq!((p.encoding, p.width, p.height), (Encoding::Jpeg, 30, 20));
        }
        assert_eq!(
            images,
            s.images(7, 4, prompt),
            "same seed and index, same images"
        );
        assert_ne!(
            images,
            s.images(7, 5, prompt),
            "another request, other colours"
        );
    }

    #[test]
    fn counts_sizes_and_places_follow_the_config() {
        let s = sampler(
            "count: {type: uniform, min: 0, max: 2}\nresolutions: [{resolution: {height: 2, width: 2}, weight: 3}, {resolution: {height: 4, width: 4}, weight: 1}, {resolution: 360p, weight: 0}]",
        );
        let prompt = "0123456789";
        let (mut counts, mut small, mut total) = ([0; 3], 0, 0);
        for index in 0..400 {
            let images = s.images(3, index, prompt);
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
}
