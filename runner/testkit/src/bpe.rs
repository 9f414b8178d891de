//! A realistic tokenizer for tests and benchmarks: a 32,000-entry byte-level BPE
//! `tokenizer.json` (GPT-2's pre-tokenizer and byte map), trained here with the `tokenizers`
//! crate's trainer, since real models' tokenizers live on the unreachable Hugging Face hub. The
//! corpus is `tests/cluster/fetch-corpus.sh`'s; the result is kept in the cache under a key of
//! the corpus and the recipe, and trained once per machine (a few seconds).

use std::fs::File;
use std::path::{Path, PathBuf};

use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

pub const BPE_VOCABULARY: usize = 32_000;
/// Bump when the training changes: the cached file is then trained again.
const RECIPE: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BpeError {
    #[error("tests/cluster/fetch-corpus.sh: {0}")]
    Corpus(String),
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("training on {corpus}: {reason}")]
    Train { corpus: PathBuf, reason: String },
}

/// The trained tokenizer's `tokenizer.json`, training it if the cache does not hold it.
pub fn bpe32k_tokenizer() -> Result<PathBuf, BpeError> {
    let corpus = corpus()?;
    let text = std::fs::read(&corpus).map_err(|e| file_error(&corpus, e))?;
    let key = format!("{:016x}", fnv1a(&text) ^ u64::from(RECIPE));
    let dir = cache_dir().join("tokenizers");
    std::fs::create_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
    let path = dir.join(format!("bpe32k-{key}.json"));
    // One trainer at a time: tests of several binaries may ask at once.
    let lock_path = dir.join(".lock");
    let lock = File::create(&lock_path).map_err(|e| file_error(&lock_path, e))?;
    lock.lock().map_err(|e| file_error(&lock_path, e))?;
    if !path.exists() {
        let partial = dir.join(format!(".bpe32k-{key}.{}.json", std::process::id()));
        train(&corpus, &partial)?;
        std::fs::rename(&partial, &path).map_err(|e| file_error(&path, e))?;
    }
    Ok(path)
}

fn train(corpus: &Path, out: &Path) -> Result<(), BpeError> {
    let failed = |reason: String| BpeError::Train {
        corpus: corpus.to_path_buf(),
        reason,
    };
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(BPE_VOCABULARY)
        .show_progress(false)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .special_tokens(vec![AddedToken::from("<|endoftext|>", true)])
        .build();
    // GPT-2's configuration: no prefix space, the GPT-2 split pattern, bytes as characters.
    let byte_level = ByteLevel::new(false, true, true);
    let mut tokenizer =
        TokenizerBuilder::<BPE, NormalizerWrapper, ByteLevel, ByteLevel, ByteLevel>::new()
            .with_model(BPE::default())
            .with_normalizer(None)
            .with_pre_tokenizer(Some(byte_level))
            .with_post_processor(Some(byte_level))
            .with_decoder(Some(byte_level))
            .build()
            .map_err(|e| failed(e.to_string()))?;
    tokenizer
        .train_from_files(&mut trainer, vec![corpus.display().to_string()])
        .map_err(|e| failed(e.to_string()))?;
    let size = tokenizer.get_vocab_size(true);
    if size != BPE_VOCABULARY {
        return Err(failed(format!(
            "the corpus yields {size} tokens, not {BPE_VOCABULARY}: it is too small"
        )));
    }
    tokenizer.save(out, false).map_err(|e| file_error(out, e))
}

fn corpus() -> Result<PathBuf, BpeError> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cluster/fetch-corpus.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| BpeError::Corpus(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last() {
        Some(path) if output.status.success() => Ok(PathBuf::from(path)),
        _ => Err(BpeError::Corpus(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))),
    }
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("INFERENCE_BENCH_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into()))
            .join(".cache/inference-bench"),
    }
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> BpeError {
    BpeError::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A content key that is the same on every machine and Rust version (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A streamed completion as vLLM sends it, for a static server (`bench/runner.sh`'s long-stream
/// mode): `tokens` chunks of one token each (the shipped sonnets, tokenized and decoded token by
/// token, from the start again if needed), the usage chunk, then `[DONE]`.
pub fn completion_stream(tokenizer: &Path, tokens: usize) -> Result<String, BpeError> {
    let tokenizer =
        tokenizers::Tokenizer::from_file(tokenizer).map_err(|e| file_error(tokenizer, e))?;
    let sonnets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/assets/corpus/sonnets.txt");
    let text = std::fs::read_to_string(&sonnets).map_err(|e| file_error(&sonnets, e))?;
    let encoded = tokenizer
        .encode_fast(text.as_str(), false)
        .map_err(|e| file_error(&sonnets, e))?;
    let mut body = String::new();
    for &id in encoded.get_ids().iter().cycle().take(tokens) {
        let piece = tokenizer
            .decode(&[id], false)
            .map_err(|e| file_error(&sonnets, e))?;
        let chunk = serde_json::json!({
            "id": "cmpl-static", "object": "text_completion", "created": 1_733_450_000,
            "model": "static",
            "choices": [{"index": 0, "text": piece, "logprobs": null, "finish_reason": null,
                         "stop_reason": null}],
            "usage": null,
        });
        body += &format!("data: {chunk}\n\n");
    }
    let usage = serde_json::json!({
        "id": "cmpl-static", "object": "text_completion", "created": 1_733_450_000,
        "model": "static", "choices": [],
        "usage": {"prompt_tokens": 4, "total_tokens": tokens + 4, "completion_tokens": tokens},
    });
    body += &format!("data: {usage}\n\ndata: [DONE]\n\n");
    Ok(body)
}
