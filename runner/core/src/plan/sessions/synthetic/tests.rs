use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::config::{ContextCompaction, DistributionType, ThemeWeight, fixed_length};
use crate::plan::Sessions;

fn config() -> SyntheticAgenticConfig {
    SyntheticAgenticConfig {
        num_sessions: Some(4),
        input_tokens_per_turn: Some(fixed_length(200)),
        output_tokens_per_turn: Some(fixed_length(100)),
        theme_mix: BTreeMap::from([("generic".into(), ThemeWeight { weight: 1.0 })]),
        ..Default::default()
    }
}

fn uniform(min: i64, max: i64) -> Distribution {
    Distribution {
        min,
        max,
        dist_type: DistributionType::Uniform,
        ..Distribution::default()
    }
}

/// Each call as `(name, after, wait ms, input, output, context)`.
type Call = (String, Vec<usize>, u128, u32, u32, u32);

fn calls(config: &SyntheticAgenticConfig, index: u64) -> Vec<Call> {
    Shape::new(config, ApiType::Chat)
        .session(index)
        .events
        .into_iter()
        .map(|e| {
            let name = e.span_id.trim_start_matches("synthN0:").to_string();
            let wait = e.wait.as_millis();
            (
                name,
                e.after,
                wait,
                e.input_tokens,
                e.output_tokens,
                e.context,
            )
        })
        .collect()
}

fn call(name: &str, after: &[usize], wait: u128, io: (u32, u32), context: u32) -> Call {
    (name.into(), after.to_vec(), wait, io.0, io.1, context)
}

#[test]
fn rounds_are_tool_loops_growing_one_transcript_after_the_users_think_time() {
    let config = SyntheticAgenticConfig {
        turns_per_session: fixed_length(2),
        ..config()
    };
    // Generic theme: a tool call is 77 tokens (+64 headroom as max_tokens), a result 74; the
    // root's last call carries the 37-token "answer in prose" message.
    assert_eq!(
        calls(&config, 0),
        [
            call("r0:principal", &[], 0, (1200, 141), 0),
            call("r0:t0", &[0], 1000, (1351, 141), 0),
            call("r0:t1", &[1], 1000, (1539, 100), 0),
            call("r1:principal", &[2], 10_000, (1839, 141), 0),
            call("r1:t0", &[3], 1000, (1990, 141), 0),
            call("r1:t1", &[4], 1000, (2178, 100), 0),
        ]
    );
    let long_tools = SyntheticAgenticConfig {
        tool_call_latency_sec: Some(fixed_length(30)),
        parallel_tool_calls_per_step: Some(fixed_length(3)),
        override_tool_call_max_tokens: true,
        ..config
    };
    let session = calls(&long_tools, 0);
    assert_eq!(session[1].2, 15_000, "tool time cut to max_wait_ms");
    assert_eq!(session[0].4, 4096, "max(4 × (3 × 77 + 64), 4096)");
    assert_eq!(session[1].3, 1200 + 3 * 77 + 3 * 74);
}

#[test]
fn a_spawn_dispatches_sub_agents_and_reads_each_report_after_it_ends() {
    let config = SyntheticAgenticConfig {
        tool_loop_depth: Some(fixed_length(1)),
        fanout_probability: 1.0,
        max_depth: 1,
        sub_agents_per_spawn: Some(fixed_length(2)),
        ..config()
    };
    // The dispatch call reads the loop's last results (77 + 74) and a 30-token request to
    // delegate, and asks 2 dispatch calls (87 each + 64); each sub-agent starts its own
    // transcript (context) with the system head and answers after one tool step with the
    // 47-token report directive; the acknowledgement adds the dispatch calls and 17-token
    // launch acknowledgements; each report call adds that sub-agent's answer.
    assert_eq!(
        calls(&config, 0),
        [
            call("r0:principal", &[], 0, (1200, 141), 0),
            call("r0:d0:spawn", &[0], 0, (1381, 238), 0),
            call("r0:d1:sub0:principal", &[1], 0, (1200, 141), 1),
            call("r0:d1:sub0:t0", &[2], 1000, (1398, 100), 1),
            call("r0:d1:sub1:principal", &[1], 0, (1200, 141), 2),
            call("r0:d1:sub1:t0", &[4], 1000, (1398, 100), 2),
            call("r0:d0:dispatch_ack", &[1], 0, (1589, 48), 0),
            call("r0:d0:notify0", &[6, 3], 0, (1689, 48), 0),
            call("r0:d0:notify1", &[7, 5], 0, (1826, 100), 0),
        ]
    );
    let graph = Shape::new(&config, ApiType::Chat).session(0);
    assert_eq!(graph.session_id, "synthN0");
    assert_eq!(graph.event_ids, EventIds::Named);
    assert_eq!(graph.events[0].span_id, "synthN0:r0:principal");
    // inference-perf tags every prose answer user-facing, a sub-agent's report and an
    // acknowledgement too; tool calls and dispatches are not.
    let user_facing: Vec<String> = (0..graph.events.len())
        .filter(|&e| graph.events[e].user_facing)
        .map(|e| graph.event_name(e))
        .collect();
    assert_eq!(
        user_facing,
        [
            "synthN0:r0:d1:sub0:t0",
            "synthN0:r0:d1:sub1:t0",
            "synthN0:r0:d0:dispatch_ack",
            "synthN0:r0:d0:notify0",
            "synthN0:r0:d0:notify1"
        ]
    );
    let sessions = Sessions::synthetic(
        &SyntheticAgenticConfig {
            num_sessions: Some(2),
            ..config
        },
        ApiType::Chat,
    );
    assert_eq!(sessions.get(1).event_id(3), "synthN1:r0:d1:sub0:t0");
}

#[test]
fn the_event_budget_and_depth_bound_every_session_and_spawns_stay_whole() {
    let full = SyntheticAgenticConfig {
        tool_loop_depth: Some(fixed_length(1)),
        fanout_probability: 1.0,
        max_depth: 2,
        sub_agents_per_spawn: Some(fixed_length(2)),
        max_events_per_session: 1000,
        ..config()
    };
    // Root: principal, spawn, 2 children, ack, 2 reports; a child: the same with 2 leaf
    // grandchildren of a principal and a tool step each.
    assert_eq!(calls(&full, 0).len(), 5 + 2 * (5 + 2 * 2));
    for budget in 1..=30 {
        let config = SyntheticAgenticConfig {
            max_events_per_session: budget,
            turns_per_session: fixed_length(3),
            ..full.clone()
        };
        let graph = Shape::new(&config, ApiType::Chat).session(0);
        assert!(graph.events.len() <= budget as usize, "budget {budget}");
        assert!(!graph.events.is_empty());
        well_formed(&graph, 2);
    }
    let random = SyntheticAgenticConfig {
        turns_per_session: uniform(1, 4),
        tool_loop_depth: Some(uniform(0, 3)),
        fanout_probability: 0.6,
        max_depth: 3,
        sub_agents_per_spawn: Some(uniform(0, 3)),
        max_events_per_session: 40,
        tool_catalog_size_per_agent: Some(uniform(0, 3)),
        ..config()
    };
    let shape = Shape::new(&random, ApiType::Chat);
    for index in 0..300 {
        let graph = shape.session(index);
        assert!(graph.events.len() <= 40);
        well_formed(&graph, 3);
    }
}

/// Calls wait only for earlier calls, no sub-agent is deeper than `max_depth`, every spawn has
/// its acknowledgement, and no agent ends on a tool call nothing answers.
fn well_formed(graph: &SessionGraph, max_depth: u64) {
    for (i, event) in graph.events.iter().enumerate() {
        assert!(event.after.iter().all(|&p| p < i), "{}", event.span_id);
        assert!(
            !event.span_id.contains(&format!(":d{}:", max_depth + 1)),
            "{}",
            event.span_id
        );
    }
    let count = |part: &str| {
        graph
            .events
            .iter()
            .filter(|e| e.span_id.ends_with(part))
            .count()
    };
    assert_eq!(count(":spawn"), count(":dispatch_ack"));
    // Prose answers ask 100 tokens (an answer), 48 (an acknowledgement) or the client's
    // default (a spawner without a tool loop); anything else is a tool call, which a later call
    // must answer.
    for (i, event) in graph.events.iter().enumerate() {
        let prose = [100, ACK_TOKENS as u32, DEFAULT_MAX_TOKENS].contains(&event.output_tokens);
        let answered = graph.events.iter().any(|later| later.after.contains(&i));
        assert!(prose || answered, "{} ends on a tool call", event.span_id);
    }
    let last = graph.events.last().map(|e| e.output_tokens);
    assert!(
        [Some(100), Some(DEFAULT_MAX_TOKENS)].contains(&last),
        "{last:?}"
    );
}

#[test]
fn themes_are_drawn_with_their_weights() {
    let config = SyntheticAgenticConfig {
        theme_mix: BTreeMap::from([
            ("research_rag".into(), ThemeWeight { weight: 3.0 }),
            ("generic".into(), ThemeWeight { weight: 1.0 }),
            ("code_change_task".into(), ThemeWeight { weight: 0.0 }),
        ]),
        ..config()
    };
    let shape = Shape::new(&config, ApiType::Chat);
    let mut counts = [0; 4];
    for index in 0..4000 {
        counts[shape.theme(index)] += 1;
    }
    let research = counts[3] as f64 / 4000.0;
    assert!((research - 0.75).abs() < 0.03, "{counts:?}");
    assert_eq!(counts[1], 0, "a zero weight is never drawn");
    assert_eq!(counts[0] + counts[3], 4000);
    // The theme sizes the tool results: research_rag's are 148 tokens, generic's 74.
    let results = |theme: usize| {
        let index = (0..).find(|&i| shape.theme(i) == theme).unwrap();
        let graph = shape.session(index);
        graph.events[1].input_tokens - graph.events[0].input_tokens
    };
    assert_eq!(results(3), 70 + 148);
    assert_eq!(results(0), 77 + 74);
}

#[test]
fn compaction_starts_a_fresh_smaller_transcript_when_the_trigger_is_reached() {
    let config = SyntheticAgenticConfig {
        turns_per_session: fixed_length(8),
        tool_catalog_size_per_agent: Some(fixed_length(0)),
        context_compaction: Some(ContextCompaction {
            trigger_tokens: fixed_length(1700),
            target_tokens: fixed_length(300),
        }),
        ..config()
    };
    let session = calls(&config, 0);
    let inputs: Vec<u32> = session.iter().map(|c| c.3).collect();
    let contexts: Vec<u32> = session.iter().map(|c| c.5).collect();
    // Without tools each round is one call: the transcript grows by the answer and the next
    // turn (300) until it reaches 1700; the next round starts over with the head and a 300
    // token summary.
    assert_eq!(inputs, [1200, 1500, 1800, 1300, 1600, 1900, 1300, 1600]);
    assert_eq!(contexts, [0, 0, 0, 1, 1, 1, 2, 2]);
    assert!(session.iter().skip(1).all(|c| c.1.len() == 1));
}

#[test]
fn sessions_are_the_same_for_the_same_seed_and_index() {
    let random = SyntheticAgenticConfig {
        turns_per_session: uniform(1, 3),
        input_tokens_per_turn: Some(uniform(50, 500)),
        tool_loop_depth: Some(uniform(0, 3)),
        fanout_probability: 0.5,
        tool_call_latency_sec: Some(uniform(0, 3)),
        ..config()
    };
    let (a, b) = (
        Shape::new(&random, ApiType::Chat),
        Shape::new(&random, ApiType::Chat),
    );
    let other = Shape::new(
        &SyntheticAgenticConfig {
            seed: 7,
            ..random.clone()
        },
        ApiType::Chat,
    );
    let mut differ = 0;
    for index in 0..20 {
        assert_eq!(a.session(index), b.session(index));
        differ += usize::from(a.session(index).events != other.session(index).events);
    }
    assert!(
        differ > 10,
        "{differ} of 20 sessions differ with another seed"
    );
}

#[test]
fn calls_offer_the_catalog_and_a_spawn_the_dispatch_tool() {
    let offering = |config: &SyntheticAgenticConfig| -> Vec<(String, bool)> {
        Shape::new(config, ApiType::Chat)
            .session(0)
            .events
            .into_iter()
            .map(|e| (e.span_id, e.offers_tools))
            .collect()
    };
    let with_catalog = offering(&config());
    assert!(!with_catalog.is_empty());
    assert!(with_catalog.iter().all(|(_, offers)| *offers));

    let bare = SyntheticAgenticConfig {
        tool_catalog_size_per_agent: Some(fixed_length(0)),
        ..config()
    };
    assert!(offering(&bare).iter().all(|(_, offers)| !offers));

    // Without a catalog only the spawn's own calls offer a tool (the dispatch tool); the
    // sub-agents answer at once, offered nothing.
    let spawning = SyntheticAgenticConfig {
        fanout_probability: 1.0,
        max_depth: 1,
        sub_agents_per_spawn: Some(fixed_length(2)),
        ..bare
    };
    let offered: Vec<String> = offering(&spawning)
        .into_iter()
        .filter(|(_, offers)| *offers)
        .map(|(name, _)| name.trim_start_matches("synthN0:").to_string())
        .collect();
    assert_eq!(
        offered[..4],
        [
            "r0:d0:spawn",
            "r0:d0:dispatch_ack",
            "r0:d0:notify0",
            "r0:d0:notify1"
        ]
    );
}

#[test]
fn generated_calls_ask_the_static_model_or_the_servers() {
    let models = |config: &SyntheticAgenticConfig| -> Vec<Option<String>> {
        Shape::new(config, ApiType::Chat)
            .session(0)
            .events
            .iter()
            .map(|e| e.model.as_deref().map(str::to_string))
            .collect()
    };
    assert!(models(&config()).iter().all(Option::is_none));
    let fixed = SyntheticAgenticConfig {
        use_static_model: true,
        static_model_name: "agent-model".into(),
        predecessor_wait_timeout_sec: 2.0,
        ..config()
    };
    let asked = models(&fixed);
    assert!(asked.len() > 1);
    assert!(asked.iter().all(|m| m.as_deref() == Some("agent-model")));
    assert_eq!(
        Sessions::synthetic(&fixed, ApiType::Chat).predecessor_wait,
        Some(Duration::from_secs(2))
    );
    let unlimited = SyntheticAgenticConfig {
        predecessor_wait_timeout_sec: 0.0,
        ..config()
    };
    assert_eq!(
        Sessions::synthetic(&unlimited, ApiType::Chat).predecessor_wait,
        None
    );
}

/// Each call's forced `tool_choice` (`None` when it sends none) and its offered tools' names.
fn tool_offers(config: &SyntheticAgenticConfig, api: ApiType) -> Vec<(Option<Value>, Vec<String>)> {
    Shape::new(config, api)
        .session(0)
        .events
        .into_iter()
        .map(|e| {
            let names = e
                .tools
                .tools
                .as_deref()
                .and_then(Value::as_array)
                .map_or_else(Vec::new, |tools| {
                    tools
                        .iter()
                        .map(|t| {
                            let name = t.get("name").unwrap_or(&t["function"]["name"]);
                            name.as_str().unwrap().to_string()
                        })
                        .collect()
                });
            (e.tools.tool_choice, names)
        })
        .collect()
}

#[test]
fn calls_are_offered_the_themes_tools_and_forced_to_the_ones_their_answers_call() {
    let config = SyntheticAgenticConfig {
        tool_loop_depth: Some(fixed_length(2)),
        tool_catalog_size_per_agent: Some(fixed_length(13)),
        fanout_probability: 1.0,
        max_depth: 1,
        sub_agents_per_spawn: Some(fixed_length(1)),
        ..config()
    };
    let forced = |name: &str| Some(json!({"type": "function", "function": {"name": name}}));
    let offers = tool_offers(&config, ApiType::Chat);
    let catalog = &offers[0].1;
    assert_eq!(catalog.len(), 13);
    assert_eq!(
        catalog[11..],
        ["apply_remediation", "get_service_health_12"],
        "the generic theme's 12 tools, then repeats suffixed"
    );
    let choices: Vec<_> = offers.iter().map(|(choice, _)| choice.clone()).collect();
    assert_eq!(
        choices,
        [
            // The root: its principal calls the catalog's first tool, its step 0 the next;
            // its spawn dispatches the one sub-agent.
            forced("get_service_health"),
            forced("query_metrics"),
            forced("dispatch_agent"),
            // The sub-agent the same, then its prose report.
            forced("get_service_health"),
            forced("query_metrics"),
            Some(json!("none")),
            // The acknowledgement and the report's reading answer in prose.
            Some(json!("none")),
            Some(json!("none")),
        ]
    );
    // The calls of the spawn are offered the dispatch tool beside the catalog.
    for (i, (_, names)) in offers.iter().enumerate() {
        let spawn_call = [2, 6, 7].contains(&i);
        assert_eq!(names.len(), 13 + usize::from(spawn_call), "call {i}");
        assert_eq!(
            names.last().unwrap() == "dispatch_agent",
            spawn_call,
            "call {i}"
        );
    }

    // Parallel calls are forced with `required`; `as_recorded` forces nothing; no catalog and
    // no spawn: no tools at all.
    let parallel = SyntheticAgenticConfig {
        parallel_tool_calls_per_step: Some(fixed_length(2)),
        fanout_probability: 0.0,
        ..config.clone()
    };
    assert_eq!(
        tool_offers(&parallel, ApiType::Chat)[0].0,
        Some(json!("required"))
    );
    let as_recorded = SyntheticAgenticConfig {
        tool_choice_mode: ToolChoiceMode::AsRecorded,
        ..config.clone()
    };
    assert!(
        tool_offers(&as_recorded, ApiType::Chat)
            .iter()
            .all(|(c, _)| c.is_none())
    );
    let bare = SyntheticAgenticConfig {
        tool_catalog_size_per_agent: Some(fixed_length(0)),
        fanout_probability: 0.0,
        ..config.clone()
    };
    assert!(
        tool_offers(&bare, ApiType::Chat)
            .iter()
            .all(|o| *o == (None, vec![]))
    );

    // The Messages API's shapes: forced by tool name, a prose turn unforced.
    let messages_api = tool_offers(&config, ApiType::AnthropicMessages);
    assert_eq!(
        messages_api[0].0,
        Some(json!({"type": "tool", "name": "get_service_health"}))
    );
    assert_eq!(messages_api[5].0, None);
    assert_eq!(messages_api[2].1.last().unwrap(), "dispatch_agent");
}
