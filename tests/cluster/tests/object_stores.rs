//! The harness's S3 (SeaweedFS) and GCS (fake-gcs-server) servers, used through object_store
//! the way the runner uses them: configured from the servers' environment variables.

use std::future::Future;
use std::time::Duration;

use futures::TryStreamExt;
use ibench_testcluster::{GcsServer, S3Server, pseudo_random_bytes, shared_gcs, shared_s3};
use object_store::aws::AmazonS3Builder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};

/// Every test gives up after this, whatever the servers do.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    ibench_testcluster::install_crypto_provider();
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .unwrap_or_else(|_| panic!("test timed out after {TEST_TIMEOUT:?}"))
}

const SMALL_OBJECTS: [(&str, &str); 4] = [
    ("reports/run-1/summary.json", "{\"requests\": 1}"),
    ("reports/run-1/stage_0.json", "{\"stage\": 0}"),
    ("reports/run-2/summary.json", "{\"requests\": 2}"),
    ("inputs/prompts.jsonl", "{\"prompt\": \"hi\"}\n"),
];

/// Get, head and list of [`SMALL_OBJECTS`], already in the store's bucket.
async fn check_small_objects(store: &dyn ObjectStore) {
    for (path, body) in SMALL_OBJECTS {
        let got = store
            .get(&Path::from(path))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(got, body.as_bytes(), "{path}");
        let meta = store.head(&Path::from(path)).await.unwrap();
        assert_eq!(meta.size, body.len() as u64, "{path}");
        assert_eq!(meta.location, Path::from(path));
    }
    let mut listed: Vec<String> = store
        .list(Some(&Path::from("reports")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    listed.sort();
    assert_eq!(
        listed,
        [
            "reports/run-1/stage_0.json",
            "reports/run-1/summary.json",
            "reports/run-2/summary.json",
        ]
    );
    let top = store.list_with_delimiter(None).await.unwrap();
    let mut prefixes: Vec<String> = top.common_prefixes.iter().map(|p| p.to_string()).collect();
    prefixes.sort();
    assert_eq!(prefixes, ["inputs", "reports"]);
    let missing = store
        .get(&Path::from("reports/none.json"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, object_store::Error::NotFound { .. }),
        "{missing}"
    );
    let gone = Path::from("inputs/prompts.jsonl");
    store.delete(&gone).await.unwrap();
    let deleted = store.head(&gone).await.unwrap_err();
    assert!(
        matches!(deleted, object_store::Error::NotFound { .. }),
        "{deleted}"
    );
}

/// Three parts of 5 MiB (the S3 minimum but for the last) and a short one: > 10 MiB.
const MULTIPART_LEN: usize = 15 * 1024 * 1024 + 12_345;
const PART_LEN: usize = 5 * 1024 * 1024;

async fn multipart_upload(
    store: &dyn ObjectStore,
    path: &Path,
    data: &[u8],
) -> object_store::Result<()> {
    let upload = store.put_multipart(path).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_LEN);
    // Uneven writes, so parts are cut from the middle of writes.
    for chunk in data.chunks(3 * 1024 * 1024 + 17) {
        writer.wait_for_capacity(4).await?;
        writer.write(chunk);
    }
    writer.finish().await?;
    Ok(())
}

async fn read_back(store: &dyn ObjectStore, path: &Path, data: &[u8]) {
    let got = store.get(path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got.len(), data.len());
    assert!(
        got == data,
        "the object read back differs from what was uploaded"
    );
    assert_eq!(store.head(path).await.unwrap().size, data.len() as u64);
}

#[tokio::test]
async fn s3_put_get_list_head_delete() {
    bounded(async {
        let server = shared_s3().await;
        let bucket = server.bucket("small-objects").await.unwrap();
        let store = server.store(&bucket).unwrap();
        for (path, body) in SMALL_OBJECTS {
            store.put(&Path::from(path), body.into()).await.unwrap();
        }
        check_small_objects(&store).await;
    })
    .await
}

#[tokio::test]
async fn s3_multipart_upload_of_more_than_10_mib_reads_back_byte_for_byte() {
    bounded(async {
        let server = shared_s3().await;
        let bucket = server.bucket("multipart").await.unwrap();
        let store = server.store(&bucket).unwrap();
        let data = pseudo_random_bytes(MULTIPART_LEN);
        let path = Path::from("reports/large.bin");
        multipart_upload(&store, &path, &data).await.unwrap();
        read_back(&store, &path, &data).await;
    })
    .await
}

#[tokio::test]
async fn s3_refuses_a_wrong_secret_key_an_unknown_access_key_and_anonymous_requests() {
    bounded(async {
        let server = shared_s3().await;
        let bucket = server.bucket("credentials").await.unwrap();
        let path = Path::from("secret.txt");
        server
            .store(&bucket)
            .unwrap()
            .put(&path, "ok".into())
            .await
            .unwrap();

        let configured = |builder: AmazonS3Builder| {
            builder
                .with_bucket_name(&bucket)
                .with_endpoint(server.endpoint())
                .with_region(server.region())
                .with_allow_http(true)
                .build()
                .unwrap()
        };
        let wrong_secret = configured(
            AmazonS3Builder::new()
                .with_access_key_id(server.access_key())
                .with_secret_access_key("not-the-secret"),
        );
        let unknown_key = configured(
            AmazonS3Builder::new()
                .with_access_key_id("IBENCHUNKNOWN")
                .with_secret_access_key(server.secret_key()),
        );
        let anonymous = configured(AmazonS3Builder::new().with_skip_signature(true));
        for (who, store) in [
            ("wrong secret key", wrong_secret),
            ("unknown access key", unknown_key),
            ("anonymous", anonymous),
        ] {
            for error in [
                store.get(&path).await.unwrap_err(),
                store
                    .put(&Path::from("other.txt"), "no".into())
                    .await
                    .unwrap_err(),
            ] {
                let text = error.to_string();
                assert!(
                    matches!(error, object_store::Error::PermissionDenied { .. })
                        && text.contains("403"),
                    "{who}: expected 403 permission denied, got: {text}"
                );
            }
        }
    })
    .await
}

#[tokio::test]
async fn s3_missing_bucket_is_an_error() {
    bounded(async {
        let server = shared_s3().await;
        let store = server.store("ibench-no-such-bucket").unwrap();
        let put = store
            .put(&Path::from("a.txt"), "a".into())
            .await
            .unwrap_err();
        assert!(put.to_string().contains("NoSuchBucket"), "{put}");
        let get = store.get(&Path::from("a.txt")).await.unwrap_err();
        assert!(matches!(get, object_store::Error::NotFound { .. }), "{get}");
        let listed = store.list(None).try_collect::<Vec<_>>().await.unwrap_err();
        assert!(listed.to_string().contains("NoSuchBucket"), "{listed}");
    })
    .await
}

#[tokio::test]
async fn gcs_get_list_head_delete_of_objects_uploaded_through_the_json_api() {
    bounded(async {
        let server = shared_gcs().await;
        let bucket = server.bucket("small-objects").await.unwrap();
        for (path, body) in SMALL_OBJECTS {
            server.put_object(&bucket, path, body).await.unwrap();
        }
        check_small_objects(&server.store(&bucket).unwrap()).await;
    })
    .await
}

#[tokio::test]
async fn gcs_missing_bucket_is_an_error() {
    bounded(async {
        let server = shared_gcs().await;
        let store = server.store("ibench-no-such-bucket").unwrap();
        let get = store.get(&Path::from("a.txt")).await.unwrap_err();
        assert!(matches!(get, object_store::Error::NotFound { .. }), "{get}");
        // fake-gcs-server answers this list with 500 (which object_store retries first).
        let listed = store.list(None).try_collect::<Vec<_>>().await.unwrap_err();
        assert!(
            listed.to_string().contains("ibench-no-such-bucket"),
            "{listed}"
        );
        let upload = server
            .put_object("ibench-no-such-bucket", "a.txt", "a")
            .await
            .unwrap_err();
        assert!(upload.to_string().contains("404"), "{upload}");
    })
    .await
}

/// fake-gcs-server (v1.56.1) implements the XML API for reads only, and object_store writes
/// objects through the XML API (`PUT /<bucket>/<object>`, multipart `POST ...?uploads`), so
/// neither a plain nor a multipart upload through object_store can be tested against it. Should
/// a newer fake-gcs-server accept them, this fails: then test writes through object_store.
#[tokio::test]
async fn gcs_object_store_uploads_are_not_supported_by_fake_gcs_server() {
    bounded(async {
        let server = shared_gcs().await;
        let bucket = server.bucket("uploads").await.unwrap();
        let store = server.store(&bucket).unwrap();
        let put = store
            .put(&Path::from("small.txt"), "small".into())
            .await
            .unwrap_err();
        let data = pseudo_random_bytes(MULTIPART_LEN);
        let multipart = multipart_upload(&store, &Path::from("large.bin"), &data)
            .await
            .unwrap_err();
        for error in [put, multipart] {
            let text = error.to_string();
            assert!(
                text.contains("400") && text.contains("invalid uploadType"),
                "fake-gcs-server answered an object_store upload differently than before: {text}"
            );
        }
    })
    .await
}

/// In the child process of [`env_vars_reach_object_store_in_a_child_process`]: the object URLs
/// to read, separated by spaces.
const CHILD_URLS_ENV: &str = "IBENCH_TEST_OBJECT_STORE_CHILD_URLS";
const CHILD_TEST: &str = "env_vars_reach_object_store_in_a_child_process";

/// `S3Server::env()` and `GcsServer::env()` are all a process needs: this test runs itself again
/// as a child process with those variables (and no other `AWS_*`/`GOOGLE_*`), where
/// object_store's `from_env` builders read one object from each server.
#[tokio::test]
async fn env_vars_reach_object_store_in_a_child_process() {
    bounded(async {
        if let Ok(urls) = std::env::var(CHILD_URLS_ENV) {
            return read_urls_from_env(&urls).await;
        }
        let (s3, gcs) = (shared_s3().await, shared_gcs().await);
        let s3_bucket = s3.bucket("child").await.unwrap();
        s3.store(&s3_bucket)
            .unwrap()
            .put(&Path::from("in/s3.txt"), "from S3".into())
            .await
            .unwrap();
        let gcs_bucket = gcs.bucket("child").await.unwrap();
        gcs.put_object(&gcs_bucket, "in/gcs.txt", "from GCS")
            .await
            .unwrap();

        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap());
        child
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("AWS_") || key.starts_with("GOOGLE_") {
                child.env_remove(&*key);
            }
        }
        child.envs(s3.env()).envs(gcs.env()).env(
            CHILD_URLS_ENV,
            format!("s3://{s3_bucket}/in/s3.txt gs://{gcs_bucket}/in/gcs.txt"),
        );
        let output = child.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        for expected in [
            format!("read s3://{s3_bucket}/in/s3.txt: from S3"),
            format!("read gs://{gcs_bucket}/in/gcs.txt: from GCS"),
        ] {
            assert!(stdout.contains(&expected), "{expected:?} not in:\n{stdout}");
        }
    })
    .await
}

async fn read_urls_from_env(urls: &str) {
    for url in urls.split_whitespace() {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (bucket, key) = rest.split_once('/').unwrap();
        let store: Box<dyn ObjectStore> = match scheme {
            "s3" => Box::new(
                AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .unwrap(),
            ),
            "gs" => Box::new(
                GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .unwrap(),
            ),
            other => panic!("unknown scheme {other}"),
        };
        let body = store
            .get(&Path::from(key))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        println!("read {url}: {}", String::from_utf8_lossy(&body));
    }
}

#[tokio::test]
async fn dedicated_servers_work_and_are_stopped_and_removed_when_dropped() {
    bounded(async {
        let s3 = S3Server::start().await.unwrap();
        let gcs = GcsServer::start().await.unwrap();
        let bucket = s3.bucket("dedicated").await.unwrap();
        let store = s3.store(&bucket).unwrap();
        store.put(&Path::from("a.txt"), "a".into()).await.unwrap();
        let gcs_bucket = gcs.bucket("dedicated").await.unwrap();
        gcs.put_object(&gcs_bucket, "a.txt", "a").await.unwrap();
        let got = gcs
            .store(&gcs_bucket)
            .unwrap()
            .get(&Path::from("a.txt"))
            .await
            .unwrap();
        assert_eq!(got.bytes().await.unwrap(), "a");

        let (pids, dirs) = (
            [s3.pid(), gcs.pid()],
            [s3.dir().to_path_buf(), gcs.dir().to_path_buf()],
        );
        drop((s3, gcs));
        for pid in pids {
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None);
            assert!(alive.is_err(), "process {pid} still runs");
        }
        for dir in dirs {
            assert!(!dir.exists(), "{} still exists", dir.display());
        }
    })
    .await
}
