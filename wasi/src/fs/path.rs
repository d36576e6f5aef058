//! Path resolution relative to a directory descriptor, by WASI's rules.
//!
//! Paths are byte strings split on `/`; empty components (doubled slashes) are
//! ignored, `.` stays put and `..` goes back one step along the path walked so far.
//! Symbolic links met on the way (and the last component, when asked to follow) are
//! expanded in place, relative to the directory holding them, at most
//! [`MAX_SYMLINKS`] times (then `ELOOP`). A path can never leave the directory it is
//! resolved from: an absolute path or symlink target, or a `..` that would climb
//! above the start, is `ENOTCAPABLE`. The backend only ever sees single names.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::abi::filetype;
use crate::errno::Errno;
use crate::fs::filesystem::FileSystem;
use crate::fs::mem::Ino;

/// The longest path accepted.
pub const PATH_MAX: usize = 4096;

/// The longest single component accepted.
pub const NAME_MAX: usize = 255;

/// Symbolic links expanded in one resolution before it fails with `ELOOP` (Linux's).
pub const MAX_SYMLINKS: usize = 40;

/// How a path's last component resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    /// A name to look up (or create) in the parent directory.
    Name(Vec<u8>),
    /// `.` or `..`: this existing directory itself.
    Dot(Ino),
}

/// A resolved path: the directory holding its last component, and that component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    pub dir: Ino,
    pub last: Last,
    /// The path ended in `/`: its target must be a directory.
    pub trailing_slash: bool,
}

impl Lookup {
    /// The node the path names, if it exists.
    pub fn target(&self, fs: &mut dyn FileSystem) -> Result<Option<Ino>, Errno> {
        match &self.last {
            Last::Dot(ino) => Ok(Some(*ino)),
            Last::Name(name) => fs.lookup(self.dir, name),
        }
    }

    /// The node the path names: `ENOENT` if missing, `ENOTDIR` if a trailing slash
    /// follows something that is not a directory.
    pub fn existing(&self, fs: &mut dyn FileSystem) -> Result<Ino, Errno> {
        let ino = self.target(fs)?.ok_or(Errno::NoEnt)?;
        if self.trailing_slash && fs.filetype(ino)? != filetype::DIRECTORY {
            return Err(Errno::NotDir);
        }
        Ok(ino)
    }

    /// The last component as a name, or `dot_error` when it is `.` or `..`.
    pub fn name(&self, dot_error: Errno) -> Result<&[u8], Errno> {
        match &self.last {
            Last::Name(name) => Ok(name),
            Last::Dot(_) => Err(dot_error),
        }
    }
}

fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&byte| byte == b'/').filter(|c| !c.is_empty())
}

/// Resolves `path` from directory `start`, walking every component but the last
/// (and the last too when `follow` and it is a symbolic link).
pub fn resolve(fs: &mut dyn FileSystem, start: Ino, path: &[u8], follow: bool) -> Result<Lookup, Errno> {
    if path.is_empty() {
        return Err(Errno::NoEnt);
    }
    if path.len() > PATH_MAX {
        return Err(Errno::NameTooLong);
    }
    if path.contains(&0) {
        return Err(Errno::IlSeq);
    }
    if path[0] == b'/' {
        return Err(Errno::NotCapable);
    }
    if fs.filetype(start)? != filetype::DIRECTORY {
        return Err(Errno::NotDir);
    }
    let mut trailing_slash = path.ends_with(b"/");
    let mut pending: VecDeque<Vec<u8>> = components(path).map(<[u8]>::to_vec).collect();
    let mut stack: Vec<Ino> = Vec::with_capacity(pending.len() + 1);
    stack.push(start);
    let mut links = 0;
    while let Some(component) = pending.pop_front() {
        let here = *stack.last().ok_or(Errno::NoEnt)?;
        let is_last = pending.is_empty();
        match component.as_slice() {
            b"." if is_last => return Ok(Lookup { dir: here, last: Last::Dot(here), trailing_slash }),
            b"." => {}
            b".." => {
                if stack.len() == 1 {
                    return Err(Errno::NotCapable);
                }
                stack.pop();
                if is_last {
                    let parent = *stack.last().ok_or(Errno::NoEnt)?;
                    return Ok(Lookup { dir: parent, last: Last::Dot(parent), trailing_slash });
                }
            }
            name if name.len() > NAME_MAX => return Err(Errno::NameTooLong),
            _ => {
                if is_last && !follow && !trailing_slash {
                    return Ok(Lookup { dir: here, last: Last::Name(component), trailing_slash });
                }
                let Some(next) = fs.lookup(here, &component)? else {
                    if is_last {
                        return Ok(Lookup { dir: here, last: Last::Name(component), trailing_slash });
                    }
                    return Err(Errno::NoEnt);
                };
                match fs.filetype(next)? {
                    filetype::SYMBOLIC_LINK => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(Errno::Loop);
                        }
                        let target = fs.readlink(next)?;
                        if target.is_empty() {
                            return Err(Errno::NoEnt);
                        }
                        if target[0] == b'/' {
                            return Err(Errno::NotCapable);
                        }
                        if is_last && target.ends_with(b"/") {
                            trailing_slash = true;
                        }
                        let expanded: Vec<&[u8]> = components(&target).collect();
                        if expanded.is_empty() {
                            return Err(Errno::NoEnt);
                        }
                        for part in expanded.into_iter().rev() {
                            pending.push_front(part.to_vec());
                        }
                    }
                    _ if is_last => return Ok(Lookup { dir: here, last: Last::Name(component), trailing_slash }),
                    filetype::DIRECTORY => stack.push(next),
                    _ => return Err(Errno::NotDir),
                }
            }
        }
    }
    // Only slashes and dots: the start itself.
    let here = *stack.last().ok_or(Errno::NoEnt)?;
    Ok(Lookup { dir: here, last: Last::Dot(here), trailing_slash })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemTree;

    fn tree() -> (MemTree, Ino, Ino, Ino) {
        let mut fs = MemTree::new(1 << 20);
        let root = fs.new_root(0);
        let sub = fs.create_dir(root, b"sub", 0).unwrap();
        let file = fs.create_file(sub, b"f.txt", 0).unwrap();
        (fs, root, sub, file)
    }

    fn existing(fs: &mut MemTree, start: Ino, path: &[u8]) -> Result<Ino, Errno> {
        resolve(fs, start, path, false)?.existing(fs)
    }

    #[test]
    fn dots_and_slashes() {
        let (mut fs, root, sub, file) = tree();
        assert_eq!(existing(&mut fs, root, b"sub/f.txt"), Ok(file));
        assert_eq!(existing(&mut fs, root, b"./sub//./f.txt"), Ok(file));
        assert_eq!(existing(&mut fs, root, b"sub/../sub/f.txt"), Ok(file));
        assert_eq!(existing(&mut fs, root, b"sub/"), Ok(sub));
        assert_eq!(existing(&mut fs, root, b"sub/.."), Ok(root));
        assert_eq!(existing(&mut fs, root, b"."), Ok(root));
        assert_eq!(existing(&mut fs, root, b"sub/f.txt/"), Err(Errno::NotDir));
        assert_eq!(resolve(&mut fs, root, b"sub/f.txt/x", false).unwrap_err(), Errno::NotDir);
        assert_eq!(resolve(&mut fs, root, b"nope/x", false).unwrap_err(), Errno::NoEnt);
        assert_eq!(existing(&mut fs, root, b"sub/nope"), Err(Errno::NoEnt));
        assert_eq!(resolve(&mut fs, root, b"", false).unwrap_err(), Errno::NoEnt);
    }

    #[test]
    fn escapes_are_refused() {
        let (mut fs, root, sub, _) = tree();
        for path in [&b".."[..], b"../x", b"sub/../../x", b"/etc/passwd"] {
            assert_eq!(resolve(&mut fs, root, path, false).unwrap_err(), Errno::NotCapable, "{path:?}");
        }
        assert_eq!(resolve(&mut fs, sub, b"..", false).unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&mut fs, root, b"a\0b", false).unwrap_err(), Errno::IlSeq);
    }

    #[test]
    fn symlinks_expand_inside_the_start_only() {
        let (mut fs, root, sub, file) = tree();
        FileSystem::symlink(&mut fs, root, b"rel", b"sub/f.txt", 0).unwrap();
        FileSystem::symlink(&mut fs, sub, b"up", b"..", 0).unwrap();
        FileSystem::symlink(&mut fs, sub, b"out", b"../..", 0).unwrap();
        FileSystem::symlink(&mut fs, root, b"abs", b"/etc", 0).unwrap();
        FileSystem::symlink(&mut fs, root, b"loop1", b"loop2", 0).unwrap();
        FileSystem::symlink(&mut fs, root, b"loop2", b"loop1/x", 0).unwrap();
        FileSystem::symlink(&mut fs, root, b"dangling", b"nothing", 0).unwrap();
        let link = fs.lookup(root, b"rel").unwrap().unwrap();
        // Not following the last component names the link itself; following reaches the file.
        assert_eq!(existing(&mut fs, root, b"rel"), Ok(link));
        assert_eq!(resolve(&mut fs, root, b"rel", true).unwrap().existing(&mut fs), Ok(file));
        assert_eq!(existing(&mut fs, root, b"sub/up/sub/f.txt"), Ok(file));
        assert_eq!(existing(&mut fs, root, b"sub/up/"), Ok(root));
        assert_eq!(resolve(&mut fs, root, b"sub/out/x", false).unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&mut fs, sub, b"up/x", false).unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&mut fs, root, b"abs/passwd", false).unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&mut fs, root, b"abs", true).unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&mut fs, root, b"loop1/y", false).unwrap_err(), Errno::Loop);
        assert_eq!(resolve(&mut fs, root, b"loop1", true).unwrap_err(), Errno::Loop);
        // A dangling link followed names what it points at, which does not exist.
        let lookup = resolve(&mut fs, root, b"dangling", true).unwrap();
        assert_eq!(lookup.last, Last::Name(b"nothing".to_vec()));
        assert_eq!(lookup.existing(&mut fs), Err(Errno::NoEnt));
    }
}
