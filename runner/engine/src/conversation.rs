//! Multi-turn conversations of one stage: round `r + 1` of a user waits until round `r` has its
//! answer, then carries the whole conversation so far. Users are routed to workers by user id
//! ([`Routing::User`](ibench_core::plan::Routing)), so a user's rounds run on one worker; the store is
//! shared by the runner's workers all the same, which keeps closed loops (whose lanes take the
//! next request wherever it is) correct too.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::Notify;

use ibench_core::plan::Round;

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
    /// The last session token the server gave (`api.session_token_header_key`).
    token: Option<String>,
}

/// What a round is sent with: the conversation so far and the session's token.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub history: Vec<Turn>,
    pub token: Option<String>,
}

impl Conversations {
    /// Waits until `round` is the user's next round and returns the session so far.
    pub async fn wait_turn(&self, round: Round) -> Session {
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            // Registered before the check, so a round ending in between still wakes us.
            advanced.as_mut().enable();
            {
                let users = self.users.lock().expect("conversations lock");
                let state = users.get(&round.user);
                if state.map_or(0, |s| s.next_round) >= round.round {
                    return state.map_or_else(Session::default, |s| Session {
                        history: s.history.clone(),
                        token: s.token.clone(),
                    });
                }
            }
            advanced.await;
        }
    }

    /// Ends `round`: its exchange joins the conversation when it succeeded (a failed round
    /// leaves the conversation as it was), a token it got replaces the session's (whatever the
    /// outcome, as in inference-perf), and the next round may go.
    pub fn end_turn(&self, round: Round, exchange: Option<Turn>, token: Option<String>) {
        {
            let mut users = self.users.lock().expect("conversations lock");
            let state = users.entry(round.user).or_default();
            state.next_round = state.next_round.max(round.round + 1);
            state.history.extend(exchange);
            if token.is_some() {
                state.token = token;
            }
        }
        self.advanced.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_round_waits_for_the_previous_answer_and_gets_it() {
        let conversations = Arc::new(Conversations::default());
        let first = Round { user: 3, round: 0 };
        let second = Round { user: 3, round: 1 };
        assert_eq!(conversations.wait_turn(first).await, Session::default());
        let waiter = tokio::spawn({
            let c = conversations.clone();
            async move { c.wait_turn(second).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "round 1 must wait for round 0");
        let turn = Turn {
            user: "q0".into(),
            assistant: "a0".into(),
        };
        conversations.end_turn(first, Some(turn.clone()), Some("t1".into()));
        assert_eq!(
            waiter.await.unwrap(),
            Session {
                history: vec![turn.clone()],
                token: Some("t1".into())
            }
        );
        // A failed round without a token keeps the session's.
        conversations.end_turn(second, None, None);
        let third = conversations.wait_turn(Round { user: 3, round: 2 }).await;
        assert_eq!(
            (third.history.len(), third.token.as_deref()),
            (1, Some("t1"))
        );
        // Other users are independent.
        assert_eq!(
            conversations.wait_turn(Round { user: 4, round: 0 }).await,
            Session::default()
        );
    }
}
