//! A 9P2000.L client session: version and msize negotiation, attach, fid allocation,
//! tags, and one method per request kind, over any [`Channel`].
//!
//! A call waits for its reply: the channel sends a T-message and returns when its
//! R-message is in the reply buffer. Bulk reads and writes send several at once, and
//! clunks and directory clones made ahead (`clunk_later`, `prepare_clone`) are posted
//! without waiting, their replies settled as they come (`posted`), as are reads ahead
//! of a sequential reader (`read_ahead`). The session owns
//! the buffers (sized by the negotiated msize) so a read or write costs one copy. It
//! never keeps file data.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use super::codec::{
    self, Attr, CodecError, DirEntries, DirEntry, Fid, MAX_WALK_NAMES, NOFID, NOTAG, Qid, READ_OVERHEAD, Reply,
    Request, SetAttr, StatFs, WRITE_OVERHEAD,
};
use super::posted::{PostedRequests, Purpose, Settled};
use super::read_ahead::{ReadAhead, Taken};

/// Room for the reply to a posted request (`Rclunk`, an `Rwalk` of no names, `Rlerror`).
const POSTED_REPLY_BYTES: usize = 32;

/// The smallest msize this client works with (a `Tread` must carry something useful).
pub const MIN_MSIZE: u32 = 4096;

/// Moves messages each way.
pub trait Channel {
    /// Sends `request` (a whole T-message) and waits until its reply is in `reply`;
    /// returns the reply's length.
    fn exchange(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, ChannelError>;

    /// How many requests [`exchange_batch`](Self::exchange_batch) has in flight at once.
    fn in_flight(&self) -> usize {
        1
    }

    /// Sends every request of `requests` (at most [`in_flight`](Self::in_flight)) and
    /// waits until every reply is in: `replies[i]` gets the reply to `requests[i]` and
    /// `lengths[i]` its length, in whatever order the server answered. The default
    /// exchanges them one after another.
    fn exchange_batch(
        &mut self,
        requests: &[&[u8]],
        replies: &mut [&mut [u8]],
        lengths: &mut [usize],
    ) -> Result<(), ChannelError> {
        for ((request, reply), length) in requests.iter().zip(replies.iter_mut()).zip(lengths.iter_mut()) {
            *length = self.exchange(request, reply)?;
        }
        Ok(())
    }

    /// Whether [`post`](Self::post) leaves requests in flight (else reading ahead
    /// would only move the waiting).
    fn can_post(&self) -> bool {
        false
    }

    /// Sends `request` without waiting for its reply (into `reply`, whose length is
    /// the room), which [`take_reply`](Self::take_reply) or
    /// [`wait_reply`](Self::wait_reply) returns later, truncated to its length; or
    /// returns the reply at once, as the default does by exchanging it.
    fn post(&mut self, request: Vec<u8>, mut reply: Vec<u8>) -> Result<Option<Vec<u8>>, ChannelError> {
        let len = self.exchange(&request, &mut reply)?;
        reply.truncate(len);
        Ok(Some(reply))
    }

    /// Lets the device see the posted requests now rather than with the next request
    /// that waits.
    fn kick(&mut self) {}

    /// A reply to a posted request that has come in, without waiting.
    fn take_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        Ok(None)
    }

    /// Waits for a reply to a posted request (`None` when none is in flight).
    fn wait_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
        Ok(None)
    }
}

/// Requests a bulk read or write ([`Session::read_all`], [`Session::write_all`]) keeps
/// in flight at most.
pub const MAX_IN_FLIGHT: usize = 4;
/// The smallest piece a bulk transfer is split into: below it, several requests would
/// cost more in per-request work than the overlap saves.
const MIN_PIECE: usize = 64 * 1024;

/// The channel failed (the device refused a buffer or reported a broken queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelError(pub &'static str);

/// What went wrong with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// The server answered `Rlerror` with this Linux errno.
    Server(u32),
    /// The channel failed.
    Channel(ChannelError),
    /// A message could not be encoded or the reply not decoded.
    Codec(CodecError),
    /// The reply is of the wrong kind or carries another request's tag.
    UnexpectedReply,
    /// The server speaks another protocol version, or an msize below [`MIN_MSIZE`].
    Version,
    /// Every fid number is in use.
    NoFids,
}

impl core::fmt::Display for SessionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SessionError::Server(errno) => write!(f, "9P server error (Linux errno {errno})"),
            SessionError::Channel(error) => write!(f, "9P channel: {}", error.0),
            SessionError::Codec(error) => write!(f, "{error}"),
            SessionError::UnexpectedReply => f.write_str("9P: the reply does not match the request"),
            SessionError::Version => f.write_str("9P: the server does not speak 9P2000.L with a usable msize"),
            SessionError::NoFids => f.write_str("9P: out of fids"),
        }
    }
}

impl From<CodecError> for SessionError {
    fn from(error: CodecError) -> Self {
        SessionError::Codec(error)
    }
}

impl From<ChannelError> for SessionError {
    fn from(error: ChannelError) -> Self {
        SessionError::Channel(error)
    }
}

/// `reply` decoded, checked to answer the request tagged `tag`.
fn tagged(reply: &[u8], tag: u16) -> Result<Reply<'_>, SessionError> {
    match codec::decode(reply)? {
        (reply_tag, reply) if reply_tag == tag => Ok(reply),
        _ => Err(SessionError::UnexpectedReply),
    }
}

/// What a bulk transfer's piece moved, by its reply: `accept` takes a reply of the
/// right kind and returns its count; `Ok(None)` when the piece failed after `total > 0`
/// bytes of the run had moved (the run ends there).
fn piece_moved(
    reply: Result<Reply<'_>, SessionError>,
    total: usize,
    accept: impl FnOnce(Reply<'_>) -> Option<usize>,
) -> Result<Option<usize>, SessionError> {
    match reply {
        Ok(Reply::Lerror(_)) | Err(_) if total > 0 => Ok(None),
        Ok(Reply::Lerror(errno)) => Err(SessionError::Server(errno)),
        Ok(reply) => accept(reply).map(Some).ok_or(SessionError::UnexpectedReply),
        Err(error) => Err(error),
    }
}

/// Linux errno values the client itself reports.
pub mod errno {
    pub const ENOENT: u32 = 2;
    pub const EIO: u32 = 5;
}

/// One client session on one export.
pub struct Session<C: Channel> {
    channel: C,
    msize: u32,
    request: Vec<u8>,
    reply: Vec<u8>,
    tag: u16,
    next_fid: u32,
    free_fids: Vec<Fid>,
    /// Messages of the requests in flight together (kept for reuse).
    batch_requests: Vec<Vec<u8>>,
    batch_replies: Vec<Vec<u8>>,
    posted: PostedRequests,
    read_ahead: ReadAhead,
    /// The file (qid path) behind each fid opened by `lopen` or `lcreate`.
    files: BTreeMap<Fid, u64>,
    /// The pieces of the bulk write going out (posted one by one): tag, reply once in.
    writes: Vec<(u16, Option<Vec<u8>>)>,
}

impl<C: Channel> Session<C> {
    /// Negotiates the version with at most `msize` bytes per message.
    pub fn connect(mut channel: C, msize: u32) -> Result<Self, SessionError> {
        let msize = msize.max(MIN_MSIZE);
        let mut request = Vec::with_capacity(64);
        let mut reply = vec![0; 64 + codec::VERSION.len()];
        Request::Version { msize, version: codec::VERSION }.encode(NOTAG, &mut request)?;
        let len = channel.exchange(&request, &mut reply)?;
        let (tag, answer) = codec::decode(&reply[..len])?;
        let agreed = match answer {
            Reply::Version { msize: agreed, version } if tag == NOTAG && version == codec::VERSION => agreed,
            Reply::Lerror(errno) => return Err(SessionError::Server(errno)),
            _ => return Err(SessionError::Version),
        };
        if !(MIN_MSIZE..=msize).contains(&agreed) {
            return Err(SessionError::Version);
        }
        Ok(Session {
            channel,
            msize: agreed,
            request: Vec::with_capacity(agreed as usize),
            reply: vec![0; agreed as usize],
            tag: 0,
            next_fid: 0,
            free_fids: Vec::new(),
            batch_requests: Vec::new(),
            batch_replies: Vec::new(),
            posted: PostedRequests::default(),
            read_ahead: ReadAhead::default(),
            files: BTreeMap::new(),
            writes: Vec::new(),
        })
    }

    /// The negotiated message size.
    pub fn msize(&self) -> u32 {
        self.msize
    }

    /// The most data bytes one read or write carries.
    pub fn max_io(&self) -> usize {
        self.msize as usize - WRITE_OVERHEAD.max(READ_OVERHEAD)
    }

    fn new_fid(&mut self) -> Result<Fid, SessionError> {
        self.settle_posted()?;
        if let Some(fid) = self.free_fids.pop() {
            return Ok(fid);
        }
        if self.next_fid == NOFID {
            return Err(SessionError::NoFids);
        }
        self.next_fid += 1;
        Ok(Fid(self.next_fid - 1))
    }

    /// A tag no request in flight carries.
    fn next_tag(&mut self) -> u16 {
        loop {
            self.tag = if self.tag >= NOTAG - 1 { 0 } else { self.tag + 1 };
            let writing = self.writes.iter().any(|&(tag, _)| tag == self.tag);
            if !writing && !self.posted.tag_in_use(self.tag) && !self.read_ahead.tag_in_use(self.tag) {
                return self.tag;
            }
        }
    }

    /// Sends `request` and returns the reply (an `Rlerror` becomes `Server`).
    fn call(&mut self, request: Request<'_>) -> Result<Reply<'_>, SessionError> {
        self.settle_posted()?;
        let tag = self.next_tag();
        request.encode(tag, &mut self.request)?;
        if self.request.len() > self.msize as usize {
            return Err(SessionError::Codec(CodecError::TooLarge));
        }
        let len = self.channel.exchange(&self.request, &mut self.reply)?;
        match tagged(&self.reply[..len.min(self.reply.len())], tag)? {
            Reply::Lerror(errno) => Err(SessionError::Server(errno)),
            reply => Ok(reply),
        }
    }

    /// Attaches to export `aname` as numeric user `uid`; returns the root's fid.
    pub fn attach(&mut self, aname: &[u8], uid: u32) -> Result<(Fid, Qid), SessionError> {
        let fid = self.new_fid()?;
        match self.call(Request::Attach { fid, afid: NOFID, uname: b"", aname, n_uname: uid }) {
            Ok(Reply::Attach(qid)) => Ok((fid, qid)),
            Ok(_) => Err(self.lost(fid, SessionError::UnexpectedReply)),
            Err(error) => Err(self.lost(fid, error)),
        }
    }

    /// A fid the server never made: back to the pool.
    fn lost(&mut self, fid: Fid, error: SessionError) -> SessionError {
        self.free_fids.push(fid);
        error
    }

    /// A new fid for what `names` lead to from `fid` (none: a clone of `fid`), and the
    /// last qid. A name that does not exist is `Server(ENOENT)`.
    pub fn walk(&mut self, fid: Fid, names: &[&[u8]]) -> Result<(Fid, Option<Qid>), SessionError> {
        let newfid = self.new_fid()?;
        // A clone is one walk of no names; longer walks go 16 names per message, each
        // step from the fid the previous one made.
        let mut steps: Vec<&[&[u8]]> = names.chunks(MAX_WALK_NAMES).collect();
        if steps.is_empty() {
            steps.push(&[]);
        }
        let (mut from, mut last) = (fid, None);
        for (index, step) in steps.into_iter().enumerate() {
            let outcome = match self.call(Request::Walk { fid: from, newfid, names: step }) {
                Ok(Reply::Walk(qids)) if qids.len() == step.len() => Ok(qids.last()),
                Ok(Reply::Walk(_)) => Err(SessionError::Server(errno::ENOENT)),
                Ok(_) => Err(SessionError::UnexpectedReply),
                Err(error) => Err(error),
            };
            match outcome {
                Ok(qid) => last = qid.or(last),
                // A failed first step made no fid on the server.
                Err(error) if index == 0 => return Err(self.lost(newfid, error)),
                Err(error) => {
                    let _ = self.clunk(newfid);
                    return Err(error);
                }
            }
            from = newfid;
        }
        Ok((newfid, last))
    }

    /// Opens `fid` for I/O with Linux open `flags`; returns the qid and iounit.
    pub fn lopen(&mut self, fid: Fid, flags: u32) -> Result<(Qid, u32), SessionError> {
        match self.call(Request::Lopen { fid, flags })? {
            Reply::Lopen { qid, iounit } => {
                self.files.insert(fid, qid.path);
                Ok((qid, iounit))
            }
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    /// Creates `name` in directory `fid` and opens it; `fid` then stands for the new file.
    pub fn lcreate(&mut self, fid: Fid, name: &[u8], flags: u32, mode: u32) -> Result<(Qid, u32), SessionError> {
        match self.call(Request::Lcreate { fid, name, flags, mode, gid: 0 })? {
            Reply::Lcreate { qid, iounit } => {
                self.files.insert(fid, qid.path);
                Ok((qid, iounit))
            }
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    /// Reads at `offset` into `out` (at most [`max_io`](Self::max_io) bytes per call);
    /// returns the count, 0 at end of file.
    pub fn read(&mut self, fid: Fid, offset: u64, out: &mut [u8]) -> Result<usize, SessionError> {
        let count = out.len().min(self.max_io()) as u32;
        match self.call(Request::Read { fid, offset, count })? {
            Reply::Read(data) if data.len() <= out.len() => {
                out[..data.len()].copy_from_slice(data);
                Ok(data.len())
            }
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    /// Writes (a prefix of at most [`max_io`](Self::max_io) bytes of) `data` at
    /// `offset`; returns the count the server wrote.
    pub fn write(&mut self, fid: Fid, offset: u64, data: &[u8]) -> Result<usize, SessionError> {
        self.read_ahead.changing(self.files.get(&fid).copied());
        let data = &data[..data.len().min(self.max_io())];
        match self.call(Request::Write { fid, offset, data })? {
            Reply::Write(count) if count as usize <= data.len() => Ok(count as usize),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    /// How a bulk transfer of `len` bytes is split: (piece length, pieces), at most
    /// [`MAX_IN_FLIGHT`] pieces of at most [`max_io`](Self::max_io) bytes.
    fn pieces(&self, len: usize) -> (usize, usize) {
        let limit = self.channel.in_flight().clamp(1, MAX_IN_FLIGHT);
        let piece = len.div_ceil(limit).max(MIN_PIECE).next_multiple_of(4096).min(self.max_io());
        (piece, len.div_ceil(piece).clamp(1, limit))
    }

    /// Fills the reusable message buffers for `count` requests, replies of `reply_bytes`.
    fn batch_buffers(&mut self, count: usize, reply_bytes: usize) {
        self.batch_requests.resize_with(count.max(self.batch_requests.len()), Vec::new);
        self.batch_replies.resize_with(count.max(self.batch_replies.len()), Vec::new);
        for reply in &mut self.batch_replies[..count] {
            if reply.len() < reply_bytes {
                reply.resize(reply_bytes, 0);
            }
        }
    }

    /// Sends the first `count` batch requests together; the replies' lengths.
    fn exchange_batch(&mut self, count: usize) -> Result<[usize; MAX_IN_FLIGHT], SessionError> {
        let mut lengths = [0; MAX_IN_FLIGHT];
        let requests: Vec<&[u8]> = self.batch_requests[..count].iter().map(|request| &request[..]).collect();
        let mut replies: Vec<&mut [u8]> = self.batch_replies[..count].iter_mut().map(|reply| &mut reply[..]).collect();
        self.channel.exchange_batch(&requests, &mut replies, &mut lengths[..count])?;
        Ok(lengths)
    }

    /// Batch reply `index` (of `length` bytes), checked against its request's tag.
    fn batch_reply(&self, index: usize, length: usize, tag: u16) -> Result<Reply<'_>, SessionError> {
        let reply = &self.batch_replies[index];
        tagged(&reply[..length.min(reply.len())], tag)
    }

    /// Moves `len` bytes in batches: `step(session, done, piece, count)` moves the next
    /// `count` pieces of `piece` bytes from `done` on and returns (bytes moved, whether
    /// it stopped short). An error after data ends the run without being reported.
    fn bulk(
        &mut self,
        len: usize,
        mut step: impl FnMut(&mut Self, usize, usize, usize) -> Result<(usize, bool), SessionError>,
    ) -> Result<usize, SessionError> {
        let mut total = 0;
        while total < len {
            let (piece, count) = self.pieces(len - total);
            match step(self, total, piece, count) {
                Ok((moved, short)) => {
                    total += moved;
                    if short {
                        break;
                    }
                }
                Err(_) if total > 0 => break,
                Err(error) => return Err(error),
            }
        }
        Ok(total)
    }

    /// Reads at `offset` until `out` is full or the file ends, with up to
    /// [`MAX_IN_FLIGHT`] requests in flight when the channel takes several (the server
    /// works on them together); returns the count, short only at the end of the file or
    /// when an error follows data (the error is then not reported).
    pub fn read_all(&mut self, fid: Fid, offset: u64, out: &mut [u8]) -> Result<usize, SessionError> {
        // A reader that moved elsewhere in the file drops what was read ahead for it.
        self.read_ahead.moved(fid, offset);
        let (served, ended) = self.read_ahead_serve(fid, offset, out)?;
        if served == out.len() || ended {
            return Ok(served);
        }
        let rest = &mut out[served..];
        let at = offset + served as u64;
        let read = self.read_now(fid, at, rest);
        if let Ok(got) = read {
            let file = self.files.get(&fid).copied();
            let max = self.max_io();
            self.read_ahead.read_done(fid, file, at, rest.len(), got, max);
            self.read_more_ahead();
        }
        match read {
            Ok(got) => Ok(served + got),
            Err(_) if served > 0 => Ok(served),
            Err(error) => Err(error),
        }
    }

    /// What the reads ahead hold for `out` at `offset` of `fid`: (bytes copied, whether
    /// the file ends right after them).
    fn read_ahead_serve(&mut self, fid: Fid, offset: u64, out: &mut [u8]) -> Result<(usize, bool), SessionError> {
        self.settle_posted()?;
        let mut done = 0;
        while done < out.len() && self.read_ahead.serves(fid, offset + done as u64) {
            while self.read_ahead.front_in_flight().is_some() {
                match self.channel.wait_reply()? {
                    Some(reply) => self.settle(reply),
                    None => {
                        self.read_ahead.stop();
                        return Ok((done, false));
                    }
                }
            }
            match self.read_ahead.take(&mut out[done..]) {
                Taken::Bytes { count, ended } => {
                    done += count;
                    if ended {
                        self.read_ahead.stop();
                        return Ok((done, true));
                    }
                }
                Taken::Failed => {
                    self.read_ahead.stop();
                    break;
                }
            }
            self.read_more_ahead();
        }
        Ok((done, false))
    }

    /// Sends the reads ahead the stream wants (nothing when the channel cannot post).
    fn read_more_ahead(&mut self) {
        if !self.channel.can_post() {
            return;
        }
        while let Some(ask) = self.read_ahead.wanted() {
            let tag = self.next_tag();
            let mut message = Vec::with_capacity(32);
            let request = Request::Read { fid: ask.fid, offset: ask.offset, count: ask.count as u32 };
            if request.encode(tag, &mut message).is_err() {
                self.read_ahead.stop();
                return;
            }
            let Some(buffer) = self.read_ahead.buffer(ask.count + READ_OVERHEAD) else {
                self.read_ahead.stop();
                break;
            };
            match self.channel.post(message, buffer) {
                Ok(reply) => {
                    self.read_ahead.sent(tag, &ask);
                    if let Some(reply) = reply {
                        let _ = self.read_ahead.arrived(tag, reply);
                    }
                }
                Err(_) => {
                    self.read_ahead.stop();
                    return;
                }
            }
        }
        // The server should be reading while the guest takes what came before.
        self.channel.kick();
    }

    /// [`read_all`](Self::read_all) without the reads ahead.
    fn read_now(&mut self, fid: Fid, offset: u64, out: &mut [u8]) -> Result<usize, SessionError> {
        self.bulk(out.len(), |session, done, piece, count| {
            let at = offset + done as u64;
            if count == 1 {
                session.read(fid, at, &mut out[done..]).map(|n| (n, n == 0))
            } else {
                session.read_pieces(fid, at, &mut out[done..], piece, count)
            }
        })
    }

    /// `count` reads of `piece` bytes in flight together; (bytes read, whether a piece
    /// came back short: the end of the file).
    fn read_pieces(
        &mut self,
        fid: Fid,
        offset: u64,
        out: &mut [u8],
        piece: usize,
        count: usize,
    ) -> Result<(usize, bool), SessionError> {
        self.batch_buffers(count, piece + READ_OVERHEAD);
        let mut tags = [0; MAX_IN_FLIGHT];
        let mut wanted = [0; MAX_IN_FLIGHT];
        for index in 0..count {
            let start = index * piece;
            wanted[index] = piece.min(out.len() - start);
            tags[index] = self.next_tag();
            let request = Request::Read { fid, offset: offset + start as u64, count: wanted[index] as u32 };
            request.encode(tags[index], &mut self.batch_requests[index])?;
        }
        let lengths = self.exchange_batch(count)?;
        let mut total = 0;
        for index in 0..count {
            let copy = |reply: Reply<'_>| match reply {
                Reply::Read(data) if data.len() <= wanted[index] => {
                    out[total..total + data.len()].copy_from_slice(data);
                    Some(data.len())
                }
                _ => None,
            };
            let Some(read) = piece_moved(self.batch_reply(index, lengths[index], tags[index]), total, copy)? else {
                return Ok((total, true));
            };
            total += read;
            if read < wanted[index] {
                return Ok((total, true));
            }
        }
        Ok((total, false))
    }

    /// Writes all of `data` at `offset`, with up to [`MAX_IN_FLIGHT`] requests in
    /// flight when the channel takes several; returns the count, short when the server
    /// wrote less (a full disk) or an error follows data. Pieces after a short one may
    /// have been written too (as with any concurrent writes): only the count returned
    /// is promised.
    pub fn write_all(&mut self, fid: Fid, offset: u64, data: &[u8]) -> Result<usize, SessionError> {
        self.read_ahead.changing(self.files.get(&fid).copied());
        self.bulk(data.len(), |session, done, piece, count| {
            let at = offset + done as u64;
            if count == 1 {
                session.write(fid, at, &data[done..]).map(|n| (n, n == 0))
            } else {
                session.write_pieces(fid, at, &data[done..], piece, count)
            }
        })
    }

    /// `count` writes of `piece` bytes, each posted as soon as it is copied into its
    /// message, so the server writes one while the guest copies the next (a channel
    /// that cannot post exchanges each at once); every piece is answered before this
    /// returns. (Bytes written as one run from `offset`, whether a piece was short.)
    fn write_pieces(
        &mut self,
        fid: Fid,
        offset: u64,
        data: &[u8],
        piece: usize,
        count: usize,
    ) -> Result<(usize, bool), SessionError> {
        let mut messages = Vec::with_capacity(count);
        for index in 0..count {
            let mut message = Vec::new();
            if message.try_reserve_exact(piece.min(data.len() - index * piece) + WRITE_OVERHEAD).is_err() {
                // Memory is short: one piece through the session's own buffer.
                let first = piece.min(data.len());
                return self.write(fid, offset, &data[..first]).map(|written| (written, written < first));
            }
            messages.push(message);
        }
        let mut wanted = [0; MAX_IN_FLIGHT];
        let mut failed = None;
        for (index, mut message) in messages.into_iter().enumerate() {
            let start = index * piece;
            wanted[index] = piece.min(data.len() - start);
            let tag = self.next_tag();
            let request =
                Request::Write { fid, offset: offset + start as u64, data: &data[start..start + wanted[index]] };
            if let Err(error) = request.encode(tag, &mut message) {
                failed = Some(error.into());
                break;
            }
            self.writes.push((tag, None));
            match self.channel.post(message, vec![0; POSTED_REPLY_BYTES]) {
                Ok(reply) => {
                    if let Some(last) = self.writes.last_mut() {
                        last.1 = reply;
                    }
                }
                Err(error) => {
                    self.writes.pop();
                    failed = Some(error.into());
                    break;
                }
            }
            self.channel.kick();
        }
        // Every piece sent must be answered before the call returns (the data is the
        // caller's, and a later write may overlap it).
        while self.writes.iter().any(|(_, reply)| reply.is_none()) {
            match self.channel.wait_reply() {
                Ok(Some(reply)) => self.settle(reply),
                Ok(None) | Err(_) => {
                    self.writes.clear();
                    return Err(SessionError::Channel(ChannelError("a posted write was not answered")));
                }
            }
        }
        let replies = core::mem::take(&mut self.writes);
        let mut total = 0;
        for (index, (tag, reply)) in replies.into_iter().enumerate() {
            let count = |reply: Reply<'_>| match reply {
                Reply::Write(written) if written as usize <= wanted[index] => Some(written as usize),
                _ => None,
            };
            let Some(written) = piece_moved(tagged(reply.as_deref().unwrap_or_default(), tag), total, count)? else {
                return Ok((total, true));
            };
            total += written;
            if written < wanted[index] {
                return Ok((total, true));
            }
        }
        match failed {
            Some(_) if total > 0 => Ok((total, true)),
            Some(error) => Err(error),
            None => Ok((total, false)),
        }
    }

    /// Reads up to `count` bytes of directory entries of open directory `fid` from
    /// `offset` (0, or an entry's `offset`), calling `visit` for each until it returns
    /// false; returns how many it saw (0 at the end of the directory).
    pub fn readdir(
        &mut self,
        fid: Fid,
        offset: u64,
        count: usize,
        visit: &mut dyn FnMut(&DirEntry<'_>) -> bool,
    ) -> Result<usize, SessionError> {
        let count = count.min(self.max_io()) as u32;
        let Reply::Readdir(data) = self.call(Request::Readdir { fid, offset, count })? else {
            return Err(SessionError::UnexpectedReply);
        };
        let mut seen = 0;
        for entry in DirEntries::new(data) {
            seen += 1;
            if !visit(&entry?) {
                break;
            }
        }
        Ok(seen)
    }

    pub fn getattr(&mut self, fid: Fid) -> Result<Attr, SessionError> {
        match self.call(Request::Getattr { fid, mask: codec::GETATTR_BASIC })? {
            Reply::Getattr(attr) => Ok(attr),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn setattr(&mut self, fid: Fid, attr: SetAttr) -> Result<(), SessionError> {
        self.read_ahead.changing(self.files.get(&fid).copied());
        match self.call(Request::Setattr { fid, attr })? {
            Reply::Setattr => Ok(()),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn mkdir(&mut self, dfid: Fid, name: &[u8], mode: u32) -> Result<Qid, SessionError> {
        match self.call(Request::Mkdir { dfid, name, mode, gid: 0 })? {
            Reply::Mkdir(qid) => Ok(qid),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn unlinkat(&mut self, dfid: Fid, name: &[u8], flags: u32) -> Result<(), SessionError> {
        match self.call(Request::Unlinkat { dfid, name, flags })? {
            Reply::Unlinkat => Ok(()),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn renameat(
        &mut self,
        old_dfid: Fid,
        old_name: &[u8],
        new_dfid: Fid,
        new_name: &[u8],
    ) -> Result<(), SessionError> {
        match self.call(Request::Renameat { old_dfid, old_name, new_dfid, new_name })? {
            Reply::Renameat => Ok(()),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn symlink(&mut self, dfid: Fid, name: &[u8], target: &[u8]) -> Result<Qid, SessionError> {
        match self.call(Request::Symlink { dfid, name, target, gid: 0 })? {
            Reply::Symlink(qid) => Ok(qid),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn readlink(&mut self, fid: Fid) -> Result<Vec<u8>, SessionError> {
        match self.call(Request::Readlink { fid })? {
            Reply::Readlink(target) => Ok(target.to_vec()),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn link(&mut self, dfid: Fid, fid: Fid, name: &[u8]) -> Result<(), SessionError> {
        match self.call(Request::Link { dfid, fid, name })? {
            Reply::Link => Ok(()),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn fsync(&mut self, fid: Fid, datasync: bool) -> Result<(), SessionError> {
        match self.call(Request::Fsync { fid, datasync })? {
            Reply::Fsync => Ok(()),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    pub fn statfs(&mut self, fid: Fid) -> Result<StatFs, SessionError> {
        match self.call(Request::Statfs { fid })? {
            Reply::Statfs(stat) => Ok(stat),
            _ => Err(SessionError::UnexpectedReply),
        }
    }

    /// Forgets `fid` on the server; the number is reused whatever the server says
    /// (a clunk releases the fid even when it reports an error).
    pub fn clunk(&mut self, fid: Fid) -> Result<(), SessionError> {
        self.forget_fid(fid);
        let result = match self.call(Request::Clunk { fid }) {
            Ok(Reply::Clunk) => Ok(()),
            Ok(_) => Err(SessionError::UnexpectedReply),
            Err(error) => Err(error),
        };
        self.free_fids.push(fid);
        result
    }

    /// Forgets `fid` on the server without waiting for the reply: the number is
    /// reused once the reply is in. Nothing the caller sends later can depend on it.
    pub fn clunk_later(&mut self, fid: Fid) {
        self.forget_fid(fid);
        self.post(Request::Clunk { fid }, Purpose::Clunk(fid));
    }

    /// `fid` is about to be clunked: nothing read ahead or known about it stays, and
    /// the clones made ahead of it are clunked too.
    fn forget_fid(&mut self, fid: Fid) {
        self.files.remove(&fid);
        self.read_ahead.forget(fid);
        for clone in self.posted.forget_source(fid) {
            self.clunk_later(clone);
        }
    }

    /// Walks a clone of directory `fid` ahead of its use by [`clone_fid`](Self::clone_fid)
    /// (nothing when one is ready or on its way).
    pub fn prepare_clone(&mut self, fid: Fid) {
        if self.posted.has_clone(fid) {
            return;
        }
        let Ok(clone) = self.new_fid() else { return };
        self.post(Request::Walk { fid, newfid: clone, names: &[] }, Purpose::Clone { source: fid, fid: clone });
    }

    /// A new fid for what `fid` stands for: one [`prepare_clone`](Self::prepare_clone)
    /// made when there is one (waiting for it if it is on its way), else walked now.
    pub fn clone_fid(&mut self, fid: Fid) -> Result<Fid, SessionError> {
        self.settle_posted()?;
        while self.posted.clone_in_flight(fid) {
            match self.channel.wait_reply()? {
                Some(reply) => self.settle(reply),
                None => break,
            }
        }
        match self.posted.take_ready(fid) {
            Some(clone) => Ok(clone),
            None => Ok(self.walk(fid, &[])?.0),
        }
    }

    /// Sends `request` without waiting; `purpose` says what its reply settles.
    fn post(&mut self, request: Request<'_>, purpose: Purpose) {
        let tag = self.next_tag();
        let mut message = Vec::with_capacity(32);
        self.posted.sent(tag, purpose);
        let sent = match request.encode(tag, &mut message) {
            Ok(()) => self.channel.post(message, vec![0; POSTED_REPLY_BYTES]).map_err(SessionError::from),
            Err(error) => Err(error.into()),
        };
        match sent {
            Ok(Some(reply)) => self.settle(reply),
            Ok(None) => {}
            Err(_) => {
                // It never reached the server (or the channel broke).
                if let Settled::Free(fid) = self.posted.withdraw(tag) {
                    self.free_fids.push(fid);
                }
            }
        }
    }

    /// Settles the posted replies that have come in.
    fn settle_posted(&mut self) -> Result<(), SessionError> {
        while let Some(reply) = self.channel.take_reply()? {
            self.settle(reply);
        }
        Ok(())
    }

    /// Settles one reply to a posted request: a read ahead's is kept for the reader (a
    /// reply that does not decode settles nothing: its fid stays taken, which is safe).
    fn settle(&mut self, reply: Vec<u8>) {
        let Some(tag) = reply.get(5..7).map(|tag| u16::from_le_bytes([tag[0], tag[1]])) else { return };
        if let Some((_, slot)) = self.writes.iter_mut().find(|(piece, slot)| *piece == tag && slot.is_none()) {
            *slot = Some(reply);
            return;
        }
        let Some(reply) = self.read_ahead.arrived(tag, reply) else { return };
        let Ok((tag, decoded)) = codec::decode(&reply) else { return };
        match self.posted.settle(tag, &decoded) {
            Settled::Done => {}
            Settled::Free(fid) => self.free_fids.push(fid),
            Settled::Clunk(fid) => self.clunk_later(fid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::VecDeque;

    /// A channel that checks each request against a script and answers from it; the
    /// reply's tag is patched to the request's (the script cannot know it).
    struct Script {
        steps: VecDeque<(Vec<u8>, Vec<u8>)>,
    }

    impl Channel for Script {
        fn exchange(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, ChannelError> {
            let (expected, mut answer) = self.steps.pop_front().ok_or(ChannelError("script ended"))?;
            assert_eq!(&request[4..5], &expected[4..5], "request type");
            assert_eq!(&request[7..], &expected[7..], "request body");
            answer[5..7].copy_from_slice(&request[5..7]);
            reply[..answer.len()].copy_from_slice(&answer);
            Ok(answer.len())
        }
    }

    fn frame(request: Request<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        request.encode(0, &mut out).unwrap();
        out
    }

    fn reply(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = ((7 + body.len()) as u32).to_le_bytes().to_vec();
        out.push(kind);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(body);
        out
    }

    fn version_step(asked: u32, given: u32) -> (Vec<u8>, Vec<u8>) {
        let mut body = given.to_le_bytes().to_vec();
        body.extend_from_slice(&8u16.to_le_bytes());
        body.extend_from_slice(b"9P2000.L");
        let mut answer = reply(101, &body);
        answer[5..7].copy_from_slice(&NOTAG.to_le_bytes());
        (frame(Request::Version { msize: asked, version: codec::VERSION }), answer)
    }

    fn qid(kind: u8, path: u64) -> Vec<u8> {
        let mut out = vec![kind, 0, 0, 0, 0];
        out.extend_from_slice(&path.to_le_bytes());
        out
    }

    fn session(steps: Vec<(Vec<u8>, Vec<u8>)>) -> Session<Script> {
        let mut all = VecDeque::from(vec![version_step(65536, 8192)]);
        all.extend(steps);
        Session::connect(Script { steps: all }, 65536).unwrap()
    }

    #[test]
    fn msize_is_what_the_server_grants() {
        let s = session(vec![]);
        assert_eq!(s.msize(), 8192);
        assert_eq!(s.max_io(), 8192 - WRITE_OVERHEAD);
        let too_small = Script { steps: VecDeque::from(vec![version_step(65536, 512)]) };
        assert_eq!(Session::connect(too_small, 65536).err(), Some(SessionError::Version));
        let mut wrong = version_step(65536, 8192);
        wrong.1[13..21].copy_from_slice(b"9P2000.u");
        assert_eq!(
            Session::connect(Script { steps: VecDeque::from(vec![wrong]) }, 65536).err(),
            Some(SessionError::Version)
        );
    }

    #[test]
    fn attach_walk_and_fid_reuse() {
        let names: [&[u8]; 2] = [b"a", b"b"];
        let mut walked = 2u16.to_le_bytes().to_vec();
        walked.extend(qid(0x80, 2));
        walked.extend(qid(0, 3));
        let mut partial = 1u16.to_le_bytes().to_vec();
        partial.extend(qid(0x80, 2));
        let mut s = session(vec![
            (
                frame(Request::Attach { fid: Fid(0), afid: NOFID, uname: b"", aname: b"", n_uname: 0 }),
                reply(105, &qid(0x80, 1)),
            ),
            (frame(Request::Walk { fid: Fid(0), newfid: Fid(1), names: &names }), reply(111, &walked)),
            (frame(Request::Clunk { fid: Fid(1) }), reply(121, &[])),
            // The freed fid is the next one handed out; a partial walk is ENOENT and
            // leaves no fid behind.
            (frame(Request::Walk { fid: Fid(0), newfid: Fid(1), names: &names }), reply(111, &partial)),
            (frame(Request::Walk { fid: Fid(0), newfid: Fid(1), names: &[] }), reply(111, &0u16.to_le_bytes())),
        ]);
        let (root, root_qid) = s.attach(b"", 0).unwrap();
        assert_eq!((root, root_qid.path), (Fid(0), 1));
        let (fid, last) = s.walk(root, &names).unwrap();
        assert_eq!((fid, last.map(|q| q.path)), (Fid(1), Some(3)));
        s.clunk(fid).unwrap();
        assert_eq!(s.walk(root, &names), Err(SessionError::Server(errno::ENOENT)));
        assert_eq!(s.walk(root, &[]), Ok((Fid(1), None)));
    }

    /// The posted requests of a test channel, left unanswered until the channel's next
    /// exchange or wait (as the device, which sees them with the next notification).
    #[derive(Default)]
    struct Postbox {
        pending: Vec<Vec<u8>>,
        answered: VecDeque<Vec<u8>>,
    }

    impl Postbox {
        fn answer_all(&mut self, mut answer: impl FnMut(&[u8]) -> Vec<u8>) {
            for request in core::mem::take(&mut self.pending) {
                let reply = answer(&request);
                self.answered.push_back(reply);
            }
        }

        /// What `wait_reply` gives: the oldest answer, answering the pending first if
        /// there is none yet.
        fn wait(&mut self, answer: impl FnMut(&[u8]) -> Vec<u8>) -> Option<Vec<u8>> {
            if self.answered.is_empty() {
                self.answer_all(answer);
            }
            self.answered.pop_front()
        }
    }

    /// How QEMU answers the posted requests a session makes: a clone walk with no
    /// qids, a clunk with `Rclunk`.
    fn answer_posted(request: &[u8]) -> Vec<u8> {
        let mut answer = match request[4] {
            codec::kind::TWALK => reply(111, &0u16.to_le_bytes()),
            codec::kind::TCLUNK => reply(121, &[]),
            other => panic!("posted request of type {other}"),
        };
        answer[5..7].copy_from_slice(&request[5..7]);
        answer
    }

    /// A scripted channel whose posted requests are answered as QEMU would.
    struct Deferred {
        script: Script,
        posts: Postbox,
    }

    impl Channel for Deferred {
        fn exchange(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, ChannelError> {
            self.posts.answer_all(answer_posted);
            self.script.exchange(request, reply)
        }

        fn post(&mut self, request: Vec<u8>, _reply: Vec<u8>) -> Result<Option<Vec<u8>>, ChannelError> {
            self.posts.pending.push(request);
            Ok(None)
        }

        fn take_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
            Ok(self.posts.answered.pop_front())
        }

        fn wait_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
            Ok(self.posts.wait(answer_posted))
        }
    }

    #[test]
    fn posted_clones_are_used_once_made_and_posted_clunks_free_fids_once_answered() {
        let attach = (
            frame(Request::Attach { fid: Fid(0), afid: NOFID, uname: b"", aname: b"", n_uname: 0 }),
            reply(105, &qid(0x80, 1)),
        );
        let mut steps = VecDeque::from(vec![version_step(65536, 8192), attach]);
        // The clunk of fid 1 is not answered yet: the walk gets fid 2, and only the
        // one after (the clunk's reply settled) gets fid 1 back.
        let found = [&b"x"[..]];
        let mut walked = 1u16.to_le_bytes().to_vec();
        walked.extend(qid(0, 7));
        steps.push_back((frame(Request::Walk { fid: Fid(0), newfid: Fid(2), names: &found }), reply(111, &walked)));
        steps.push_back((frame(Request::Walk { fid: Fid(0), newfid: Fid(1), names: &found }), reply(111, &walked)));
        let channel = Deferred { script: Script { steps }, posts: Postbox::default() };
        let mut s = Session::connect(channel, 65536).unwrap();
        let (root, _) = s.attach(b"", 0).unwrap();
        s.prepare_clone(root);
        s.prepare_clone(root);
        assert_eq!(s.channel.posts.pending.len(), 1, "one clone ahead per directory");
        // Taken once its walk is answered, without a walk of its own.
        assert_eq!(s.clone_fid(root), Ok(Fid(1)));
        s.clunk_later(Fid(1));
        assert_eq!(s.walk(root, &found).map(|(fid, _)| fid), Ok(Fid(2)));
        assert_eq!(s.walk(root, &found).map(|(fid, _)| fid), Ok(Fid(1)));
        assert!(s.channel.script.steps.is_empty());
    }

    /// A server of one file over a posting channel: reads and writes work on `data`;
    /// posted requests are answered at the next exchange or wait, as the device does.
    struct FileServer {
        data: Vec<u8>,
        posts: Postbox,
        exchanged_reads: usize,
        posted_reads: usize,
        posted_writes: usize,
    }

    /// How the file server answers `request`, on the file's `data`.
    fn serve(data: &mut [u8], request: &[u8]) -> Vec<u8> {
        let word = |at: usize| u32::from_le_bytes(request[at..at + 4].try_into().unwrap());
        let offset = request.get(11..19).map_or(0, |at| u64::from_le_bytes(at.try_into().unwrap())) as usize;
        let mut answer = match request[4] {
            codec::kind::TVERSION => {
                let mut body = (1u32 << 20).to_le_bytes().to_vec();
                body.extend_from_slice(&8u16.to_le_bytes());
                body.extend_from_slice(b"9P2000.L");
                reply(101, &body)
            }
            codec::kind::TLOPEN => {
                let mut body = qid(0, 42);
                body.extend_from_slice(&0u32.to_le_bytes());
                reply(13, &body)
            }
            codec::kind::TREAD => {
                let end = (offset + word(19) as usize).min(data.len());
                let read = &data[offset.min(end)..end];
                let mut body = (read.len() as u32).to_le_bytes().to_vec();
                body.extend_from_slice(read);
                reply(117, &body)
            }
            codec::kind::TWRITE => {
                let bytes = &request[23..23 + word(19) as usize];
                data[offset..offset + bytes.len()].copy_from_slice(bytes);
                reply(119, &(bytes.len() as u32).to_le_bytes())
            }
            codec::kind::TCLUNK => reply(121, &[]),
            other => panic!("request of type {other}"),
        };
        answer[5..7].copy_from_slice(&request[5..7]);
        answer
    }

    impl Channel for FileServer {
        fn exchange(&mut self, request: &[u8], out: &mut [u8]) -> Result<usize, ChannelError> {
            let data = &mut self.data;
            self.posts.answer_all(|posted| serve(data, posted));
            self.exchanged_reads += usize::from(request[4] == codec::kind::TREAD);
            let answer = serve(&mut self.data, request);
            out[..answer.len()].copy_from_slice(&answer);
            Ok(answer.len())
        }

        fn can_post(&self) -> bool {
            true
        }

        fn in_flight(&self) -> usize {
            MAX_IN_FLIGHT
        }

        fn post(&mut self, request: Vec<u8>, _reply: Vec<u8>) -> Result<Option<Vec<u8>>, ChannelError> {
            self.posted_reads += usize::from(request[4] == codec::kind::TREAD);
            self.posted_writes += usize::from(request[4] == codec::kind::TWRITE);
            self.posts.pending.push(request);
            Ok(None)
        }

        fn take_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
            Ok(self.posts.answered.pop_front())
        }

        fn wait_reply(&mut self) -> Result<Option<Vec<u8>>, ChannelError> {
            let data = &mut self.data;
            Ok(self.posts.wait(|posted| serve(data, posted)))
        }
    }

    fn file_session(len: usize) -> (Session<FileServer>, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let server = FileServer {
            data: data.clone(),
            posts: Postbox::default(),
            exchanged_reads: 0,
            posted_reads: 0,
            posted_writes: 0,
        };
        let mut s = Session::connect(server, 1 << 20).unwrap();
        s.lopen(Fid(5), 0).unwrap();
        (s, data)
    }

    #[test]
    fn sequential_reads_are_served_from_reads_ahead_byte_exact() {
        let (mut s, data) = file_session(1_000_003);
        let mut got = Vec::new();
        let mut buffer = [0u8; 65536];
        loop {
            let n = s.read_all(Fid(5), got.len() as u64, &mut buffer).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buffer[..n]);
        }
        assert!(got == data, "{} bytes read back, {} in the file", got.len(), data.len());
        // The first two reads went out themselves; the rest came from 128 KiB pieces
        // read ahead (the read at the very end finds the stream gone and asks itself).
        assert!(s.channel.posted_reads >= 7, "{} reads ahead", s.channel.posted_reads);
        assert!(s.channel.exchanged_reads <= 3, "{} reads waited for", s.channel.exchanged_reads);
    }

    #[test]
    fn a_bulk_write_goes_out_piece_by_piece_and_lands_whole() {
        let (mut s, _) = file_session(2 << 20);
        let data: Vec<u8> = (0..(1 << 20) + 5).map(|i| (i % 253) as u8).collect();
        assert_eq!(s.write_all(Fid(5), 1000, &data), Ok(data.len()));
        assert!(s.channel.data[1000..1000 + data.len()] == data[..], "every piece landed where it belongs");
        assert_eq!(s.channel.posted_writes, MAX_IN_FLIGHT, "posted one by one, not exchanged");
        assert!(s.writes.is_empty(), "nothing left waiting");
    }

    #[test]
    fn a_write_to_the_file_drops_what_was_read_ahead() {
        let (mut s, data) = file_session(1 << 20);
        let mut buffer = alloc::vec![0u8; 65536];
        s.read_all(Fid(5), 0, &mut buffer).unwrap();
        s.read_all(Fid(5), 65536, &mut buffer).unwrap();
        assert!(s.channel.posted_reads > 0, "reading ahead");
        assert_eq!(s.write(Fid(5), 150_000, b"XYZ"), Ok(3));
        assert_eq!(s.read_all(Fid(5), 131072, &mut buffer), Ok(65536));
        let mut expected = data[131072..196608].to_vec();
        expected[150_000 - 131072..150_003 - 131072].copy_from_slice(b"XYZ");
        assert!(buffer == expected, "the read after the write sees it");
        // Clunking the fid abandons the stream; late replies are swallowed.
        s.clunk(Fid(5)).unwrap();
        assert!(!s.read_ahead.is_streaming());
    }

    #[test]
    fn long_walks_go_sixteen_names_at_a_time() {
        let names: Vec<&[u8]> = (0..20).map(|_| &b"d"[..]).collect();
        let answer = |count: usize| {
            let mut body = (count as u16).to_le_bytes().to_vec();
            for path in 0..count {
                body.extend(qid(0x80, path as u64 + 10));
            }
            reply(111, &body)
        };
        let mut s = session(vec![
            (frame(Request::Walk { fid: Fid(7), newfid: Fid(0), names: &names[..16] }), answer(16)),
            (frame(Request::Walk { fid: Fid(0), newfid: Fid(0), names: &names[16..] }), answer(4)),
        ]);
        assert_eq!(s.walk(Fid(7), &names).unwrap().1.map(|q| q.path), Some(13));
    }

    /// The script as a channel that takes several requests at once (answered one by
    /// one, in order, by the default batch exchange).
    struct Batched(Script);

    impl Channel for Batched {
        fn exchange(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, ChannelError> {
            self.0.exchange(request, reply)
        }

        fn in_flight(&self) -> usize {
            MAX_IN_FLIGHT
        }
    }

    fn batched_session(steps: Vec<(Vec<u8>, Vec<u8>)>) -> Session<Batched> {
        let mut all = VecDeque::from(vec![version_step(65536, 8192)]);
        all.extend(steps);
        Session::connect(Batched(Script { steps: all }), 65536).unwrap()
    }

    fn read_reply(data: &[u8]) -> Vec<u8> {
        let mut body = (data.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(data);
        reply(117, &body)
    }

    #[test]
    fn bulk_reads_go_out_together_and_stop_at_a_short_piece() {
        let max = 8192 - WRITE_OVERHEAD;
        let file: Vec<u8> = (0..2 * max + 100).map(|i| (i % 251) as u8).collect();
        let read = |offset: usize, count: usize| {
            frame(Request::Read { fid: Fid(2), offset: offset as u64, count: count as u32 })
        };
        // 4 pieces (of the 5 the buffer needs) asked for at once; the file ends inside
        // the third, so the fourth's empty answer is ignored and nothing more is asked.
        let mut s = batched_session(vec![
            (read(0, max), read_reply(&file[..max])),
            (read(max, max), read_reply(&file[max..2 * max])),
            (read(2 * max, max), read_reply(&file[2 * max..])),
            (read(3 * max, max), read_reply(&[])),
        ]);
        let mut out = vec![0u8; 4 * max + 5];
        assert_eq!(s.read_all(Fid(2), 0, &mut out), Ok(file.len()));
        assert_eq!(&out[..file.len()], &file[..]);
    }

    #[test]
    fn bulk_writes_count_only_the_run_before_a_short_piece() {
        let max = 8192 - WRITE_OVERHEAD;
        let data = vec![9u8; 3 * max];
        let write = |offset: usize| {
            frame(Request::Write { fid: Fid(3), offset: 10 + offset as u64, data: &data[offset..offset + max] })
        };
        let written = |count: usize| reply(119, &(count as u32).to_le_bytes());
        let mut s =
            batched_session(vec![(write(0), written(max)), (write(max), written(17)), (write(2 * max), written(max))]);
        assert_eq!(s.write_all(Fid(3), 10, &data), Ok(max + 17));
        // An error after data is a short count; before any, the error.
        let mut s = batched_session(vec![
            (write(0), reply(7, &28u32.to_le_bytes())),
            (write(max), written(max)),
            (write(2 * max), written(max)),
        ]);
        assert_eq!(s.write_all(Fid(3), 10, &data), Err(SessionError::Server(28)));
    }

    #[test]
    fn reads_and_writes_are_capped_at_msize() {
        let big = vec![7u8; 10_000];
        let max = 8192 - WRITE_OVERHEAD;
        let mut read_body = 3u32.to_le_bytes().to_vec();
        read_body.extend_from_slice(b"xyz");
        let mut s = session(vec![
            (
                frame(Request::Write { fid: Fid(4), offset: 100, data: &big[..max] }),
                reply(119, &(max as u32).to_le_bytes()),
            ),
            (frame(Request::Read { fid: Fid(4), offset: 5, count: max as u32 }), reply(117, &read_body)),
            (frame(Request::Read { fid: Fid(4), offset: 8, count: 2 }), reply(117, &read_body)),
        ]);
        assert_eq!(s.write(Fid(4), 100, &big), Ok(max));
        let mut out = vec![0u8; 10_000];
        assert_eq!(s.read(Fid(4), 5, &mut out), Ok(3));
        assert_eq!(&out[..3], b"xyz");
        // The server sending more than was asked for is a broken reply, not an overflow.
        assert_eq!(s.read(Fid(4), 8, &mut out[..2]), Err(SessionError::UnexpectedReply));
    }

    #[test]
    fn server_errors_and_mismatched_replies() {
        let mut s = session(vec![
            (frame(Request::Getattr { fid: Fid(1), mask: codec::GETATTR_BASIC }), reply(7, &13u32.to_le_bytes())),
            (frame(Request::Fsync { fid: Fid(1), datasync: false }), reply(121, &[])),
            (frame(Request::Clunk { fid: Fid(1) }), reply(7, &9u32.to_le_bytes())),
        ]);
        assert_eq!(s.getattr(Fid(1)), Err(SessionError::Server(13)));
        assert_eq!(s.fsync(Fid(1), false), Err(SessionError::UnexpectedReply));
        assert_eq!(s.clunk(Fid(1)), Err(SessionError::Server(9)));
        assert_eq!(s.free_fids, vec![Fid(1)]);
    }

    #[test]
    fn readdir_visits_until_told_to_stop() {
        let mut data = Vec::new();
        for (path, name) in [(1u64, &b"a"[..]), (2, b"b"), (3, b"c")] {
            data.extend(qid(0, path));
            data.extend_from_slice(&path.to_le_bytes());
            data.push(8);
            data.extend_from_slice(&(name.len() as u16).to_le_bytes());
            data.extend_from_slice(name);
        }
        let mut body = (data.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&data);
        let count = (8192 - WRITE_OVERHEAD) as u32;
        let mut s = session(vec![(frame(Request::Readdir { fid: Fid(2), offset: 0, count }), reply(41, &body))]);
        let mut names = Vec::new();
        let seen = s
            .readdir(Fid(2), 0, usize::MAX, &mut |entry| {
                names.push(entry.name.to_vec());
                names.len() < 2
            })
            .unwrap();
        assert_eq!(seen, 2);
        assert_eq!(names, vec![b"a".to_vec(), b"b".to_vec()]);
    }
}
