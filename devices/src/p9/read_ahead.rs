//! Sequential read-ahead for one open file at a time: after two reads back to back on
//! the same fid, the next [`DEPTH`] pieces (the reads' size, at least [`MIN_PIECE`],
//! at most what a message carries) are asked for before the program
//! wants them, so the server copies one while the guest takes the one before.
//!
//! Pure bookkeeping (the session sends the requests): which reads are ahead, the
//! replies that came in, and the tags of abandoned reads still in flight (reserved
//! until their replies arrive). What was read ahead is given out only at the very
//! offset it was read from; a write or size change to the same file (or to a fid of
//! unknown file) drops it, so the guest never reads back older bytes than it wrote.
//! Memory is bounded: at most `DEPTH` pieces of at most msize each, and a buffer that
//! cannot be had stops the reading ahead instead of failing anything.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::codec::{self, Fid, Reply};

/// Pieces asked for ahead of the reader.
pub const DEPTH: usize = 4;
/// The smallest piece read ahead (small reads are served from one larger piece).
pub const MIN_PIECE: usize = 128 * 1024;

/// One read ahead: its tag, where it starts, how much was asked, the reply once in,
/// and how much of that reply's data the reader has taken.
struct Piece {
    tag: u16,
    offset: u64,
    asked: usize,
    reply: Option<Vec<u8>>,
    taken: usize,
}

/// The file being read ahead.
struct Stream {
    fid: Fid,
    /// The file (qid path) behind the fid, when the session knows it.
    file: Option<u64>,
    piece: usize,
    /// Where the next piece to ask for starts.
    next: u64,
    /// A piece came back short: the file ends there, ask for nothing more.
    ended: bool,
    ahead: VecDeque<Piece>,
}

/// What [`ReadAhead::take`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Copied this many bytes; `ended`: the file ends right after them.
    Bytes { count: usize, ended: bool },
    /// The front piece failed (an `Rlerror` or a malformed reply): the reader should
    /// ask again itself to see the error.
    Failed,
}

/// A read the stream wants sent ahead.
pub struct Ask {
    pub fid: Fid,
    pub offset: u64,
    pub count: usize,
}

/// The read-ahead state of a session.
#[derive(Default)]
pub struct ReadAhead {
    /// The last read of a fid that filled its buffer: (fid, where it ended).
    last: Option<(Fid, u64)>,
    stream: Option<Stream>,
    /// Tags of reads ahead that were given up while in flight.
    abandoned: Vec<u16>,
    /// Reply buffers to reuse.
    spare: Vec<Vec<u8>>,
}

impl ReadAhead {
    /// A read ahead (in flight or abandoned) carries `tag`.
    pub fn tag_in_use(&self, tag: u16) -> bool {
        self.abandoned.contains(&tag) || self.stream.as_ref().is_some_and(|s| s.ahead.iter().any(|p| p.tag == tag))
    }

    /// The reply to `tag` came in: kept when it is a read ahead's (`None`), else given
    /// back.
    pub fn arrived(&mut self, tag: u16, reply: Vec<u8>) -> Option<Vec<u8>> {
        if let Some(index) = self.abandoned.iter().position(|&t| t == tag) {
            self.abandoned.swap_remove(index);
            self.spare.push(reply);
            return None;
        }
        let piece = self.stream.as_mut().and_then(|s| s.ahead.iter_mut().find(|p| p.tag == tag && p.reply.is_none()));
        match piece {
            Some(piece) => {
                piece.reply = Some(reply);
                None
            }
            None => Some(reply),
        }
    }

    /// Gives up the stream: pieces in flight are abandoned, buffers kept for reuse.
    pub fn stop(&mut self) {
        if let Some(stream) = self.stream.take() {
            for piece in stream.ahead {
                match piece.reply {
                    Some(reply) => self.spare.push(reply),
                    None => self.abandoned.push(piece.tag),
                }
            }
        }
    }

    /// `fid` is being clunked.
    pub fn forget(&mut self, fid: Fid) {
        if self.stream.as_ref().is_some_and(|s| s.fid == fid) {
            self.stop();
        }
        if self.last.is_some_and(|(last, _)| last == fid) {
            self.last = None;
        }
    }

    /// A write or size change through a fid of `file` (`None`: unknown) is about to go
    /// out: data read ahead of that file would be stale.
    pub fn changing(&mut self, file: Option<u64>) {
        let stale = self.stream.as_ref().is_some_and(|s| file.is_none() || s.file.is_none() || s.file == file);
        if stale {
            self.stop();
        }
        self.last = None;
    }

    /// A read of `fid` at `offset` is coming: a stream of that fid expecting another
    /// offset (the reader seeked) is dropped.
    pub fn moved(&mut self, fid: Fid, offset: u64) {
        if self.stream.as_ref().is_some_and(|s| s.fid == fid) && !self.serves(fid, offset) {
            self.stop();
        }
    }

    /// The stream reads `fid` and the reader is where it expects: `offset`.
    pub fn serves(&self, fid: Fid, offset: u64) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|s| s.fid == fid && s.ahead.front().is_some_and(|p| p.offset + p.taken as u64 == offset))
    }

    /// The tag of the front piece while its reply is still out.
    pub fn front_in_flight(&self) -> Option<u16> {
        let piece = self.stream.as_ref()?.ahead.front()?;
        piece.reply.is_none().then_some(piece.tag)
    }

    /// Copies what the front piece holds into `out` (whose reply must be in).
    pub fn take(&mut self, out: &mut [u8]) -> Taken {
        let Some(stream) = self.stream.as_mut() else { return Taken::Failed };
        let Some(piece) = stream.ahead.front_mut() else { return Taken::Failed };
        let Some(reply) = piece.reply.as_ref() else { return Taken::Failed };
        let data = match codec::decode(reply) {
            Ok((tag, Reply::Read(data))) if tag == piece.tag && data.len() <= piece.asked => data,
            _ => return Taken::Failed,
        };
        let rest = &data[piece.taken..];
        let count = rest.len().min(out.len());
        out[..count].copy_from_slice(&rest[..count]);
        piece.taken += count;
        let short = data.len() < piece.asked;
        let finished = piece.taken == data.len();
        if short {
            stream.ended = true;
        }
        if finished && let Some(piece) = stream.ahead.pop_front() {
            self.spare.extend(piece.reply);
        }
        Taken::Bytes { count, ended: short && finished }
    }

    /// A read of `asked` bytes at `offset` on `fid` (of `file`) went to the server and
    /// `got` came back. Two full reads back to back start a stream after them.
    pub fn read_done(&mut self, fid: Fid, file: Option<u64>, offset: u64, asked: usize, got: usize, max_piece: usize) {
        let sequential = self.last == Some((fid, offset));
        self.last = (got == asked && got > 0).then_some((fid, offset + got as u64));
        // A new sequential reader takes over from an older stream of another fid.
        if sequential && got == asked && got > 0 && self.stream.as_ref().is_none_or(|s| s.fid != fid) {
            self.stop();
            let piece = asked.max(MIN_PIECE).min(max_piece);
            let next = offset + got as u64;
            self.stream = Some(Stream { fid, file, piece, next, ended: false, ahead: VecDeque::new() });
        }
    }

    /// The next read to send ahead, if the stream wants one.
    pub fn wanted(&self) -> Option<Ask> {
        let stream = self.stream.as_ref()?;
        (!stream.ended && stream.ahead.len() < DEPTH).then_some(Ask {
            fid: stream.fid,
            offset: stream.next,
            count: stream.piece,
        })
    }

    /// The read `wanted` named went out with `tag`.
    pub fn sent(&mut self, tag: u16, ask: &Ask) {
        if let Some(stream) = self.stream.as_mut() {
            stream.ahead.push_back(Piece { tag, offset: ask.offset, asked: ask.count, reply: None, taken: 0 });
            stream.next = ask.offset + ask.count as u64;
        }
    }

    /// A reply buffer of `len` bytes (reused when one is spare); `None` when memory is
    /// short (reading ahead is an optimization: it must never be what exhausts it).
    pub fn buffer(&mut self, len: usize) -> Option<Vec<u8>> {
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.try_reserve_exact(len.saturating_sub(buffer.len())).ok()?;
        buffer.resize(len, 0);
        Some(buffer)
    }

    /// Pieces are ahead (asked for or in).
    #[cfg(test)]
    pub fn is_streaming(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| !s.ahead.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_reply(tag: u16, data: &[u8]) -> Vec<u8> {
        let mut frame = ((11 + data.len()) as u32).to_le_bytes().to_vec();
        frame.push(codec::kind::TREAD + 1);
        frame.extend_from_slice(&tag.to_le_bytes());
        frame.extend_from_slice(&(data.len() as u32).to_le_bytes());
        frame.extend_from_slice(data);
        frame
    }

    /// Two full reads of [`MIN_PIECE`] back to back from the start of `fid`'s file: a
    /// stream starts after them.
    fn two_full_reads(ahead: &mut ReadAhead, fid: Fid, file: Option<u64>) {
        ahead.read_done(fid, file, 0, MIN_PIECE, MIN_PIECE, 1 << 20);
        ahead.read_done(fid, file, MIN_PIECE as u64, MIN_PIECE, MIN_PIECE, 1 << 20);
    }

    /// Sends what the stream wants with tags from `next_tag`; returns the asks.
    fn send_all(ahead: &mut ReadAhead, next_tag: &mut u16) -> Vec<(u16, u64, usize)> {
        let mut sent = Vec::new();
        while let Some(ask) = ahead.wanted() {
            *next_tag += 1;
            ahead.sent(*next_tag, &ask);
            sent.push((*next_tag, ask.offset, ask.count));
        }
        sent
    }

    #[test]
    fn two_sequential_full_reads_start_a_stream_of_larger_pieces() {
        let mut ahead = ReadAhead::default();
        let mut tag = 0;
        ahead.read_done(Fid(3), Some(9), 0, 4096, 4096, 1 << 20);
        assert!(ahead.wanted().is_none(), "one read is not a pattern");
        ahead.read_done(Fid(3), Some(9), 4096, 4096, 4096, 1 << 20);
        let sent = send_all(&mut ahead, &mut tag);
        let expected: Vec<(u16, u64, usize)> =
            (0..DEPTH).map(|i| (i as u16 + 1, 8192 + (i * MIN_PIECE) as u64, MIN_PIECE)).collect();
        assert_eq!(sent, expected);
        assert!(ahead.tag_in_use(1) && ahead.tag_in_use(DEPTH as u16) && !ahead.tag_in_use(DEPTH as u16 + 1));
        assert!(ahead.serves(Fid(3), 8192) && !ahead.serves(Fid(3), 4096) && !ahead.serves(Fid(4), 8192));
        assert_eq!(ahead.front_in_flight(), Some(1));
        let data: Vec<u8> = (0..MIN_PIECE).map(|i| i as u8).collect();
        assert_eq!(ahead.arrived(1, read_reply(1, &data)), None);
        assert_eq!(ahead.front_in_flight(), None);
        // Small reads are served from the piece, at the offsets it covers.
        let mut out = [0u8; 4096];
        assert_eq!(ahead.take(&mut out), Taken::Bytes { count: 4096, ended: false });
        assert_eq!(out[..], data[..4096]);
        assert!(ahead.serves(Fid(3), 8192 + 4096));
        // A reply that is not a read ahead's is given back.
        assert_eq!(ahead.arrived(7, alloc::vec![1]), Some(alloc::vec![1]));
    }

    #[test]
    fn a_seek_or_another_sequential_reader_ends_the_stream() {
        let mut ahead = ReadAhead::default();
        let mut tag = 0;
        two_full_reads(&mut ahead, Fid(1), None);
        send_all(&mut ahead, &mut tag);
        ahead.moved(Fid(2), 0);
        ahead.moved(Fid(1), 2 * MIN_PIECE as u64);
        assert!(ahead.is_streaming(), "another fid's read, or the expected offset, keep it");
        ahead.moved(Fid(1), 0);
        assert!(!ahead.is_streaming() && ahead.tag_in_use(1), "a seek drops it; its reads stay reserved");
        two_full_reads(&mut ahead, Fid(1), None);
        send_all(&mut ahead, &mut tag);
        two_full_reads(&mut ahead, Fid(2), None);
        assert_eq!(ahead.wanted().map(|ask| (ask.fid, ask.offset)), Some((Fid(2), 2 * MIN_PIECE as u64)));
    }

    #[test]
    fn the_end_of_the_file_stops_asking() {
        let mut ahead = ReadAhead::default();
        let mut tag = 0;
        two_full_reads(&mut ahead, Fid(1), None);
        let sent = send_all(&mut ahead, &mut tag);
        assert_eq!(sent.len(), DEPTH);
        assert_eq!(ahead.arrived(1, read_reply(1, &[5; 10])), None);
        let mut out = alloc::vec![0u8; MIN_PIECE];
        assert_eq!(ahead.take(&mut out), Taken::Bytes { count: 10, ended: true });
        assert!(ahead.wanted().is_none(), "nothing is asked past the end");
        assert_eq!(ahead.front_in_flight(), Some(2));
    }

    #[test]
    fn writes_to_the_file_drop_what_was_read_ahead_and_abandoned_tags_stay_reserved() {
        let mut ahead = ReadAhead::default();
        let mut tag = 0;
        two_full_reads(&mut ahead, Fid(1), Some(9));
        send_all(&mut ahead, &mut tag);
        ahead.changing(Some(8));
        assert!(ahead.serves(Fid(1), 2 * MIN_PIECE as u64), "another file's write keeps the stream");
        assert_eq!(ahead.arrived(1, read_reply(1, &[1; 4])), None);
        ahead.changing(Some(9));
        assert!(!ahead.serves(Fid(1), 2 * MIN_PIECE as u64));
        assert!(ahead.tag_in_use(2) && !ahead.tag_in_use(1), "the read in flight keeps its tag");
        assert_eq!(ahead.arrived(2, read_reply(2, &[1; 4])), None, "and its late reply is swallowed");
        assert!(!ahead.tag_in_use(2));
        // A write through a fid of unknown file drops the stream too.
        two_full_reads(&mut ahead, Fid(1), Some(9));
        send_all(&mut ahead, &mut tag);
        ahead.changing(None);
        assert!(ahead.wanted().is_none() && !ahead.is_streaming());
        // Clunking the fid ends it as well.
        two_full_reads(&mut ahead, Fid(1), Some(9));
        assert!(ahead.wanted().is_some());
        ahead.forget(Fid(1));
        assert!(ahead.wanted().is_none());
    }

    #[test]
    fn a_failed_piece_is_reported_for_the_reader_to_retry() {
        let mut ahead = ReadAhead::default();
        let mut tag = 0;
        two_full_reads(&mut ahead, Fid(1), None);
        send_all(&mut ahead, &mut tag);
        let error = alloc::vec![11, 0, 0, 0, 7, 1, 0, 5, 0, 0, 0];
        assert_eq!(ahead.arrived(1, error), None);
        let mut out = [0u8; 16];
        assert_eq!(ahead.take(&mut out), Taken::Failed);
    }
}
