//! Rules of `api`'s request extras: structured output that the chosen API can carry, and
//! session headers that are valid names for requests that belong to sessions.

use super::error::Issue;
use super::types::{ApiType, Config, DataType, ResponseFormatType};

/// Headers the runner sets itself or that only mean something to one connection.
const RESERVED_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
];

pub(super) fn validate(config: &Config, issues: &mut Vec<Issue>) {
    response_format(config, issues);
    session_headers(config, issues);
}

/// Whether the config's requests belong to sessions (and so carry session headers).
fn has_sessions(config: &Config) -> bool {
    match config.data.data_type {
        DataType::SharedPrefix => config
            .data
            .shared_prefix
            .as_ref()
            .is_some_and(|s| s.enable_multi_turn_chat),
        DataType::ConversationReplay => true,
        _ => false,
    }
}

fn session_headers(config: &Config, issues: &mut Vec<Issue>) {
    let api = &config.api;
    for (field, name) in [
        ("api.session_id_header_key", &api.session_id_header_key),
        (
            "api.session_token_header_key",
            &api.session_token_header_key,
        ),
    ] {
        let Some(name) = name else {
            continue;
        };
        // RFC 9110's token characters.
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            issues.push(Issue::new(
                field,
                format!("{name:?} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~), e.g. x-session-id"),
            ));
        } else if RESERVED_HEADERS
            .iter()
            .any(|r| name.eq_ignore_ascii_case(r))
        {
            issues.push(Issue::new(
                field,
                format!("{name} is set by the runner or the connection; name another header, e.g. x-session-id"),
            ));
        } else if api
            .headers
            .iter()
            .flatten()
            .any(|(other, _)| other.eq_ignore_ascii_case(name))
        {
            issues.push(Issue::new(
                field,
                format!("{name} is also in api.headers, whose fixed value it would replace; remove it from api.headers"),
            ));
        }
        if !has_sessions(config) {
            issues.push(Issue::new(
                field,
                "no request belongs to a session: only data.type conversation_replay, and shared_prefix with enable_multi_turn_chat, have sessions here; remove it",
            ));
        }
    }
    if api
        .session_id_header_key
        .as_deref()
        .zip(api.session_token_header_key.as_deref())
        .is_some_and(|(id, token)| id.eq_ignore_ascii_case(token))
    {
        issues.push(Issue::new(
            "api.session_token_header_key",
            "is the same header as api.session_id_header_key; give each its own",
        ));
    }
}

fn response_format(config: &Config, issues: &mut Vec<Issue>) {
    let api = &config.api;
    let Some(format) = &api.response_format else {
        return;
    };
    if api.api_type == ApiType::AnthropicMessages {
        // inference-perf drops it there without a word.
        issues.push(Issue::new(
            "api.response_format",
            "not sent with api.type anthropic_messages (the Messages API has no response_format); remove it or use api.type chat or completion",
        ));
    }
    match (format.format_type, &format.json_schema) {
        (ResponseFormatType::JsonSchema, None) => issues.push(Issue::new(
            "api.response_format.json_schema",
            "required with type json_schema (the schema the answers must follow), e.g. {type: object, properties: {answer: {type: string}}}; or set type: json_object",
        )),
        (ResponseFormatType::JsonObject, Some(_)) => issues.push(Issue::new(
            "api.response_format.json_schema",
            "not used with type json_object; remove it or set type: json_schema",
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(api: serde_json::Value) -> Vec<String> {
        let config: Config = serde_json::from_value(json!({"api": api})).unwrap();
        let mut issues = Vec::new();
        validate(&config, &mut issues);
        issues.into_iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn a_response_format_needs_its_schema_and_an_api_that_carries_it() {
        assert!(issues(json!({"response_format": {"type": "json_object"}})).is_empty());
        assert!(
            issues(json!({"type": "chat", "response_format": {"json_schema": {"type": "object"}}}))
                .is_empty()
        );
        let missing = issues(json!({"response_format": {"type": "json_schema"}}));
        assert!(
            missing[0]
                .starts_with("api.response_format.json_schema: required with type json_schema"),
            "{missing:?}"
        );
        let unused = issues(
            json!({"response_format": {"type": "json_object", "json_schema": {"type": "object"}}}),
        );
        assert!(
            unused[0].contains("not used with type json_object"),
            "{unused:?}"
        );
        let anthropic = issues(
            json!({"type": "anthropic_messages", "response_format": {"type": "json_object"}}),
        );
        assert!(
            anthropic[0]
                .starts_with("api.response_format: not sent with api.type anthropic_messages"),
            "{anthropic:?}"
        );
    }

    #[test]
    fn session_headers_need_sessions_and_a_name_of_their_own() {
        let multi_turn = |api: serde_json::Value| {
            let config: Config = serde_json::from_value(json!({"api": api, "data": {
                "type": "shared_prefix", "shared_prefix": {"enable_multi_turn_chat": true}}}))
            .unwrap();
            let mut issues = Vec::new();
            validate(&config, &mut issues);
            issues
                .into_iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
        };
        assert!(
            multi_turn(json!({"session_id_header_key": "x-session-id",
                "session_token_header_key": "X-Session-Token"}))
            .is_empty()
        );
        let bad = multi_turn(json!({"session_id_header_key": "x session",
            "session_token_header_key": "Host", "headers": {"X-Other": "1"}}));
        assert!(
            bad[0]
                .starts_with("api.session_id_header_key: \"x session\" is not an HTTP header name"),
            "{bad:?}"
        );
        assert!(bad[1].contains("set by the runner"), "{bad:?}");
        let clash = multi_turn(json!({"session_id_header_key": "x-a",
            "session_token_header_key": "X-A", "headers": {"X-A": "1"}}));
        assert_eq!(clash.len(), 3, "{clash:?}");
        assert!(clash[0].contains("also in api.headers"), "{clash:?}");
        assert!(
            clash[2].contains("same header as api.session_id_header_key"),
            "{clash:?}"
        );
        let no_sessions = issues(json!({"session_id_header_key": "x-session-id"}));
        assert!(
            no_sessions[0]
                .starts_with("api.session_id_header_key: no request belongs to a session"),
            "{no_sessions:?}"
        );
    }

    #[test]
    fn the_request_field_is_inference_perfs() {
        let config: Config = serde_json::from_value(json!({"api": {"response_format": {
            "json_schema": {"type": "object", "required": ["a"]}}}}))
        .unwrap();
        let format = config.api.response_format.unwrap();
        assert_eq!(
            format.to_request_field(),
            json!({"type": "json_schema", "json_schema": {"name": "structured_output",
                "schema": {"type": "object", "required": ["a"]}}})
        );
        let object = crate::config::ResponseFormat {
            format_type: ResponseFormatType::JsonObject,
            ..format
        };
        assert_eq!(object.to_request_field(), json!({"type": "json_object"}));
    }
}
