//! A real decoder's view of a video: PyAV (FFmpeg) in a Python that has it, such as
//! inference-perf's virtualenv (inference-perf makes its own MP4s with it).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Reads the MP4 on stdin, decodes every frame of its first video stream, and prints the
/// stream's codec, pixel format and size and the frames decoded, as JSON.
const DECODE: &str = r#"
import io, json, sys
import av
with av.open(io.BytesIO(sys.stdin.buffer.read()), format="mp4") as container:
    stream = container.streams.video[0]
    frames = [(f.width, f.height) for f in container.decode(stream)]
    context = stream.codec_context
    print(json.dumps({"codec": context.name, "pix_fmt": context.pix_fmt, "width": context.width,
                      "height": context.height, "frames": len(frames),
                      "frame_sizes": sorted(set(frames))}))
"#;

/// What PyAV decoded from an MP4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedVideo {
    pub codec: String,
    pub pix_fmt: String,
    pub width: u32,
    pub height: u32,
    /// Frames decoded, every one of them `width`×`height`.
    pub frames: u32,
}

/// Decodes `mp4` with PyAV run by `python` (a command whose Python imports `av`); an error
/// carries what Python said.
pub fn decode_mp4(mut python: Command, mp4: &[u8]) -> Result<DecodedVideo, String> {
    let mut child = python
        .args(["-c", DECODE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting python: {e}"))?;
    // Written from a thread: a decoder that fails early stops reading its stdin.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let bytes = mp4.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("running python: {e}"))?;
    let _ = writer.join();
    if !output.status.success() {
        return Err(format!(
            "PyAV could not decode the video: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let v: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&output.stdout)))?;
    let number = |key: &str| v[key].as_u64().unwrap_or_default() as u32;
    let (width, height) = (number("width"), number("height"));
    if v["frame_sizes"] != serde_json::json!([[width, height]]) {
        return Err(format!("frames of another size than the stream's: {v}"));
    }
    Ok(DecodedVideo {
        codec: v["codec"].as_str().unwrap_or_default().to_owned(),
        pix_fmt: v["pix_fmt"].as_str().unwrap_or_default().to_owned(),
        width,
        height,
        frames: number("frames"),
    })
}
