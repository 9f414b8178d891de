//! Proxy variables. The runner connects straight to `server.base_url`: a load generator
//! measures the server, and a proxy's queue and connection limits in between would be part of
//! every latency. A proxy that the environment asks for (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, not excluded by `NO_PROXY`) would therefore be bypassed without a word; the run
//! is refused instead, naming the variable and the fix. Loopback is never proxied (as in Go's
//! and most clients' rules).

use std::net::IpAddr;

/// Refusal of a target that the environment says to reach through a proxy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{variable} is set ({value}) and does not exclude {host}: the runner connects to server.base_url directly, never through a proxy; add {host} to NO_PROXY (or unset {variable}) if it is reachable without one"
)]
pub struct ProxyRefused {
    pub variable: String,
    pub value: String,
    pub host: String,
}

/// The variables that name a proxy for `scheme`, in the order clients read them.
fn proxy_variables(scheme: &str) -> &'static [&'static str] {
    match scheme {
        "https" => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether one `NO_PROXY` entry covers `host`: `*`, the host itself, a domain it is in
/// (`example.com` or `.example.com`), or an IP network (`10.0.0.0/8`).
fn excluded_by(entry: &str, host: &str) -> bool {
    let entry = entry.trim();
    if entry == "*" {
        return true;
    }
    // `host:port` entries: the host part.
    let entry = match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => entry,
    };
    let entry = entry.trim_start_matches('[').trim_end_matches(']');
    if let Some((network, bits)) = entry.split_once('/') {
        let (Ok(network), Ok(bits), Ok(ip)) = (
            network.parse::<IpAddr>(),
            bits.parse::<u32>(),
            host.parse::<IpAddr>(),
        ) else {
            return false;
        };
        return in_network(ip, network, bits);
    }
    let domain = entry.trim_start_matches('.');
    !domain.is_empty()
        && (host.eq_ignore_ascii_case(domain)
            || host
                .to_ascii_lowercase()
                .ends_with(&format!(".{}", domain.to_ascii_lowercase())))
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u32) -> bool {
    let (ip, network, width) = match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(u32::from(a)), u128::from(u32::from(n)), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = width - bits;
    shift >= 128 || (ip >> shift) == (network >> shift)
}

/// Refuses `url` when `env` (a variable's value by name) asks for a proxy to reach it.
pub fn check_proxy(
    url: &reqwest::Url,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ProxyRefused> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if is_loopback(host) {
        return Ok(());
    }
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let Some((variable, value)) = proxy_variables(url.scheme())
        .iter()
        .find_map(|name| set(name).map(|value| (name.to_string(), value)))
    else {
        return Ok(());
    };
    let no_proxy = set("no_proxy")
        .or_else(|| set("NO_PROXY"))
        .unwrap_or_default();
    if no_proxy
        .split([',', ' '])
        .filter(|e| !e.is_empty())
        .any(|entry| excluded_by(entry, host))
    {
        return Ok(());
    }
    Err(ProxyRefused {
        variable,
        value,
        host: host.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn check(url: &str, vars: &[(&str, &str)]) -> Result<(), ProxyRefused> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check_proxy(&url.parse().unwrap(), |name| env.get(name).cloned())
    }

    #[test]
    fn a_proxy_for_the_target_is_refused_naming_the_variable_and_the_fix() {
        let error = check(
            "https://vllm.models.svc:8000",
            &[("HTTPS_PROXY", "http://proxy:3128")],
        )
        .unwrap_err();
        assert_eq!(error.variable, "HTTPS_PROXY");
        assert!(
            error
                .to_string()
                .contains("add vllm.models.svc to NO_PROXY (or unset HTTPS_PROXY)"),
            "{error}"
        );
        // The scheme's own variable, else ALL_PROXY.
        assert!(check("http://a.b", &[("HTTPS_PROXY", "http://p")]).is_ok());
        assert_eq!(
            check("http://a.b", &[("ALL_PROXY", "socks5://p")])
                .unwrap_err()
                .variable,
            "ALL_PROXY"
        );
        assert!(
            check("https://a.b", &[("HTTPS_PROXY", " ")]).is_ok(),
            "empty is unset"
        );
    }

    #[test]
    fn no_proxy_and_loopback_go_direct() {
        let proxy = ("https_proxy", "http://proxy:3128");
        for (url, no_proxy) in [
            ("https://vllm.models.svc", "*"),
            ("https://vllm.models.svc", "localhost,.svc"),
            ("https://vllm.models.svc", "models.svc"),
            ("https://VLLM.Models.SVC:8443", "models.svc:8443"),
            ("https://10.1.2.3", "10.0.0.0/8"),
            ("https://[fd00::5]", "fd00::/16"),
        ] {
            assert!(
                check(url, &[proxy, ("NO_PROXY", no_proxy)]).is_ok(),
                "{url} with NO_PROXY={no_proxy}"
            );
        }
        for (url, no_proxy) in [
            ("https://vllm.models.svc", "other.svc"),
            ("https://notmodels.svc", "models.svc"),
            ("https://11.1.2.3", "10.0.0.0/8"),
        ] {
            assert!(
                check(url, &[proxy, ("no_proxy", no_proxy)]).is_err(),
                "{url} with no_proxy={no_proxy}"
            );
        }
        for url in [
            "http://127.0.0.1:8000",
            "https://localhost",
            "http://[::1]:80",
        ] {
            assert!(check(url, &[("ALL_PROXY", "http://p")]).is_ok(), "{url}");
        }
    }
}
