//! Pod status documents in the shape the real kubelet writes, so that API validation accepts
//! them and the Job, ReplicaSet and Deployment controllers read them as usual.

use serde_json::{Value, json};

use super::ctx::NODE_IP;

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Per-container state as the kubelet reports it.
#[derive(Debug, Clone)]
pub(crate) enum ContainerState {
    Waiting {
        reason: String,
        message: String,
    },
    Running {
        started_at: String,
        pid: u32,
    },
    Terminated {
        exit_code: i32,
        reason: String,
        message: Option<String>,
        started_at: Option<String>,
        finished_at: String,
        pid: Option<u32>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ContainerStatus {
    pub name: String,
    pub image: String,
    pub program: String,
    pub state: ContainerState,
    pub last_state: Option<ContainerState>,
    pub restart_count: i32,
}

impl ContainerStatus {
    pub(crate) fn waiting(name: &str, image: &str, reason: &str, message: &str) -> Self {
        ContainerStatus {
            name: name.into(),
            image: image.into(),
            program: String::new(),
            state: ContainerState::Waiting {
                reason: reason.into(),
                message: message.into(),
            },
            last_state: None,
            restart_count: 0,
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self.state, ContainerState::Running { .. })
    }

    pub(crate) fn exit_code(&self) -> Option<i32> {
        match self.state {
            ContainerState::Terminated { exit_code, .. } => Some(exit_code),
            _ => None,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let pid = match (&self.state, &self.last_state) {
            (ContainerState::Running { pid, .. }, _) => Some(*pid),
            (ContainerState::Terminated { pid, .. }, _) => *pid,
            _ => None,
        };
        let mut v = json!({
            "name": self.name,
            "image": self.image,
            "imageID": if self.program.is_empty() { String::new() } else { format!("ibench-testcluster://{}", self.program) },
            "ready": self.is_running(),
            "started": self.is_running(),
            "restartCount": self.restart_count,
            "state": state_json(&self.state),
            "lastState": self.last_state.as_ref().map(state_json).unwrap_or_else(|| json!({})),
        });
        if let Some(pid) = pid {
            // Lets a debugging human find the process; no runtime parses it.
            v["containerID"] = json!(format!("ibench-testcluster://pid-{pid}"));
        }
        v
    }
}

fn state_json(state: &ContainerState) -> Value {
    match state {
        ContainerState::Waiting { reason, message } => {
            json!({ "waiting": { "reason": reason, "message": message } })
        }
        ContainerState::Running { started_at, .. } => {
            json!({ "running": { "startedAt": started_at } })
        }
        ContainerState::Terminated {
            exit_code,
            reason,
            message,
            started_at,
            finished_at,
            ..
        } => {
            let mut t =
                json!({ "exitCode": exit_code, "reason": reason, "finishedAt": finished_at });
            if let Some(m) = message {
                t["message"] = json!(m);
            }
            if let Some(s) = started_at {
                t["startedAt"] = json!(s);
            }
            json!({ "terminated": t })
        }
    }
}

/// Conditions for a phase. `initialized`/`ready` as the kubelet computes them; finished Pods
/// report `PodCompleted` as the reason for not being ready.
fn conditions(initialized: bool, ready: bool, finished: bool, since: &str) -> Value {
    let cond = |kind: &str, ok: bool, reason: Option<&str>| {
        let mut c = json!({ "type": kind, "status": if ok { "True" } else { "False" }, "lastTransitionTime": since });
        if let Some(r) = reason {
            c["reason"] = json!(r);
        }
        c
    };
    let not_ready = if finished {
        Some("PodCompleted")
    } else {
        Some("ContainersNotReady")
    };
    json!([
        cond("PodReadyToStartContainers", !finished, None),
        cond(
            "Initialized",
            initialized,
            if initialized {
                None
            } else {
                Some("ContainersNotInitialized")
            }
        ),
        cond("Ready", ready, if ready { None } else { not_ready }),
        cond(
            "ContainersReady",
            ready,
            if ready { None } else { not_ready }
        ),
        cond("PodScheduled", true, None),
    ])
}

/// The Pod-level phase and its optional reason/message (e.g. `ImageNotMapped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

/// A full status document for a strategic-merge patch of the status subresource.
pub(crate) fn pod_status(
    pod_ip: &str,
    phase: Phase,
    reason: Option<(&str, &str)>,
    start_time: &str,
    init: &[ContainerStatus],
    containers: &[ContainerStatus],
) -> Value {
    let finished = matches!(phase, Phase::Succeeded | Phase::Failed);
    let initialized =
        init.iter().all(|c| c.exit_code() == Some(0)) && phase != Phase::Pending || finished;
    let ready = phase == Phase::Running && containers.iter().all(ContainerStatus::is_running);
    let mut status = json!({
        "phase": phase.as_str(),
        "conditions": conditions(initialized, ready, finished, &now()),
        "hostIP": NODE_IP,
        "hostIPs": [{ "ip": NODE_IP }],
        "podIP": pod_ip,
        "podIPs": [{ "ip": pod_ip }],
        "startTime": start_time,
        "containerStatuses": containers.iter().map(ContainerStatus::to_json).collect::<Vec<_>>(),
    });
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(
            init.iter()
                .map(ContainerStatus::to_json)
                .collect::<Vec<_>>()
        );
    }
    if let Some((reason, message)) = reason {
        status["reason"] = json!(reason);
        status["message"] = json!(message);
    }
    json!({ "status": status })
}
