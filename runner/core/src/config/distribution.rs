//! Token-length distributions, and lengths written as a plain integer or as a [`Distribution`]:
//! inference-perf accepts both for `shared_prefix` lengths. An integer `n` becomes the fixed distribution
//! `{type: fixed, min: n, max: n, mean: n, std_dev: 0}`, so that the rest of the program, the
//! serialised config and the JSON schema (and the CRD built from it, which cannot describe
//! "integer or object") only ever see the distribution form.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DistributionType {
    #[default]
    Normal,
    SkewNormal,
    Lognormal,
    Uniform,
    Poisson,
    Fixed,
}

/// A token-length distribution, clipped to `[min, max]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    #[serde(default = "default_dist_min")]
    pub min: i64,
    #[serde(default = "default_dist_max")]
    pub max: i64,
    #[serde(default = "default_dist_mean")]
    pub mean: f64,
    #[serde(default = "default_dist_std_dev")]
    pub std_dev: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
    #[serde(default, rename = "type")]
    pub dist_type: DistributionType,
    /// Alternative to `std_dev` (then set `std_dev: 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variance: Option<f64>,
    #[serde(default)]
    pub skew: f64,
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution {
            min: default_dist_min(),
            max: default_dist_max(),
            mean: default_dist_mean(),
            std_dev: default_dist_std_dev(),
            total_count: None,
            dist_type: DistributionType::default(),
            variance: None,
            skew: 0.0,
        }
    }
}

fn default_dist_min() -> i64 {
    10
}
fn default_dist_max() -> i64 {
    1024
}
fn default_dist_mean() -> f64 {
    512.0
}
fn default_dist_std_dev() -> f64 {
    200.0
}

/// The fixed distribution of exactly `tokens` tokens.
pub fn fixed(tokens: i64) -> Distribution {
    Distribution {
        min: tokens,
        max: tokens,
        mean: tokens as f64,
        std_dev: 0.0,
        total_count: None,
        dist_type: DistributionType::Fixed,
        variance: None,
        skew: 0.0,
    }
}

pub fn optional_int_or_distribution<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Distribution>, D::Error> {
    deserializer.deserialize_any(IntOrDistribution).map(Some)
}

struct IntOrDistribution;

impl<'de> Visitor<'de> for IntOrDistribution {
    type Value = Distribution;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a token count (integer) or a distribution {type, min, max, mean, std_dev}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Distribution, E> {
        i64::try_from(v)
            .map(fixed)
            .map_err(|_| E::custom(format!("token count {v} is too large")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Distribution, E> {
        Ok(fixed(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Distribution, E> {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            Ok(fixed(v as i64))
        } else {
            Err(E::custom(format!(
                "token count must be an integer, got {v}"
            )))
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Distribution, A::Error> {
        Distribution::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::SharedPrefixConfig;

    #[test]
    fn the_schema_shows_only_the_distribution_form() {
        let schema = serde_json::to_value(schemars::schema_for!(SharedPrefixConfig)).unwrap();
        let field = schema["properties"]["system_prompt_len"].to_string();
        assert!(
            field.contains("#/$defs/Distribution") && !field.contains("integer"),
            "{field}"
        );
    }

    #[test]
    fn integers_and_distributions_both_read_and_serialise_as_distributions() {
        let config: SharedPrefixConfig = serde_json::from_value(serde_json::json!({
            "system_prompt_len": 7,
            "question_len": {"type": "uniform", "min": 2, "max": 9},
        }))
        .unwrap();
        assert_eq!(config.system_prompt_len, Some(super::fixed(7)));
        assert_eq!(config.question_len.as_ref().unwrap().max, 9);
        assert!(config.output_len.is_none());
        let back: SharedPrefixConfig =
            serde_json::from_value(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(back, config);
        let typo = serde_json::from_value::<SharedPrefixConfig>(
            serde_json::json!({"question_len": {"mean": 5, "maxx": 9}}),
        );
        assert!(typo.unwrap_err().to_string().contains("maxx"));
    }
}
