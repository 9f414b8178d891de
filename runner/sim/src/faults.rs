//! Which fault, if any, a request gets: from the `x-ibench-fault` header when present, else
//! drawn with the configured rates.

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use super::config::FaultRates;

/// Request header that forces a fault (or, with `none`, forbids one) for that request.
/// Values: `500`, `429`, `503`, `hang`, `cut`, `malformed`, `bad_tool_args`, `none`.
pub const FAULT_HEADER: &str = "x-ibench-fault";

/// A misbehaviour injected into an otherwise valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Immediate 500 with an OpenAI-style error body.
    Error500,
    /// Immediate 429 with an OpenAI-style error body.
    Error429,
    /// Immediate 503 with an OpenAI-style error body.
    Error503,
    /// No answer: the request is held until the client gives up (closes the connection), the
    /// server shuts down or `hang_timeout_ms` passes; then the connection is closed without a
    /// response.
    Hang,
    /// Status 200, then the connection is closed half-way: a stream stops after half of its
    /// tokens without the final chunk or `[DONE]`; a non-streamed body announces its full
    /// Content-Length and stops after half of its bytes.
    Cut,
    /// Status 200 with invalid JSON: a non-streamed body is truncated to half; a stream has its
    /// middle token's event replaced by an invalid `data:` line (the rest is intact).
    Malformed,
    /// Status 200 with a valid body whose forced tool call has `arguments` that are not JSON
    /// (a tool-call parser's markers leaked into them, as vLLM's `qwen3_xml` does). Only a
    /// request forcing a tool call gets it; others are answered without a fault.
    BadToolArgs,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::Error500,
        Fault::Error429,
        Fault::Error503,
        Fault::Hang,
        Fault::Cut,
        Fault::Malformed,
        Fault::BadToolArgs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Error500 => "500",
            Fault::Error429 => "429",
            Fault::Error503 => "503",
            Fault::Hang => "hang",
            Fault::Cut => "cut",
            Fault::Malformed => "malformed",
            Fault::BadToolArgs => "bad_tool_args",
        }
    }

    /// Position in [`Fault::ALL`] (declaration order).
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Parses a header value: `Ok(None)` for `none`.
    pub fn from_header(value: &[u8]) -> Result<Option<Fault>, InvalidFault> {
        if value.eq_ignore_ascii_case(b"none") {
            return Ok(None);
        }
        Fault::ALL
            .into_iter()
            .find(|f| value.eq_ignore_ascii_case(f.as_str().as_bytes()))
            .map(Some)
            .ok_or_else(|| InvalidFault(String::from_utf8_lossy(value).into_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid {FAULT_HEADER} header {0:?}: expected one of 500, 429, 503, hang, cut, malformed, bad_tool_args, none"
)]
pub struct InvalidFault(String);

/// Draws faults with fixed rates; draws nothing when every rate is zero.
#[derive(Debug, Clone)]
pub(crate) struct FaultPicker {
    /// Cumulative upper bounds of each fault's interval in [0, 1).
    bounds: [(f64, Fault); 7],
    total: f64,
}

impl FaultPicker {
    pub fn new(rates: &FaultRates) -> FaultPicker {
        let mut acc = 0.0;
        let bounds = [
            (rates.error_500, Fault::Error500),
            (rates.error_429, Fault::Error429),
            (rates.error_503, Fault::Error503),
            (rates.hang, Fault::Hang),
            (rates.cut, Fault::Cut),
            (rates.malformed, Fault::Malformed),
            (rates.bad_tool_args, Fault::BadToolArgs),
        ]
        .map(|(rate, fault)| {
            acc += rate;
            (acc, fault)
        });
        FaultPicker { bounds, total: acc }
    }

    pub fn pick(&self, rng: &mut Pcg64Mcg) -> Option<Fault> {
        if self.total == 0.0 {
            return None;
        }
        let u: f64 = rng.random();
        self.bounds
            .iter()
            .find(|(bound, _)| u < *bound)
            .map(|(_, fault)| *fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn header_values_round_trip() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_header(f.as_str().as_bytes()).unwrap(), Some(f));
        }
        assert!(Fault::ALL.iter().enumerate().all(|(i, f)| f.index() == i));
        assert_eq!(Fault::from_header(b"NONE").unwrap(), None);
        assert!(Fault::from_header(b"404").is_err());
    }

    #[test]
    fn rates_are_respected() {
        let picker = FaultPicker::new(&FaultRates {
            error_500: 0.1,
            cut: 0.2,
            ..Default::default()
        });
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let mut counts = [0usize; 7];
        let mut none = 0;
        for _ in 0..100_000 {
            match picker.pick(&mut rng) {
                Some(f) => counts[f.index()] += 1,
                None => none += 1,
            }
        }
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        assert!(
            (19_000..21_000).contains(&counts[Fault::Cut.index()]),
            "{counts:?}"
        );
        assert_eq!(counts.iter().sum::<usize>() + none, 100_000);
    }
}
