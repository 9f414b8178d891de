//! Prints the path of the trained 32k byte-level BPE `tokenizer.json` (training it if needed),
//! for `bench/runner.sh`'s long-stream mode. With `--stream FILE TOKENS`, also writes there a
//! streamed completion of TOKENS one-token chunks in that tokenizer's tokens.

use std::process::ExitCode;

use ibench_testkit::bpe::{bpe32k_tokenizer, completion_stream};

const USAGE: &str = "usage: bpe32k [--stream FILE TOKENS]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stream = match args.as_slice() {
        [] => None,
        [flag, file, tokens] if flag == "--stream" => match tokens.parse::<usize>() {
            Ok(tokens) => Some((file, tokens)),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let path = match bpe32k_tokenizer() {
        Ok(path) => path,
        Err(e) => return failed(e),
    };
    if let Some((file, tokens)) = stream {
        let written = completion_stream(&path, tokens).map(|body| std::fs::write(file, body));
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return failed(format!("{file}: {e}")),
            Err(e) => return failed(e),
        }
    }
    println!("{}", path.display());
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("bpe32k: {e}");
    ExitCode::FAILURE
}
