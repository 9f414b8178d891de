//! A tokenizer's chat template: the Jinja template Hugging Face tokenizers carry
//! (`chat_template.jinja`, or `chat_template` in `tokenizer_config.json`), rendered as
//! transformers' `apply_chat_template` renders one user message with the generation prompt
//! (what inference-perf's `data.use_chat_template` sends on the completions path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{Environment, Value, context};
use serde_json::Value as Json;

/// The name transformers picks among a list of named templates when none is asked for.
const DEFAULT_TEMPLATE: &str = "default";

/// The special tokens transformers hands every template (`special_tokens_map`).
const SPECIAL_TOKENS: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

pub struct ChatTemplate {
    env: Environment<'static>,
    /// The special tokens of `tokenizer_config.json`, by their template names.
    specials: BTreeMap<String, String>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("specials", &self.specials)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChatTemplateError {
    #[error(
        "data.use_chat_template: the tokenizer at {dir} has no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json); point tokenizer.pretrained_model_name_or_path at a chat/instruct model's tokenizer directory or disable use_chat_template"
    )]
    Missing { dir: String },
    #[error("data.use_chat_template: cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("data.use_chat_template: the chat template of {dir} does not render: {reason}")]
    Render { dir: String, reason: String },
}

impl ChatTemplate {
    /// The template beside the tokenizer at `tokenizer_path` (its `tokenizer.json` or the
    /// directory holding it).
    pub fn load(tokenizer_path: &Path) -> Result<ChatTemplate, ChatTemplateError> {
        let dir = if tokenizer_path.is_dir() {
            tokenizer_path.to_path_buf()
        } else {
            tokenizer_path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        };
        let shown = dir.display().to_string();
        let config = read_json(&dir.join("tokenizer_config.json"))?;
        let jinja = dir.join("chat_template.jinja");
        let source = if jinja.exists() {
            std::fs::read_to_string(&jinja).map_err(|e| ChatTemplateError::Read {
                path: jinja.display().to_string(),
                reason: e.to_string(),
            })?
        } else {
            config
                .as_ref()
                .and_then(|c| template_of(c.get("chat_template")?))
                .ok_or(ChatTemplateError::Missing { dir: shown.clone() })?
        };
        let specials = SPECIAL_TOKENS
            .iter()
            .filter_map(|name| {
                let token = config.as_ref()?.get(*name)?;
                // A plain string, or an AddedToken written out as an object.
                let text = token.as_str().or_else(|| token.get("content")?.as_str())?;
                Some((name.to_string(), text.to_string()))
            })
            .collect();
        let template = ChatTemplate {
            env: environment(source).map_err(|e| ChatTemplateError::Render {
                dir: shown.clone(),
                reason: e.to_string(),
            })?,
            specials,
        };
        template
            .render_user("")
            .map_err(|reason| ChatTemplateError::Render { dir: shown, reason })?;
        Ok(template)
    }

    /// `text` as the one user message of a conversation, with the assistant's turn opened.
    pub fn render_user(&self, text: &str) -> Result<String, String> {
        let specials = Value::from(self.specials.clone());
        let messages = vec![context! {role => "user", content => text}];
        let ctx = context! {
            messages,
            add_generation_prompt => true,
            // Passed as None by transformers: `tools is not none` must be false.
            tools => Value::from(()),
            documents => Value::from(()),
            ..specials
        };
        self.env
            .get_template("chat")
            .and_then(|t| t.render(ctx))
            .map_err(|e| e.to_string())
    }
}

/// Jinja as transformers configures it for chat templates: blocks trimmed and left-stripped,
/// loop controls, `raise_exception`, `strftime_now`, and Python's string methods.
fn environment(source: String) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                message,
            ))
        },
    );
    env.add_function("strftime_now", |format: String| {
        chrono::Local::now().format(&format).to_string()
    });
    env.add_template_owned("chat", source)?;
    Ok(env)
}

/// `chat_template` as `tokenizer_config.json` writes it: the template, or a list of named
/// templates of which transformers takes `default`.
fn template_of(value: &Json) -> Option<String> {
    match value {
        Json::String(text) => Some(text.clone()),
        Json::Array(named) => named
            .iter()
            .find(|t| t.get("name").and_then(Json::as_str) == Some(DEFAULT_TEMPLATE))
            .and_then(|t| t.get("template")?.as_str())
            .map(str::to_string),
        _ => None,
    }
}

/// The JSON file at `path`, `None` if there is none.
fn read_json(path: &Path) -> Result<Option<Json>, ChatTemplateError> {
    let read_error = |reason: String| ChatTemplateError::Read {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| read_error(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_error(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zephyr's template, as its `tokenizer_config.json` has it (escapes in string literals).
    const ZEPHYR: &str = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

    fn dir_with(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn the_template_renders_one_user_turn_as_transformers_does() {
        let config = serde_json::json!({"chat_template": ZEPHYR,
            "eos_token": {"content": "</s>", "special": true}, "bos_token": "<s>"});
        let dir = dir_with(&[("tokenizer_config.json", config.to_string())]);
        // Given the tokenizer.json's path: the template is beside it.
        let template = ChatTemplate::load(&dir.path().join("tokenizer.json")).unwrap();
        assert_eq!(
            template.render_user("Hi there").unwrap(),
            "<|user|>\nHi there</s>\n<|assistant|>\n"
        );
    }

    #[test]
    fn python_methods_named_templates_and_the_jinja_file_are_understood() {
        let named = serde_json::json!({"chat_template": [
            {"name": "tool_use", "template": "tools"},
            {"name": "default", "template": "{{ bos_token }}{% for m in messages %}[{{ m.role.upper() }}] {{ m.content.strip() }}{% endfor %}{% if tools is not none %}T{% endif %}"}],
            "bos_token": "<s>"});
        let dir = dir_with(&[("tokenizer_config.json", named.to_string())]);
        let template = ChatTemplate::load(dir.path()).unwrap();
        assert_eq!(template.render_user("  q  ").unwrap(), "<s>[USER] q");
        // chat_template.jinja wins over tokenizer_config.json, as in transformers.
        let dir = dir_with(&[
            ("tokenizer_config.json", named.to_string()),
            ("chat_template.jinja", "<{{ messages[0].content }}>".into()),
        ]);
        let template = ChatTemplate::load(dir.path()).unwrap();
        assert_eq!(template.render_user("x").unwrap(), "<x>");
    }

    #[test]
    fn a_tokenizer_without_template_or_with_a_broken_one_is_named() {
        let dir = dir_with(&[("tokenizer_config.json", "{}".into())]);
        let missing = ChatTemplate::load(dir.path()).unwrap_err().to_string();
        assert!(
            missing.starts_with("data.use_chat_template: the tokenizer at ")
                && missing.contains("has no chat template"),
            "{missing}"
        );
        let dir = dir_with(&[(
            "chat_template.jinja",
            "{{ raise_exception('no system role') }}".into(),
        )]);
        let broken = ChatTemplate::load(dir.path()).unwrap_err().to_string();
        assert!(broken.contains("no system role"), "{broken}");
    }
}
