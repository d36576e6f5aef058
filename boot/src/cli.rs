//! The command line: what the launcher can be asked to do (parsed here) and handing
//! each command to the module that runs it. Nothing else in the launcher imports this
//! module: VM options live in `vm_args`, run-mode helpers in `run`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::exit_status::Outcome;
use crate::qemu::ConsoleSink;
pub use crate::vm_args::VmArgs;
use crate::{bench, kernel_image};

#[derive(Parser, Debug)]
#[command(name = "wasmetal", version = kernel_image::VERSION, about = "WebAssembly on bare metal: boot the wasmetal kernel under QEMU")]
pub struct Cli {
    #[command(flatten)]
    pub vm: VmArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a WASI program (wasm32-wasip1 command) as the VM's only workload.
    Run {
        /// The program.
        wasm: PathBuf,
        /// Set an environment variable for the program.
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Preopen a host directory for the program: the directory itself, over virtio 9P
        /// (writes land in it). `HOST`, `HOST::GUEST`, or `HOST::GUEST::ro` (read-only).
        #[arg(long = "dir", value_name = "HOST::GUEST[::ro]")]
        dirs: Vec<String>,
        /// Preopen an in-memory copy of a host directory, packed into the image (for a VMM
        /// without 9P; writes stay in the VM).
        #[arg(long = "dir-copy", value_name = "HOST::GUEST")]
        dir_copies: Vec<String>,
        /// Fuel the program may consume before it traps.
        #[arg(long)]
        fuel: Option<u64>,
        /// Instantiate a library first and satisfy imports from module NAME with its exports.
        #[arg(long = "preload", value_name = "NAME=PATH")]
        preloads: Vec<String>,
        /// Listen on this host address (IPv4) and preopen the listening socket for the
        /// program, after stdio and the --dir preopens, as Wasmtime does; several allowed.
        #[arg(long = "tcplisten", value_name = "ADDR:PORT")]
        tcp_listen: Vec<String>,
        /// Run another program concurrently, as its own task: "FILE ARG...".
        #[arg(long = "task", value_name = "FILE ARGS")]
        tasks: Vec<String>,
        /// Compile in the VM instead of using the compile cache (which compiles on the
        /// host once and keeps the artifact; see `wasmetal compile`).
        #[arg(long = "no-cache")]
        no_cache: bool,
        /// Arguments passed to the program (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Compile a module on the host into an artifact the kernel runs without compiling
    /// (`wasmetal run APP.cwasm`).
    Compile {
        /// The module.
        wasm: PathBuf,
        /// Where to write the artifact (default: the module's path with `.cwasm`).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// CPU features the code may use: `vm` (what the VM gets here, the default),
        /// `host`, `baseline` (x86-64-v2), or `baseline,+avx,+avx2,...`.
        #[arg(long = "target-cpu")]
        target_cpu: Option<String>,
        /// Meter fuel, for `wasmetal run --fuel` (a run's fuel setting must match).
        #[arg(long)]
        fuel: bool,
    },
    /// Boot the kernel with a raw command line (self-tests: `--append test=timer`).
    Kernel {
        /// The kernel command line.
        #[arg(long, default_value = "")]
        append: String,
        /// Pack a host file into the initrd: HOST or HOST::NAME.
        #[arg(long = "file")]
        files: Vec<String>,
    },
    /// Run the WebAssembly spec suites inside the kernel (one boot for all files).
    Spec {
        /// Only files whose `suite/file` name contains this.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Print the path of the kernel ELF this launcher boots (written out if needed).
    BuildKernel,
    /// Measure something against a reference.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Boot-to-exit wall time of the kernel against an empty PVH kernel, and the kernel's
    /// own init time.
    Boot {
        /// Boots per kernel.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// In-kernel figures (TSC): instantiation (default and pooling) of a small and a
    /// large generated module, loop run time plain / with epochs / with fuel, preemption
    /// latency, and the run time of WASI programs given with --program.
    Kernel {
        /// Also time instantiating this module (e.g. spidermonkey.wasm).
        #[arg(long = "module")]
        modules: Vec<PathBuf>,
        /// Also time running this WASI command inside the kernel, and on the hosted
        /// runtime on this machine, with the ratio.
        #[arg(long = "program")]
        programs: Vec<PathBuf>,
        /// Iterations of the loop modules (the hosted `instrument` bench runs 50 million too).
        #[arg(long, default_value_t = 50_000_000)]
        loop_n: u32,
    },
    /// Time to `_start` of a module compiled in the VM, from its artifact and from the
    /// compile cache, against an empty program; host compile (serial, parallel) and
    /// deserialize times; the runtime-only kernel's boot against the full and empty ones.
    Compile {
        /// The module (default: ../shared/bench/spidermonkey.wasm beside the checkout).
        #[arg(long)]
        module: Option<PathBuf>,
        /// Runs per case (the median counts).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// stdio throughput (stdout, stderr, stdin; 64 KiB, 4 KiB and 1-byte calls) of a WASI
    /// program inside the kernel; `cargo bench -p wasmetal-bench --bench io` adds Wasmtime.
    Io {
        /// Runs per case (the best counts).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Filesystem throughput on a `--dir` (256 MiB sequential write and read, create +
    /// stat + unlink of 10 000 files) inside the kernel; `cargo bench -p wasmetal-bench
    /// --bench fs` adds Wasmtime.
    Fs {
        /// Runs per case (the best counts).
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// HTTP requests/s and p50/p99 latency (wrk) of an event-driven wasm server in the
    /// kernel, and bulk TCP MiB/s both ways; `cargo bench -p wasmetal-bench --bench net`
    /// adds Wasmtime.
    Net {
        /// The HTTP server (default: the test programs' event_server.wasm).
        #[arg(long)]
        server: Option<PathBuf>,
        /// The bulk server (default: the test programs' bulk_server.wasm).
        #[arg(long)]
        bulk: Option<PathBuf>,
        /// wrk connections.
        #[arg(long, default_value_t = 50)]
        connections: u32,
        /// wrk seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
}

/// Reads `HOST` or `HOST::NAME` into (name, bytes).
fn read_file_spec(spec: &str) -> Result<(String, Vec<u8>)> {
    let (host, name) = match spec.split_once("::") {
        Some((host, name)) => (host, name.to_string()),
        None => {
            let name =
                std::path::Path::new(spec).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (spec, name)
        }
    };
    let data = crate::exit_status::read_input(std::path::Path::new(host))?;
    Ok((name, data))
}

/// Boots once with the console streamed to stdout; returns the launcher's exit code.
fn boot_streaming(vm: &VmArgs, cmdline: String, files: Vec<(String, Vec<u8>)>) -> Result<u8> {
    let kernel = vm.kernel_path()?;
    let initrd = if files.is_empty() { None } else { Some(crate::run::write_initrd(&files)?) };
    let config = vm.config(kernel, cmdline, initrd.clone())?;
    let result = config.run(ConsoleSink::Stdout);
    if let Some(path) = initrd {
        let _ = std::fs::remove_file(path);
    }
    let result = result?;
    match &result.outcome {
        Outcome::NoVerdict(why) => eprintln!("wasmetal: {why}"),
        Outcome::KernelFailure => eprintln!("wasmetal: the kernel failed (see its log above)"),
        Outcome::Timeout => eprintln!("wasmetal: timed out after {:.1} s", result.wall.as_secs_f64()),
        Outcome::Status(_) => {}
    }
    Ok(result.outcome.exit_code())
}

/// Boots a VM running the program of `spec`; the program's output is ours.
fn run_program(vm: &VmArgs, spec: &crate::run::RunSpec) -> Result<u8> {
    // Nothing to compile in the VM: the kernel without Cranelift does.
    let kernel = if spec.all_precompiled() { vm.runtime_only_kernel_path()? } else { vm.kernel_path()? };
    if vm.verbose {
        eprintln!("wasmetal: kernel {}", kernel.display());
    }
    let files = crate::run::initrd_files(spec)?;
    let initrd = crate::run::write_initrd(&files)?;
    let mut config = vm.config(kernel, crate::run::run_cmdline(vm.verbose), Some(initrd.clone()))?;
    config.program_output = true;
    config.dirs = spec.host_dirs.clone();
    config.tcp_listen = spec.tcp_listen.clone();
    // `--timeout` is each task's budget inside the VM (it traps with Interrupt); the
    // wall clock only backs it up, generously, in case the kernel itself hangs.
    config.timeout = config.timeout.map(|budget| budget * 3 + std::time::Duration::from_secs(60));
    let sink = if vm.verbose { ConsoleSink::Stderr } else { ConsoleSink::Capture };
    let result = config.run(sink);
    let _ = std::fs::remove_file(&initrd);
    let result = result?;
    match &result.outcome {
        Outcome::NoVerdict(why) => eprintln!("wasmetal: {why}\n{}", tail(&result.console)),
        Outcome::KernelFailure if !vm.verbose => eprintln!("wasmetal: the kernel failed:\n{}", tail(&result.console)),
        Outcome::Timeout => eprintln!("wasmetal: timed out after {:.1} s", result.wall.as_secs_f64()),
        _ => {}
    }
    Ok(result.outcome.exit_code())
}

/// The last lines of the kernel log, for error reports.
fn tail(console: &str) -> String {
    let lines: Vec<&str> = console.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        None => {
            let spec = crate::run::RunSpec {
                wasm_name: "demo.wasm".into(),
                wasm: include_bytes!(concat!(env!("OUT_DIR"), "/demo.wasm")).to_vec(),
                memory_mib: cli.vm.memory,
                ..Default::default()
            };
            run_program(&cli.vm, &spec)
        }
        Some(Command::Compile { wasm, output, target_cpu, fuel }) => {
            crate::compile_cmd::run(&cli.vm, &wasm, output.as_deref(), target_cpu.as_deref(), fuel)
        }
        Some(Command::Run { wasm, env, dirs, dir_copies, fuel, preloads, tcp_listen, tasks, args, no_cache }) => {
            let extra_tasks = tasks
                .iter()
                .map(|task| {
                    let mut words = task.split_whitespace();
                    let file = words.next().with_context(|| "--task needs a file".to_string())?;
                    let bytes = crate::exit_status::read_input(std::path::Path::new(file))?;
                    let name = std::path::Path::new(file)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Ok((name, bytes, words.map(String::from).collect()))
                })
                .collect::<Result<Vec<_>>>()?;
            let bytes = crate::exit_status::read_input(&wasm)?;
            let mut spec = crate::run::RunSpec {
                wasm_name: wasm
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "app.wasm".into()),
                wasm: bytes,
                args,
                env,
                dirs: dir_copies.iter().map(|d| crate::run::parse_dir(d)).collect::<Result<_>>()?,
                host_dirs: dirs.iter().map(|d| crate::dir_devices::parse(d)).collect::<Result<_>>()?,
                preloads: preloads.iter().map(|p| crate::run::parse_preload(p)).collect::<Result<_>>()?,
                fuel,
                // stdin is streamed to the VM as it arrives (see `stdio_devices`).
                stdin: None,
                extra_tasks,
                timeout_ms: cli.vm.timeout.map(|s| (s * 1000.0) as u64),
                memory_mib: cli.vm.memory,
                tcp_listen: tcp_listen
                    .iter()
                    .map(|spec| crate::net_devices::parse_tcplisten(spec))
                    .collect::<Result<_>>()?,
            };
            crate::net_devices::check_distinct(&spec.tcp_listen)?;
            if !no_cache && let Some(cache) = crate::compile_cache::Cache::user() {
                let target =
                    crate::compile_cmd::Target { cpu: crate::compile_cmd::vm_cpu(&cli.vm), fuel: fuel.is_some() };
                crate::compile_cache::precompile(&cache, &mut spec, target, cli.vm.verbose)?;
            }
            run_program(&cli.vm, &spec)
        }
        Some(Command::Kernel { append, files }) => {
            let files = files.iter().map(|spec| read_file_spec(spec)).collect::<Result<Vec<_>>>()?;
            boot_streaming(&cli.vm, append, files)
        }
        Some(Command::Spec { filter }) => {
            let mut files = Vec::new();
            for (suite, file, text) in wasmetal_spec::convert::suites() {
                let name = format!("{suite}/{file}");
                if filter.as_ref().is_some_and(|filter| !name.contains(filter.as_str())) {
                    continue;
                }
                let script =
                    wasmetal_spec::convert::convert(&name, text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                files.push((wasmetal_spec::initrd_name(&suite, &file), script.encode()));
            }
            boot_streaming(&cli.vm, "spec quiet".into(), files)
        }
        Some(Command::BuildKernel) => {
            println!("{}", cli.vm.kernel_path()?.display());
            Ok(0)
        }
        Some(Command::Bench { which: BenchCommand::Boot { runs } }) => bench::boot(&cli.vm, runs),
        Some(Command::Bench { which: BenchCommand::Compile { module, runs } }) => {
            let module = module.unwrap_or_else(|| crate::workspace::root().join("../shared/bench/spidermonkey.wasm"));
            crate::bench_compile::report(&cli.vm, &module, runs)
        }
        Some(Command::Bench { which: BenchCommand::Io { runs } }) => crate::bench_io::report(&cli.vm, runs),
        Some(Command::Bench { which: BenchCommand::Fs { runs } }) => crate::bench_fs::report(&cli.vm, runs),
        Some(Command::Bench { which: BenchCommand::Net { server, bulk, connections, seconds } }) => {
            let server = server.unwrap_or_else(|| crate::bench_net::default_program("event_server"));
            let bulk = bulk.unwrap_or_else(|| crate::bench_net::default_program("bulk_server"));
            let run = crate::bench_net::WrkRun { connections, seconds };
            crate::bench_net::report(&cli.vm, &server, &bulk, run)
        }
        Some(Command::Bench { which: BenchCommand::Kernel { modules, programs, loop_n } }) => {
            let lines = bench::kernel(&cli.vm, &modules, &programs, loop_n)?;
            for line in &lines {
                println!("{line}");
            }
            bench::compare_programs(&lines, &programs)?;
            Ok(if lines.is_empty() { 1 } else { 0 })
        }
    }
}
