//! `conversation_replay` data (inference-perf 0.7.0): `num_conversations` slots, each replaying
//! its seeded conversation from the first turn again once the last is done. Request `i` of a
//! stage is a turn of slot `i mod num_conversations` — the slot's `i div num_conversations`-th
//! request — so a stage's requests visit the slots in turn, as inference-perf's do.
//!
//! Everything about a turn derives from the conversation seed and `(slot, turn)` alone: the
//! slot's turn count, each turn's new tokens, `max_tokens` and tool-call pause, its text. The
//! system prompt is the stage's shared head followed by the slot's own tail; each stage has a
//! head of its own (inference-perf's rule, so that no stage finds the previous one's prefix in
//! a server's cache), and conversations start afresh each stage.
//!
//! Turns of a slot are [`Round`]s of one user: [`Routing::User`](super::Routing) keeps all of a
//! slot's requests on one worker of one runner pod — shards split slots, not requests, so
//! whatever `parallelism` spreads a run over runner pods, every conversation stays on one pod —
//! and each turn waits for the previous turn's answer plus that turn's pause before it is sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{
    ConversationReplayConfig, DEFAULT_INPUT_TOKENS_PER_TURN, DEFAULT_OUTPUT_TOKENS_PER_TURN,
    DEFAULT_TURNS_PER_CONVERSATION, Distribution, fixed_length,
};
use crate::tokenize::Tokenizer;

use super::request::{DEFAULT_MAX_TOKENS, RequestData, Round, UserSession};
use super::rng::{Purpose, rng};
use super::sampling::LengthSampler;

#[derive(Debug, Clone)]
pub(super) struct ConversationReplay {
    seed: u64,
    slots: u64,
    shared_len: usize,
    /// Each stage's shared head, made when the stage's first request asks for it.
    shared: Arc<Mutex<HashMap<usize, Arc<str>>>>,
    dynamic_len: Option<LengthSampler>,
    turns: LengthSampler,
    input: LengthSampler,
    output: LengthSampler,
    pause: Option<LengthSampler>,
    context_limit: u32,
}

/// One turn's place: which slot, which of the slot's conversations this stage, which turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnOf {
    pub slot: u64,
    pub conversation: u64,
    pub turn: u64,
}

impl ConversationReplay {
    pub(super) fn new(config: &ConversationReplayConfig) -> Self {
        // inference-perf's sampler (`sample_from_distribution`), as for shared prefixes.
        let sampler = |d: &Option<Distribution>, default: i64| {
            LengthSampler::for_shared_prefix(d.as_ref().unwrap_or(&fixed_length(default)))
        };
        ConversationReplay {
            seed: config.seed as u64,
            slots: config.num_conversations as u64,
            shared_len: config.shared_system_prompt_len as usize,
            shared: Arc::default(),
            dynamic_len: config
                .dynamic_system_prompt_len
                .as_ref()
                .map(LengthSampler::for_shared_prefix),
            turns: sampler(
                &config.turns_per_conversation,
                DEFAULT_TURNS_PER_CONVERSATION,
            ),
            input: sampler(&config.input_tokens_per_turn, DEFAULT_INPUT_TOKENS_PER_TURN),
            output: sampler(
                &config.output_tokens_per_turn,
                DEFAULT_OUTPUT_TOKENS_PER_TURN,
            ),
            pause: config
                .tool_call_latency_sec
                .as_ref()
                .map(LengthSampler::for_shared_prefix),
            context_limit: config.max_model_len().clamp(1, u32::MAX as i64) as u32,
        }
    }

    pub(super) fn slots(&self) -> u64 {
        self.slots
    }

    /// The number of turns of `slot`'s conversation (at least one: validation sees to it).
    pub fn turns(&self, slot: u64) -> u64 {
        u64::from(
            self.turns
                .sample(&mut rng(self.seed, Purpose::Turns, slot))
                .max(1),
        )
    }

    /// Where request `index` of a stage falls.
    pub fn turn_of(&self, index: u64) -> TurnOf {
        let slot = index % self.slots;
        let nth = index / self.slots;
        let turns = self.turns(slot);
        TurnOf {
            slot,
            conversation: nth / turns,
            turn: nth % turns,
        }
    }

    /// The pause after `turn` of `slot` answers, before the slot's next turn.
    pub fn pause(&self, slot: u64, turn: u64) -> Duration {
        self.pause.as_ref().map_or(Duration::ZERO, |p| {
            Duration::from_secs(u64::from(p.sample(&mut rng(
                self.seed,
                Purpose::Pause,
                turn_key(slot, turn),
            ))))
        })
    }

    pub(super) fn request(&self, tokenizer: &Tokenizer, stage: usize, index: u64) -> RequestData {
        let seed = self.seed;
        let at = self.turn_of(index);
        let key = turn_key(at.slot, at.turn);
        let mut prompt = String::new();
        let tokens = self.input.sample(&mut rng(seed, Purpose::InputLength, key));
        tokenizer.push_random(
            &mut prompt,
            &mut rng(seed, Purpose::Prompt, key),
            tokens as usize,
        );
        // 0 is inference-perf's "the client's default".
        let max_tokens = match self
            .output
            .sample(&mut rng(seed, Purpose::OutputLength, key))
        {
            0 => DEFAULT_MAX_TOKENS,
            n => n,
        };
        RequestData {
            system: self.system_prompt(tokenizer, stage, at.slot),
            prompt,
            max_tokens,
            round: Some(Round {
                user: at.slot,
                round: index / self.slots,
                opens: at.turn == 0,
                pause: self.pause(at.slot, at.turn),
            }),
            // inference-perf's session names: a slot's first conversation, then its replays.
            session: Some(UserSession {
                id: match at.conversation {
                    0 => format!("conv_{}", at.slot),
                    n => format!("slot_{}_convo_{n}", at.slot),
                },
                round: at.turn + 1,
            }),
            context_limit: Some(self.context_limit),
            media: None,
            offers_tools: false,
            model: None,
            recorded: None,
            tools: Default::default(),
        }
    }

    /// The stage's shared head, then the slot's own tail.
    fn system_prompt(&self, tokenizer: &Tokenizer, stage: usize, slot: u64) -> Option<Arc<str>> {
        let shared = self
            .shared
            .lock()
            .expect("shared prompts lock")
            .entry(stage)
            .or_insert_with(|| {
                let mut text = String::new();
                tokenizer.push_random(
                    &mut text,
                    &mut rng(self.seed, Purpose::SharedPrompt, stage as u64),
                    self.shared_len,
                );
                text.into()
            })
            .clone();
        let tail = self
            .dynamic_len
            .as_ref()
            .map(|len| len.sample(&mut rng(self.seed, Purpose::PrefixLength, slot)))
            .unwrap_or(0);
        if tail == 0 {
            return (!shared.is_empty()).then_some(shared);
        }
        let mut text = shared.to_string();
        tokenizer.push_random(
            &mut text,
            &mut rng(self.seed, Purpose::Prefix, slot),
            tail as usize,
        );
        Some(text.into())
    }
}

/// The key of a turn's random draws; validation bounds slots below 2^32.
fn turn_key(slot: u64, turn: u64) -> u64 {
    (slot << 32) | (turn & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DataType, DistributionType};
    use crate::plan::{DataPlan, Routing, Shard};
    use crate::tokenize::count_tokens;

    fn config(seed: i64) -> Config {
        let mut config = Config::default();
        config.data.data_type = DataType::ConversationReplay;
        config.data.conversation_replay = Some(ConversationReplayConfig {
            seed,
            num_conversations: 7,
            shared_system_prompt_len: 30,
            dynamic_system_prompt_len: Some(fixed_length(5)),
            turns_per_conversation: Some(Distribution {
                dist_type: DistributionType::Uniform,
                min: 1,
                max: 5,
                ..Default::default()
            }),
            input_tokens_per_turn: Some(Distribution {
                dist_type: DistributionType::Uniform,
                min: 3,
                max: 9,
                ..Default::default()
            }),
            output_tokens_per_turn: Some(fixed_length(4)),
            tool_call_latency_sec: Some(Distribution {
                dist_type: DistributionType::Uniform,
                min: 0,
                max: 2,
                ..Default::default()
            }),
            max_model_len: Some(5000),
        });
        config
    }

    fn plan(seed: i64) -> DataPlan {
        // The base seed is not the conversations' seed.
        DataPlan::new(&config(seed), 999, Tokenizer::BuiltIn, None).unwrap()
    }

    fn replay(seed: i64) -> ConversationReplay {
        ConversationReplay::new(config(seed).data.conversation_replay.as_ref().unwrap())
    }

    #[test]
    fn the_same_seed_gives_the_same_conversations() {
        let (a, b, other) = (plan(5), plan(5), plan(6));
        for i in 0..60 {
            assert_eq!(a.request(0, i), b.request(0, i));
        }
        assert!((0..60).any(|i| a.request(0, i) != other.request(0, i)));
        let counts = |r: &ConversationReplay| (0..7).map(|s| r.turns(s)).collect::<Vec<_>>();
        assert_eq!(counts(&replay(5)), counts(&replay(5)));
    }

    #[test]
    fn turn_counts_follow_their_distribution_and_slots_replay_their_conversation() {
        let replay = replay(5);
        let counts: Vec<u64> = (0..2000).map(|slot| replay.turns(slot)).collect();
        assert!(counts.iter().all(|n| (1..=5).contains(n)));
        // inference-perf's uniform: a draw in [min, max + 1), clipped to [min, max], rounded.
        for (n, expected) in (1..=5).zip([0.1, 0.2, 0.2, 0.2, 0.3]) {
            let share = counts.iter().filter(|&&c| c == n).count() as f64 / 2000.0;
            assert!((share - expected).abs() < 0.04, "{n} turns: {share}");
        }
        let plan = plan(5);
        for slot in 0..7 {
            let turns = replay.turns(slot);
            let mine: Vec<RequestData> = (0..7 * 3 * turns)
                .filter(|i| i % 7 == slot)
                .map(|i| plan.request(0, i))
                .collect();
            for (nth, request) in mine.iter().enumerate() {
                let (conversation, turn) = (nth as u64 / turns, nth as u64 % turns);
                let round = request.round.unwrap();
                assert_eq!((round.user, round.round), (slot, nth as u64));
                assert_eq!(round.opens, turn == 0);
                assert_eq!(round.pause, replay.pause(slot, turn));
                let session = request.session.as_ref().unwrap();
                assert_eq!(session.round, turn + 1);
                let id = if conversation == 0 {
                    format!("conv_{slot}")
                } else {
                    format!("slot_{slot}_convo_{conversation}")
                };
                assert_eq!(session.id, id);
                // A replayed conversation asks what the first one asked.
                let first = &mine[turn as usize];
                assert_eq!((&request.prompt, request.max_tokens), (&first.prompt, 4));
                assert!((3..=9).contains(&count_tokens(&request.prompt)));
                assert_eq!(request.context_limit, Some(5000));
            }
        }
        let pauses: Vec<Duration> = (0..300).map(|t| replay.pause(1, t)).collect();
        for secs in 0..=2 {
            assert!(pauses.contains(&Duration::from_secs(secs)), "{secs} s");
        }
        assert!(
            pauses
                .iter()
                .all(|p| p.subsec_nanos() == 0 && p.as_secs() <= 2)
        );
    }

    #[test]
    fn each_stage_has_its_own_shared_head_and_each_slot_its_own_tail() {
        let plan = plan(5);
        let system = |stage, i| plan.request(stage, i).system.unwrap().to_string();
        let head = |text: String| text.split(' ').take(30).collect::<Vec<_>>().join(" ");
        assert_eq!(count_tokens(&system(0, 0)), 35);
        assert_eq!(head(system(0, 0)), head(system(0, 1)), "one head per stage");
        assert_ne!(system(0, 0), system(0, 1), "slots have their own tails");
        assert_eq!(system(0, 0), system(0, 7), "a slot keeps its system prompt");
        assert_ne!(
            head(system(0, 0)),
            head(system(1, 0)),
            "stages have their own heads"
        );
        assert_eq!(system(1, 0), system(1, 14));
    }

    #[test]
    fn over_three_runner_pods_every_conversation_stays_on_one_pod() {
        let plan = plan(5);
        let routing = plan.routing();
        assert_eq!(routing, Routing::User { users: 7 });
        let total = 200;
        let mut pod_of_slot: HashMap<u64, u64> = HashMap::new();
        let mut seen = vec![0u32; total as usize];
        for pod in 0..3 {
            let shard = Shard::new(3, pod);
            let mine: Vec<u64> = routing.indices(shard, total).collect();
            assert_eq!(mine.len() as u64, routing.len_of(shard, total));
            for i in mine {
                seen[i as usize] += 1;
                let slot = plan.request(0, i).round.unwrap().user;
                assert_eq!(
                    *pod_of_slot.entry(slot).or_insert(pod),
                    pod,
                    "slot {slot}'s turns are on two pods"
                );
                // Split again between a pod's workers, the slot stays on one worker.
                let workers: Vec<u64> = (0..2)
                    .filter(|&w| routing.contains(shard.split(2, w), i))
                    .collect();
                assert_eq!(workers.len(), 1);
            }
        }
        assert!(
            seen.iter().all(|&n| n == 1),
            "every turn is in exactly one shard"
        );
        assert_eq!(pod_of_slot.len(), 7);
    }
}
