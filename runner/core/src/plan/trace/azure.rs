//! AzurePublicDataset traces: CSV rows `TIMESTAMP, ContextTokens, GeneratedTokens`.
//!
//! Timestamps keep their full sub-second precision (inference-perf truncates to 10 ms) and are
//! normalised so the earliest row is at offset 0; rows are replayed in time order.

use std::path::Path;

use chrono::NaiveDateTime;

use super::{TraceError, TraceRow};

pub fn read(path: &Path) -> Result<Vec<TraceRow>, TraceError> {
    let display = path.display().to_string();
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|source| TraceError::Read {
            path: display.clone(),
            source,
        })?;
    let mut rows: Vec<(i128, u32, u32)> = Vec::new();
    for (n, record) in reader.into_records().enumerate() {
        let record = record.map_err(|source| TraceError::Read {
            path: display.clone(),
            source,
        })?;
        let line = record.position().map_or(n as u64 + 1, |p| p.line());
        let row_error = |reason: String| TraceError::Row {
            path: display.clone(),
            line,
            reason,
        };
        if record.len() < 3 {
            return Err(row_error(format!(
                "expected 3 columns (TIMESTAMP, ContextTokens, GeneratedTokens), got {}",
                record.len()
            )));
        }
        let Some(nanos) = parse_timestamp(&record[0]) else {
            if n == 0 {
                continue; // header row
            }
            return Err(row_error(format!(
                "cannot parse timestamp {:?}",
                &record[0]
            )));
        };
        let tokens = |i: usize, name: &str| {
            record[i].parse::<u32>().map_err(|_| {
                row_error(format!(
                    "{name} {:?} is not a non-negative integer",
                    &record[i]
                ))
            })
        };
        rows.push((
            nanos,
            tokens(1, "ContextTokens")?,
            tokens(2, "GeneratedTokens")?,
        ));
    }
    let start = rows
        .iter()
        .map(|r| r.0)
        .min()
        .ok_or(TraceError::Empty { path: display })?;
    rows.sort_by_key(|r| r.0);
    Ok(rows
        .into_iter()
        .map(|(t, context_tokens, generated_tokens)| TraceRow {
            offset: (t - start) as f64 * 1e-9,
            context_tokens,
            generated_tokens,
            hash_ids: Box::default(),
        })
        .collect())
}

/// Nanoseconds since an arbitrary epoch (integers, so that sub-microsecond differences survive
/// timestamps of 1.7e9 seconds): `2023-11-16 18:15:46.6805900`, ISO `T`/`Z` forms, or a plain
/// number of seconds.
fn parse_timestamp(text: &str) -> Option<i128> {
    let text = text.trim_matches('"').trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds
            .is_finite()
            .then_some((seconds * 1e9).round() as i128);
    }
    let text = text.trim_end_matches('Z').replace('T', " ");
    let parsed = NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let utc = parsed.and_utc();
    Some(i128::from(utc.timestamp()) * 1_000_000_000 + i128::from(utc.timestamp_subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn trace(text: &str) -> Result<Vec<TraceRow>, TraceError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        read(file.path())
    }

    #[test]
    fn normalises_offsets_with_full_precision_and_skips_the_header() {
        let rows = trace(
            "TIMESTAMP,ContextTokens,GeneratedTokens\n\
             2023-11-16 18:15:46.6805900,374,44\n\
             2023-11-16 18:15:46.6855000,396,109\n\
             \"2023-11-16T18:15:50.0000001Z\", 879, 17\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            TraceRow {
                offset: 0.0,
                context_tokens: 374,
                generated_tokens: 44,
                hash_ids: Box::default(),
            }
        );
        assert!(
            (rows[1].offset - 0.00491).abs() < 1e-9,
            "{}",
            rows[1].offset
        );
        assert!((rows[2].offset - 3.3194101).abs() < 1e-6);
        assert_eq!(
            (rows[2].context_tokens, rows[2].generated_tokens),
            (879, 17)
        );
    }

    #[test]
    fn malformed_rows_name_their_line() {
        let err = trace("2023-01-01 00:00:00.000, 150, 200\n2023-01-01 00:00:05.500, x, 150\n")
            .unwrap_err();
        assert_eq!(
            err.to_string().split(": ").nth(1).unwrap(),
            "ContextTokens \"x\" is not a non-negative integer"
        );
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(matches!(
            trace("TIMESTAMP,ContextTokens,GeneratedTokens\n"),
            Err(TraceError::Empty { .. })
        ));
    }
}
