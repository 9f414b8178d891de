//! etcd for one control plane: single member, loopback only, no fsync (test data is disposable
//! and fsync dominates apiserver write latency on shared CI disks).

use std::path::Path;
use std::process::Command;

use crate::binaries::Binaries;

pub(crate) struct EtcdPorts {
    pub client: u16,
    pub peer: u16,
}

impl EtcdPorts {
    pub(crate) fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }
}

pub(crate) fn command(binaries: &Binaries, data_dir: &Path, ports: &EtcdPorts) -> Command {
    let client = ports.client_url();
    let peer = format!("http://127.0.0.1:{}", ports.peer);
    let mut c = Command::new(binaries.etcd());
    c.arg("--name=default")
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--listen-client-urls={client}"))
        .arg(format!("--advertise-client-urls={client}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=default={peer}"))
        .arg("--initial-cluster-state=new")
        .arg("--unsafe-no-fsync=true")
        .arg("--log-level=warn");
    c
}
