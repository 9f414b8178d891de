//! What each request asks for: its prompt and output length, computed from the seed and the
//! request's index alone.

use std::sync::Arc;

use crate::config::{Config, DataType};
use crate::tokenize;

use super::rng::{Purpose, rng};
use super::sampling::LengthSampler;
use super::trace::TraceRow;

/// `max_tokens` when the data generator does not choose one (inference-perf's client default).
pub const DEFAULT_MAX_TOKENS: u32 = 30;

#[derive(Debug, Clone)]
pub enum DataPlan {
    /// `"1 2 3 {i}"` prompts.
    Mock,
    /// Random vocabulary words, lengths from distributions; `distinct` (`total_count`) bounds
    /// how many different requests there are.
    Random {
        input: LengthSampler,
        output: LengthSampler,
        distinct: Option<u64>,
    },
    /// Random words with lengths taken from trace rows, row `i mod rows`.
    TraceLengths { rows: Arc<[TraceRow]> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestData {
    pub prompt: String,
    pub max_tokens: u32,
}

impl DataPlan {
    /// `trace_rows` are the rows of `data.trace`, read once by the caller.
    pub fn new(config: &Config, trace_rows: Option<Arc<[TraceRow]>>) -> Self {
        let data = &config.data;
        match (data.data_type, trace_rows) {
            (DataType::Mock, _) => DataPlan::Mock,
            (DataType::Random, Some(rows)) => DataPlan::TraceLengths { rows },
            (DataType::Random, None) => {
                let sampler = |d: &Option<crate::config::Distribution>| {
                    LengthSampler::new(d.as_ref().expect("validated: distribution present"))
                };
                let distinct = data
                    .input_distribution
                    .as_ref()
                    .and_then(|d| d.total_count)
                    .map(|n| n as u64);
                DataPlan::Random {
                    input: sampler(&data.input_distribution),
                    output: sampler(&data.output_distribution),
                    distinct,
                }
            }
        }
    }

    pub fn request(&self, seed: u64, index: u64) -> RequestData {
        match self {
            DataPlan::Mock => RequestData {
                prompt: format!("1 2 3 {index}"),
                max_tokens: DEFAULT_MAX_TOKENS,
            },
            DataPlan::Random {
                input,
                output,
                distinct,
            } => {
                let index = distinct.map_or(index, |n| index % n);
                let input_tokens = input.sample(&mut rng(seed, Purpose::InputLength, index));
                let max_tokens = output.sample(&mut rng(seed, Purpose::OutputLength, index));
                RequestData {
                    prompt: random_prompt(seed, index, input_tokens),
                    max_tokens,
                }
            }
            DataPlan::TraceLengths { rows } => {
                let row = rows[(index % rows.len() as u64) as usize];
                RequestData {
                    prompt: random_prompt(seed, index, row.context_tokens),
                    max_tokens: row.generated_tokens,
                }
            }
        }
    }
}

fn random_prompt(seed: u64, index: u64, tokens: u32) -> String {
    let mut prompt = String::new();
    tokenize::push_random_words(
        &mut prompt,
        &mut rng(seed, Purpose::Prompt, index),
        tokens as usize,
    );
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Distribution;

    fn random_config(total_count: Option<i64>) -> Config {
        let mut config = Config::default();
        config.data.data_type = DataType::Random;
        config.data.input_distribution = Some(Distribution {
            min: 5,
            max: 50,
            mean: 20.0,
            std_dev: 5.0,
            total_count,
            ..Default::default()
        });
        config.data.output_distribution = Some(Distribution {
            min: 1,
            max: 9,
            mean: 5.0,
            std_dev: 2.0,
            ..Default::default()
        });
        config
    }

    #[test]
    fn random_prompts_have_their_sampled_length_and_are_reproducible() {
        let plan = DataPlan::new(&random_config(None), None);
        for i in 0..200 {
            let a = plan.request(3, i);
            assert_eq!(a, plan.request(3, i));
            let n = tokenize::count_tokens(&a.prompt);
            assert!(
                (5..=50).contains(&n) && (1..=9).contains(&a.max_tokens),
                "{n} {}",
                a.max_tokens
            );
        }
        assert_ne!(plan.request(3, 0), plan.request(4, 0));
    }

    #[test]
    fn total_count_bounds_distinct_requests() {
        let plan = DataPlan::new(&random_config(Some(3)), None);
        assert_eq!(plan.request(1, 1), plan.request(1, 4));
        assert_ne!(plan.request(1, 1), plan.request(1, 2));
    }

    #[test]
    fn trace_lengths_come_from_rows_in_order() {
        let rows: Arc<[TraceRow]> = vec![
            TraceRow {
                offset: 0.0,
                context_tokens: 7,
                generated_tokens: 3,
            },
            TraceRow {
                offset: 1.0,
                context_tokens: 11,
                generated_tokens: 2,
            },
        ]
        .into();
        let plan = DataPlan::new(&random_config(None), Some(rows));
        let second = plan.request(1, 1);
        assert_eq!(
            (tokenize::count_tokens(&second.prompt), second.max_tokens),
            (11, 2)
        );
        assert_eq!(tokenize::count_tokens(&plan.request(1, 2).prompt), 7);
    }
}
