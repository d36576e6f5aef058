//! The 9P2000.L codec and client session fed replies a server could send.
//!
//! Raw frames decoded directly, directory data iterated, and a session driven through
//! every operation over a channel whose replies come from the input.

use wasmetal_devices::p9::codec::{self, DirEntries, Fid, SetAttr};
use wasmetal_devices::p9::session::{Channel, ChannelError, Session};

/// Replies from the input: each is `[flags: u8][len: u16 LE][bytes]`; flag bit 0 copies
/// the request's tag into the reply, bit 1 its size field, so the session gets past its
/// tag and length checks and deeper into the replies.
struct ScriptedServer<'a> {
    input: &'a [u8],
}

impl Channel for ScriptedServer<'_> {
    fn exchange(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, ChannelError> {
        let [flags, lo, hi, rest @ ..] = self.input else { return Err(ChannelError("script ended")) };
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len()).min(reply.len());
        reply[..len].copy_from_slice(&rest[..len]);
        self.input = &rest[len..];
        if flags & 1 != 0 && len >= 7 && request.len() >= 7 {
            reply[5..7].copy_from_slice(&request[5..7]);
        }
        if flags & 2 != 0 && len >= 4 {
            reply[..4].copy_from_slice(&(len as u32).to_le_bytes());
        }
        Ok(len)
    }

    /// Bulk reads and writes go out in batches (answered in order by the default).
    fn in_flight(&self) -> usize {
        4
    }
}

pub fn run(bytes: &[u8]) -> bool {
    let decoded = codec::decode(bytes).is_ok();
    for entry in DirEntries::new(bytes) {
        if entry.is_err() {
            break;
        }
    }
    let Ok(mut session) = Session::connect(ScriptedServer { input: bytes }, 8192) else { return decoded };
    let mut out = vec![0u8; 4096];
    // Each step ignores the previous one's error: a confused server must not confuse
    // the session into a panic later either.
    let root = session.attach(b"/", 0).map(|(fid, _)| fid).unwrap_or(Fid(0));
    let (file, _) = session.walk(root, &[b"a", b"b", b".."]).unwrap_or((Fid(1), None));
    let _ = session.lopen(file, 0);
    let _ = session.read(file, 0, &mut out);
    let _ = session.write(file, 5, b"data");
    // Bulk transfers: four pieces of a batch at once, replies of any shape.
    let mut bulk = vec![0u8; 30_000];
    let _ = session.read_all(file, 0, &mut bulk);
    let _ = session.write_all(file, 7, &bulk);
    let _ = session.readdir(root, 0, 4096, &mut |_| true);
    let _ = session.getattr(file);
    let _ = session.setattr(file, SetAttr::default());
    let _ = session.lcreate(root, b"new", 0o100, 0o644);
    let _ = session.mkdir(root, b"d", 0o755);
    let _ = session.symlink(root, b"l", b"target");
    let _ = session.readlink(file);
    let _ = session.link(root, file, b"hard");
    let _ = session.renameat(root, b"a", root, b"b");
    let _ = session.unlinkat(root, b"b", 0);
    let _ = session.fsync(file, true);
    let _ = session.statfs(root);
    let _ = session.clunk(file);
    let _ = session.clunk(root);
    let deep: Vec<&[u8]> = (0..40).map(|_| b"x".as_slice()).collect();
    let _ = session.walk(root, &deep);
    true
}
