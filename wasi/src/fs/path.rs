//! Path resolution relative to a directory descriptor.
//!
//! Paths are byte strings split on `/`; empty components (doubled slashes) are
//! ignored, `.` stays put and `..` goes back one step along the path walked so far.
//! A path can never leave the directory it is resolved from: an absolute path, or a
//! `..` that would climb above the start, is `ENOTCAPABLE`. There are no symlinks.

use alloc::vec::Vec;

use crate::errno::Errno;
use crate::fs::mem::{Filesystem, Ino};

/// The longest path accepted.
pub const PATH_MAX: usize = 4096;

/// The longest single component accepted.
pub const NAME_MAX: usize = 255;

/// How a path's last component resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last<'p> {
    /// A name to look up (or create) in the parent directory.
    Name(&'p [u8]),
    /// `.` or `..`: this existing directory itself.
    Dot(Ino),
}

/// A resolved path: the directory holding its last component, and that component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup<'p> {
    pub dir: Ino,
    pub last: Last<'p>,
    /// The path ended in `/`: its target must be a directory.
    pub trailing_slash: bool,
}

impl Lookup<'_> {
    /// The node the path names, if it exists.
    pub fn target(&self, fs: &Filesystem) -> Result<Option<Ino>, Errno> {
        match self.last {
            Last::Dot(ino) => Ok(Some(ino)),
            Last::Name(name) => fs.lookup(self.dir, name),
        }
    }

    /// The node the path names: `ENOENT` if missing, `ENOTDIR` if a trailing slash
    /// follows something that is not a directory.
    pub fn existing(&self, fs: &Filesystem) -> Result<Ino, Errno> {
        let ino = self.target(fs)?.ok_or(Errno::NoEnt)?;
        if self.trailing_slash && !fs.is_dir(ino) {
            return Err(Errno::NotDir);
        }
        Ok(ino)
    }

    /// The last component as a name, or `dot_error` when it is `.` or `..`.
    pub fn name(&self, dot_error: Errno) -> Result<&[u8], Errno> {
        match self.last {
            Last::Name(name) => Ok(name),
            Last::Dot(_) => Err(dot_error),
        }
    }
}

/// Resolves `path` from directory `start`, walking every component but the last.
pub fn resolve<'p>(fs: &Filesystem, start: Ino, path: &'p [u8]) -> Result<Lookup<'p>, Errno> {
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
    fs.dir(start)?;
    let trailing_slash = path.ends_with(b"/");
    let components: Vec<&[u8]> = path.split(|&byte| byte == b'/').filter(|c| !c.is_empty()).collect();
    let Some((last, walk)) = components.split_last() else { return Err(Errno::NoEnt) };
    let mut stack: Vec<Ino> = Vec::with_capacity(components.len() + 1);
    stack.push(start);
    for &component in walk {
        match component {
            b"." => {}
            b".." => {
                if stack.len() == 1 {
                    return Err(Errno::NotCapable);
                }
                stack.pop();
            }
            name => {
                let here = *stack.last().ok_or(Errno::NoEnt)?;
                let next = fs.lookup(here, name)?.ok_or(Errno::NoEnt)?;
                if !fs.is_dir(next) {
                    return Err(Errno::NotDir);
                }
                stack.push(next);
            }
        }
    }
    let dir = *stack.last().ok_or(Errno::NoEnt)?;
    let last = match *last {
        b"." => Last::Dot(dir),
        b".." => {
            let Some(&parent) = stack.len().checked_sub(2).and_then(|index| stack.get(index)) else {
                return Err(Errno::NotCapable);
            };
            Last::Dot(parent)
        }
        name if name.len() > NAME_MAX => return Err(Errno::NameTooLong),
        name => Last::Name(name),
    };
    Ok(Lookup { dir, last, trailing_slash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (Filesystem, Ino, Ino, Ino) {
        let mut fs = Filesystem::new(1 << 20);
        let root = fs.new_root(0);
        let sub = fs.create_dir(root, b"sub", 0).unwrap();
        let file = fs.create_file(sub, b"f.txt", 0).unwrap();
        (fs, root, sub, file)
    }

    #[test]
    fn dots_and_slashes() {
        let (fs, root, sub, file) = tree();
        assert_eq!(resolve(&fs, root, b"sub/f.txt").unwrap().existing(&fs), Ok(file));
        assert_eq!(resolve(&fs, root, b"./sub//./f.txt").unwrap().existing(&fs), Ok(file));
        assert_eq!(resolve(&fs, root, b"sub/../sub/f.txt").unwrap().existing(&fs), Ok(file));
        assert_eq!(resolve(&fs, root, b"sub/").unwrap().existing(&fs), Ok(sub));
        assert_eq!(resolve(&fs, root, b"sub/..").unwrap().existing(&fs), Ok(root));
        assert_eq!(resolve(&fs, root, b".").unwrap().existing(&fs), Ok(root));
        assert_eq!(resolve(&fs, root, b"sub/f.txt/").unwrap().existing(&fs), Err(Errno::NotDir));
        assert_eq!(resolve(&fs, root, b"sub/f.txt/x").unwrap_err(), Errno::NotDir);
        assert_eq!(resolve(&fs, root, b"nope/x").unwrap_err(), Errno::NoEnt);
        assert_eq!(resolve(&fs, root, b"sub/nope").unwrap().existing(&fs), Err(Errno::NoEnt));
        assert_eq!(resolve(&fs, root, b"").unwrap_err(), Errno::NoEnt);
    }

    #[test]
    fn escapes_are_refused() {
        let (fs, root, sub, _) = tree();
        assert_eq!(resolve(&fs, root, b"..").unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&fs, root, b"../x").unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&fs, root, b"sub/../../x").unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&fs, root, b"/etc/passwd").unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&fs, sub, b"..").unwrap_err(), Errno::NotCapable);
        assert_eq!(resolve(&fs, root, b"a\0b").unwrap_err(), Errno::IlSeq);
    }
}
