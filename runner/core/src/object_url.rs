//! Object URLs a config may give instead of a local file (`s3://bucket/key`, `gs://bucket/key`,
//! `https://host/path`): recognised and checked here, fetched by `ibench-storage`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gcs,
    /// `http://` or `https://`: a plain GET.
    Http,
}

/// A parsed object URL: the bucket (or, for HTTP, `scheme://host[:port]`) and the object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    pub scheme: Scheme,
    pub bucket: String,
    pub key: String,
    text: String,
}

impl ObjectUrl {
    /// `Ok(None)` for a local path; `Err` with the fix for a URL that cannot be fetched.
    pub fn parse(text: &str) -> Result<Option<ObjectUrl>, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(None);
        };
        let scheme = match scheme {
            "s3" => Scheme::S3,
            "gs" => Scheme::Gcs,
            "http" | "https" => Scheme::Http,
            other => {
                return Err(format!(
                    "unsupported URL scheme {other}://; give a local path or an s3://, gs:// or https:// URL"
                ));
            }
        };
        if scheme == Scheme::Http {
            let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
            if url.host().is_none() || url.path().trim_matches('/').is_empty() {
                return Err("an http(s) URL must name a host and a file path".into());
            }
            let origin = url.origin().ascii_serialization();
            return Ok(Some(ObjectUrl {
                scheme,
                key: url.path().trim_start_matches('/').to_string(),
                bucket: origin,
                text: text.to_string(),
            }));
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || key.is_empty() || key.ends_with('/') {
            return Err(format!(
                "must name a bucket and an object, e.g. {}://my-bucket/traces/day1.csv",
                if scheme == Scheme::S3 { "s3" } else { "gs" }
            ));
        }
        Ok(Some(ObjectUrl {
            scheme,
            bucket: bucket.to_string(),
            key: key.to_string(),
            text: text.to_string(),
        }))
    }

    /// The object's file name, for the local copy.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_not_urls() {
        for path in ["trace.csv", "/data/sharegpt.json", "./a:b", "dir/x"] {
            assert_eq!(ObjectUrl::parse(path), Ok(None), "{path}");
        }
    }

    #[test]
    fn buckets_keys_and_origins() {
        let s3 = ObjectUrl::parse("s3://traces/2026/day1.csv")
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                s3.scheme,
                s3.bucket.as_str(),
                s3.key.as_str(),
                s3.file_name()
            ),
            (Scheme::S3, "traces", "2026/day1.csv", "day1.csv")
        );
        let gs = ObjectUrl::parse("gs://b/sharegpt.json").unwrap().unwrap();
        assert_eq!((gs.scheme, gs.key.as_str()), (Scheme::Gcs, "sharegpt.json"));
        let http = ObjectUrl::parse("https://example.com:8443/d/t.json?x=1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (http.scheme, http.bucket.as_str(), http.key.as_str()),
            (Scheme::Http, "https://example.com:8443", "d/t.json")
        );
        assert_eq!(http.to_string(), "https://example.com:8443/d/t.json?x=1");
    }

    #[test]
    fn unfetchable_urls_say_why() {
        for (url, needle) in [
            ("s3://bucket-only", "bucket and an object"),
            ("s3:///key", "bucket and an object"),
            ("gs://b/dir/", "bucket and an object"),
            ("ftp://h/f", "unsupported URL scheme ftp://"),
            ("https://host/", "file path"),
        ] {
            let e = ObjectUrl::parse(url).unwrap_err();
            assert!(e.contains(needle), "{url}: {e}");
        }
    }
}
