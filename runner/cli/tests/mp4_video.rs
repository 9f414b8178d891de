//! The MP4 videos of `representation: mp4` are real H.264: PyAV (FFmpeg's decoder, in
//! inference-perf's virtualenv, which makes its own MP4s with it) decodes each one a run sent to
//! the simulator over loopback HTTP, and finds the configured size (rounded down to even) and
//! every frame, as many as the simulator counted.

use std::collections::BTreeMap;

use ibench_core::media::mp4;
use ibench_testcluster::InferencePerf;
use ibench_testkit as common;
use ibench_testkit::pyav::{DecodedVideo, decode_mp4};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mp4_videos_sent_decode_as_h264_of_the_configured_size_and_frames() {
    let sim = common::recording_sim(100).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = "api: {type: chat}\ndata: {type: synthetic, input_distribution: {type: fixed, mean: 10, min: 10, max: 10}, multimodal: {video: {count: {type: fixed, mean: 2, min: 2, max: 2}, representation: mp4, profiles: [{profile: {resolution: {height: 49, width: 65}, frames: 5}}, {profile: {resolution: 360p, frames: 12}}]}}}\nload: {stages: [{rate: 10, duration: 1}], num_workers: 1, base_seed: 9}";
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), yaml)).await;
    assert_eq!(
        common::report(&outcome, "summary_lifecycle_metrics")["successes"]["count"],
        10
    );
    // Each distinct video sent (the pool keeps 4 per profile), with how often it was sent.
    let mut videos: BTreeMap<String, usize> = BTreeMap::new();
    for request in sim.requests() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        for part in body["messages"][0]["content"].as_array().unwrap() {
            if part["type"] == "video_url" {
                let url = part["video_url"]["url"].as_str().unwrap();
                *videos.entry(url.to_owned()).or_default() += 1;
            }
        }
    }
    assert_eq!(videos.values().sum::<usize>(), 20, "two videos a request");
    assert!(videos.len() <= 8, "4 pooled encodings per profile");
    let python = InferencePerf::locate().unwrap();
    let mut decoded_sizes = std::collections::BTreeSet::new();
    for url in videos.keys() {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(url.strip_prefix("data:video/mp4;base64,").unwrap())
            .unwrap();
        let decoded = decode_mp4(python.python(), &bytes).unwrap_or_else(|e| panic!("{e}"));
        let expected = |width, height, frames| DecodedVideo {
            codec: "h264".into(),
            pix_fmt: "yuv420p".into(),
            width,
            height,
            frames,
        };
        assert!(
            decoded == expected(64, 48, 5) || decoded == expected(640, 360, 12),
            "{decoded:?}"
        );
        // What the simulator counts is what the decoder finds.
        let probe = mp4::probe(&bytes).unwrap();
        assert_eq!(
            (probe.width, probe.height, probe.frames),
            (decoded.width, decoded.height, decoded.frames)
        );
        decoded_sizes.insert(decoded.width);
    }
    assert_eq!(decoded_sizes.len(), 2, "both profiles were sent");
}
