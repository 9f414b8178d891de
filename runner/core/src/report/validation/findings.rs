//! What the checks find, grouped the way `validation.json` holds it: global findings, then one
//! group per report file in the order the files were validated.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding of check `check` about report file `report` (`None`: about several files).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub check: String,
    pub severity: Severity,
    pub message: String,
    pub report: Option<String>,
}

impl Finding {
    pub fn new(check: &str, severity: Severity, message: String, report: Option<&str>) -> Self {
        Finding {
            check: check.into(),
            severity,
            message,
            report: report.map(Into::into),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "check": self.check,
            "severity": self.severity.name(),
            "message": self.message,
            "report": self.report,
        })
    }
}

#[derive(Debug, Default, Clone, PartialEq)]
struct Group {
    warnings: Vec<Finding>,
    errors: Vec<Finding>,
}

impl Group {
    fn to_json(&self) -> Value {
        let list = |findings: &[Finding]| findings.iter().map(Finding::to_json).collect::<Vec<_>>();
        json!({"warnings": list(&self.warnings), "errors": list(&self.errors)})
    }
}

/// Every finding of a report set, and every file that was validated (clean or not).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Validation {
    global: Group,
    reports: Vec<(String, Group)>,
}

impl Validation {
    /// Lists `report` as validated, clean until a finding says otherwise.
    pub fn cover(&mut self, report: &str) {
        self.group(Some(report));
    }

    fn group(&mut self, report: Option<&str>) -> &mut Group {
        let Some(report) = report else {
            return &mut self.global;
        };
        let at = match self.reports.iter().position(|(name, _)| name == report) {
            Some(at) => at,
            None => {
                self.reports.push((report.into(), Group::default()));
                self.reports.len() - 1
            }
        };
        &mut self.reports[at].1
    }

    pub fn add(&mut self, finding: Finding) {
        let group = self.group(finding.report.as_deref());
        match finding.severity {
            Severity::Warning => group.warnings.push(finding),
            Severity::Error => group.errors.push(finding),
        }
    }

    pub fn extend(&mut self, findings: impl IntoIterator<Item = Finding>) {
        findings.into_iter().for_each(|f| self.add(f));
    }

    /// Every finding: global ones first, then by file; warnings before errors in each.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        std::iter::once(&self.global)
            .chain(self.reports.iter().map(|(_, group)| group))
            .flat_map(|group| group.warnings.iter().chain(&group.errors))
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings().filter(|f| f.severity == severity).count()
    }

    /// How many files were validated.
    pub fn files(&self) -> usize {
        self.reports.len()
    }

    /// The contents of `validation.json`.
    pub fn to_json(&self) -> Value {
        let reports: serde_json::Map<String, Value> = self
            .reports
            .iter()
            .map(|(name, group)| (name.clone(), group.to_json()))
            .collect();
        json!({"global": self.global.to_json(), "reports": reports})
    }
}
