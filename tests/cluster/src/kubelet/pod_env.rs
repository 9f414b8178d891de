//! A container's environment and argv, computed the way the real kubelet does: `envFrom`, then
//! `env` in order, `$(VAR)` expansion against what is already defined, the downward API for
//! `fieldRef`/`resourceFieldRef`, and ConfigMap/Secret keys read through the API.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::{Api, Client};

use super::ctx::{NODE_IP, pod_ip};

/// A failure to build the environment. `retryable` ones (a missing ConfigMap, say) may heal, as
/// with the real kubelet's CreateContainerConfigError.
#[derive(Debug, Clone)]
pub(crate) struct EnvError {
    pub message: String,
    pub retryable: bool,
}

impl EnvError {
    fn retryable(message: String) -> Self {
        EnvError {
            message,
            retryable: true,
        }
    }
    fn fatal(message: String) -> Self {
        EnvError {
            message,
            retryable: false,
        }
    }
}

/// Ordered environment; later definitions win, as in a container.
pub(crate) type Env = Vec<(String, String)>;

/// Kubernetes `$(VAR)` expansion: defined names are replaced, `$$` escapes a dollar, and
/// undefined or unterminated references are left as written.
pub(crate) fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            match tail.find(')') {
                Some(end) => {
                    let name = &tail[..end];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = tail;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn lookup_in(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    |name| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Expands `$(VAR)` against the container's final environment (`subPathExpr`).
pub(crate) fn expand_in(input: &str, env: &Env) -> String {
    expand(input, lookup_in(env))
}

/// Expands `$(VAR)` in each argv element against the container's final environment.
pub(crate) fn expand_argv(argv: &[String], env: &Env) -> Vec<String> {
    argv.iter().map(|a| expand_in(a, env)).collect()
}

/// The downward-API value of `field_path` (the subset the apiserver allows for env vars).
pub(crate) fn field_ref(pod: &Pod, field_path: &str) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| -> Option<String> {
        let key = field_path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(map.and_then(|m| m.get(key)).cloned().unwrap_or_default())
    };
    if let Some(v) = keyed("metadata.labels['", meta.labels.as_ref()) {
        return Ok(v);
    }
    if let Some(v) = keyed("metadata.annotations['", meta.annotations.as_ref()) {
        return Ok(v);
    }
    Ok(match field_path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => NODE_IP.to_string(),
        "status.podIP" | "status.podIPs" => pod_ip(pod),
        other => {
            return Err(EnvError::fatal(format!(
                "fieldRef {other:?} is not supported by the process kubelet"
            )));
        }
    })
}

/// Parses a Kubernetes quantity into base units (cores, bytes). Enough for `resourceFieldRef`.
pub(crate) fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(number * factor)
}

/// `resourceFieldRef`: the container's limit or request, falling back to the node's capacity
/// for unset limits (as the real kubelet does), rounded up in units of `divisor`.
fn resource_field_ref(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
) -> Result<String, EnvError> {
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| EnvError::fatal(format!("resourceFieldRef {resource:?} is malformed")))?;
    let resources = container.resources.as_ref();
    let set = match kind {
        "limits" => resources.and_then(|r| r.limits.as_ref()),
        "requests" => resources.and_then(|r| r.requests.as_ref()),
        _ => {
            return Err(EnvError::fatal(format!(
                "resourceFieldRef {resource:?} is not supported"
            )));
        }
    };
    let value = set
        .and_then(|m| m.get(name))
        .map(|q| q.0.clone())
        .or_else(|| super::node::capacity(name).map(str::to_string))
        .unwrap_or_else(|| "0".into());
    let value = parse_quantity(&value)
        .ok_or_else(|| EnvError::fatal(format!("cannot parse quantity {value:?} of {resource}")))?;
    let divisor = parse_quantity(divisor.unwrap_or("1"))
        .filter(|d| *d > 0.0)
        .ok_or_else(|| EnvError::fatal(format!("bad divisor for {resource}")))?;
    Ok(format!("{}", (value / divisor).ceil() as i64))
}

/// Reads ConfigMaps and Secrets once per container start.
struct Sources<'a> {
    client: &'a Client,
    namespace: &'a str,
    config_maps: BTreeMap<String, Option<ConfigMap>>,
    secrets: BTreeMap<String, Option<Secret>>,
}

impl Sources<'_> {
    async fn config_map(&mut self, name: &str) -> Result<Option<&ConfigMap>, EnvError> {
        if !self.config_maps.contains_key(name) {
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), self.namespace);
            let found = api
                .get_opt(name)
                .await
                .map_err(|e| EnvError::retryable(format!("reading configmap {name:?}: {e}")))?;
            self.config_maps.insert(name.to_string(), found);
        }
        Ok(self.config_maps[name].as_ref())
    }

    async fn secret(&mut self, name: &str) -> Result<Option<&Secret>, EnvError> {
        if !self.secrets.contains_key(name) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), self.namespace);
            let found = api
                .get_opt(name)
                .await
                .map_err(|e| EnvError::retryable(format!("reading secret {name:?}: {e}")))?;
            self.secrets.insert(name.to_string(), found);
        }
        Ok(self.secrets[name].as_ref())
    }
}

fn secret_data(secret: &Secret) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    // stringData is write-only in the API, but harmless to honour.
    out.extend(secret.string_data.clone().unwrap_or_default());
    out
}

/// The container's environment: `base` (service variables, KUBECONFIG, ...) first, then
/// `envFrom`, then `env`.
pub(crate) async fn container_env(
    client: &Client,
    pod: &Pod,
    container: &Container,
    base: Env,
) -> Result<Env, EnvError> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut sources = Sources {
        client,
        namespace: &namespace,
        config_maps: BTreeMap::new(),
        secrets: BTreeMap::new(),
    };
    let mut env = base;

    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match sources.config_map(&r.name).await? {
                Some(cm) => env.extend(
                    cm.data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (format!("{prefix}{k}"), v.clone())),
                ),
                None if r.optional == Some(true) => {}
                None => {
                    return Err(EnvError::retryable(format!(
                        "configmap {:?} not found",
                        r.name
                    )));
                }
            }
        }
        if let Some(r) = &from.secret_ref {
            match sources.secret(&r.name).await? {
                Some(s) => env.extend(
                    secret_data(s)
                        .into_iter()
                        .map(|(k, v)| (format!("{prefix}{k}"), v)),
                ),
                None if r.optional == Some(true) => {}
                None => {
                    return Err(EnvError::retryable(format!(
                        "secret {:?} not found",
                        r.name
                    )));
                }
            }
        }
    }

    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            Some(expand(value, lookup_in(&env)))
        } else if let Some(from) = &var.value_from {
            if let Some(f) = &from.field_ref {
                Some(field_ref(pod, &f.field_path)?)
            } else if let Some(r) = &from.resource_field_ref {
                Some(resource_field_ref(
                    container,
                    &r.resource,
                    r.divisor.as_ref().map(|d| d.0.as_str()),
                )?)
            } else if let Some(r) = &from.config_map_key_ref {
                let optional = r.optional == Some(true);
                match sources.config_map(&r.name).await? {
                    Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&r.key)) {
                        Some(v) => Some(v.clone()),
                        None if optional => None,
                        None => {
                            return Err(EnvError::retryable(format!(
                                "key {:?} not found in configmap {:?}",
                                r.key, r.name
                            )));
                        }
                    },
                    None if optional => None,
                    None => {
                        return Err(EnvError::retryable(format!(
                            "configmap {:?} not found",
                            r.name
                        )));
                    }
                }
            } else if let Some(r) = &from.secret_key_ref {
                let optional = r.optional == Some(true);
                match sources.secret(&r.name).await? {
                    Some(s) => match secret_data(s).remove(&r.key) {
                        Some(v) => Some(v),
                        None if optional => None,
                        None => {
                            return Err(EnvError::retryable(format!(
                                "key {:?} not found in secret {:?}",
                                r.key, r.name
                            )));
                        }
                    },
                    None if optional => None,
                    None => {
                        return Err(EnvError::retryable(format!(
                            "secret {:?} not found",
                            r.name
                        )));
                    }
                }
            } else {
                return Err(EnvError::fatal(format!(
                    "env {:?}: this valueFrom source is not supported",
                    var.name
                )));
            }
        } else {
            Some(String::new())
        };
        if let Some(value) = value {
            env.push((var.name.clone(), value));
        }
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let e = env(&[("A", "x"), ("B", "y"), ("A", "z")]);
        let f = |s: &str| expand(s, lookup_in(&e));
        assert_eq!(f("$(A)-$(B)"), "z-y");
        assert_eq!(f("$$(A)"), "$(A)");
        assert_eq!(f("$(MISSING)"), "$(MISSING)");
        assert_eq!(f("$(A"), "$(A");
        assert_eq!(f("cost: $5 $"), "cost: $5 $");
        assert_eq!(f("ünï$(B)cödé"), "ünïycödé");
        assert_eq!(f("$$$(A)"), "$z");
    }

    #[test]
    fn field_refs_cover_the_job_controller_fields() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                annotations: Some(
                    [(
                        "batch.kubernetes.io/job-completion-index".to_string(),
                        "2".to_string(),
                    )]
                    .into(),
                ),
                labels: Some([("app".to_string(), "x".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                service_account_name: Some("sa".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            field_ref(
                &pod,
                "metadata.annotations['batch.kubernetes.io/job-completion-index']"
            )
            .unwrap(),
            "2"
        );
        assert_eq!(field_ref(&pod, "metadata.labels['app']").unwrap(), "x");
        assert_eq!(field_ref(&pod, "metadata.labels['none']").unwrap(), "");
        assert_eq!(field_ref(&pod, "metadata.name").unwrap(), "p");
        assert_eq!(field_ref(&pod, "metadata.namespace").unwrap(), "ns");
        assert_eq!(field_ref(&pod, "metadata.uid").unwrap(), "u");
        assert_eq!(field_ref(&pod, "spec.serviceAccountName").unwrap(), "sa");
        let ip: std::net::Ipv4Addr = field_ref(&pod, "status.podIP").unwrap().parse().unwrap();
        assert!(ip.is_loopback() && ip.octets()[1] >= 64, "{ip}");
        assert_eq!(field_ref(&pod, "status.podIPs").unwrap(), ip.to_string());
        assert_eq!(field_ref(&pod, "status.hostIP").unwrap(), "127.0.0.1");
        let mut other = pod.clone();
        other.metadata.uid = Some("v".into());
        assert_ne!(field_ref(&other, "status.podIP").unwrap(), ip.to_string());
        other.spec.get_or_insert_with(Default::default).host_network = Some(true);
        assert_eq!(field_ref(&other, "status.podIP").unwrap(), "127.0.0.1");
        assert!(field_ref(&pod, "spec.bogus").is_err());
    }

    #[test]
    fn quantities_and_divisors() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2Gi"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        let c = Container {
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                limits: Some(
                    [(
                        "cpu".to_string(),
                        k8s_openapi::apimachinery::pkg::api::resource::Quantity("1500m".into()),
                    )]
                    .into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(resource_field_ref(&c, "limits.cpu", None).unwrap(), "2");
        assert_eq!(
            resource_field_ref(&c, "limits.cpu", Some("1m")).unwrap(),
            "1500"
        );
    }
}
