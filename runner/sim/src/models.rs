//! The served models: the base model and every LoRA adapter, and the `GET /v1/models` answer
//! listing them, shaped like vLLM's.

use bytes::Bytes;
use serde::Serialize;

use crate::body::write_json;
use crate::config::SimConfig;

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<ModelCard<'a>>,
}

#[derive(Serialize)]
struct ModelCard<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
    root: &'a str,
    parent: Option<&'a str>,
    max_model_len: u32,
}

/// Served model names: index 0 is the base model, index i > 0 is adapter i - 1.
pub(crate) struct ServedModels {
    names: Vec<String>,
    /// Time-to-first-token offset of each adapter, seconds.
    lora_offsets: Vec<f64>,
}

impl ServedModels {
    pub fn new(config: &SimConfig) -> Self {
        ServedModels {
            names: std::iter::once(config.model.clone())
                .chain(config.loras.iter().map(|l| l.name.clone()))
                .collect(),
            lora_offsets: config
                .loras
                .iter()
                .map(|l| l.ttft_offset_ms / 1e3)
                .collect(),
        }
    }

    /// Index of the model a request names; no name means the base model, like vLLM.
    pub fn find(&self, name: Option<&str>) -> Option<usize> {
        match name {
            None => Some(0),
            Some(name) => self.names.iter().position(|n| n == name),
        }
    }

    /// Every served name: the base model, then the adapters.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn name(&self, id: usize) -> &str {
        &self.names[id]
    }

    pub fn base(&self) -> &str {
        &self.names[0]
    }

    pub fn adapters(&self) -> &[String] {
        &self.names[1..]
    }

    /// Adapter index and TTFT offset (seconds) of model `id`, if it is an adapter.
    pub fn adapter(&self, id: usize) -> Option<(usize, f64)> {
        id.checked_sub(1).map(|a| (a, self.lora_offsets[a]))
    }

    /// The `GET /v1/models` answer.
    pub fn list(&self, created: u64, max_model_len: u32) -> Bytes {
        let card = |id, parent| ModelCard {
            id,
            object: "model",
            created,
            owned_by: "ibench",
            root: id,
            parent,
            max_model_len,
        };
        let base = self.base();
        let data = std::iter::once(card(base, None))
            .chain(self.adapters().iter().map(|a| card(a, Some(base))))
            .collect();
        let mut out = Vec::new();
        write_json(
            &mut out,
            &ModelList {
                object: "list",
                data,
            },
        );
        out.into()
    }
}
