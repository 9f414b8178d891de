//! Report uploads to real S3 and GCS servers (SeaweedFS, fake-gcs-server), each object read back
//! through object_store: whole objects, files sent in parts (a short last part, and parts that
//! end exactly on the GCS chunk quantum), streamed objects, an empty one; and a missing bucket.

use std::io::Write;
use std::time::Duration;

use ibench_core::config::StorageConfig;
use ibench_core::report::RecordSink;
use ibench_storage::{Credentials, ReportBuckets};
use ibench_testcluster::{GcsServer, S3Server, pseudo_random_bytes, shared_gcs, shared_s3};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const MIB: usize = 1 << 20;

/// Both buckets in one config, as a user writes it; credentials as a Secret's data would give
/// them (S3 keys, and the GCS emulator named the way Google's clients name it).
fn buckets(s3: &S3Server, s3_bucket: &str, gcs: &GcsServer, gcs_bucket: &str) -> ReportBuckets {
    let storage: StorageConfig = serde_yaml::from_str(&format!(
        "simple_storage_service:\n  bucket_name: {s3_bucket}\n  path: runs/1\n  endpoint_url: {}\n  region_name: {}\n  addressing_style: path\ngoogle_cloud_storage:\n  bucket_name: {gcs_bucket}\n  path: runs/1\n",
        s3.endpoint(),
        s3.region()
    ))
    .unwrap();
    let mut credentials = Credentials::new();
    credentials.insert("AWS_ACCESS_KEY_ID".into(), s3.access_key().into());
    credentials.insert("AWS_SECRET_ACCESS_KEY".into(), s3.secret_key().into());
    credentials.insert("STORAGE_EMULATOR_HOST".into(), gcs.endpoint().into());
    ReportBuckets::with_credentials(&storage, Some(&credentials)).unwrap()
}

async fn read(store: &dyn ObjectStore, key: &str) -> Vec<u8> {
    let got = store.get(&ObjectPath::from(key)).await;
    let got = got.unwrap_or_else(|e| panic!("{key}: {e}"));
    got.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_whole_in_parts_and_streamed_reach_s3_and_gcs_intact() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (s3, gcs) = (shared_s3().await, shared_gcs().await);
        let s3_bucket = s3.bucket("uploads").await.unwrap();
        let gcs_bucket = gcs.bucket("uploads").await.unwrap();
        let buckets = buckets(s3, &s3_bucket, gcs, &gcs_bucket);
        buckets.check().await.unwrap();
        let dir = tempfile::tempdir().unwrap();

        // Above the single-put limit (16 MiB): 8 MiB parts, then a short one that ends the
        // object; and a file of whole parts, which GCS finishes with an empty chunk.
        let mut expected = vec![("small.json", b"{\"requests\": 3}".to_vec())];
        for (name, len) in [
            ("short-tail.json", 20 * MIB + 12_345),
            ("whole-parts.json", 24 * MIB),
        ] {
            let bytes = pseudo_random_bytes(len);
            std::fs::write(dir.path().join(name), &bytes).unwrap();
            expected.push((name, bytes));
        }
        let urls = buckets
            .upload_bytes("small.json", expected[0].1.clone().into())
            .await
            .unwrap();
        assert_eq!(
            urls,
            [
                format!("gs://{gcs_bucket}/runs/1/small.json"),
                format!("s3://{s3_bucket}/runs/1/small.json"),
            ]
        );
        for (name, _) in &expected[1..] {
            buckets
                .upload_file(name, &dir.path().join(name))
                .await
                .unwrap();
        }

        // Streamed from a blocking thread in small writes, as the per-request records are.
        let streamed = pseudo_random_bytes(17 * MIB + 99);
        for (name, bytes) in [("streamed.json", streamed), ("empty.json", Vec::new())] {
            let mut sink = buckets.sink(name).await.unwrap();
            let body = bytes.clone();
            tokio::task::spawn_blocking(move || {
                for chunk in body.chunks(4093) {
                    sink.write_all(chunk).unwrap();
                }
                Box::new(sink).commit().unwrap();
            })
            .await
            .unwrap();
            expected.push((name, bytes));
        }

        let stores: [(&str, Box<dyn ObjectStore>); 2] = [
            ("S3", Box::new(s3.store(&s3_bucket).unwrap())),
            ("GCS", Box::new(gcs.store(&gcs_bucket).unwrap())),
        ];
        for (server, store) in &stores {
            for (name, bytes) in &expected {
                let got = read(store.as_ref(), &format!("runs/1/{name}")).await;
                assert_eq!(got.len(), bytes.len(), "{server} {name}: length");
                assert!(&got == bytes, "{server} {name}: bytes differ");
            }
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_gcs_bucket_is_named_with_its_cause() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (s3, gcs) = (shared_s3().await, shared_gcs().await);
        let s3_bucket = s3.bucket("present").await.unwrap();
        let buckets = buckets(s3, &s3_bucket, gcs, "ibench-no-such-bucket");
        let upload = buckets
            .upload_bytes("a.json", "{}".into())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            upload.starts_with("gs://ibench-no-such-bucket/runs/1/a.json: not found (404)"),
            "{upload}"
        );
        let streamed = buckets.sink("b.json").await.err().unwrap().to_string();
        assert!(
            streamed.starts_with("gs://ibench-no-such-bucket/runs/1/b.json: not found (404)"),
            "{streamed}"
        );
    })
    .await
    .expect("test timed out");
}
