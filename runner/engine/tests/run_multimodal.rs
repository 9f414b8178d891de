//! `data.multimodal` end to end against the simulator over loopback HTTP: each chat request's
//! user message is inference-perf's content parts (text around `image_url` parts carrying
//! `data:` URLs of images of the configured count, sizes and encoding), and the prompt tokens
//! reported are the simulator's, images included; `visionarena` rows likewise, their images
//! given as bytes or by URL (served over loopback and checked before the run). Each request's
//! record lists the images it sent.

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
    for (representation, encoding) in [("png", Encoding::Png), ("jpeg", Encoding::Jpeg)] {
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
                            url.starts_with(&format!("data:image/{representation};base64,")),
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
