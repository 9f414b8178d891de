//! `data.multimodal` end to end against the simulator over loopback HTTP: each chat request's
//! user message is inference-perf's content parts (text around `image_url` parts carrying
//! `data:` URLs of images of the configured count, sizes and encoding), and the prompt tokens
//! reported are the simulator's, images included; `visionarena` rows likewise, their images
//! given as bytes or by URL (served over loopback and checked before the run). Each request's
//! record lists the images it sent. Synthetic videos go as their frames' `image_url` parts or
//! as one MP4 `video_url` part, and audio clips as `input_audio` WAV parts, measured per video
//! and per clip.

use ibench_core::media::{Encoding, probe_data_url};
use ibench_core::tokenize::count_tokens;
use ibench_testkit as common;
use serde_json::Value;

/// The simulator's tokens per image: one per 28×28 tile (see docs/sim.md).
fn image_tokens(width: u32, height: u32) -> u64 {
    u64::from(width.div_ceil(28) * height.div_ceil(28))
}

/// The prompt tokens of a run's per-request records (the server's `usage`), sorted.
fn reported_prompt_tokens(dir: &std::path::Path) -> Vec<u64> {
    let mut reported: Vec<u64> = common::per_request(dir)
        .iter()
        .map(|e| {
            e["info"]["request_metrics"]["text"]["input_tokens"]
                .as_u64()
                .unwrap()
        })
        .collect();
    reported.sort_unstable();
    reported
}

/// Each per-request record's `info.request_metrics.image` and the images of the request body
/// it holds, as inference-perf measures them: pixels, encoded bytes and width over height of
/// each `data:` URL, zeros for an image given by URL.
fn recorded_and_sent_images(dir: &std::path::Path) -> Vec<(Value, Value)> {
    use base64::Engine;
    common::per_request(dir)
        .iter()
        .map(|entry| {
            let body: Value = serde_json::from_str(entry["request"].as_str().unwrap()).unwrap();
            let instances: Vec<Value> = body["messages"][0]["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|part| part["image_url"]["url"].as_str())
                .map(|url| match url.split_once(";base64,") {
                    Some((_, payload)) => {
                        let image = probe_data_url(url).unwrap();
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(payload)
                            .unwrap();
                        serde_json::json!({
                            "pixels": image.width * image.height,
                            "bytes": bytes.len(),
                            "aspect_ratio": f64::from(image.width) / f64::from(image.height),
                        })
                    }
                    None => serde_json::json!({"pixels": 0, "bytes": 0, "aspect_ratio": 0.0}),
                })
                .collect();
            let sent = serde_json::json!({"count": instances.len(), "instances": instances});
            (entry["info"]["request_metrics"]["image"].clone(), sent)
        })
        .collect()
}

/// Every record lists the images its request sent.
fn assert_images_recorded_as_sent(dir: &std::path::Path, requests: usize) {
    let records = recorded_and_sent_images(dir);
    assert_eq!(records.len(), requests);
    for (recorded, sent) in records {
        assert_eq!(recorded, sent);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_requests_carry_the_configured_images_and_the_sim_counts_them() {
    // inference-perf 0.7.0 sends PNG for synthetic images asked as WebP.
    for (representation, sent, encoding) in [
        ("png", "png", Encoding::Png),
        ("jpeg", "jpeg", Encoding::Jpeg),
        ("webp", "png", Encoding::Png),
    ] {
        let sim = common::recording_sim(100).await;
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "api: {{type: chat}}\ndata: {{type: synthetic, input_distribution: {{type: fixed, mean: 20, min: 20, max: 20}}, multimodal: {{image: {{count: {{type: fixed, mean: 2, min: 2, max: 2}}, resolutions: [{{resolution: {{height: 56, width: 84}}}}, {{resolution: 360p}}], representation: {representation}}}}}}}\nload: {{stages: [{{rate: 10, duration: 1}}], num_workers: 1, base_seed: 3}}\nreport: {{request_lifecycle: {{per_request: true}}}}"
        );
        let outcome = common::run(common::config(&sim.base_url(), dir.path(), &yaml)).await;
        let summary = common::report(&outcome, "summary_lifecycle_metrics");
        assert_eq!(summary["successes"]["count"], 10, "{representation}");
        let mut requests = sim.requests();
        assert_eq!(requests.len(), 10);
        requests.sort_by_key(|r| r.seq);
        let mut sizes = std::collections::BTreeSet::new();
        let mut expected_tokens = Vec::new();
        for request in &requests {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["max_tokens"], 30, "the client's default");
            let messages = body["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 1, "{body}");
            assert_eq!(messages[0]["role"], "user");
            let parts = messages[0]["content"].as_array().unwrap();
            let (mut text, mut tokens) = (String::new(), 0);
            let mut images = 0;
            for part in parts {
                match part["type"].as_str().unwrap() {
                    "text" => {
                        // The sim counts each part: a word cut by an image counts twice.
                        let part = part["text"].as_str().unwrap();
                        tokens += count_tokens(part) as u64;
                        text.push_str(part);
                    }
                    "image_url" => {
                        assert_eq!(part.as_object().unwrap().len(), 2, "{part}");
                        let url = part["image_url"]["url"].as_str().unwrap();
                        assert!(
                            url.starts_with(&format!("data:image/{sent};base64,")),
                            "{}",
                            &url[..40]
                        );
                        let image = probe_data_url(url).unwrap();
                        assert_eq!(image.encoding, encoding);
                        sizes.insert((image.width, image.height));
                        tokens += image_tokens(image.width, image.height);
                        images += 1;
                    }
                    other => panic!("unexpected part {other}"),
                }
            }
            assert_eq!(images, 2, "{representation}");
            assert_eq!(count_tokens(&text), 20, "the parts' text is the prompt");
            expected_tokens.push(tokens);
        }
        assert_eq!(
            sizes.into_iter().collect::<Vec<_>>(),
            vec![(84, 56), (640, 360)],
            "both sizes are drawn"
        );
        expected_tokens.sort_unstable();
        assert_eq!(
            reported_prompt_tokens(dir.path()),
            expected_tokens,
            "the sim's prompt tokens include the images"
        );
        assert_images_recorded_as_sent(dir.path(), 10);
        let image = &summary["successes"]["image"];
        assert_eq!(image["count"]["min"], 2.0);
        assert_eq!(image["count"]["max"], 2.0);
        assert_eq!(image["pixels"]["min"], f64::from(84 * 56));
        assert_eq!(image["pixels"]["max"], f64::from(640 * 360));
        assert_eq!(image["aspect_ratio"]["min"], 1.5);
        assert_eq!(image["aspect_ratio"]["max"], 640.0 / 360.0);
        assert!(
            summary["successes"]["throughput"]["images_per_sec"]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
}

/// The simulator's tokens per audio clip: one per 40 ms (see docs/sim.md).
fn audio_tokens(seconds: f64) -> u64 {
    (seconds * 25.0).ceil() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_go_as_frames_and_audio_as_wav_parts_and_are_reported_per_kind() {
    use base64::Engine;
    let decode = |b64: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let sim = common::recording_sim(100).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = "api: {type: chat}\ndata: {type: synthetic, input_distribution: {type: fixed, mean: 20, min: 20, max: 20}, multimodal: {video: {count: {type: fixed, mean: 1, min: 1, max: 1}, representation: jpeg_frames, profiles: [{profile: {resolution: {height: 56, width: 84}, frames: 3}}]}, audio: {count: {type: fixed, mean: 2, min: 2, max: 2}, durations: [{duration: 0.5}, {duration: 2, weight: 1}]}}}\nload: {stages: [{rate: 10, duration: 1}], num_workers: 1, base_seed: 5}\nreport: {request_lifecycle: {per_request: true}}";
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), yaml)).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 10);
    let mut requests = sim.requests();
    assert_eq!(requests.len(), 10);
    requests.sort_by_key(|r| r.seq);
    let (mut expected_tokens, mut seconds_seen) = (Vec::new(), std::collections::BTreeSet::new());
    let mut sent_metrics = Vec::new();
    for request in &requests {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let parts = body["messages"][0]["content"].as_array().unwrap();
        let (mut text, mut tokens, mut frame_bytes) = (String::new(), 0, 0);
        let (mut frames, mut clips) = (0, Vec::new());
        for part in parts {
            match part["type"].as_str().unwrap() {
                "text" => {
                    let part = part["text"].as_str().unwrap();
                    tokens += count_tokens(part) as u64;
                    text.push_str(part);
                }
                "image_url" => {
                    let url = part["image_url"]["url"].as_str().unwrap();
                    let frame = probe_data_url(url).unwrap();
                    assert_eq!(
                        (frame.encoding, frame.width, frame.height),
                        (Encoding::Jpeg, 84, 56)
                    );
                    frame_bytes += decode(url.split_once(',').unwrap().1).len();
                    tokens += image_tokens(84, 56);
                    frames += 1;
                }
                "input_audio" => {
                    assert_eq!(part["input_audio"]["format"], "wav", "{part}");
                    let wav = decode(part["input_audio"]["data"].as_str().unwrap());
                    let seconds = ibench_core::media::wav::seconds(&wav).unwrap();
                    tokens += audio_tokens(seconds);
                    seconds_seen.insert((seconds * 1000.0) as u64);
                    clips.push(serde_json::json!({"bytes": wav.len(), "seconds": seconds}));
                }
                other => panic!("unexpected part {other}"),
            }
        }
        assert_eq!(frames, 3, "one video of 3 frames");
        assert_eq!(clips.len(), 2);
        assert_eq!(count_tokens(&text), 20, "the parts' text is the prompt");
        expected_tokens.push(tokens);
        sent_metrics.push(serde_json::json!({
            "video": {"count": 1, "instances": [{"pixels": 84 * 56, "bytes": frame_bytes, "aspect_ratio": 1.5, "frames": 3}]},
            "clips": clips,
        }));
    }
    assert_eq!(
        seconds_seen.into_iter().collect::<Vec<_>>(),
        vec![500, 2000],
        "both lengths are drawn"
    );
    expected_tokens.sort_unstable();
    assert_eq!(
        reported_prompt_tokens(dir.path()),
        expected_tokens,
        "the sim's prompt tokens include the frames and the clips"
    );
    // Each record measures what its request sent (clips in the order they were placed).
    let mut recorded: Vec<Value> = common::per_request(dir.path())
        .iter()
        .map(|entry| {
            let metrics = &entry["info"]["request_metrics"];
            assert!(metrics["image"].is_null(), "{metrics}");
            assert_eq!(metrics["audio"]["count"], 2);
            serde_json::json!({"video": metrics["video"], "clips": metrics["audio"]["instances"]})
        })
        .collect();
    let key = |v: &Value| v.to_string();
    recorded.sort_by_key(key);
    sent_metrics.sort_by_key(key);
    assert_eq!(recorded, sent_metrics);
    let successes = &summary["successes"];
    assert_eq!(successes["video"]["count"]["min"], 1.0);
    assert_eq!(successes["video"]["count"]["max"], 1.0);
    assert_eq!(successes["video"]["frames"]["mean"], 3.0);
    assert_eq!(successes["video"]["pixels"]["max"], f64::from(84 * 56));
    assert_eq!(successes["video"]["aspect_ratio"]["min"], 1.5);
    assert_eq!(successes["audio"]["count"]["mean"], 2.0);
    assert_eq!(successes["audio"]["seconds"]["min"], 0.5);
    assert_eq!(successes["audio"]["seconds"]["max"], 2.0);
    assert_eq!(successes["audio"]["bytes"]["min"], 44.0 + 16000.0);
    assert_eq!(successes["audio"]["bytes"]["max"], 44.0 + 64000.0);
    let throughput = &successes["throughput"];
    let (videos, audios) = (
        throughput["videos_per_sec"].as_f64().unwrap(),
        throughput["audios_per_sec"].as_f64().unwrap(),
    );
    assert!(videos > 0.0, "{throughput}");
    assert!((audios / videos - 2.0).abs() < 1e-9, "two clips per video");
    assert_eq!(throughput["images_per_sec"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp4_videos_go_as_one_video_url_part_and_the_sim_counts_their_frames() {
    use base64::Engine;
    let sim = common::recording_sim(100).await;
    let dir = tempfile::tempdir().unwrap();
    // inference-perf's default representation (mp4); an odd side is rounded down to even.
    let yaml = "api: {type: chat}\ndata: {type: synthetic, input_distribution: {type: fixed, mean: 20, min: 20, max: 20}, multimodal: {video: {count: {type: fixed, mean: 1, min: 1, max: 1}, insertion_point: 0.5, profiles: [{profile: {resolution: {height: 57, width: 85}, frames: 4}}, {profile: {resolution: {height: 28, width: 28}, frames: 2}}]}}}\nload: {stages: [{rate: 12, duration: 1}], num_workers: 1, base_seed: 3}\nreport: {request_lifecycle: {per_request: true}}";
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), yaml)).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 12);
    let requests = sim.requests();
    assert_eq!(requests.len(), 12);
    let (mut expected_tokens, mut sent_metrics) = (Vec::new(), Vec::new());
    let mut profiles_seen = std::collections::BTreeSet::new();
    for request in &requests {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let parts = body["messages"][0]["content"].as_array().unwrap();
        let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["text", "video_url", "text"], "the video mid-text");
        let text: String = [&parts[0], &parts[2]]
            .iter()
            .map(|p| p["text"].as_str().unwrap())
            .collect();
        assert_eq!(count_tokens(&text), 20, "the parts' text is the prompt");
        let url = parts[1]["video_url"]["url"].as_str().unwrap();
        let mp4 = base64::engine::general_purpose::STANDARD
            .decode(url.strip_prefix("data:video/mp4;base64,").unwrap())
            .unwrap();
        let video = ibench_core::media::mp4::probe(&mp4).unwrap();
        let (asked_width, asked_height) = match (video.width, video.height, video.frames) {
            (84, 56, 4) => (85, 57),
            (28, 28, 2) => (28, 28),
            other => panic!("a video of no configured profile: {other:?}"),
        };
        profiles_seen.insert(video.frames);
        expected_tokens.push(
            count_tokens(parts[0]["text"].as_str().unwrap()) as u64
                + count_tokens(parts[2]["text"].as_str().unwrap()) as u64
                + u64::from(video.frames) * image_tokens(video.width, video.height),
        );
        // inference-perf records the asked size and frames, and the MP4's bytes.
        sent_metrics.push(serde_json::json!({"count": 1, "instances": [{
            "pixels": asked_width * asked_height,
            "bytes": mp4.len(),
            "aspect_ratio": f64::from(asked_width) / f64::from(asked_height),
            "frames": video.frames,
        }]}));
    }
    assert_eq!(profiles_seen.len(), 2, "both profiles are drawn");
    expected_tokens.sort_unstable();
    assert_eq!(
        reported_prompt_tokens(dir.path()),
        expected_tokens,
        "the sim's prompt tokens include every frame of the video"
    );
    let mut recorded: Vec<Value> = common::per_request(dir.path())
        .iter()
        .map(|entry| entry["info"]["request_metrics"]["video"].clone())
        .collect();
    let key = |v: &Value| v.to_string();
    recorded.sort_by_key(key);
    sent_metrics.sort_by_key(key);
    assert_eq!(recorded, sent_metrics);
    assert_eq!(summary["successes"]["video"]["frames"]["max"], 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_prefixes_carry_their_groups_media_and_questions_their_own() {
    let sim = common::recording_sim(100).await;
    let dir = tempfile::tempdir().unwrap();
    // Two groups of two prompts: each prefix has one image at its start, each question one
    // clip at its end.
    let yaml = "api: {type: chat}\ndata: {type: shared_prefix, shared_prefix: {num_groups: 2, num_prompts_per_group: 2, system_prompt_len: 12, question_len: 6, output_len: 4, multimodal: {image: {count: {type: fixed, mean: 1, min: 1, max: 1}, resolutions: {height: 32, width: 48}, insertion_point: 0}}}, multimodal: {audio: {count: {type: fixed, mean: 1, min: 1, max: 1}, durations: 1, insertion_point: 1}}}\nload: {stages: [{rate: 8, duration: 1}], num_workers: 1, base_seed: 9}\nreport: {request_lifecycle: {per_request: true}}";
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), yaml)).await;
    let summary = common::report(&outcome, "summary_lifecycle_metrics");
    assert_eq!(summary["successes"]["count"], 8);
    let mut requests = sim.requests();
    assert_eq!(requests.len(), 8);
    requests.sort_by_key(|r| r.seq);
    // Image bytes by group (prompt k is in group k mod 2; request i asks prompt i mod 4).
    let mut by_group: [std::collections::HashSet<String>; 2] = Default::default();
    for request in &requests {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            1,
            "prefix and question in one user message: {body}"
        );
        assert_eq!(messages[0]["role"], "user");
        let parts = messages[0]["content"].as_array().unwrap();
        let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["image_url", "text", "input_audio"], "{body}");
        let url = parts[0]["image_url"]["url"].as_str().unwrap();
        let image = probe_data_url(url).unwrap();
        assert_eq!((image.width, image.height), (48, 32));
        assert_eq!(body["max_tokens"], 4);
        by_group[(request.seq % 2) as usize].insert(url.to_string());
    }
    assert!(
        by_group.iter().all(|urls| urls.len() == 1),
        "a group's prefix media never change"
    );
    assert_ne!(by_group[0], by_group[1], "groups do not share bytes");
    let successes = &summary["successes"];
    assert_eq!(successes["image"]["count"]["mean"], 1.0);
    assert_eq!(successes["audio"]["count"]["mean"], 1.0);
    assert_eq!(successes["audio"]["seconds"]["max"], 1.0);
}

/// Six requests at 6/s of `visionarena` `rows` (JSON Lines) with the `data.visionarena`
/// section `arena`, each recorded with its per-request record: the report directory and the
/// requests, in arrival order.
async fn run_visionarena(
    rows: &[Value],
    arena: &str,
) -> (tempfile::TempDir, Vec<ibench_sim::RecordedRequest>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visionarena.jsonl");
    let lines: Vec<String> = rows.iter().map(Value::to_string).collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    let sim = common::recording_sim(100).await;
    let yaml = format!(
        "api: {{type: chat}}\ndata: {{type: visionarena, path: {}, visionarena: {arena}}}\nload: {{stages: [{{rate: 6, duration: 1}}], num_workers: 1}}\nreport: {{request_lifecycle: {{per_request: true}}}}",
        path.display()
    );
    let outcome = common::run(common::config(&sim.base_url(), dir.path(), &yaml)).await;
    assert_eq!(
        common::report(&outcome, "summary_lifecycle_metrics")["successes"]["count"],
        6
    );
    let requests = sim.requests();
    assert_eq!(requests.len(), 6);
    (dir, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visionarena_rows_go_out_with_their_images_first_in_row_order() {
    use ibench_core::media::{data_url, solid};
    let png = solid(56, 28, [5, 6, 7], Encoding::Png);
    let jpeg = solid(30, 30, [1, 1, 1], Encoding::Jpeg);
    let b64 = |bytes: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let rows = [
        serde_json::json!({"conversation": [[{"role": "user", "content": "describe the picture"}]], "images": [{"bytes": b64(&png)}]}),
        serde_json::json!({"conversation": [[{"role": "assistant", "content": "no user turn"}]], "images": [{"bytes": b64(&png)}]}),
        serde_json::json!({"conversation": [[{"role": "user", "content": "and this one"}]], "images": [{"bytes": b64(&jpeg)}, {"bytes": b64(&png)}]}),
    ];
    let (dir, requests) = run_visionarena(&rows, "{num_rows: 10}").await;
    let image = |url: String| serde_json::json!({"type": "image_url", "image_url": {"url": url}});
    let text = |t: &str| serde_json::json!({"type": "text", "text": t});
    let expected = [
        serde_json::json!([
            image(data_url(Encoding::Png, &png)),
            text("describe the picture")
        ]),
        // One image a request (max_images_per_request's default): the JPEG, first of the row.
        serde_json::json!([image(data_url(Encoding::Jpeg, &jpeg)), text("and this one")]),
    ];
    for (i, request) in requests.iter().enumerate() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body["messages"][0]["content"],
            expected[i % 2],
            "request {i}"
        );
        assert_eq!(body["max_tokens"], 30);
    }
    assert_images_recorded_as_sent(dir.path(), 6);
    let mut pixels: Vec<u64> = recorded_and_sent_images(dir.path())
        .iter()
        .map(|(recorded, _)| recorded["instances"][0]["pixels"].as_u64().unwrap())
        .collect();
    pixels.sort_unstable();
    assert_eq!(pixels, [900, 900, 900, 1568, 1568, 1568], "30×30 and 56×28");
    let (first, second) = (3 + image_tokens(56, 28), 3 + image_tokens(30, 30));
    let mut want = vec![first, first, first, second, second, second];
    want.sort_unstable();
    assert_eq!(reported_prompt_tokens(dir.path()), want);
}

/// The simulator's tokens of an image given by URL, which it does not fetch (see docs/sim.md).
const URL_IMAGE_TOKENS: u64 = 576;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visionarena_images_given_by_url_go_out_verbatim_after_one_check_each() {
    use common::Served;
    let png = ibench_core::media::solid(8, 8, [1, 2, 3], Encoding::Png);
    let images = common::file_server(vec![
        ("/cat.png", Served::File(png)),
        ("/old/cat.png", Served::Redirect("/cat.png".into())),
    ])
    .await;
    let (cat, old) = (
        format!("{}/cat.png", images.base_url),
        format!("{}/old/cat.png", images.base_url),
    );
    // As `datasets` stores an external image (`{bytes: null, path}`), and as a plain string.
    let rows = [
        serde_json::json!({"conversation": [[{"role": "user", "content": "describe the picture"}]], "images": [{"bytes": null, "path": cat}]}),
        serde_json::json!({"conversation": [[{"role": "user", "content": "and this one"}]], "images": [old]}),
        serde_json::json!({"conversation": [[{"role": "user", "content": "the cat again"}]], "images": [{"bytes": null, "path": cat}]}),
    ];
    let (dir, requests) = run_visionarena(&rows, "{num_rows: 10, insertion_point: 1.0}").await;
    let mut asked = images.asked();
    asked.sort();
    assert_eq!(
        asked,
        ["/cat.png", "/cat.png", "/old/cat.png"],
        "each distinct URL asked once before the run (the redirect followed), none during it"
    );
    let part = |text: &str, url: &str| serde_json::json!([{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]);
    let expected = [
        part("describe the picture", &cat),
        part("and this one", &old),
        part("the cat again", &cat),
    ];
    for (i, request) in requests.iter().enumerate() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body["messages"][0]["content"],
            expected[i % 3],
            "request {i}"
        );
    }
    // The runner never sees an image it sends by URL: inference-perf's zeros.
    assert_images_recorded_as_sent(dir.path(), 6);
    let mut want: Vec<u64> = ["describe the picture", "and this one", "the cat again"]
        .iter()
        .flat_map(|text| [count_tokens(text) as u64 + URL_IMAGE_TOKENS; 2])
        .collect();
    want.sort_unstable();
    assert_eq!(reported_prompt_tokens(dir.path()), want);
}
