//! The files a config names. Runners read them before the first request, each from a local
//! path or an object URL, and every runner of a run must read the same bytes; this is the one
//! list of them.

use super::types::Config;

/// `(field, value)` of every file the config names, in a fixed order.
pub fn input_files(config: &Config) -> Vec<(&'static str, String)> {
    let mut config = config.clone();
    input_files_mut(&mut config)
        .into_iter()
        .map(|(field, value)| (field, value.clone()))
        .collect()
}

/// The same list, to point fields at local copies.
pub fn input_files_mut(config: &mut Config) -> Vec<(&'static str, &mut String)> {
    let mut files = Vec::new();
    if let Some(path) = &mut config.data.path {
        files.push(("data.path", path));
    }
    if let Some(path) = &mut config.data.corpus_file_path {
        files.push(("data.corpus_file_path", path));
    }
    if let Some(trace) = &mut config.data.trace {
        files.push(("data.trace.file", &mut trace.file));
    }
    if let Some(trace) = &mut config.load.trace {
        files.push(("load.trace.file", &mut trace.file));
    }
    let trace_lists = [
        (
            "data.otel_trace_replay.trace_files",
            config
                .data
                .otel_trace_replay
                .as_mut()
                .and_then(|o| o.trace_files.as_mut()),
        ),
        (
            "data.weka_trace_replay.trace_files",
            config
                .data
                .weka_trace_replay
                .as_mut()
                .and_then(|w| w.trace_files.as_mut()),
        ),
    ];
    for (field, list) in trace_lists {
        for path in list.into_iter().flatten() {
            files.push((field, path));
        }
    }
    if let Some(path) = config
        .tokenizer
        .as_mut()
        .and_then(|t| t.pretrained_model_name_or_path.as_mut())
    {
        files.push(("tokenizer.pretrained_model_name_or_path", path));
    }
    if let Some(server) = &mut config.server {
        let fields = [
            ("server.ca_cert_path", &mut server.ca_cert_path),
            ("server.cert_path", &mut server.cert_path),
            ("server.key_path", &mut server.key_path),
        ];
        for (field, path) in fields {
            if let Some(path) = path {
                files.push((field, path));
            }
        }
    }
    files
}
