//! What a session has sent without waiting for the reply: which fid each posted
//! request frees (a clunk) or makes (a clone of a directory, walked ahead of the
//! `Tlcreate` that will use it), and the clones that are ready.
//!
//! Pure bookkeeping: it sends nothing and holds no buffers. A clone is handed out only
//! after its reply said it exists, so no request ever races the walk that makes its
//! fid (QEMU works on requests in parallel and in no set order).

use alloc::vec::Vec;

use super::codec::{Fid, Reply};

/// What a posted request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Forgets the fid: its number is free once the reply is in.
    Clunk(Fid),
    /// Makes `fid` a clone of `source` (a walk of no names).
    Clone { source: Fid, fid: Fid },
}

/// What a reply to a posted request leaves for the session to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Nothing more: a clone is ready, or the tag was not a posted request's.
    Done,
    /// The fid number can be handed out again.
    Free(Fid),
    /// A clone was made for a source that has gone since: clunk it.
    Clunk(Fid),
}

/// The posted requests in flight and the clones ready for use.
#[derive(Debug, Default)]
pub struct PostedRequests {
    /// (tag, purpose, whether the clone's source went away meanwhile).
    in_flight: Vec<(u16, Purpose, bool)>,
    /// (source, clone) pairs the server has made.
    ready: Vec<(Fid, Fid)>,
}

impl PostedRequests {
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// A posted request in flight carries `tag` (another request must not reuse it).
    pub fn tag_in_use(&self, tag: u16) -> bool {
        self.in_flight.iter().any(|&(used, ..)| used == tag)
    }

    /// Request `tag`, for `purpose`, went out.
    pub fn sent(&mut self, tag: u16, purpose: Purpose) {
        self.in_flight.push((tag, purpose, false));
    }

    /// Request `tag` never reached the server: it is no longer in flight, and this is
    /// what to do with its fid.
    pub fn withdraw(&mut self, tag: u16) -> Settled {
        let Some(index) = self.in_flight.iter().position(|&(used, ..)| used == tag) else {
            return Settled::Done;
        };
        match self.in_flight.swap_remove(index).1 {
            // The server still holds the fid; its number stays taken.
            Purpose::Clunk(_) => Settled::Done,
            Purpose::Clone { fid, .. } => Settled::Free(fid),
        }
    }

    /// The reply to request `tag` came in (`made`: a walk reply with no qids, i.e.
    /// the clone exists; anything else, typically `Rlerror`, means it does not).
    pub fn settle(&mut self, tag: u16, reply: &Reply<'_>) -> Settled {
        let Some(index) = self.in_flight.iter().position(|&(used, ..)| used == tag) else {
            return Settled::Done;
        };
        let (_, purpose, orphaned) = self.in_flight.swap_remove(index);
        let made = matches!(reply, Reply::Walk(qids) if qids.is_empty());
        match purpose {
            // A clunk releases the fid whatever the server answers.
            Purpose::Clunk(fid) => Settled::Free(fid),
            Purpose::Clone { fid, .. } if !made => Settled::Free(fid),
            Purpose::Clone { fid, .. } if orphaned => Settled::Clunk(fid),
            Purpose::Clone { source, fid } => {
                self.ready.push((source, fid));
                Settled::Done
            }
        }
    }

    /// A ready clone of `source`, taken for use.
    pub fn take_ready(&mut self, source: Fid) -> Option<Fid> {
        let index = self.ready.iter().position(|&(from, _)| from == source)?;
        Some(self.ready.swap_remove(index).1)
    }

    /// A clone of `source` is ready or on its way.
    pub fn has_clone(&self, source: Fid) -> bool {
        self.ready.iter().any(|&(from, _)| from == source) || self.clone_in_flight(source)
    }

    /// A clone of `source` is on its way (not yet ready).
    pub fn clone_in_flight(&self, source: Fid) -> bool {
        self.in_flight.iter().any(|&(_, purpose, orphaned)| {
            !orphaned && matches!(purpose, Purpose::Clone { source: from, .. } if from == source)
        })
    }

    /// `source` is being clunked: returns its ready clones (to clunk too); clones on
    /// their way are clunked when they arrive.
    pub fn forget_source(&mut self, source: Fid) -> Vec<Fid> {
        for (_, purpose, orphaned) in &mut self.in_flight {
            if matches!(purpose, Purpose::Clone { source: from, .. } if *from == source) {
                *orphaned = true;
            }
        }
        let mut clones = Vec::new();
        self.ready.retain(|&(from, clone)| {
            if from == source {
                clones.push(clone);
            }
            from != source
        });
        clones
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p9::codec::decode;

    fn walk_reply(qids: u16) -> Vec<u8> {
        let mut frame = alloc::vec![0, 0, 0, 0, 111, 1, 0];
        frame.extend_from_slice(&qids.to_le_bytes());
        frame.extend(core::iter::repeat_n(0u8, 13 * qids as usize));
        let len = frame.len() as u32;
        frame[..4].copy_from_slice(&len.to_le_bytes());
        frame
    }

    const LERROR: [u8; 11] = [11, 0, 0, 0, 7, 1, 0, 2, 0, 0, 0];

    #[test]
    fn a_clone_is_ready_only_after_its_reply() {
        let mut posted = PostedRequests::default();
        posted.sent(4, Purpose::Clone { source: Fid(1), fid: Fid(9) });
        assert!(posted.has_clone(Fid(1)) && posted.clone_in_flight(Fid(1)));
        assert_eq!(posted.take_ready(Fid(1)), None, "not before the server made it");
        assert!(posted.tag_in_use(4));
        let reply = walk_reply(0);
        assert_eq!(posted.settle(4, &decode(&reply).unwrap().1), Settled::Done);
        assert!(!posted.tag_in_use(4) && !posted.clone_in_flight(Fid(1)));
        assert_eq!(posted.take_ready(Fid(2)), None);
        assert_eq!(posted.take_ready(Fid(1)), Some(Fid(9)));
        assert!(!posted.has_clone(Fid(1)));
    }

    #[test]
    fn failed_clones_and_clunks_free_their_fid() {
        let mut posted = PostedRequests::default();
        posted.sent(1, Purpose::Clone { source: Fid(1), fid: Fid(9) });
        posted.sent(2, Purpose::Clunk(Fid(7)));
        let error = decode(&LERROR).unwrap().1;
        assert_eq!(posted.settle(1, &error), Settled::Free(Fid(9)));
        assert_eq!(posted.settle(2, &error), Settled::Free(Fid(7)), "a clunk frees the fid even on an error");
        assert_eq!(posted.take_ready(Fid(1)), None);
        assert!(posted.is_empty());
        // A walk that named something is not a clone.
        posted.sent(3, Purpose::Clone { source: Fid(1), fid: Fid(9) });
        assert_eq!(posted.settle(3, &decode(&walk_reply(1)).unwrap().1), Settled::Free(Fid(9)));
        assert_eq!(posted.settle(3, &error), Settled::Done, "an unknown tag changes nothing");
        posted.sent(4, Purpose::Clunk(Fid(3)));
        posted.sent(5, Purpose::Clone { source: Fid(1), fid: Fid(4) });
        assert_eq!(posted.withdraw(4), Settled::Done, "an unsent clunk leaves the fid taken");
        assert_eq!(posted.withdraw(5), Settled::Free(Fid(4)));
        assert!(posted.is_empty() && !posted.has_clone(Fid(1)));
    }

    #[test]
    fn clones_of_a_forgotten_source_are_clunked() {
        let mut posted = PostedRequests::default();
        posted.sent(1, Purpose::Clone { source: Fid(1), fid: Fid(8) });
        let made = walk_reply(0);
        assert_eq!(posted.settle(1, &decode(&made).unwrap().1), Settled::Done);
        posted.sent(2, Purpose::Clone { source: Fid(1), fid: Fid(9) });
        posted.sent(3, Purpose::Clone { source: Fid(2), fid: Fid(10) });
        assert_eq!(posted.forget_source(Fid(1)), [Fid(8)]);
        assert!(!posted.has_clone(Fid(1)), "an orphaned clone is not offered");
        assert_eq!(posted.settle(2, &decode(&made).unwrap().1), Settled::Clunk(Fid(9)));
        assert_eq!(posted.settle(3, &decode(&made).unwrap().1), Settled::Done);
        assert_eq!(posted.take_ready(Fid(2)), Some(Fid(10)));
    }
}
