//! Counter-based randomness: every random choice about request `i` comes from a generator seeded
//! by `(base seed, purpose, i)`, so any worker or pod can compute request `i` on its own and the
//! plan does not depend on how requests are split.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// What a random stream is used for; distinct purposes never share a stream.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub enum Purpose {
    InputLength = 1,
    OutputLength = 2,
    Prompt = 3,
    Adapter = 4,
    Arrivals = 5,
    /// A shared-prefix group's prefix text.
    Prefix = 6,
    PrefixLength = 7,
    /// A trace's prompt block, by its hash id.
    Block = 8,
    /// The order of a session replay's sessions.
    SessionOrder = 9,
    /// A session's prompt text, by its session index.
    Session = 10,
    /// A replayed conversation's number of turns.
    Turns = 11,
    /// The system prompt head all replayed conversations of a stage share, by stage.
    SharedPrompt = 12,
    /// The pause after a replayed turn's answer (its tool call).
    Pause = 13,
    /// A generated agent session's draws, by session and place in its graph.
    Agentic = 14,
    /// A request's images: how many, their sizes, places and pooled variants.
    Image = 15,
    /// A session's random id put in its calls' own messages, by session index.
    SessionSalt = 16,
    /// A request's videos: how many, their profiles, places and frames' pooled variants.
    Video = 17,
    /// A request's audio clips: how many, their lengths and places.
    Audio = 18,
    /// The colours of the pooled encoded images and video frames, by slot.
    MediaPool = 19,
}

pub type PlanRng = Pcg64Mcg;

pub fn rng(seed: u64, purpose: Purpose, index: u64) -> PlanRng {
    let mixed =
        splitmix64(splitmix64(seed ^ (purpose as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ index);
    Pcg64Mcg::seed_from_u64(mixed)
}

/// The stream of `path` (a place in a generated structure, outermost first) under `index`:
/// distinct paths give independent streams.
pub fn rng_at(seed: u64, purpose: Purpose, index: u64, path: &[u64]) -> PlanRng {
    let folded = path
        .iter()
        .fold(splitmix64(index), |acc, &step| splitmix64(acc ^ step));
    rng(seed, purpose, folded)
}

/// A uniform draw in [0, 1) for request `index`, for choices that need one number.
pub fn unit(seed: u64, purpose: Purpose, index: u64) -> f64 {
    use rand::RngExt;
    rng(seed, purpose, index).random::<f64>()
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        assert_eq!(unit(1, Purpose::Adapter, 5), unit(1, Purpose::Adapter, 5));
        assert_ne!(unit(1, Purpose::Adapter, 5), unit(1, Purpose::Adapter, 6));
        assert_ne!(unit(1, Purpose::Adapter, 5), unit(2, Purpose::Adapter, 5));
        assert_ne!(unit(1, Purpose::Adapter, 5), unit(1, Purpose::Prompt, 5));
    }

    #[test]
    fn paths_give_distinct_streams() {
        use rand::RngExt;
        let draw = |index, path: &[u64]| rng_at(1, Purpose::Agentic, index, path).random::<u64>();
        assert_eq!(draw(3, &[0, 7]), draw(3, &[0, 7]));
        assert_ne!(draw(3, &[0, 7]), draw(3, &[7, 0]));
        assert_ne!(draw(3, &[0, 7]), draw(3, &[0, 7, 0]));
        assert_ne!(draw(3, &[0, 7]), draw(4, &[0, 7]));
    }
}
