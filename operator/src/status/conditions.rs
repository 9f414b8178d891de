//! Conditions with Kubernetes semantics: one per type, each carrying the generation it was
//! computed for, and a `lastTransitionTime` that moves only when the status flips (so that
//! re-computing an unchanged state never rewrites the object).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::Phase;

/// `"True"`, `"False"` or `"Unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    pub fn as_str(self) -> &'static str {
        match self {
            Truth::True => "True",
            Truth::False => "False",
            Truth::Unknown => "Unknown",
        }
    }
}

/// A condition as computed for this reconcile, before its transition time is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub type_: &'static str,
    pub status: Truth,
    pub reason: &'static str,
    pub message: String,
}

impl Desired {
    pub fn new(
        type_: &'static str,
        status: Truth,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Desired {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Longest condition message: the apiserver allows 32768 bytes, a terminal shows far less.
const MAX_MESSAGE: usize = 2048;

/// The conditions for `desired`, keeping each previous `lastTransitionTime` unless its status
/// changed (then `now`).
pub fn merge(
    previous: &[Condition],
    desired: &[Desired],
    generation: i64,
    now: &Time,
) -> Vec<Condition> {
    desired
        .iter()
        .map(|d| {
            let status = d.status.as_str();
            let last_transition_time = previous
                .iter()
                .find(|c| c.type_ == d.type_ && c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            Condition {
                type_: d.type_.to_string(),
                status: status.to_string(),
                reason: d.reason.to_string(),
                message: truncate(&d.message, MAX_MESSAGE),
                observed_generation: Some(generation),
                last_transition_time,
            }
        })
        .collect()
}

/// `phase` from the condition set, for `kubectl get`.
pub fn phase(accepted: Truth, running: Truth, succeeded: Truth) -> Phase {
    match (accepted, running, succeeded) {
        (_, _, Truth::True) => Phase::Succeeded,
        (Truth::False, _, _) | (_, _, Truth::False) => Phase::Failed,
        (_, Truth::True, _) => Phase::Running,
        _ => Phase::Pending,
    }
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let first = merge(
            &[],
            &[Desired::new(
                "Running",
                Truth::False,
                "RunnersStarting",
                "0/2 runners ready",
            )],
            1,
            &time(100),
        );
        assert_eq!(first[0].last_transition_time, time(100));
        assert_eq!(first[0].observed_generation, Some(1));

        let same = merge(
            &first,
            &[Desired::new(
                "Running",
                Truth::False,
                "RunnersStarting",
                "1/2 runners ready",
            )],
            1,
            &time(105),
        );
        assert_eq!(
            same[0].last_transition_time,
            time(100),
            "message change is no transition"
        );
        assert_eq!(same[0].message, "1/2 runners ready");

        let flipped = merge(
            &same,
            &[Desired::new("Running", Truth::True, "Running", "")],
            2,
            &time(110),
        );
        assert_eq!(flipped[0].last_transition_time, time(110));
        assert_eq!(flipped[0].observed_generation, Some(2));
    }

    #[test]
    fn phase_follows_conditions() {
        use Truth::*;
        assert_eq!(phase(True, False, Unknown), Phase::Pending);
        assert_eq!(phase(True, True, Unknown), Phase::Running);
        assert_eq!(phase(True, False, True), Phase::Succeeded);
        assert_eq!(phase(True, False, False), Phase::Failed);
        assert_eq!(phase(False, False, False), Phase::Failed);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let text = "é".repeat(2000);
        let cut = truncate(&text, MAX_MESSAGE);
        assert!(cut.len() <= MAX_MESSAGE && cut.ends_with("..."));
        assert_eq!(truncate("short", 10), "short");
    }
}
