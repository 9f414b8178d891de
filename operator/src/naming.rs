//! Names and labels of a benchmark's child objects. Names are pure functions of the benchmark's
//! name and the run's generation, so that a restarted operator finds (and never duplicates) what
//! it created before.

use std::collections::BTreeMap;

use ibench_core::protocol;

/// Longest run name: the Job's pods get the hostname `<job>-<index>` (a DNS label, at most 63
/// characters, index up to 999), and `<run>-r<index>` names the result ConfigMaps.
pub const MAX_RUN_NAME: usize = 52;
/// Longest name of an object named after the benchmark alone (DNS subdomain).
const MAX_OBJECT_NAME: usize = 253;

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "ibench-operator";
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const NAME: &str = "inference-bench";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
/// Benchmark UID: unlike its name, always a valid label value.
pub const LABEL_BENCHMARK_UID: &str = "inferencebench.dev/benchmark-uid";
pub const LABEL_GENERATION: &str = "inferencebench.dev/generation";
/// Benchmark name on pods, whose owner is the Job rather than the benchmark.
pub const ANNOTATION_BENCHMARK: &str = "inferencebench.dev/benchmark";
pub const ANNOTATION_GENERATION: &str = LABEL_GENERATION;

/// What a child object is for (`app.kubernetes.io/component`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Job, its pods, and the runners' ServiceAccount, Role and RoleBinding.
    Runner,
    /// The runners' config and start signal.
    RunConfig,
    /// One runner's results.
    RunnerResults,
    /// The merged report of the last finished run.
    Report,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Runner => "runner",
            Component::RunConfig => "run-config",
            Component::RunnerResults => "runner-results",
            Component::Report => "report",
        }
    }
}

/// Label selector of the objects the operator watches: everything it creates per run, but not
/// the report ConfigMaps (large, and never needed to decide anything).
pub fn watched_selector() -> String {
    format!(
        "{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_COMPONENT} in ({},{},{})",
        Component::Runner.as_str(),
        Component::RunConfig.as_str(),
        Component::RunnerResults.as_str()
    )
}

/// Labels of a child object of `uid`'s run `generation` (no generation: not per run).
pub fn labels(
    uid: &str,
    generation: Option<i64>,
    component: Component,
) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (LABEL_NAME.to_string(), NAME.to_string()),
        (LABEL_COMPONENT.to_string(), component.as_str().to_string()),
        (LABEL_BENCHMARK_UID.to_string(), uid.to_string()),
    ]);
    if let Some(generation) = generation {
        labels.insert(LABEL_GENERATION.to_string(), generation.to_string());
    }
    labels
}

/// The names of one run's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNames {
    run: String,
}

impl RunNames {
    pub fn new(benchmark: &str, generation: i64) -> Self {
        let suffix = format!("-g{generation}");
        RunNames {
            run: fit(benchmark, &suffix, MAX_RUN_NAME),
        }
    }

    /// The run name: the Job's name and the prefix of every other per-run object.
    pub fn run(&self) -> &str {
        &self.run
    }

    pub fn job(&self) -> &str {
        &self.run
    }

    pub fn config_map(&self) -> String {
        protocol::config_map_name(&self.run)
    }

    pub fn result_map(&self, index: u32) -> String {
        protocol::result_map_name(&self.run, index)
    }

    /// ServiceAccount, Role and RoleBinding share this name.
    pub fn rbac(&self) -> String {
        format!("{}-runner", self.run)
    }
}

/// `<benchmark>-report`.
pub fn report_map(benchmark: &str) -> String {
    fit(benchmark, "-report", MAX_OBJECT_NAME)
}

/// `base` + `suffix` within `max` characters, as a DNS label: when `base` must be shortened, a
/// hash of the whole of it keeps distinct long names distinct.
fn fit(base: &str, suffix: &str, max: usize) -> String {
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() + suffix.len() <= max && clean == base {
        return format!("{clean}{suffix}");
    }
    let hash = format!("-{:08x}", stable_hash(base.as_bytes()) as u32);
    let keep = max.saturating_sub(suffix.len() + hash.len());
    let head = clean[..clean.len().min(keep)].trim_end_matches('-');
    format!("{head}{hash}{suffix}")
}

/// FNV-1a (64 bit): stable across Rust versions and platforms, unlike `DefaultHasher`.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    #[test]
    fn short_names_are_readable() {
        let names = RunNames::new("llama-sweep", 3);
        assert_eq!(names.run(), "llama-sweep-g3");
        assert_eq!(names.job(), "llama-sweep-g3");
        assert_eq!(names.config_map(), "llama-sweep-g3-config");
        assert_eq!(names.result_map(7), "llama-sweep-g3-r7");
        assert_eq!(names.rbac(), "llama-sweep-g3-runner");
        assert_eq!(report_map("llama-sweep"), "llama-sweep-report");
    }

    #[test]
    fn long_and_dotted_names_fit_and_stay_distinct() {
        let long_a = format!("{}a", "x".repeat(240));
        let long_b = format!("{}b", "x".repeat(240));
        for (name, generation) in [(&long_a, 1), (&long_b, 1), (&long_a, i64::MAX)] {
            let run = RunNames::new(name, generation);
            assert!(run.run().len() <= MAX_RUN_NAME, "{}", run.run());
            assert!(run.run().ends_with(&format!("-g{generation}")));
            assert!(is_dns_label(&format!("{}-999", run.job())));
            assert!(is_dns_label(&run.result_map(999)));
        }
        assert_ne!(RunNames::new(&long_a, 1), RunNames::new(&long_b, 1));
        let dotted = RunNames::new("team.a.bench", 2);
        assert!(is_dns_label(dotted.run()), "{}", dotted.run());
        assert_ne!(dotted, RunNames::new("team-a-bench", 2));
        assert!(report_map(&long_a).len() <= MAX_OBJECT_NAME);
    }

    #[test]
    fn names_are_stable() {
        // A restarted (or upgraded) operator must compute the same names.
        assert_eq!(
            RunNames::new(&"y".repeat(60), 12).run(),
            "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy-007c4811-g12"
        );
    }

    #[test]
    fn selector_excludes_reports() {
        assert_eq!(
            watched_selector(),
            "app.kubernetes.io/managed-by=ibench-operator,app.kubernetes.io/component in (runner,run-config,runner-results)"
        );
        let labels = labels("uid-1", Some(4), Component::RunnerResults);
        assert_eq!(labels[LABEL_GENERATION], "4");
        assert_eq!(labels[LABEL_COMPONENT], "runner-results");
        assert!(!super::labels("uid-1", None, Component::Report).contains_key(LABEL_GENERATION));
    }
}
