//! Session data (`data.type: otel_trace_replay`, `weka_trace_replay`, `synthetic_agentic`):
//! each session is a graph of LLM calls that depend on each other, a trace or a generated one.
//! Traces are read once, put in a seeded order (inference-perf shuffles them with the run's
//! seed) and repeated up to `duplicate_sessions_target`; generated sessions keep their index
//! order. Stages take them in turn: each stage runs the next `num_sessions` of them.

mod graph;
mod model;
mod otel;
mod recorded;
mod synthetic;
mod trace_filter;
mod weka;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;

use crate::config::{
    ApiType, BadToolCallHandling, OtelTraceReplayConfig, SyntheticAgenticConfig,
    WekaTraceReplayConfig,
};

pub use graph::{Event, EventIds, SessionError, SessionGraph};
pub use otel::ReadOptions;
pub use recorded::{
    FallbackMalformed, Live, Message, MessagesApiInput, Recorded, Segment, Sent, Substitution,
    ToolOffer, answer_message, content_text,
};
pub use weka::Wording;

use self::model::{Models, predecessor_wait};
use self::trace_filter::TraceFilter;
use super::rng::{Purpose, rng};
use rand::RngExt;

/// One session to run: a graph under its own name (duplicates share their graph).
#[derive(Debug, Clone)]
pub struct Session {
    /// inference-perf's id (`trace{slot}_{session_id}` for OTel traces,
    /// `wekatrace{index}_{id}` for Weka traces, `synthN{index}` for generated sessions),
    /// `_dup{n}` added for repeats.
    pub id: String,
    pub graph: Arc<SessionGraph>,
    /// Index of the session's first request: its events are the requests
    /// `first_request..first_request + events`, numbered across all sessions.
    pub first_request: u64,
    /// Put in its calls' own recorded messages (`inject_random_session_id`, or a repeat).
    pub salt: Option<Arc<str>>,
}

impl Session {
    /// The request index of event `event`.
    pub fn request(&self, event: usize) -> u64 {
        self.first_request + event as u64
    }

    /// inference-perf's `graph_event_id` of event `event`: `{session}:event_{nnn}_{span}` for
    /// traces, the name (which starts with the session's id) for generated sessions.
    pub fn event_id(&self, event: usize) -> String {
        let name = self.graph.event_name(event);
        match self.graph.event_ids {
            EventIds::Numbered => format!("{}:{name}", self.id),
            EventIds::Named => name,
        }
    }
}

/// All sessions of a run, in the order the stages take them.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    list: Vec<Session>,
    /// Files left out (`skip_invalid_files`), with why: said before the run.
    pub skipped: Vec<String>,
    /// How long a call waits for its predecessors, from its session's start; `None`: as long
    /// as it takes.
    pub predecessor_wait: Option<Duration>,
    /// Calls send the live messages and answers of earlier calls where they carry them (not
    /// `disable_output_substitution`).
    pub live_answers: bool,
    /// What stands in for a live answer with malformed tool calls (`bad_tool_call_handling`).
    pub bad_tool_calls: BadToolCallHandling,
}

/// A map's entries, in order (none when absent).
fn pairs(map: &Option<std::collections::BTreeMap<String, String>>) -> Vec<(String, String)> {
    map.iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A graph read, or why its file is left out.
type Read = Result<Option<SessionGraph>, SessionError>;

impl Sessions {
    /// OTel traces, named after their place in the seeded order, their calls sent to `api`.
    pub fn otel(
        config: &OtelTraceReplayConfig,
        api: ApiType,
        seed: u64,
    ) -> Result<Self, SessionError> {
        let options = ReadOptions {
            include_errors: config.include_errors,
            default_max_tokens: config.default_max_tokens.clamp(1, u32::MAX as i64) as u32,
            max_wait: Duration::from_millis(config.max_wait_ms.max(0) as u64),
            override_tool_call_max_tokens: config.override_tool_call_max_tokens,
            models: Models::new(config.replay_keys()),
            tool_choice_mode: config.tool_choice_mode,
            api,
            header_map: pairs(&config.attribute_to_header_map),
            label_map: pairs(&config.attribute_to_label_map),
        };
        let filter = TraceFilter::new("data.otel_trace_replay", &config.filter)?;
        let mut files = files(&config.trace_directory, &config.trace_files)?;
        let mut reads = Vec::with_capacity(files.len());
        let mut kept = Vec::with_capacity(files.len());
        for file in files.drain(..) {
            let doc = match read_json(&file) {
                Ok(doc) => doc,
                Err(e) => {
                    reads.push(Err(e));
                    kept.push(file);
                    continue;
                }
            };
            if let Some(filter) = &filter
                && !filter.keeps_otel(&file, &doc)?
            {
                continue;
            }
            reads.push(otel::read(&file, &doc, &options));
            kept.push(file);
        }
        let (mut graphs, skipped) = keep(
            &kept,
            reads.into_iter(),
            config.skip_invalid_files,
            "no LLM call (span with gen_ai.operation.name chat and input messages)",
        )?;
        graphs.shuffle(&mut rng(seed, Purpose::SessionOrder, 0));
        let named = graphs
            .into_iter()
            .enumerate()
            .map(|(slot, g)| (format!("trace{slot}_{}", g.session_id), g))
            .collect();
        let mut sessions = Self::numbered(
            named,
            config.duplicate_sessions_target,
            skipped,
            predecessor_wait(config.replay_keys()),
        );
        sessions.live_answers = !config.disable_output_substitution;
        sessions.bad_tool_calls = config.bad_tool_call_handling;
        sessions.salt(config.inject_random_session_id, seed);
        Ok(sessions)
    }

    /// Weka traces, named after their place among the traces read (as inference-perf names
    /// them before it shuffles), their calls' messages in `wording`'s words.
    pub fn weka(config: &WekaTraceReplayConfig, wording: Wording) -> Result<Self, SessionError> {
        let seed = wording.seed;
        let files = files(&config.trace_directory, &config.trace_files)?;
        let reads = weka::read_all(&files, config, wording)?;
        let (graphs, skipped) = keep(
            &files,
            reads.into_iter(),
            config.skip_invalid_files,
            "no request",
        )?;
        let mut named: Vec<(String, Arc<SessionGraph>)> = graphs
            .into_iter()
            .map(|g| (g.session_id.clone(), g))
            .collect();
        named.shuffle(&mut rng(seed, Purpose::SessionOrder, 0));
        let mut sessions = Self::numbered(
            named,
            config.duplicate_sessions_target,
            skipped,
            predecessor_wait(config.replay_keys()),
        );
        sessions.salt(config.inject_random_session_id, seed);
        Ok(sessions)
    }

    /// Generated agent sessions `synthN0..synthN{num_sessions}`, in that order.
    pub fn synthetic(config: &SyntheticAgenticConfig, api: ApiType) -> Self {
        let shape = synthetic::Shape::new(config, api);
        let count = config.num_sessions.unwrap_or(0).max(0) as u64;
        let named = (0..count)
            .map(|index| {
                let graph = shape.session(index);
                (graph.session_id.clone(), Arc::new(graph))
            })
            .collect();
        Self::numbered(
            named,
            None,
            Vec::new(),
            predecessor_wait(config.replay_keys()),
        )
    }

    /// The sessions in order, repeated to `target`, their requests numbered.
    fn numbered(
        mut named: Vec<(String, Arc<SessionGraph>)>,
        target: Option<i64>,
        skipped: Vec<String>,
        predecessor_wait: Option<Duration>,
    ) -> Self {
        let originals = named.len();
        let target = target.unwrap_or(0).max(0) as usize;
        for dup in 1..=target.saturating_sub(originals) {
            let (id, graph) = named[(dup - 1) % originals].clone();
            named.push((format!("{id}_dup{dup}"), graph));
        }
        let mut first_request = 0;
        let list = named
            .into_iter()
            .map(|(id, graph)| {
                let session = Session {
                    id,
                    first_request,
                    graph,
                    salt: None,
                };
                first_request += session.graph.events.len() as u64;
                session
            })
            .collect();
        Sessions {
            list,
            skipped,
            predecessor_wait,
            live_answers: true,
            bad_tool_calls: BadToolCallHandling::None,
        }
    }

    /// Salts the calls' own messages of every session (`inject_random_session_id`), or of
    /// the repeats alone, as inference-perf does: a repeat shares no cached prefix with its
    /// original.
    fn salt(&mut self, every: bool, seed: u64) {
        for (index, session) in self.list.iter_mut().enumerate() {
            if every || is_repeat(&session.id) {
                session.salt = Some(salt(seed, index as u64).into());
            }
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, index: u64) -> &Session {
        &self.list[index as usize]
    }

    /// The session (its index) and event of request `index`.
    pub fn locate(&self, index: u64) -> (u64, usize) {
        let session = self
            .list
            .partition_point(|s| s.first_request <= index)
            .saturating_sub(1);
        let first = self.list[session].first_request;
        (session as u64, (index - first) as usize)
    }

    /// Requests of the sessions `indices`.
    pub fn requests_of(&self, indices: &[u64]) -> u64 {
        indices
            .iter()
            .map(|&i| self.get(i).graph.events.len() as u64)
            .sum()
    }

    /// Requests of sessions `range` whose index `keep` accepts (a runner's or worker's share).
    pub fn requests(&self, range: std::ops::Range<u64>, keep: impl Fn(u64) -> bool) -> u64 {
        range
            .filter(|&i| keep(i))
            .map(|i| self.get(i).graph.events.len() as u64)
            .sum()
    }
}

/// inference-perf's test for a repeated session: its id ends in `_dup` and a number.
fn is_repeat(id: &str) -> bool {
    id.rsplit_once("_dup")
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Sixteen hex digits, drawn for session `index` (inference-perf's are a random uuid's).
fn salt(seed: u64, index: u64) -> String {
    format!(
        "{:016x}",
        rng(seed, Purpose::SessionSalt, index).random::<u64>()
    )
}

/// The graphs read and the files left out: a file that fails stops the run unless
/// `skip_invalid_files`; one without calls is left out with `empty` as why.
fn keep(
    files: &[PathBuf],
    reads: impl Iterator<Item = Read>,
    skip_invalid_files: bool,
    empty: &str,
) -> Result<(Vec<Arc<SessionGraph>>, Vec<String>), SessionError> {
    let mut graphs = Vec::new();
    let mut skipped = Vec::new();
    for (file, read) in files.iter().zip(reads) {
        match read {
            Ok(Some(graph)) => graphs.push(Arc::new(graph)),
            Ok(None) => skipped.push(format!("{}: {empty}; not replayed", file.display())),
            Err(e) if skip_invalid_files => skipped.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    if graphs.is_empty() {
        return Err(SessionError::Source(
            "no trace has an LLM call to replay".into(),
        ));
    }
    Ok((graphs, skipped))
}

/// A trace file's JSON document.
fn read_json(path: &Path) -> Result<serde_json::Value, SessionError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SessionError::Read {
        file: file.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| SessionError::Invalid {
        file,
        message: format!("not JSON: {e}"),
    })
}

/// `trace_directory`'s `*.json` files in name order, or `trace_files`.
fn files(
    trace_directory: &Option<String>,
    trace_files: &Option<Vec<String>>,
) -> Result<Vec<PathBuf>, SessionError> {
    if let Some(dir) = trace_directory {
        let entries = std::fs::read_dir(dir).map_err(|source| SessionError::Read {
            file: dir.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(SessionError::Source(format!(
                "trace_directory {dir} has no *.json file"
            )));
        }
        return Ok(files);
    }
    Ok(trace_files
        .iter()
        .flatten()
        .map(|f| Path::new(f).to_path_buf())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_trace(dir: &Path, name: &str, trace_id: &str, calls: usize) {
        let spans: Vec<serde_json::Value> = (0..calls)
            .map(|i| {
                serde_json::json!({
                    "span_id": format!("s{i}"),
                    "start_time": format!("2025-01-01T00:00:0{}Z", 2 * i),
                    "end_time": format!("2025-01-01T00:00:0{}Z", 2 * i + 1),
                    "attributes": {"gen_ai.operation.name": "chat",
                        "gen_ai.input.messages": [{"role": "user", "content": format!("q{i}")}],
                        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5},
                })
            })
            .collect();
        let doc = serde_json::json!({"trace_id": trace_id, "spans": spans});
        std::fs::write(dir.join(name), doc.to_string()).unwrap();
    }

    #[test]
    fn sessions_are_ordered_by_the_seed_repeated_to_the_target_and_numbered() {
        let dir = tempfile::tempdir().unwrap();
        write_trace(dir.path(), "a.json", "ta", 2);
        write_trace(dir.path(), "b.json", "tb", 3);
        std::fs::write(dir.path().join("notes.txt"), "not a trace").unwrap();
        let config = OtelTraceReplayConfig {
            trace_directory: Some(dir.path().display().to_string()),
            duplicate_sessions_target: Some(5),
            ..Default::default()
        };
        let sessions = Sessions::otel(&config, ApiType::Chat, 7).unwrap();
        assert_eq!(sessions.len(), 5);
        let ids: Vec<&str> = (0..5).map(|i| sessions.get(i).id.as_str()).collect();
        assert!(
            ids[0].starts_with("trace0_t") && ids[1].starts_with("trace1_t"),
            "{ids:?}"
        );
        assert_eq!(ids[2], format!("{}_dup1", ids[0]));
        assert_eq!(ids[4], format!("{}_dup3", ids[0]));
        let firsts: Vec<u64> = (0..5).map(|i| sessions.get(i).first_request).collect();
        let sizes: Vec<u64> = (0..5)
            .map(|i| sessions.get(i).graph.events.len() as u64)
            .collect();
        for i in 1..5 {
            assert_eq!(firsts[i], firsts[i - 1] + sizes[i - 1]);
        }
        assert_eq!(sessions.requests(0..5, |_| true), sizes.iter().sum::<u64>());
        assert_eq!(sessions.requests(1..3, |i| i == 2), sizes[2]);
        assert_eq!(sessions.locate(firsts[3] + 1), (3, 1));
        assert_eq!(sessions.locate(0), (0, 0));
        assert_eq!(
            sessions.get(0).event_id(1),
            format!("{}:event_001_s1", ids[0])
        );
    }

    #[test]
    fn invalid_files_stop_the_run_or_are_skipped_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        write_trace(dir.path(), "a.json", "ta", 1);
        std::fs::write(dir.path().join("b.json"), "{broken").unwrap();
        let mut config = OtelTraceReplayConfig {
            trace_directory: Some(dir.path().display().to_string()),
            ..Default::default()
        };
        let error = Sessions::otel(&config, ApiType::Chat, 1)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("b.json") && error.contains("not JSON"),
            "{error}"
        );
        config.skip_invalid_files = true;
        let sessions = Sessions::otel(&config, ApiType::Chat, 1).unwrap();
        assert_eq!(sessions.len(), 1);
        assert!(sessions.skipped[0].contains("b.json"));
    }
}
