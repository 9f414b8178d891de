//! Google Cloud Managed Service for Prometheus with the ambient identity: the project and an
//! access token from the metadata server (GKE Workload Identity, GCE), as Google's client
//! libraries find them. `GCE_METADATA_HOST` names another metadata server, as for those
//! libraries. inference-perf reads Application Default Credentials, which on GKE resolve to
//! this same server; a service-account key file is not read here.

use ibench_core::error_text::with_causes;
use serde_json::Value;

const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";

pub struct GoogleManaged {
    metadata_host: String,
}

impl GoogleManaged {
    pub fn from_environment() -> GoogleManaged {
        GoogleManaged {
            metadata_host: std::env::var("GCE_METADATA_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_METADATA_HOST.into()),
        }
    }

    /// The Prometheus API base URL of the project and a bearer token for it.
    pub async fn endpoint(&self, http: &reqwest::Client) -> Result<(String, String), String> {
        let project = self.get(http, "project/project-id").await?;
        let token: Value = serde_json::from_str(
            &self
                .get(http, "instance/service-accounts/default/token")
                .await?,
        )
        .map_err(|e| format!("the metadata server's token is not JSON: {e}"))?;
        let token = token["access_token"]
            .as_str()
            .ok_or("the metadata server's token has no access_token")?;
        Ok((prometheus_url(project.trim()), token.to_string()))
    }

    async fn get(&self, http: &reqwest::Client, path: &str) -> Result<String, String> {
        let url = format!("http://{}/computeMetadata/v1/{path}", self.metadata_host);
        let failed = |why: String| {
            format!(
                "google_managed: no ambient Google identity ({url}: {why}); run on GKE with Workload Identity, or use metrics.prometheus.url"
            )
        };
        let response = http
            .get(&url)
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .map_err(|e| failed(with_causes(&e)))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        response.text().await.map_err(|e| failed(with_causes(&e)))
    }
}

fn prometheus_url(project: &str) -> String {
    format!("https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_global_prometheus_endpoint() {
        assert_eq!(
            prometheus_url("my-proj"),
            "https://monitoring.googleapis.com/v1/projects/my-proj/location/global/prometheus"
        );
    }
}
