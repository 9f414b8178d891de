//! What each request asks for: its prompt and output length, computed from the seed and the
//! request's index alone, so that any worker of any runner pod can compute request `i` itself.

use std::sync::Arc;

use crate::config::{
    ApiType, Config, DEFAULT_OUTPUT_LEN, DEFAULT_QUESTION_LEN, DEFAULT_SYSTEM_PROMPT_LEN, DataType,
    Distribution,
};
use crate::tokenize::{ChatTemplate, ChatTemplateError, Corpus, Tokenizer};

use super::conversation_replay::ConversationReplay;
use super::dataset::{Dataset, RemoteImage, VisionRow};
use super::multimodal::MediaSampler;
use super::request::{DEFAULT_MAX_TOKENS, MediaPart, RequestData, Round, UserSession};
use super::rng::{PlanRng, Purpose, rng};
use super::sampling::LengthSampler;
use super::sessions::{SessionError, Sessions, Wording};
use super::shard::Routing;
use super::share_gpt::SharePair;
use super::trace::TraceRow;

/// inference-perf's prompt length of multimodal requests when `data.input_distribution` is
/// unset.
const MULTIMODAL_PROMPT_LEN: i64 = 100;

/// The corpus of `synthetic` data when `data.corpus_file_path` is unset: Shakespeare's sonnets
/// (public domain; see `assets/corpus/README.md`), after inference-perf's instruction line.
pub const DEFAULT_CORPUS: &str = concat!(
    "Pick as many lines as you can from these poem lines:\n",
    include_str!("../../assets/corpus/sonnets.txt")
);

#[derive(Debug, Clone)]
pub struct DataPlan {
    seed: u64,
    tokenizer: Tokenizer,
    source: Source,
}

// One per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Source {
    /// `"{lead} {i}"` prompts, `i` from 1 in each stage (inference-perf's counter).
    Mock {
        lead: &'static str,
    },
    /// `random` and `synthetic`: a length pair per request and text of exactly that length.
    Generated {
        lengths: Lengths,
        text: Text,
    },
    SharedPrefix(SharedPrefix),
    /// Request `i` asks pair `i mod pairs` (`shareGPT` and the datasets of [`Dataset`]).
    Pairs(Arc<[SharePair]>),
    /// Request `i` is an event of a session (see [`Sessions::locate`]).
    Sessions(Arc<Sessions>),
    ConversationReplay(ConversationReplay),
    /// Request `i` asks row `i mod rows` (`visionarena`); `remote` are the distinct images
    /// the rows give by URL.
    VisionArena {
        rows: Arc<[VisionRow]>,
        remote: Arc<[RemoteImage]>,
    },
    /// `synthetic` with `data.multimodal`: random text of `input` tokens and its media.
    Multimodal {
        input: LengthSampler,
        media: MediaSampler,
    },
}

// One per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Lengths {
    /// From the distributions; `distinct` (`total_count`) bounds how many different requests
    /// there are.
    Sampled {
        input: LengthSampler,
        output: LengthSampler,
        distinct: Option<u64>,
    },
    /// Row `i mod rows` of `data.trace`; a Mooncake row's prompt is its blocks of
    /// `block_size` tokens.
    Trace {
        rows: Arc<[TraceRow]>,
        block_size: u32,
    },
}

#[derive(Debug, Clone)]
enum Text {
    /// Random vocabulary tokens.
    Random,
    /// Consecutive corpus tokens from a random position.
    Corpus(Arc<Corpus>),
    /// Random vocabulary tokens as the user message of the tokenizer's chat template, the
    /// length counting the whole templated prompt (`data.use_chat_template`).
    Templated(Arc<ChatTemplate>),
}

#[derive(Debug, Clone)]
struct SharedPrefix {
    /// One prefix per group, generated once.
    prefixes: Arc<[Arc<str>]>,
    /// Prompts (users) in all: groups × prompts per group. Prompt `k` belongs to group
    /// `k mod groups`, so consecutive requests visit the groups in turn.
    prompts: u64,
    question: LengthSampler,
    output: LengthSampler,
    multi_turn: bool,
    /// With media, the prefix and the question go as one user message, as inference-perf
    /// sends them.
    media: Option<SharedMedia>,
}

#[derive(Debug, Clone)]
struct SharedMedia {
    /// `data.shared_prefix.multimodal`, by group.
    prefix: Option<MediaSampler>,
    /// `data.multimodal`, by request.
    question: Option<MediaSampler>,
}

impl SharedPrefix {
    /// The user message of request `index` (of prompt `user`) asking `question`: the group's
    /// prefix with its media, a space, and the question with its own media, as inference-perf
    /// joins them (the question alone when the prefix is empty).
    fn with_media(
        &self,
        media: &SharedMedia,
        seed: u64,
        index: u64,
        user: u64,
        question: String,
    ) -> (String, Vec<MediaPart>) {
        let group = user % self.prefixes.len() as u64;
        let prefix = &*self.prefixes[group as usize];
        let mut parts = media
            .prefix
            .as_ref()
            .map_or_else(Vec::new, |s| s.media(seed, group, prefix));
        let (text, offset) = if prefix.is_empty() {
            (question, 0)
        } else {
            (format!("{prefix} {question}"), prefix.len() + 1)
        };
        if let Some(s) = &media.question {
            let asked = &text[offset..];
            parts.extend(s.media(seed, index, asked).into_iter().map(|mut part| {
                part.shift(offset);
                part
            }));
        }
        (text, parts)
    }

    /// inference-perf's `user_session_<n>` of user `user`, its sessions numbered group by group.
    fn session_id(&self, user: u64) -> String {
        let groups = self.prefixes.len() as u64;
        let per_group = self.prompts / groups;
        format!(
            "user_session_{}",
            per_group * (user % groups) + user / groups
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("data.corpus_file_path: cannot read {path}: {source}")]
    Corpus {
        path: String,
        source: std::io::Error,
    },
    #[error("data.corpus_file_path: {path} has no text")]
    EmptyCorpus { path: String },
    #[error(transparent)]
    ShareGpt(#[from] super::share_gpt::ShareGptError),
    #[error("{section}: {source}")]
    Sessions {
        section: &'static str,
        source: SessionError,
    },
    #[error(transparent)]
    Dataset(#[from] super::dataset::DatasetError),
    #[error(transparent)]
    ChatTemplate(#[from] ChatTemplateError),
    #[error(
        "data.use_chat_template: the minimum input length ({min}) must exceed the chat template overhead ({overhead} tokens): input lengths target the fully templated prompt"
    )]
    TemplateOverhead { min: u64, overhead: usize },
}

impl DataPlan {
    /// `trace_rows` are the rows of `data.trace`, read once by the caller.
    pub fn new(
        config: &Config,
        seed: u64,
        tokenizer: Tokenizer,
        trace_rows: Option<Arc<[TraceRow]>>,
    ) -> Result<Self, DataError> {
        let data = &config.data;
        let mut seed = seed;
        let source = match data.data_type {
            // inference-perf's mock prompts: digits for completions, words for chat.
            DataType::Mock => Source::Mock {
                lead: match config.api.api_type {
                    ApiType::Completion => "1 2 3",
                    ApiType::Chat | ApiType::AnthropicMessages => "mock prompt",
                },
            },
            DataType::Synthetic if data.multimodal.is_some() => Source::Multimodal {
                input: LengthSampler::for_shared_prefix(
                    &data
                        .input_distribution
                        .clone()
                        .unwrap_or_else(|| crate::config::fixed_length(MULTIMODAL_PROMPT_LEN)),
                ),
                media: MediaSampler::new(data.multimodal.as_ref().expect("matched: multimodal")),
            },
            DataType::Random | DataType::Synthetic => {
                let lengths = match trace_rows {
                    Some(rows) => Lengths::Trace {
                        rows,
                        block_size: data
                            .trace
                            .as_ref()
                            .expect("the rows are data.trace's")
                            .block_size(),
                    },
                    None => {
                        let sampler = |d: &Option<Distribution>| {
                            LengthSampler::new(d.as_ref().expect("validated: distribution present"))
                        };
                        Lengths::Sampled {
                            input: sampler(&data.input_distribution),
                            output: sampler(&data.output_distribution),
                            distinct: data
                                .input_distribution
                                .as_ref()
                                .and_then(|d| d.total_count)
                                .map(|n| n as u64),
                        }
                    }
                };
                let text = match data.data_type {
                    DataType::Synthetic => Text::Corpus(Arc::new(corpus(
                        &tokenizer,
                        data.corpus_file_path.as_deref(),
                    )?)),
                    _ if data.use_chat_template => {
                        Text::Templated(Arc::new(chat_template(config, &tokenizer, &lengths)?))
                    }
                    _ => Text::Random,
                };
                Source::Generated { lengths, text }
            }
            DataType::SharedPrefix => {
                let shared = data
                    .shared_prefix
                    .clone()
                    .expect("validated: shared_prefix present");
                if let Some(own) = shared.seed {
                    seed = own as u64;
                }
                let length = |d: Option<Distribution>, default: i64| {
                    LengthSampler::for_shared_prefix(
                        &d.unwrap_or_else(|| crate::config::fixed_length(default)),
                    )
                };
                let prefix_len = length(shared.system_prompt_len, DEFAULT_SYSTEM_PROMPT_LEN);
                let prefixes = (0..shared.num_groups as u64)
                    .map(|group| {
                        let tokens =
                            prefix_len.sample(&mut rng(seed, Purpose::PrefixLength, group));
                        let mut text = String::new();
                        tokenizer.push_random(
                            &mut text,
                            &mut rng(seed, Purpose::Prefix, group),
                            tokens as usize,
                        );
                        Arc::from(text)
                    })
                    .collect();
                Source::SharedPrefix(SharedPrefix {
                    prefixes,
                    prompts: (shared.num_groups * shared.num_prompts_per_group) as u64,
                    question: length(
                        shared.question_len.or(shared.question_distribution),
                        DEFAULT_QUESTION_LEN,
                    ),
                    output: length(
                        shared.output_len.or(shared.output_distribution),
                        DEFAULT_OUTPUT_LEN,
                    ),
                    multi_turn: shared.enable_multi_turn_chat,
                    media: (shared.multimodal.is_some() || data.multimodal.is_some()).then(|| {
                        SharedMedia {
                            prefix: shared
                                .multimodal
                                .as_ref()
                                .map(|m| MediaSampler::per_group(m, shared.num_groups as usize)),
                            question: data.multimodal.as_ref().map(MediaSampler::new),
                        }
                    }),
                })
            }
            DataType::ConversationReplay => {
                let replay = data
                    .conversation_replay
                    .as_ref()
                    .expect("validated: conversation_replay present");
                seed = replay.seed as u64;
                Source::ConversationReplay(ConversationReplay::new(replay))
            }
            DataType::ShareGpt
            | DataType::CnnDailymail
            | DataType::InfinityInstruct
            | DataType::BillsumConversations => {
                let path = data.path.as_deref().expect("validated: data.path present");
                let (input, output) = (
                    data.input_distribution.as_ref(),
                    data.output_distribution.as_ref(),
                );
                let pairs = match Dataset::of(data.data_type) {
                    None => super::share_gpt::read(path, &tokenizer, input, output)?,
                    Some(dataset) => {
                        super::dataset::read(dataset, path, &tokenizer, input, output)?
                    }
                };
                Source::Pairs(pairs.into())
            }
            DataType::VisionArena => {
                let path = data.path.as_deref().expect("validated: data.path present");
                let arena = data
                    .visionarena
                    .as_ref()
                    .expect("validated: visionarena present");
                let arena = super::dataset::read_vision_arena(path, arena)?;
                Source::VisionArena {
                    rows: arena.rows.into(),
                    remote: arena.remote.into(),
                }
            }
            DataType::OtelTraceReplay | DataType::WekaTraceReplay => {
                let (section, sessions) = match (&data.otel_trace_replay, &data.weka_trace_replay) {
                    (Some(otel), _) if data.data_type == DataType::OtelTraceReplay => (
                        "data.otel_trace_replay",
                        Sessions::otel(otel, config.api.api_type, seed),
                    ),
                    (_, Some(weka)) => {
                        let corpus = corpus(&tokenizer, data.corpus_file_path.as_deref())?;
                        let wording = Wording {
                            tokenizer: &tokenizer,
                            corpus: &corpus,
                            seed,
                        };
                        ("data.weka_trace_replay", Sessions::weka(weka, wording))
                    }
                    _ => unreachable!("validated: the data type's section is present"),
                };
                let sessions =
                    sessions.map_err(|source| DataError::Sessions { section, source })?;
                Source::Sessions(Arc::new(sessions))
            }
            DataType::SyntheticAgentic => {
                let api = config.api.api_type;
                let config = data
                    .synthetic_agentic
                    .as_ref()
                    .expect("validated: data.synthetic_agentic present");
                Source::Sessions(Arc::new(Sessions::synthetic(config, api)))
            }
        };
        Ok(DataPlan {
            seed,
            tokenizer,
            source,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The sessions of session data.
    pub fn sessions(&self) -> Option<&Arc<Sessions>> {
        match &self.source {
            Source::Sessions(sessions) => Some(sessions),
            _ => None,
        }
    }

    /// The distinct images the requests give by URL, which the model server fetches (to be
    /// checked before the run: one that does not answer fails every request carrying it).
    pub fn remote_images(&self) -> &[RemoteImage] {
        match &self.source {
            Source::VisionArena { remote, .. } => remote,
            _ => &[],
        }
    }

    /// How requests are spread over runners and workers: multi-turn conversations stay whole.
    pub fn routing(&self) -> Routing {
        match &self.source {
            Source::SharedPrefix(shared) if shared.multi_turn => Routing::User {
                users: shared.prompts,
            },
            Source::ConversationReplay(replay) => Routing::User {
                users: replay.slots(),
            },
            _ => Routing::Request,
        }
    }

    /// Request `index` of stage `stage` (a stage's id; a warm-up's follows the benchmark's).
    pub fn request(&self, stage: usize, index: u64) -> RequestData {
        let seed = self.seed;
        let single = |prompt: String, max_tokens: u32| RequestData {
            system: None,
            prompt,
            max_tokens,
            round: None,
            session: None,
            context_limit: None,
            media: None,
            offers_tools: false,
            model: None,
            recorded: None,
            tools: Default::default(),
        };
        match &self.source {
            Source::Mock { lead } => single(format!("{lead} {}", index + 1), DEFAULT_MAX_TOKENS),
            Source::Generated { lengths, text } => {
                let mut prompt = String::new();
                let max_tokens = match lengths {
                    Lengths::Sampled {
                        input,
                        output,
                        distinct,
                    } => {
                        let index = distinct.map_or(index, |n| index % n);
                        let tokens = input.sample(&mut rng(seed, Purpose::InputLength, index));
                        let draws = &mut rng(seed, Purpose::Prompt, index);
                        self.push_text(text, &mut prompt, draws, tokens);
                        output.sample(&mut rng(seed, Purpose::OutputLength, index))
                    }
                    Lengths::Trace { rows, block_size } => {
                        let row = &rows[(index % rows.len() as u64) as usize];
                        if row.hash_ids.is_empty() {
                            let draws = &mut rng(seed, Purpose::Prompt, index);
                            self.push_text(text, &mut prompt, draws, row.context_tokens);
                        }
                        // A block's text depends on its id alone, so prompts naming the same
                        // leading ids share that prefix (a partial last block is the start of
                        // its block's text).
                        let mut left = row.context_tokens;
                        for &id in &row.hash_ids {
                            let tokens = left.min(*block_size);
                            let draws = &mut rng(seed, Purpose::Block, id);
                            self.push_text(text, &mut prompt, draws, tokens);
                            left -= tokens;
                        }
                        row.generated_tokens
                    }
                };
                single(prompt, max_tokens)
            }
            Source::SharedPrefix(shared) => {
                let user = index % shared.prompts;
                // A single-turn prompt is the same every time its slot comes round; each round
                // of a conversation asks a new question.
                let question_key = if shared.multi_turn { index } else { user };
                let tokens =
                    shared
                        .question
                        .sample(&mut rng(seed, Purpose::InputLength, question_key));
                let mut prompt = String::new();
                self.tokenizer.push_random(
                    &mut prompt,
                    &mut rng(seed, Purpose::Prompt, question_key),
                    tokens as usize,
                );
                let (system, prompt, media) = match &shared.media {
                    None => (
                        Some(
                            shared.prefixes[(user % shared.prefixes.len() as u64) as usize].clone(),
                        ),
                        prompt,
                        None,
                    ),
                    Some(media) => {
                        let (text, parts) = shared.with_media(media, seed, index, user, prompt);
                        (None, text, Some(parts))
                    }
                };
                RequestData {
                    system,
                    prompt,
                    max_tokens: shared.output.sample(&mut rng(
                        seed,
                        Purpose::OutputLength,
                        question_key,
                    )),
                    round: shared.multi_turn.then_some(Round {
                        user,
                        round: index / shared.prompts,
                        opens: index < shared.prompts,
                        pause: std::time::Duration::ZERO,
                    }),
                    session: shared.multi_turn.then(|| UserSession {
                        id: shared.session_id(user),
                        round: index / shared.prompts + 1,
                    }),
                    context_limit: None,
                    media,
                    offers_tools: false,
                    model: None,
                    recorded: None,
                    tools: Default::default(),
                }
            }
            Source::Pairs(pairs) => {
                let pair = &pairs[(index % pairs.len() as u64) as usize];
                single(pair.prompt.clone(), pair.output_tokens)
            }
            Source::Sessions(sessions) => {
                // Every call of a session's context starts with the same text, as an agent's
                // growing transcript does: a later, longer prompt extends an earlier one. Each
                // context is its own text (a session has far fewer than 2^24 of them).
                let (session, event) = sessions.locate(index);
                let event = &sessions.get(session).graph.events[event];
                let stream = session ^ (u64::from(event.context) << 40);
                let mut prompt = String::new();
                // A call with recorded messages sends them: no text is generated for it.
                if event.recorded.is_none() {
                    self.tokenizer.push_random(
                        &mut prompt,
                        &mut rng(seed, Purpose::Session, stream),
                        event.input_tokens as usize,
                    );
                }
                RequestData {
                    offers_tools: event.offers_tools,
                    model: event.model.clone(),
                    recorded: event.recorded.clone(),
                    tools: event.tools.clone(),
                    ..single(prompt, event.output_tokens)
                }
            }
            Source::ConversationReplay(replay) => replay.request(&self.tokenizer, stage, index),
            Source::VisionArena { rows, .. } => {
                let row = &rows[(index % rows.len() as u64) as usize];
                RequestData {
                    media: Some(row.images.iter().cloned().map(MediaPart::Image).collect()),
                    ..single(row.prompt.clone(), DEFAULT_MAX_TOKENS)
                }
            }
            Source::Multimodal { input, media } => {
                let tokens = input.sample(&mut rng(seed, Purpose::InputLength, index));
                let mut prompt = String::new();
                self.tokenizer.push_random(
                    &mut prompt,
                    &mut rng(seed, Purpose::Prompt, index),
                    tokens as usize,
                );
                RequestData {
                    media: Some(media.media(seed, index, &prompt)),
                    ..single(prompt, DEFAULT_MAX_TOKENS)
                }
            }
        }
    }

    /// Appends `tokens` tokens of `text` chosen by `draws`; the same draws give the same text,
    /// and fewer tokens its start.
    fn push_text(&self, text: &Text, out: &mut String, draws: &mut PlanRng, tokens: u32) {
        match text {
            Text::Random => self.tokenizer.push_random(out, draws, tokens as usize),
            Text::Corpus(corpus) => {
                use rand::RngExt;
                let start = draws.random_range(0..corpus.len());
                self.tokenizer
                    .push_corpus(out, corpus, start, tokens as usize);
            }
            Text::Templated(template) => {
                self.tokenizer
                    .push_templated(out, draws, tokens as usize, template)
            }
        }
    }
}

/// The chat template beside the run's tokenizer, which every prompt length must exceed.
fn chat_template(
    config: &Config,
    tokenizer: &Tokenizer,
    lengths: &Lengths,
) -> Result<ChatTemplate, DataError> {
    let path = config
        .tokenizer
        .as_ref()
        .and_then(|t| t.pretrained_model_name_or_path.as_deref())
        .expect("validated: use_chat_template names a tokenizer");
    let template = ChatTemplate::load(std::path::Path::new(path))?;
    let overhead = tokenizer.count(&template.render_user("").unwrap_or_default());
    let min = match lengths {
        Lengths::Sampled { .. } => config
            .data
            .input_distribution
            .as_ref()
            .map_or(0, |d| d.min.max(0) as u64),
        Lengths::Trace { rows, .. } => rows
            .iter()
            .map(|r| u64::from(r.context_tokens))
            .min()
            .unwrap_or(0),
    };
    if min <= overhead as u64 {
        return Err(DataError::TemplateOverhead { min, overhead });
    }
    Ok(template)
}

fn corpus(tokenizer: &Tokenizer, path: Option<&str>) -> Result<Corpus, DataError> {
    let corpus = match path {
        None => tokenizer.corpus(DEFAULT_CORPUS),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| DataError::Corpus {
                path: path.into(),
                source,
            })?;
            let corpus = tokenizer.corpus(&text);
            if corpus.is_empty() {
                return Err(DataError::EmptyCorpus { path: path.into() });
            }
            corpus
        }
    };
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SharedPrefixConfig, TraceConfig, TraceFormat, fixed_length};
    use crate::tokenize::count_tokens;

    fn random_config(data_type: DataType, total_count: Option<i64>) -> Config {
        let mut config = Config::default();
        config.data.data_type = data_type;
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

    fn plan(config: &Config, seed: u64) -> DataPlan {
        DataPlan::new(config, seed, Tokenizer::BuiltIn, None).unwrap()
    }

    #[test]
    fn mock_prompts_are_inference_perfs_counted_from_one() {
        let mut config = Config::default();
        for (api_type, first) in [
            (ApiType::Completion, "1 2 3 1"),
            (ApiType::Chat, "mock prompt 1"),
            (ApiType::AnthropicMessages, "mock prompt 1"),
        ] {
            config.api.api_type = api_type;
            let request = plan(&config, 1).request(0, 0);
            assert_eq!(request.prompt, first, "{api_type:?}");
            assert_eq!(request.max_tokens, DEFAULT_MAX_TOKENS);
        }
    }

    #[test]
    fn generated_prompts_have_their_sampled_length_and_are_reproducible() {
        for data_type in [DataType::Random, DataType::Synthetic] {
            let config = random_config(data_type, None);
            let plan = plan(&config, 3);
            for i in 0..200 {
                let a = plan.request(0, i);
                assert_eq!(a, plan.request(0, i));
                let n = count_tokens(&a.prompt);
                let lengths = LengthSampler::new(config.data.input_distribution.as_ref().unwrap());
                assert_eq!(
                    n as u32,
                    lengths.sample(&mut rng(3, Purpose::InputLength, i))
                );
                assert!((1..=9).contains(&a.max_tokens), "{}", a.max_tokens);
            }
            assert_ne!(plan.request(0, 0), self::plan(&config, 4).request(0, 0));
        }
    }

    #[test]
    fn synthetic_prompts_are_corpus_text() {
        let plan = plan(&random_config(DataType::Synthetic, None), 1);
        let words: Vec<&str> = DEFAULT_CORPUS.split_whitespace().collect();
        let prompt = plan.request(0, 7).prompt;
        let first: Vec<&str> = prompt.split(' ').take(3).collect();
        assert!(
            words.windows(3).any(|w| w == first.as_slice()),
            "{prompt:?} is not a corpus passage"
        );
    }

    #[test]
    fn total_count_bounds_distinct_requests() {
        let plan = plan(&random_config(DataType::Random, Some(3)), 1);
        assert_eq!(plan.request(0, 1), plan.request(0, 4));
        assert_ne!(plan.request(0, 1), plan.request(0, 2));
    }

    fn row(context_tokens: u32, generated_tokens: u32, hash_ids: &[u64]) -> TraceRow {
        TraceRow {
            offset: 0.0,
            context_tokens,
            generated_tokens,
            hash_ids: hash_ids.into(),
        }
    }

    fn trace_plan(data_type: DataType, block_size: i64, rows: Vec<TraceRow>) -> DataPlan {
        let mut config = Config::default();
        config.data.data_type = data_type;
        config.data.trace = Some(TraceConfig {
            file: "trace".into(),
            format: TraceFormat::Mooncake,
            block_size: Some(block_size),
        });
        DataPlan::new(&config, 1, Tokenizer::BuiltIn, Some(rows.into())).unwrap()
    }

    #[test]
    fn trace_lengths_come_from_rows_in_order() {
        let plan = trace_plan(DataType::Random, 512, vec![row(7, 3, &[]), row(11, 2, &[])]);
        let second = plan.request(0, 1);
        assert_eq!((count_tokens(&second.prompt), second.max_tokens), (11, 2));
        assert_eq!(count_tokens(&plan.request(0, 2).prompt), 7);
    }

    #[test]
    fn trace_blocks_with_the_same_hash_id_have_the_same_text() {
        for data_type in [DataType::Random, DataType::Synthetic] {
            let plan = trace_plan(
                data_type,
                4,
                vec![
                    row(12, 3, &[1, 2, 3]),
                    row(11, 1, &[1, 2, 5]),
                    row(5, 2, &[7, 2]),
                ],
            );
            let words = |i: u64| -> Vec<String> {
                let prompt = plan.request(0, i).prompt;
                prompt.split(' ').map(String::from).collect()
            };
            let (a, b, c) = (words(0), words(1), words(2));
            assert_eq!((a.len(), b.len(), c.len()), (12, 11, 5));
            assert_eq!(a[..8], b[..8], "blocks 1 and 2 shared");
            assert_ne!(a[8..11], b[8..11], "block 3 is not block 5");
            assert_ne!(a[..4], c[..4], "block 7 is not block 1");
            assert_eq!(c[4], a[4], "a partial block 2 is the start of block 2");
            assert_eq!(plan.request(0, 1).max_tokens, 1);
            assert_eq!(words(3), a, "rows repeat, blocks and all");
        }
    }

    fn shared_config(multi_turn: bool) -> Config {
        let mut config = Config::default();
        config.data.data_type = DataType::SharedPrefix;
        config.data.shared_prefix = Some(SharedPrefixConfig {
            num_groups: 3,
            num_prompts_per_group: 2,
            system_prompt_len: Some(fixed_length(40)),
            question_len: Some(Distribution {
                min: 5,
                max: 15,
                mean: 10.0,
                std_dev: 3.0,
                ..Default::default()
            }),
            output_len: Some(fixed_length(4)),
            enable_multi_turn_chat: multi_turn,
            ..Default::default()
        });
        config
    }

    #[test]
    fn shared_prefix_prompts_share_their_group_prefix() {
        let plan = plan(&shared_config(false), 5);
        assert_eq!(plan.routing(), Routing::Request);
        let a = plan.request(0, 0);
        assert_eq!(count_tokens(a.system.as_deref().unwrap()), 40);
        assert_eq!(a.max_tokens, 4);
        assert!((5..=15).contains(&count_tokens(&a.prompt)));
        assert_eq!(
            plan.request(0, 3).system,
            a.system,
            "prompt 3 is in group 0 too"
        );
        assert_ne!(plan.request(0, 1).system, a.system);
        assert_eq!(plan.request(0, 6), a, "6 prompts in all, then they repeat");
        assert_eq!(a.round, None);
    }

    #[test]
    fn multi_turn_requests_are_rounds_of_user_conversations() {
        let plan = plan(&shared_config(true), 5);
        assert_eq!(plan.routing(), Routing::User { users: 6 });
        let first = plan.request(0, 4);
        let second = plan.request(0, 10);
        let place = |r: &RequestData| r.round.map(|r| (r.user, r.round, r.opens));
        assert_eq!(place(&first), Some((4, 0, true)));
        assert_eq!(place(&second), Some((4, 1, false)));
        assert_eq!(second.session.as_ref().map(|s| s.round), Some(2));
        assert_eq!(first.system, second.system);
        // Users 0..6 of 3 groups of 2 prompts: each session named once.
        let session = |index| plan.request(0, index).session.map(|s| s.id);
        let mut names: Vec<String> = (0..6).map(|u| session(u).unwrap()).collect();
        assert_eq!(names[4], "user_session_3", "user 4: group 1, prompt 1");
        assert_eq!(
            session(10).as_deref(),
            Some("user_session_3"),
            "user 4's next round"
        );
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 6);
        assert_eq!(
            self::plan(&shared_config(false), 5).request(0, 0).session,
            None
        );
    }
}
