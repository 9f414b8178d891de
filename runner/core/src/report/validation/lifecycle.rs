//! The checks of a lifecycle report (`summary_lifecycle_metrics.json`, and each
//! `stage_N_lifecycle_metrics.json` with its load block): counts that add up, a sane time,
//! distributions, token totals, throughputs and goodput that agree with the counts.

use serde_json::Value;

use super::distributions::distribution_findings;
use super::findings::{Finding, Severity, Validation};
use super::numbers::{approx_eq, approx_le, get, number, number_at, python_str, type_name};

/// The run summary's file name.
pub const SUMMARY_FILE: &str = "summary_lifecycle_metrics.json";

const SECTIONS: [&str; 3] = ["load_summary", "successes", "failures"];

/// Why a file is not a lifecycle report at all (the other checks would only cascade).
pub fn structure_problem(contents: &Value) -> Option<String> {
    let Value::Object(map) = contents else {
        return Some(format!(
            "expected a JSON object, got {}",
            type_name(contents)
        ));
    };
    let missing: Vec<&str> = SECTIONS
        .into_iter()
        .filter(|key| !map.contains_key(*key))
        .collect();
    (!missing.is_empty()).then(|| format!("missing top-level section(s): {}", missing.join(", ")))
}

/// One report file's findings, each check named `{prefix}.{check}`.
struct Checker<'a> {
    report: &'a str,
    prefix: &'a str,
    contents: &'a Value,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn add(&mut self, check: &str, severity: Severity, message: String) {
        self.findings.push(Finding::new(
            &format!("{}.{check}", self.prefix),
            severity,
            message,
            Some(self.report),
        ));
    }

    fn raw(&self, path: &[&str]) -> Option<&Value> {
        get(self.contents, path).filter(|v| v.is_number())
    }

    fn counts(&mut self) {
        let count = |path| number_at(self.contents, path);
        let (Some(total), Some(successes), Some(failures)) = (
            count(&["load_summary", "count"]),
            count(&["successes", "count"]),
            count(&["failures", "count"]),
        ) else {
            return self.add(
                "counts",
                Severity::Error,
                "missing or non-numeric request counts".into(),
            );
        };
        if successes + failures != total {
            let text = |path| python_str(get(self.contents, path).unwrap_or(&Value::Null));
            let message = format!(
                "request counts do not reconcile: successes ({}) + failures ({}) != load_summary.count ({})",
                text(&["successes", "count"]),
                text(&["failures", "count"]),
                text(&["load_summary", "count"]),
            );
            self.add("counts", Severity::Error, message);
        }
    }

    fn time(&mut self) {
        let Some(time) = self.raw(&["benchmark_time_seconds"]).cloned() else {
            return;
        };
        let seconds = time.as_f64().unwrap_or_default();
        let count = self.raw(&["load_summary", "count"]).cloned();
        if seconds < 0.0 {
            let message = format!("negative benchmark_time_seconds: {}", python_str(&time));
            self.add("time", Severity::Error, message);
        } else if let Some(count) = count.filter(|c| c.as_f64() > Some(0.0))
            && seconds == 0.0
        {
            let message = format!(
                "benchmark_time_seconds is 0 with {} request(s)",
                python_str(&count)
            );
            self.add("time", Severity::Warning, message);
        }
    }

    fn distributions(&mut self) {
        let check = format!("{}.distributions", self.prefix);
        let found = distribution_findings(self.report, self.contents, &check, &["schedule_delay"]);
        self.findings.extend(found);
    }

    /// `total == mean × successes.count` for `section` (one of the token aggregates).
    fn total_is_mean_times_count(&mut self, section: &str, block: &Value, successes: &Value) {
        let (Some(total), Some(mean)) = (
            block.get("total").filter(|v| v.is_number()),
            block.get("mean").filter(|v| v.is_number()),
        ) else {
            return;
        };
        let n = successes.as_f64().unwrap_or_default();
        if n > 0.0
            && !approx_eq(
                total.as_f64().unwrap_or_default(),
                mean.as_f64().unwrap_or_default() * n,
            )
        {
            let message = format!(
                "{section}.total ({}) != mean * successes.count ({} * {})",
                python_str(total),
                python_str(mean),
                python_str(successes)
            );
            self.add("tokens", Severity::Error, message);
        }
    }

    fn tokens(&mut self) {
        let successes = self.raw(&["successes", "count"]).cloned();
        if let Some(prompt) =
            get(self.contents, &["successes", "prompt_tokens"]).filter(|p| p.is_object())
        {
            let field = |key: &str| prompt.get(key).filter(|v| v.is_number());
            if let (Some(total), Some(cached)) = (field("total"), field("cached")) {
                let (t, c) = (
                    total.as_f64().unwrap_or_default(),
                    cached.as_f64().unwrap_or_default(),
                );
                if !approx_le(c, t) {
                    let message = format!(
                        "prompt_tokens.cached ({}) exceeds prompt_tokens.total ({})",
                        python_str(cached),
                        python_str(total)
                    );
                    self.add("tokens", Severity::Error, message);
                }
                if let Some(uncached) = field("uncached")
                    && !approx_eq(uncached.as_f64().unwrap_or_default(), (t - c).max(0.0))
                {
                    let message = format!(
                        "prompt_tokens.uncached ({}) != total - cached ({} - {})",
                        python_str(uncached),
                        python_str(total),
                        python_str(cached)
                    );
                    self.add("tokens", Severity::Error, message);
                }
            }
            if let Some(successes) = &successes {
                self.total_is_mean_times_count("prompt_tokens", prompt, successes);
            }
        }
        if let Some(output) =
            get(self.contents, &["successes", "output_tokens"]).filter(|o| o.is_object())
            && let Some(successes) = &successes
        {
            self.total_is_mean_times_count("output_tokens", output, successes);
        }
    }

    fn throughput(&mut self) {
        let Some(Value::Object(throughput)) = get(self.contents, &["successes", "throughput"])
        else {
            return;
        };
        for (key, value) in throughput {
            if number(Some(value)).is_some_and(|v| v < 0.0) {
                let message = format!("negative throughput {key}: {}", python_str(value));
                self.add("throughput", Severity::Error, message);
            }
        }
        let time = self.raw(&["benchmark_time_seconds"]).cloned();
        let successes = self.raw(&["successes", "count"]).cloned();
        let rate = throughput.get("requests_per_sec").filter(|v| v.is_number());
        if let (Some(time), Some(successes), Some(rate)) = (&time, &successes, rate) {
            let (b, n, r) = (
                time.as_f64().unwrap_or_default(),
                successes.as_f64().unwrap_or_default(),
                rate.as_f64().unwrap_or_default(),
            );
            if b > 0.0 && !approx_eq(r * b, n) {
                let message = format!(
                    "requests_per_sec ({}) * benchmark_time_seconds ({}) != successes.count ({})",
                    python_str(rate),
                    python_str(time),
                    python_str(successes)
                );
                self.add("throughput", Severity::Error, message);
            }
        }
        let rate = |key: &str| throughput.get(key).filter(|v| v.is_number());
        if let (Some(input), Some(output), Some(total)) = (
            rate("input_tokens_per_sec"),
            rate("output_tokens_per_sec"),
            rate("total_tokens_per_sec"),
        ) {
            let value = |v: &Value| v.as_f64().unwrap_or_default();
            if !approx_eq(value(input) + value(output), value(total)) {
                let message = format!(
                    "total_tokens_per_sec ({}) != input_tokens_per_sec ({}) + output_tokens_per_sec ({})",
                    python_str(total),
                    python_str(input),
                    python_str(output)
                );
                self.add("throughput", Severity::Error, message);
            }
        }
    }

    fn goodput(&mut self) {
        let Some(Value::Object(goodput)) = get(self.contents, &["successes", "goodput_metrics"])
        else {
            return;
        };
        let field = |key: &str| goodput.get(key).filter(|v| v.is_number());
        let (good, total) = (field("good_requests"), field("total_requests"));
        if let (Some(good), Some(total)) = (good, total)
            && good.as_f64() > total.as_f64()
        {
            let message = format!(
                "good_requests ({}) exceeds total_requests ({})",
                python_str(good),
                python_str(total)
            );
            self.add("goodput", Severity::Error, message);
        }
        if let (Some(total), Some(successes)) = (total, self.raw(&["successes", "count"]))
            && total.as_f64() != successes.as_f64()
        {
            let message = format!(
                "goodput total_requests ({}) != successes.count ({})",
                python_str(total),
                python_str(successes)
            );
            self.add("goodput", Severity::Error, message);
        }
        for (key, value) in goodput {
            if key.ends_with("percentage")
                && let Some(v) = number(Some(value))
                && !(0.0..=100.0 + 1e-9).contains(&v)
            {
                let message = format!("goodput {key} outside [0, 100]: {}", python_str(value));
                self.add("goodput", Severity::Error, message);
            }
        }
    }

    fn token_mismatches(&mut self) {
        if let Some(mismatches) = self.raw(&["successes", "token_count_mismatches"]).cloned()
            && mismatches.as_f64() > Some(0.0)
        {
            let message = format!(
                "{} request(s) where the client-side token count disagrees with the server-reported completion_tokens",
                python_str(&mismatches)
            );
            self.add("token_mismatches", Severity::Warning, message);
        }
    }

    /// A stage's load block: no negative rate, duration or concurrency.
    fn load(&mut self) {
        for key in [
            "requested_rate",
            "achieved_rate",
            "send_duration",
            "concurrency",
        ] {
            if let Some(value) = self.raw(&["load_summary", key]).cloned()
                && value.as_f64() < Some(0.0)
            {
                let message = format!("load_summary.{key} is negative: {}", python_str(&value));
                self.add("load", Severity::Error, message);
            }
        }
    }

    fn contents(&mut self) {
        self.counts();
        self.time();
        self.distributions();
        self.tokens();
        self.throughput();
        self.goodput();
        self.token_mismatches();
    }
}

fn checker<'a>(report: &'a str, prefix: &'a str, contents: &'a Value) -> Checker<'a> {
    Checker {
        report,
        prefix,
        contents,
        findings: Vec::new(),
    }
}

/// The run summary's checks (check names `summary.*`); nothing when there is none.
pub fn validate_summary(report: &str, contents: Option<&Value>, into: &mut Validation) {
    let Some(contents) = contents else {
        return;
    };
    into.cover(report);
    if let Some(problem) = structure_problem(contents) {
        into.add(Finding::new(
            "summary.structure",
            Severity::Error,
            problem,
            Some(report),
        ));
        return;
    }
    let mut summary = checker(report, "summary", contents);
    summary.contents();
    into.extend(summary.findings);
}

/// The stage reports' checks (`per_stage.*`), `stages` sorted by stage id: every file's
/// structure, then the contents of the well-formed ones, then their load blocks.
pub fn validate_stages(stages: &[(u64, String, &Value)], into: &mut Validation) {
    for (_, name, _) in stages {
        into.cover(name);
    }
    let mut well_formed = Vec::new();
    for (_, name, contents) in stages {
        match structure_problem(contents) {
            Some(problem) => into.add(Finding::new(
                "per_stage.structure",
                Severity::Error,
                problem,
                Some(name),
            )),
            None => well_formed.push((name.as_str(), *contents)),
        }
    }
    for (name, contents) in &well_formed {
        let mut stage = checker(name, "per_stage", contents);
        stage.contents();
        into.extend(stage.findings);
    }
    for (name, contents) in &well_formed {
        let mut stage = checker(name, "per_stage", contents);
        stage.load();
        into.extend(stage.findings);
    }
}
