//! Failure labels, as inference-perf groups them in `failures.by_label`.

use super::record::{ErrorKind, RequestError};

/// Longest error message kept; servers sometimes echo whole prompts.
const MAX_MESSAGE_CHARS: usize = 500;

pub fn label(error: &RequestError) -> String {
    match error.kind {
        ErrorKind::Http(429) => "429 - Rate Limit".into(),
        ErrorKind::Http(500) => "500 - Internal Server Error".into(),
        ErrorKind::Http(502) => "502 - Bad Gateway".into(),
        ErrorKind::Http(503) => "503 - Service Unavailable".into(),
        ErrorKind::Http(504) => "504 - Gateway Timeout".into(),
        ErrorKind::Http(_) | ErrorKind::StreamError => by_message(&error.message).into(),
        ErrorKind::Timeout => "Timeout".into(),
        ErrorKind::Connection => "Connection Error".into(),
        ErrorKind::IncompleteStream => "Incomplete Stream".into(),
        ErrorKind::InvalidResponse => "Invalid JSON".into(),
        ErrorKind::ResponseTooLarge => "Response Too Large".into(),
    }
}

fn by_message(message: &str) -> &'static str {
    let m = message.to_lowercase();
    if m.contains("context length")
        || m.contains("context window")
        || m.contains("maximum context")
        || m.contains("too long")
    {
        "Context Window"
    } else if m.contains("json") {
        "Invalid JSON"
    } else if m.contains("timeout") || m.contains("timed out") {
        "Timeout"
    } else if m.contains("model")
        && (m.contains("not found") || m.contains("does not exist") || m.contains("not exist"))
    {
        "Model Not Found"
    } else {
        "other"
    }
}

/// The message shown for a failure: an OpenAI-style `error.message` when the body has one,
/// else the raw text, shortened.
pub fn message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            error
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
                .or_else(|| error.as_str().map(str::to_owned))
        });
    shorten(&from_json.unwrap_or_else(|| body.trim().to_owned()))
}

/// `text` cut to the longest message kept. Any failure message may carry a body: a JSON
/// parser's error quotes the string it choked on, however long.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(code: u16, message: &str) -> String {
        label(&RequestError {
            kind: ErrorKind::Http(code),
            message: message.into(),
        })
    }

    #[test]
    fn http_labels_follow_inference_perf() {
        assert_eq!(http(429, ""), "429 - Rate Limit");
        assert_eq!(http(503, ""), "503 - Service Unavailable");
        assert_eq!(
            http(404, "The model `x` does not exist."),
            "Model Not Found"
        );
        assert_eq!(
            http(400, "This model's maximum context length is 4096 tokens"),
            "Context Window"
        );
        assert_eq!(http(418, "teapot"), "other");
    }

    #[test]
    fn messages_prefer_the_openai_error_field_and_are_bounded() {
        assert_eq!(
            message(r#"{"error": {"message": "boom", "type": "x"}}"#),
            "boom"
        );
        assert_eq!(message("plain text\n"), "plain text");
        assert_eq!(
            message(&"x".repeat(2000)).chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }
}
