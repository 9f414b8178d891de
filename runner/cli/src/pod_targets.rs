//! `metrics.scrape.pods` under the operator: the model server's pods, found through the
//! Kubernetes API before every scrape round, so that pods added or replaced during a run are
//! scraped too.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use ibench_core::config::ScrapePods;
use ibench_engine::FindTargets;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::ListParams;
use kube::{Api, Client};

pub struct PodTargets {
    pods: Api<Pod>,
    services: Api<Service>,
    wanted: ScrapePods,
}

impl PodTargets {
    pub fn new(client: Client, namespace: &str, wanted: ScrapePods) -> PodTargets {
        PodTargets {
            pods: Api::namespaced(client.clone(), namespace),
            services: Api::namespaced(client, namespace),
            wanted,
        }
    }

    /// The label selector: the Service's, read every round (it may be edited), or the given one.
    async fn selector(&self) -> Result<BTreeMap<String, String>, String> {
        let Some(name) = &self.wanted.service else {
            return Ok(self.wanted.selector.clone());
        };
        let service =
            self.services.get(name).await.map_err(|e| {
                format!("metrics.scrape.pods.service: cannot read Service {name}: {e}")
            })?;
        service
            .spec
            .and_then(|s| s.selector)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                format!(
                    "metrics.scrape.pods.service: Service {name} has no selector; name the pods' labels in metrics.scrape.pods.selector"
                )
            })
    }

    async fn urls(&self) -> Result<Vec<String>, String> {
        let selector = label_selector(&self.selector().await?);
        let pods = self
            .pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| format!("cannot list pods with labels {selector}: {e}"))?;
        let urls = metrics_urls(&pods.items, &self.wanted);
        if urls.is_empty() {
            return Err(format!(
                "no running pod with an IP has labels {selector} ({} found)",
                pods.items.len()
            ));
        }
        Ok(urls)
    }
}

impl FindTargets for PodTargets {
    fn find(&mut self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(self.urls())
    }
}

fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The metrics URLs of the pods that can answer: running, with an IP, not being deleted.
fn metrics_urls(pods: &[Pod], wanted: &ScrapePods) -> Vec<String> {
    let mut urls: Vec<String> = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter_map(|pod| {
            let status = pod.status.as_ref()?;
            (status.phase.as_deref() == Some("Running"))
                .then_some(status.pod_ip.as_deref())
                .flatten()
                .filter(|ip| !ip.is_empty())
                .map(|ip| wanted.url(ip))
        })
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod(phase: &str, ip: Option<&str>, deleting: bool) -> Pod {
        let mut pod = Pod {
            status: Some(PodStatus {
                phase: Some(phase.into()),
                pod_ip: ip.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        };
        if deleting {
            pod.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        }
        pod
    }

    #[test]
    fn only_running_pods_with_an_ip_are_scraped() {
        let wanted = ScrapePods {
            port: 8000,
            ..Default::default()
        };
        let pods = [
            pod("Running", Some("10.0.0.2"), false),
            pod("Running", Some("10.0.0.1"), false),
            pod("Pending", Some("10.0.0.3"), false),
            pod("Running", None, false),
            pod("Running", Some("10.0.0.4"), true),
            pod("Succeeded", Some("10.0.0.5"), false),
        ];
        assert_eq!(
            metrics_urls(&pods, &wanted),
            [
                "http://10.0.0.1:8000/metrics",
                "http://10.0.0.2:8000/metrics"
            ]
        );
        let labels = BTreeMap::from([("app".into(), "vllm".into()), ("tier".into(), "a".into())]);
        assert_eq!(label_selector(&labels), "app=vllm,tier=a");
    }
}
