//! `GET /v1/models`: the base model and every LoRA adapter, shaped like vLLM's answer.

use bytes::Bytes;
use serde::Serialize;

use crate::app::ServedModels;
use crate::body::write_json;

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

pub(crate) fn list(models: &ServedModels, created: u64, max_model_len: u32) -> Bytes {
    let card = |id, parent| ModelCard {
        id,
        object: "model",
        created,
        owned_by: "ibench",
        root: id,
        parent,
        max_model_len,
    };
    let base = models.base();
    let data = std::iter::once(card(base, None))
        .chain(models.adapters().iter().map(|a| card(a, Some(base))))
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
