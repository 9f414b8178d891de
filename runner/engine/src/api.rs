//! The APIs a run can speak, each naming its wire type, so that the engine is generic over
//! them and picks one per run.

use crate::answer::AnswerWire;
use crate::anthropic::MessagesWire;
use crate::openai::ResponseWire;

/// An API's wire type, for every lifetime of the text it borrows from.
pub trait Api {
    type Wire<'a>: AnswerWire<'a>;
}

/// `/v1/completions` and `/v1/chat/completions`.
pub struct OpenAi;

/// Anthropic's `/v1/messages`.
pub struct Anthropic;

impl Api for OpenAi {
    type Wire<'a> = ResponseWire<'a>;
}

impl Api for Anthropic {
    type Wire<'a> = MessagesWire<'a>;
}
