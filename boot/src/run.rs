//! `wasmetal run`: packs a WASI program, its arguments, environment, preopened
//! directories, preloaded libraries and stdin into an initrd, and boots a VM whose only
//! job is to run it. The program's stdout and stderr come out on ours.

use std::path::{Path, PathBuf};

use crate::exit_status::InputError;
use anyhow::{Context, Result, bail};
use wasmetal_initrd::manifest::{ManifestWriter, Record, STDIN_PATH};

/// Everything `run` needs to know about the program.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    pub wasm_name: String,
    pub wasm: Vec<u8>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// In-memory copies (`--dir-copy`): (host directory, guest path).
    pub dirs: Vec<(PathBuf, String)>,
    /// Host directories over 9P (`--dir`); preopened before the copies.
    pub host_dirs: Vec<crate::dir_devices::HostDir>,
    /// (import module name, library bytes)
    pub preloads: Vec<(String, Vec<u8>)>,
    pub fuel: Option<u64>,
    /// Bytes for the program's stdin (then EOF), if any.
    pub stdin: Option<Vec<u8>>,
    /// More programs to run concurrently: (file name, bytes, arguments).
    pub extra_tasks: Vec<(String, Vec<u8>, Vec<String>)>,
    /// Per-task budget: past it the task traps with Interrupt.
    pub timeout_ms: Option<u64>,
    /// Guest memory (`--memory`): bounds what `--dir` may copy into the VM.
    pub memory_mib: u32,
    /// `--tcplisten` addresses, preopened as listening sockets after the directories.
    pub tcp_listen: Vec<std::net::SocketAddrV4>,
}

impl RunSpec {
    /// Whether every module of the run (program, `--task`s, `--preload`s) is a
    /// precompiled artifact.
    pub fn all_precompiled(&self) -> bool {
        let artifact = |bytes: &[u8]| bytes.starts_with(&wasmetal_runtime::artifact::MAGIC);
        artifact(&self.wasm)
            && self.extra_tasks.iter().all(|(_, bytes, _)| artifact(bytes))
            && self.preloads.iter().all(|(_, bytes)| artifact(bytes))
    }
}

/// The most bytes of `--dir` files a VM of `memory_mib` MiB can hold: the kernel keeps
/// them in its heap, a quarter of RAM (16 MiB to 1 GiB, as `kernel/src/main.rs` sizes
/// it), and half of that stays for compiling and running the program.
pub fn dir_capacity(memory_mib: u32) -> u64 {
    let ram = u64::from(memory_mib) << 20;
    let heap = (ram / 4).clamp(16 << 20, 1 << 30).min(ram / 2);
    heap / 2
}

/// The bytes of the regular files under `root` (metadata only).
fn tree_bytes(root: &Path) -> Result<u64> {
    let mut total = 0;
    walk_tree(root, &mut |path, is_dir| {
        if !is_dir {
            total += std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
        }
        Ok(())
    })?;
    Ok(total)
}

/// Calls `visit` with every directory (`true`) and regular file (`false`) under `root`.
fn walk_tree(root: &Path, visit: &mut dyn FnMut(&Path, bool) -> Result<()>) -> Result<()> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).with_context(|| format!("reading directory {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                visit(&path, true)?;
                pending.push(path);
            } else if path.is_file() {
                visit(&path, false)?;
            }
        }
    }
    Ok(())
}

/// Refuses `--dir` trees that cannot fit in the VM, before reading a byte of them.
fn check_dirs_fit(spec: &RunSpec) -> Result<()> {
    let capacity = dir_capacity(spec.memory_mib);
    let mut total = 0;
    for (host, _) in &spec.dirs {
        total += tree_bytes(host)?;
    }
    if total > capacity {
        let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
        let needed = (total * 8).div_ceil(1 << 20).max(256);
        return Err(InputError(format!(
            "--dir-copy: {:.1} MiB of files do not fit in the VM (the in-memory copy holds {:.1} MiB with --memory {}); \
             run with --memory {needed} or more",
            mib(total),
            mib(capacity),
            spec.memory_mib
        ))
        .into());
    }
    Ok(())
}

/// The files of the initrd for `spec`.
pub fn initrd_files(spec: &RunSpec) -> Result<Vec<(String, Vec<u8>)>> {
    crate::dir_devices::check_count(&spec.host_dirs)?;
    check_dirs_fit(spec)?;
    let mut files = Vec::new();
    let mut manifest = ManifestWriter::new();
    if let Some(ms) = spec.timeout_ms {
        manifest.push(Record::TimeoutMs(ms)).map_err(|_| anyhow::anyhow!("timeout"))?;
    }
    let several = !spec.extra_tasks.is_empty();
    let mut tasks = vec![(spec.wasm_name.clone(), spec.wasm.clone(), spec.args.clone())];
    tasks.extend(spec.extra_tasks.iter().cloned());
    let mut names = std::collections::HashSet::new();
    for (index, (wasm_name, wasm, args)) in tasks.iter().enumerate() {
        // Task names double as output prefixes: make repeated file names distinct.
        let name = if names.insert(wasm_name.clone()) { wasm_name.clone() } else { format!("{wasm_name}#{index}") };
        names.insert(name.clone());
        task_records(&mut manifest, &mut files, spec, several.then_some(name.as_str()), index, wasm_name, wasm, args)?;
    }
    files.push((wasmetal_initrd::manifest::MANIFEST_PATH.to_string(), manifest.finish()));
    Ok(files)
}

/// The manifest records and files of one task; options other than the program and its
/// arguments are shared by all tasks.
#[allow(clippy::too_many_arguments, reason = "one call site, all parts of one task")]
fn task_records(
    manifest: &mut ManifestWriter,
    files: &mut Vec<(String, Vec<u8>)>,
    spec: &RunSpec,
    task: Option<&str>,
    index: usize,
    wasm_name: &str,
    wasm: &[u8],
    args: &[String],
) -> Result<()> {
    let bad = |what: &str| anyhow::anyhow!("{what} contains a NUL byte");
    if let Some(task) = task {
        manifest.push(Record::Task(task)).map_err(|_| bad("a task name"))?;
    }
    let program = format!("app/{index}/{wasm_name}");
    files.push((program.clone(), wasm.to_vec()));
    manifest.push(Record::Program(&program)).map_err(|_| bad("the program name"))?;
    manifest.push(Record::Arg(wasm_name)).map_err(|_| bad("the program name"))?;
    for arg in args {
        manifest.push(Record::Arg(arg)).map_err(|_| bad("an argument"))?;
    }
    for var in &spec.env {
        if !var.contains('=') {
            bail!("--env {var:?}: expected NAME=VALUE");
        }
        manifest.push(Record::Env(var)).map_err(|_| bad("an environment variable"))?;
    }
    // Directory N is the 9P device `p9.N` when the kernel has one, else `fs/N/` here.
    for (dir, host_dir) in spec.host_dirs.iter().enumerate() {
        manifest
            .push(Record::Dir { index: dir as u32, guest: &host_dir.guest })
            .map_err(|_| bad("a directory name"))?;
    }
    for (copy, (host, guest)) in spec.dirs.iter().enumerate() {
        let dir = spec.host_dirs.len() + copy;
        manifest.push(Record::Dir { index: dir as u32, guest }).map_err(|_| bad("a directory name"))?;
        if index == 0 {
            for (relative, bytes) in read_tree(host)? {
                files.push((format!("fs/{dir}/{relative}"), bytes));
            }
        }
    }
    for (name, bytes) in &spec.preloads {
        let path = format!("preload/{name}.wasm");
        if index == 0 {
            files.push((path.clone(), bytes.clone()));
        }
        manifest.push(Record::Preload { name, path: &path }).map_err(|_| bad("a preload name"))?;
    }
    if let Some(fuel) = spec.fuel {
        manifest.push(Record::Fuel(fuel)).map_err(|_| bad("fuel"))?;
    }
    if let Some(stdin) = &spec.stdin
        && index == 0
    {
        files.push((STDIN_PATH.to_string(), stdin.clone()));
        manifest.push(Record::Stdin(STDIN_PATH)).map_err(|_| bad("stdin"))?;
    }
    Ok(())
}

/// Every regular file under `root`, with its path relative to `root` ('/'-separated),
/// plus every directory as `path/` with no bytes (so empty directories survive).
fn read_tree(root: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    walk_tree(root, &mut |path, is_dir| {
        let relative = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
        if is_dir {
            files.push((format!("{relative}/"), Vec::new()));
        } else {
            files.push((relative, std::fs::read(path).with_context(|| format!("reading {}", path.display()))?));
        }
        Ok(())
    })?;
    files.sort();
    Ok(files)
}

/// Parses `HOST::GUEST` (or `DIR`, preopened under the same name).
pub fn parse_dir(spec: &str) -> Result<(PathBuf, String)> {
    let (host, guest) = match spec.split_once("::") {
        Some((host, guest)) => (host, guest),
        None => (spec, spec),
    };
    let host = PathBuf::from(host);
    if !host.is_dir() {
        return Err(InputError(format!("--dir {spec}: {} is not a directory", host.display())).into());
    }
    Ok((host, guest.to_string()))
}

/// Parses `NAME=PATH` and reads the library.
pub fn parse_preload(spec: &str) -> Result<(String, Vec<u8>)> {
    let (name, path) = spec.split_once('=').with_context(|| format!("--preload {spec}: expected NAME=PATH"))?;
    let bytes = crate::exit_status::read_input(Path::new(path))?;
    Ok((name.to_string(), bytes))
}

/// Packs files into a fresh initrd under the target directory.
pub fn write_initrd(files: &[(String, Vec<u8>)]) -> Result<PathBuf> {
    let mut writer = wasmetal_initrd::Writer::new();
    for (name, data) in files {
        // A precompiled module's code starts on a page of the artifact: with the file on
        // a page of the initrd too, the kernel runs the code where it lies.
        let packed = if data.starts_with(&wasmetal_runtime::artifact::MAGIC) {
            writer.add_file_aligned(name, data, wasmetal_runtime::artifact::TEXT_ALIGN)
        } else {
            writer.add_file(name, data)
        };
        packed.map_err(|error| anyhow::anyhow!("cannot pack {name}: {error:?}"))?;
    }
    let dir = crate::workspace::scratch_dir().join("wasmetal-initrd");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("initrd-{}.cpio", std::process::id()));
    std::fs::write(&path, writer.finish()).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The kernel command line of a run: wall-clock time and a random seed from the host.
pub fn run_cmdline(stats: bool) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut seed = [0u8; 32];
    let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed));
    let seed: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    // `stats`: the kernel logs its boot and run figures (each log byte is a VM exit).
    let stats = if stats { " stats" } else { "" };
    format!("run quiet{stats} epoch_ns={now} seed={seed}")
}
