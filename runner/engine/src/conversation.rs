//! Multi-turn conversations of one stage: round `r + 1` of a user waits until round `r` has its
//! answer (and, replaying conversations, the pause drawn for round `r`'s tool call), then
//! carries the whole conversation so far. Users are routed to workers by user id
//! ([`Routing::User`](ibench_core::plan::Routing)), so a user's rounds run on one worker; the store is
//! shared by the runner's workers all the same, which keeps closed loops (whose lanes take the
//! next request wherever it is) correct too.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;

use ibench_core::plan::Round;
use ibench_core::tokenize::Tokenizer;

/// One earlier exchange of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub user: String,
    pub assistant: String,
}

#[derive(Debug, Default)]
pub struct Conversations {
    users: Mutex<HashMap<u64, UserState>>,
    /// Woken whenever a round ends.
    advanced: Notify,
}

#[derive(Debug, Default)]
struct UserState {
    /// The round that may go next.
    next_round: u64,
    history: Vec<Turn>,
    /// Not before then: the previous round's answer plus its pause.
    ready_at: Option<Instant>,
    /// The last session token the server gave (`api.session_token_header_key`).
    token: Option<String>,
}

/// What a round is sent with: the conversation so far and the session's token.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub history: Vec<Turn>,
    pub token: Option<String>,
}

/// How a round ended.
#[derive(Debug)]
pub struct TurnEnd {
    /// The round's exchange, when it was answered.
    pub exchange: Option<Turn>,
    /// The oldest turns its prompt left out to fit the model's context: they are gone for good,
    /// as in inference-perf.
    pub dropped: usize,
    pub ended: Instant,
    /// The session token the answer set, if any: it replaces the session's whatever the
    /// round's outcome, as in inference-perf.
    pub token: Option<String>,
}

impl Conversations {
    /// Waits until `round` is the user's next round and the previous round's pause is over, and
    /// returns the session so far (no history when `round` opens a new conversation).
    pub async fn wait_turn(&self, round: Round) -> Session {
        let (session, ready_at) = loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            // Registered before the check, so a round ending in between still wakes us.
            advanced.as_mut().enable();
            {
                let mut users = self.users.lock().expect("conversations lock");
                let state = users.entry(round.user).or_default();
                if state.next_round >= round.round {
                    if round.opens {
                        state.history.clear();
                    }
                    let session = Session {
                        history: state.history.clone(),
                        token: state.token.clone(),
                    };
                    break (session, state.ready_at);
                }
            }
            advanced.await;
        };
        if let Some(at) = ready_at {
            tokio::time::sleep_until(at.into()).await;
        }
        session
    }

    /// Ends `round`: its exchange joins the conversation when it succeeded (a failed round
    /// leaves the conversation as it was and has no pause: no tool ran), a token it got replaces
    /// the session's, and the next round may go once the round's pause is over.
    pub fn end_turn(&self, round: Round, end: TurnEnd) {
        {
            let mut users = self.users.lock().expect("conversations lock");
            let state = users.entry(round.user).or_default();
            state.next_round = state.next_round.max(round.round + 1);
            state.ready_at = end.exchange.as_ref().map(|_| end.ended + round.pause);
            let dropped = end.dropped.min(state.history.len());
            state.history.drain(..dropped);
            state.history.extend(end.exchange);
            if end.token.is_some() {
                state.token = end.token;
            }
        }
        self.advanced.notify_waiters();
    }
}

/// A round's prompt cut to fit the model's context.
#[derive(Debug, PartialEq)]
pub struct Fitted<'a> {
    pub system: Option<Cow<'a, str>>,
    /// How many of the oldest turns are left out.
    pub dropped: usize,
    pub user: Cow<'a, str>,
}

/// Fits a prompt into `budget` tokens as inference-perf does: the oldest turns go first, then
/// the system prompt's end; when the new text alone is too long, the system prompt goes and the
/// new text keeps its first `budget` tokens.
pub fn fit<'a>(
    tokenizer: &Tokenizer,
    system: Option<&'a str>,
    history: &[Turn],
    user: &'a str,
    budget: usize,
) -> Fitted<'a> {
    let system_tokens = system.map_or(0, |s| tokenizer.count(s));
    let user_tokens = tokenizer.count(user);
    let turn_tokens = |turn: &Turn| tokenizer.count(&turn.user) + tokenizer.count(&turn.assistant);
    let mut total = system_tokens + user_tokens + history.iter().map(turn_tokens).sum::<usize>();
    let mut dropped = 0;
    while total > budget && dropped < history.len() {
        total -= turn_tokens(&history[dropped]);
        dropped += 1;
    }
    let mut fitted = Fitted {
        system: system.map(Cow::Borrowed),
        dropped,
        user: Cow::Borrowed(user),
    };
    if total > budget {
        match budget.checked_sub(user_tokens).filter(|&n| n > 0) {
            Some(room) => {
                fitted.system = system.map(|s| Cow::Owned(tokenizer.truncate(s, room)));
            }
            None => {
                fitted.system = None;
                fitted.user = Cow::Owned(tokenizer.truncate(user, budget));
            }
        }
    }
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn round(user: u64, round: u64, pause_ms: u64) -> Round {
        Round {
            user,
            round,
            opens: round == 0,
            pause: Duration::from_millis(pause_ms),
        }
    }

    fn answered(turn: &Turn) -> TurnEnd {
        TurnEnd {
            exchange: Some(turn.clone()),
            dropped: 0,
            ended: Instant::now(),
            token: None,
        }
    }

    fn turn(n: u32) -> Turn {
        Turn {
            user: format!("q{n}"),
            assistant: format!("a{n}"),
        }
    }

    #[tokio::test]
    async fn a_round_waits_for_the_previous_answer_and_gets_it() {
        let conversations = Arc::new(Conversations::default());
        let (first, second) = (round(3, 0, 0), round(3, 1, 0));
        assert!(conversations.wait_turn(first).await.history.is_empty());
        let waiter = tokio::spawn({
            let c = conversations.clone();
            async move { c.wait_turn(second).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "round 1 must wait for round 0");
        conversations.end_turn(first, answered(&turn(0)));
        assert_eq!(waiter.await.unwrap().history, vec![turn(0)]);
        // Other users are independent.
        assert!(
            conversations
                .wait_turn(round(4, 0, 0))
                .await
                .history
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_next_round_waits_out_the_pause_but_not_after_a_failure() {
        let conversations = Conversations::default();
        conversations.end_turn(round(1, 0, 80), answered(&turn(0)));
        let start = Instant::now();
        assert_eq!(
            conversations.wait_turn(round(1, 1, 80)).await.history,
            vec![turn(0)]
        );
        assert!(start.elapsed() >= Duration::from_millis(80));
        conversations.end_turn(
            round(1, 1, 80),
            TurnEnd {
                exchange: None,
                dropped: 0,
                ended: Instant::now(),
                token: None,
            },
        );
        let start = Instant::now();
        assert_eq!(
            conversations.wait_turn(round(1, 2, 0)).await.history,
            vec![turn(0)]
        );
        assert!(start.elapsed() < Duration::from_millis(40));
    }

    #[tokio::test]
    async fn a_session_token_is_kept_until_an_answer_sets_another() {
        let conversations = Conversations::default();
        let with_token = |end: TurnEnd, token: Option<&str>| TurnEnd {
            token: token.map(Into::into),
            ..end
        };
        conversations.end_turn(round(3, 0, 0), with_token(answered(&turn(0)), Some("t1")));
        let second = conversations.wait_turn(round(3, 1, 0)).await;
        assert_eq!(second.token.as_deref(), Some("t1"));
        // A failed round without a token keeps the session's.
        let failed = TurnEnd {
            exchange: None,
            ..answered(&turn(1))
        };
        conversations.end_turn(round(3, 1, 0), failed);
        let third = conversations.wait_turn(round(3, 2, 0)).await;
        assert_eq!(
            (third.history.len(), third.token.as_deref()),
            (1, Some("t1"))
        );
        conversations.end_turn(round(3, 2, 0), with_token(answered(&turn(2)), Some("t2")));
        let fourth = conversations.wait_turn(round(3, 3, 0)).await;
        assert_eq!(fourth.token.as_deref(), Some("t2"));
        // Other users are independent.
        assert_eq!(
            conversations.wait_turn(round(4, 0, 0)).await,
            Session::default()
        );
    }

    #[tokio::test]
    async fn an_opening_round_starts_afresh_and_dropped_turns_are_gone() {
        let conversations = Conversations::default();
        for n in 0..3 {
            conversations.end_turn(round(2, n, 0), answered(&turn(n as u32)));
        }
        conversations.end_turn(
            round(2, 3, 0),
            TurnEnd {
                dropped: 2,
                ..answered(&turn(3))
            },
        );
        assert_eq!(
            conversations.wait_turn(round(2, 4, 0)).await.history,
            vec![turn(2), turn(3)]
        );
        let opening = Round {
            opens: true,
            ..round(2, 4, 0)
        };
        assert!(conversations.wait_turn(opening).await.history.is_empty());
    }

    #[test]
    fn prompts_fit_by_dropping_old_turns_then_cutting_the_system_prompt() {
        let tokenizer = Tokenizer::BuiltIn;
        let history = [
            Turn {
                user: "a b".into(),
                assistant: "c".into(),
            },
            Turn {
                user: "d".into(),
                assistant: "e f".into(),
            },
        ];
        let fit = |budget| fit(&tokenizer, Some("s1 s2 s3"), &history, "u1 u2", budget);
        assert_eq!(fit(11).dropped, 0);
        assert_eq!(fit(10).dropped, 1);
        assert_eq!(fit(5).dropped, 2);
        let cut = fit(4);
        assert_eq!(
            (cut.system.as_deref(), cut.dropped, cut.user.as_ref()),
            (Some("s1 s2"), 2, "u1 u2")
        );
        let only_user = fit(1);
        assert_eq!((only_user.system, only_user.user.as_ref()), (None, "u1"));
    }
}
