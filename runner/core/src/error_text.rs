//! Errors as one line a user can act on.

/// `error` and its causes, each once: clients' own texts ("error sending request for url (…)")
/// leave out what happened (connection refused, a name that does not resolve, a TLS failure).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    // Bounded: cause chains are short, but a cyclic one must not hang the caller.
    for _ in 0..8 {
        let Some(inner) = cause else { break };
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

/// `text` on one line (whitespace runs made one space), cut to `max_chars` with an ellipsis:
/// servers put whole HTML pages in error bodies.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = line.char_indices().nth(max_chars) {
        line.truncate(cut);
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Layer {
        #[error("sending failed")]
        Outer(#[source] std::io::Error),
        #[error("sending failed: {0}")]
        Repeats(#[source] std::io::Error),
    }

    #[test]
    fn long_texts_become_one_short_line() {
        assert_eq!(
            one_line("<html>\n  <body>é  x</body>", 14),
            "<html> <body>é…"
        );
        assert_eq!(one_line(" a\tb ", 10), "a b");
    }

    #[test]
    fn causes_are_appended_once() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            with_causes(&Layer::Outer(refused())),
            "sending failed: refused"
        );
        assert_eq!(
            with_causes(&Layer::Repeats(refused())),
            "sending failed: refused"
        );
    }
}
