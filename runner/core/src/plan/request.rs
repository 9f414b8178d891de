//! What one request of a plan asks for, whichever data generator made it.

use std::sync::Arc;

/// `max_tokens` when the data generator does not choose one (inference-perf's client default).
pub const DEFAULT_MAX_TOKENS: u32 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct RequestData {
    /// The shared prefix (a system message in chat requests).
    pub system: Option<Arc<str>>,
    /// The user's text.
    pub prompt: String,
    pub max_tokens: u32,
    /// Multi-turn chat: the conversation round this request is.
    pub round: Option<Round>,
    /// Multi-turn chat: inference-perf's session of the request, for its per-request record.
    pub session: Option<UserSession>,
    /// Conversation replay: the model's context in tokens, which the prompt and `max_tokens`
    /// must fit in, with inference-perf's 200 tokens of slack.
    pub context_limit: Option<u32>,
    /// Multimodal chat: the user message is content parts, the prompt split around these
    /// media (in order of their place); `None` sends the prompt as a plain string.
    pub media: Option<Vec<MediaPart>>,
    /// Session replay: the call offers the model tools, so the model ends its answer itself
    /// (`ignore_eos: false` whatever `server.ignore_eos` says, as inference-perf sends it).
    pub offers_tools: bool,
    /// Session data: the model the call asks instead of `server.model_name`.
    pub model: Option<Arc<str>>,
    /// Session data: the call's recorded messages and tools, sent instead of `prompt`.
    pub recorded: Option<Arc<super::sessions::Recorded>>,
    /// Session data: the tools a call of generated text is offered, and its `tool_choice`.
    pub tools: super::sessions::ToolOffer,
}

/// A medium in a chat prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaPart {
    Image(ImagePart),
    /// A video sent as its frames: an `image_url` part each, all at the video's place.
    Frames(FramesPart),
    /// A video sent as one MP4: a `video_url` part.
    Video(VideoPart),
    Audio(AudioPart),
}

impl MediaPart {
    /// Where in the prompt it goes: a byte offset (on a character boundary) into the text.
    pub fn at(&self) -> usize {
        match self {
            MediaPart::Image(part) => part.at,
            MediaPart::Frames(part) => part.at,
            MediaPart::Video(part) => part.at,
            MediaPart::Audio(part) => part.at,
        }
    }

    /// Moves it `by` bytes later, for text put before its own.
    pub(super) fn shift(&mut self, by: usize) {
        let at = match self {
            MediaPart::Image(part) => &mut part.at,
            MediaPart::Frames(part) => &mut part.at,
            MediaPart::Video(part) => &mut part.at,
            MediaPart::Audio(part) => &mut part.at,
        };
        *at += by;
    }
}

/// A video as `png_frames` or `jpeg_frames`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramesPart {
    pub at: usize,
    /// A `data:` URL per frame.
    pub frames: Vec<Arc<str>>,
    /// Each frame's size.
    pub width: u32,
    pub height: u32,
    /// The encoded frames' size together (inference-perf's per-video `bytes`).
    pub bytes: usize,
}

/// A video as `mp4`: H.264 in an MP4 container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoPart {
    pub at: usize,
    /// A `data:video/mp4;base64,` URL.
    pub url: Arc<str>,
    /// The asked frame size and count (inference-perf's per-video metrics; the stream's sides
    /// are these rounded down to even).
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// The MP4's size.
    pub bytes: usize,
}

/// An audio clip, sent as an `input_audio` part.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPart {
    pub at: usize,
    /// The WAV bytes in base64.
    pub data: Arc<str>,
    pub seconds: f64,
    /// The WAV's size.
    pub bytes: usize,
}

/// An image in a chat prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePart {
    /// Where in the prompt it goes: a byte offset (on a character boundary) into the text.
    pub at: usize,
    /// A `data:` URL (or an http(s) URL the server fetches).
    pub url: Arc<str>,
    /// The size of the image of a `data:` URL; 0 for one given by URL, which the runner never
    /// sees (as inference-perf's RemoteImageSpec measures nothing).
    pub width: u32,
    pub height: u32,
    /// The encoded image's size (inference-perf's per-image `bytes`); 0 for a URL.
    pub bytes: usize,
}

/// Round `round` (from 0, counted over the stage) of user `user`'s requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub user: u64,
    pub round: u64,
    /// The round starts a new conversation: what the user said before is dropped.
    pub opens: bool,
    /// How long the user's next round waits after this one's answer (a tool call's latency);
    /// after a failure it does not wait (no tool ran).
    pub pause: std::time::Duration,
}

/// inference-perf's `user_session` and `chat_round` (from 1) of a multi-turn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    pub id: String,
    pub round: u64,
}
