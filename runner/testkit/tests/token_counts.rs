//! The runner's token counts with a realistic tokenizer (the trained 32k byte-level BPE) equal
//! what `tokenizers` itself gives, chunk by chunk and in total: the cheap counter of
//! `ibench_core::tokenize` must never change a count inference-perf would report.

use std::sync::OnceLock;

use ibench_core::tokenize::Tokenizer;
use ibench_testkit::bpe::{BPE_VOCABULARY, bpe32k_tokenizer};
use proptest::prelude::*;

/// The trained tokenizer as the runner reads it and as `tokenizers` does, plain and with a
/// prefix space added before each text (RoBERTa's setting).
struct Fixture {
    ours: Tokenizer,
    reference: tokenizers::Tokenizer,
    ours_prefixed: Tokenizer,
    reference_prefixed: tokenizers::Tokenizer,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = bpe32k_tokenizer().unwrap_or_else(|e| panic!("{e}"));
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        json["pre_tokenizer"]["add_prefix_space"] = true.into();
        let dir = tempfile::tempdir().unwrap().keep();
        let prefixed = dir.join("tokenizer.json");
        std::fs::write(&prefixed, json.to_string()).unwrap();
        let load = |path: &std::path::Path| {
            let ours = Tokenizer::load(path.to_str(), std::time::Duration::from_secs(60)).unwrap();
            (ours, tokenizers::Tokenizer::from_file(path).unwrap())
        };
        let (ours, reference) = load(&path);
        let (ours_prefixed, reference_prefixed) = load(&prefixed);
        Fixture {
            ours,
            reference,
            ours_prefixed,
            reference_prefixed,
        }
    })
}

/// The shipped sonnets in the trained tokenizer's tokens.
fn sonnet_ids(reference: &tokenizers::Tokenizer) -> Vec<u32> {
    let corpus = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/assets/corpus/sonnets.txt"),
    )
    .unwrap();
    reference
        .encode_fast(corpus.as_str(), false)
        .unwrap()
        .get_ids()
        .to_vec()
}

fn reference_count(tokenizer: &tokenizers::Tokenizer, text: &str) -> usize {
    tokenizer.encode_fast(text, false).unwrap().get_ids().len()
}

#[test]
fn the_trained_tokenizer_has_32k_entries() {
    assert_eq!(fixture().reference.get_vocab_size(true), BPE_VOCABULARY);
}

/// Text like a model's output and like what trips tokenizers: contractions, runs of spaces and
/// newlines before words, digits, punctuation, control characters, special-token text, and
/// non-ASCII characters (which `tokenizers` counts itself).
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z]{1,8}",
        2 => prop::sample::select(vec![" ", "  ", "\n", "\n\n", " \n", "\t", "\r\n", "   "]).prop_map(String::from),
        2 => prop::sample::select(vec!["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'", "''", "'S", "n't"]).prop_map(String::from),
        1 => "[0-9]{1,5}",
        1 => "[!-/:-@\\[-`{-~]{1,3}",
        1 => "[\\x00-\\x1f\\x7f]",
        1 => prop::sample::select(vec!["<|endoftext|>", "é", "日本", "🙂", "\u{a0}", "\u{85}"]).prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn counts_equal_the_tokenizers_count(text in text()) {
        let f = fixture();
        prop_assert_eq!(f.ours.count(&text), reference_count(&f.reference, &text), "{:?}", text);
        prop_assert_eq!(
            f.ours_prefixed.count(&text),
            reference_count(&f.reference_prefixed, &text),
            "prefix space: {:?}",
            text
        );
    }
}

/// Streams as a server sends them: the answer's tokens decoded one, two or three at a time.
/// Per chunk, the runner's count equals inference-perf's (the chunk's text tokenized alone),
/// and the total equals the whole text's count.
#[test]
fn streamed_chunk_counts_and_totals_equal_per_chunk_tokenization() {
    let Fixture {
        ours, reference, ..
    } = fixture();
    let ids = sonnet_ids(reference);
    let mut checked_chunks = 0;
    for (answer, group) in ids.chunks(200).zip([1, 2, 3].into_iter().cycle()) {
        let chunks: Vec<String> = answer
            .chunks(group)
            .map(|ids| reference.decode(ids, false).unwrap())
            .collect();
        let mut counter = ours.output_counter();
        for chunk in &chunks {
            assert_eq!(
                counter.feed(chunk),
                reference_count(reference, chunk),
                "{chunk:?}"
            );
            checked_chunks += 1;
        }
        let whole = chunks.concat();
        assert_eq!(
            counter.total(),
            reference_count(reference, &whole),
            "{whole:?}"
        );
    }
    assert!(checked_chunks > 1000, "{checked_chunks} chunks");
}

/// A server streaming the sonnets' tokens as answers, one to three tokens per event and a
/// millisecond between events, each request the next 120 tokens.
async fn sonnet_streaming_server(reference: &'static tokenizers::Tokenizer) -> String {
    let ids = sonnet_ids(reference);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (ids, next) = (ids.clone(), next.clone());
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for _ in 0..1000 {
                    if ibench_testkit::read_request(&mut socket).await.is_none() {
                        return;
                    }
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let from = (n * 120) % (ids.len() - 120);
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let answer = &ids[from..from + 120];
                    let mut events: Vec<String> = answer
                        .chunks(1 + n % 3)
                        .map(|group| {
                            let text = reference.decode(group, false).unwrap();
                            let chunk = serde_json::json!({"id": "c", "object": "text_completion",
                                "choices": [{"index": 0, "text": text}]});
                            format!("data: {chunk}\n\n")
                        })
                        .collect();
                    events.push("data: [DONE]\n\n".into());
                    for event in events {
                        let framed = format!("{:x}\r\n{event}\r\n", event.len());
                        if socket.write_all(framed.as_bytes()).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    if socket.write_all(b"0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    base_url
}

/// Through a whole run over real HTTP: each request's `output_token_times` are its events'
/// arrival times repeated by each event's own token count, and its `output_tokens` the count of
/// its whole text, both as `tokenizers` counts them (what inference-perf does at report time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_counts_streamed_tokens_as_per_chunk_tokenization_does() {
    let f = fixture();
    let base_url = sonnet_streaming_server(&f.reference).await;
    let dir = tempfile::tempdir().unwrap();
    let path = bpe32k_tokenizer().unwrap();
    let mut config = ibench_testkit::config(
        &base_url,
        dir.path(),
        &format!(
            "api: {{streaming: true}}\ntokenizer: {{pretrained_model_name_or_path: {}}}\nload: {{stages: [{{rate: 20, duration: 1}}], num_workers: 1}}\nreport: {{request_lifecycle: {{per_request: true}}}}",
            path.display()
        ),
    );
    config.server.as_mut().unwrap().model_name = Some("m".into());
    ibench_testkit::run(config).await;
    let entries = ibench_testkit::per_request(dir.path());
    assert_eq!(entries.len(), 20);
    for entry in &entries {
        let metrics = &entry["info"]["response_metrics"];
        let events = metrics["response_chunks"].as_array().expect("events kept");
        let times = metrics["chunk_times"].as_array().unwrap();
        assert_eq!(events.len(), times.len());
        let (mut expected_times, mut whole) = (Vec::new(), String::new());
        for (event, time) in events.iter().zip(times) {
            let event: serde_json::Value = serde_json::from_str(event.as_str().unwrap()).unwrap();
            let text = event["choices"][0]["text"].as_str().unwrap();
            expected_times.extend(std::iter::repeat_n(
                time.clone(),
                reference_count(&f.reference, text),
            ));
            whole += text;
        }
        assert_eq!(
            metrics["output_token_times"].as_array().unwrap(),
            &expected_times
        );
        assert_eq!(
            metrics["output_tokens"],
            reference_count(&f.reference, &whole)
        );
        assert!(
            expected_times.len() >= 100,
            "{} tokens",
            expected_times.len()
        );
    }
}
