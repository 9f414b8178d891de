//! Encoded media made once and shared: a slot per distinct size (and variant), filled on first
//! use, so that requests only clone pointers (as inference-perf's `pool.py` keeps a few
//! encodings per video profile instead of encoding per request).

use std::sync::{Arc, OnceLock};

/// Distinct encodings kept per size: enough that requests do not all carry the same bytes
/// (which a server's media cache would collapse to one), as in inference-perf's pool.
pub(super) const VARIANTS: usize = 4;

/// Encoded bytes ready for a request body (a clone shares the text).
#[derive(Debug, Clone)]
pub(super) struct Encoded {
    /// A `data:` URL, or plain base64 (audio).
    pub(super) text: Arc<str>,
    /// The encoded size before base64.
    pub(super) bytes: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Slots(Arc<[OnceLock<Encoded>]>);

impl Slots {
    pub(super) fn new(count: usize) -> Self {
        Slots((0..count).map(|_| OnceLock::new()).collect())
    }

    /// Slot `index`, encoded by `make` on its first use (by whichever worker gets there first).
    pub(super) fn get(&self, index: usize, make: impl FnOnce() -> Encoded) -> &Encoded {
        self.0[index].get_or_init(make)
    }
}

/// Items drawn by relative weight.
#[derive(Debug, Clone)]
pub(super) struct Weighted<T> {
    /// Each item with the weights up to and including it.
    items: Vec<(T, f64)>,
}

impl<T: Copy> Weighted<T> {
    /// `None`'s single `default`, else the listed items.
    pub(super) fn new(list: Option<impl IntoIterator<Item = (T, f64)>>, default: T) -> Self {
        let mut total = 0.0;
        let items = match list {
            None => vec![(default, 1.0)],
            Some(list) => list
                .into_iter()
                .map(|(item, weight)| {
                    total += weight;
                    (item, total)
                })
                .collect(),
        };
        Weighted { items }
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// The index and item a uniform draw `unit` in [0, 1) lands on.
    pub(super) fn pick(&self, unit: f64) -> (usize, T) {
        let total = self.items.last().map_or(0.0, |(_, c)| *c);
        let target = unit * total;
        let index = self
            .items
            .iter()
            .position(|(_, cumulative)| target < *cumulative)
            .unwrap_or(self.items.len() - 1);
        (index, self.items[index].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_made_once() {
        let slots = Slots::new(2);
        let mut made = 0;
        for _ in 0..3 {
            let encoded = slots.get(1, || {
                made += 1;
                Encoded {
                    text: Arc::from("x"),
                    bytes: 1,
                }
            });
            assert_eq!(&*encoded.text, "x");
        }
        assert_eq!(made, 1);
    }

    #[test]
    fn weights_choose_and_zero_weights_never_do() {
        let w = Weighted::new(Some([('a', 3.0), ('b', 0.0), ('c', 1.0)]), 'z');
        assert_eq!(w.pick(0.0), (0, 'a'));
        assert_eq!(w.pick(0.74), (0, 'a'));
        assert_eq!(w.pick(0.75), (2, 'c'));
        assert_eq!(w.pick(0.999), (2, 'c'));
        let none: Option<[(char, f64); 0]> = None;
        assert_eq!(Weighted::new(none, 'z').pick(0.5), (0, 'z'));
    }
}
