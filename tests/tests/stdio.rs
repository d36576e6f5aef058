//! stdio on virtio consoles, through the launcher: byte-exact at volume, nothing lost at
//! exit, each stream in its own order, EPIPE when the reader goes, EOF, and a
//! `--timeout` that ends a program whatever it is waiting for.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmetal_tests::programs::program;
use wasmetal_tests::{Launcher, Run, number_after};

const TRAP: i32 = 134;

fn launcher() -> Launcher {
    Launcher::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
}

/// The launcher running test program `name` with `options` before the program and
/// `args` after `--`.
fn command(options: &[&str], name: &str, args: &[&str]) -> Command {
    let kernel = launcher().kernel().to_path_buf();
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasmetal-under-test"));
    command.arg("--kernel").arg(kernel).args(options).arg("run").arg(program(name)).arg("--").args(args);
    command
}

fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// write_bytes.rs's pattern.
fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn pattern_bytes(total: usize) -> Vec<u8> {
    (0..total as u64).map(pattern).collect()
}

/// Runs `command` with stdin from `input`, reading stdout and stderr whole.
fn run_with_input(mut command: Command, input: Vec<u8>) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawning the launcher");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().expect("waiting for the launcher");
    feeder.join().unwrap();
    (output.status.code(), output.stdout, output.stderr)
}

#[test]
fn sixty_four_mib_through_stdout_byte_exact() {
    let total = 64 << 20;
    let (code, stdout, stderr) =
        run_with_input(command(&["--timeout", "300"], "write_bytes", &["out", &total.to_string(), "65536"]), vec![]);
    assert_eq!(code, Some(0), "stderr: {}", String::from_utf8_lossy(&stderr));
    assert_eq!(stdout.len(), total);
    assert_eq!(fnv1a(FNV_OFFSET, &stdout), fnv1a(FNV_OFFSET, &pattern_bytes(total)), "stdout differs");
}

#[test]
fn sixty_four_mib_from_stdin_to_stdout_byte_exact() {
    let total = 64 << 20;
    let input = pattern_bytes(total);
    let expected = fnv1a(FNV_OFFSET, &input);
    let (code, stdout, stderr) = run_with_input(command(&["--timeout", "300"], "cat", &[]), input);
    assert_eq!(code, Some(0), "stderr: {}", String::from_utf8_lossy(&stderr));
    assert_eq!(stdout.len(), total);
    assert_eq!(fnv1a(FNV_OFFSET, &stdout), expected, "stdin -> stdout differs");
}

#[test]
fn one_hundred_thousand_one_byte_writes() {
    let (code, _, stderr) =
        run_with_input(command(&["--timeout", "300"], "write_bytes", &["err", "100000", "1"]), vec![]);
    assert_eq!(code, Some(0));
    assert_eq!(stderr, pattern_bytes(100_000), "stderr differs after 100 000 one-byte writes");
}

#[test]
fn a_program_that_writes_and_exits_at_once_loses_nothing() {
    for (stream, total) in [("out", 3 << 20), ("err", 100_001)] {
        let (code, stdout, stderr) = run_with_input(
            command(&["--timeout", "300"], "write_bytes", &[stream, &total.to_string(), "65536", "exit"]),
            vec![],
        );
        assert_eq!(code, Some(7));
        let got = if stream == "out" { stdout } else { stderr };
        assert_eq!(got.len(), total, "{stream}");
        assert_eq!(got, pattern_bytes(total), "{stream}");
    }
}

#[test]
fn interleaved_stdout_and_stderr_keep_their_own_order() {
    let (code, stdout, stderr) = run_with_input(command(&["--timeout", "300"], "interleave", &["5000"]), vec![]);
    assert_eq!(code, Some(0));
    let expected = |name: &str| (0..5000).map(|i| format!("{name} {i}\n")).collect::<String>();
    assert_eq!(String::from_utf8(stdout).unwrap(), expected("out"));
    assert_eq!(String::from_utf8(stderr).unwrap(), expected("err"));
}

#[test]
fn stdin_reaches_eof_when_empty_and_when_closed_later() {
    let run = launcher().run_with_stdin(&["--timeout", "300", "run", program("stdin").to_str().unwrap()], Some(b""));
    run.expect_code(0);
    assert_eq!(run.stdout, format!("0 bytes, fnv1a {FNV_OFFSET:016x}\n"), "{run}");

    // Data arriving slowly, after the program started waiting (and had spun out its
    // time and halted: the device's interrupt must wake it), then the end.
    let mut child = command(&["--verbose", "--timeout", "300"], "stdin", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in ["first\n", "second\n"] {
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let expected = format!("13 bytes, fnv1a {:016x}\n", fnv1a(FNV_OFFSET, b"first\nsecond\n"));
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (interrupts, by_interrupt) = stdio_wakeups(&stderr);
    assert!(interrupts > 0, "the serial device never interrupted:\n{stderr}");
    assert!(by_interrupt > 0, "no stdin wait was ended by the device's interrupt:\n{stderr}");
}

/// From the kernel's `stdio:` line at the end of a `--verbose` run: (the serial
/// device's interrupts, device waits ended by an interrupt).
fn stdio_wakeups(stderr: &str) -> (u64, u64) {
    let line =
        stderr.lines().find(|line| line.contains("stdio: ")).unwrap_or_else(|| panic!("no stdio line:\n{stderr}"));
    (number_after(line, "stdio: "), number_after(line, "waits woken "))
}

#[test]
fn a_closed_reader_gives_the_program_epipe_not_a_hang() {
    let mut child = command(&["--timeout", "120"], "write_bytes", &["out", "0", "4096"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; 8192];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(first, pattern_bytes(8192));
    drop(stdout);
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "the program should see its write fail: {stderr}");
    assert!(stderr.contains("write failed: BrokenPipe"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

/// Runs `command` with the given stdio, expecting an interrupt trap well before the
/// wall-clock backstop.
fn expect_interrupted(mut command: Command, what: &str) -> Run {
    let started = Instant::now();
    let output = command.stderr(Stdio::piped()).output().unwrap();
    let run = Run {
        code: output.status.code(),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_eq!(run.code, Some(TRAP), "{what}: expected the interrupt trap:\n{run}");
    assert!(run.stderr.contains("wasm trap: interrupt"), "{what}:\n{run}");
    assert!(started.elapsed() < Duration::from_secs(40), "{what}: took {:?}", started.elapsed());
    run
}

#[test]
fn timeout_interrupts_a_program_that_writes_reads_or_sleeps() {
    let mut writing = command(&["--timeout", "2"], "write_bytes", &["out", "0", "65536"]);
    writing.stdin(Stdio::null()).stdout(Stdio::null());
    expect_interrupted(writing, "writing");

    // A stdin that stays open with nothing in it.
    let mut reading = command(&["--timeout", "2"], "stdin", &[]);
    let (reader, writer) = std::io::pipe().unwrap();
    reading.stdin(reader).stdout(Stdio::null());
    expect_interrupted(reading, "reading");
    drop(writer);

    let mut sleeping = command(&["--timeout", "2"], "sleeper", &["120"]);
    sleeping.stdin(Stdio::null()).stdout(Stdio::null());
    expect_interrupted(sleeping, "sleeping");
}

#[test]
fn the_other_task_goes_on_when_one_times_out_reading() {
    let hello = program("hello");
    let task = format!("{}", hello.display());
    let (reader, writer) = std::io::pipe().unwrap();
    let kernel = launcher().kernel().to_path_buf();
    let output = Command::new(env!("CARGO_BIN_EXE_wasmetal-under-test"))
        .arg("--kernel")
        .arg(kernel)
        .args(["--timeout", "3", "run"])
        .arg(program("stdin"))
        .args(["--task", &task])
        .stdin(reader)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    drop(writer);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(TRAP), "{stdout}\n{stderr}");
    assert!(stdout.contains("[hello.wasm] hello, world"), "the other task's prefixed line:\n{stdout}\n{stderr}");
    assert!(stderr.contains("interrupt"), "{stderr}");
}

#[test]
fn small_writes_reach_the_host_before_the_program_waits_for_input() {
    // Small writes are gathered into one piece for the host; what is gathered must go
    // out before the program blocks on stdin, or a prompt-and-answer exchange hangs.
    let mut child = command(&["--timeout", "120"], "cat", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    for word in ["ping", "pong", "again"] {
        stdin.write_all(format!("{word}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        // The program is still running (stdin open): the echo must come now, not at exit.
        let echoed = received.recv_timeout(Duration::from_secs(60));
        assert_eq!(echoed.as_deref(), Ok(word), "no echo of {word:?} while the program waits for more input");
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    reader.join().unwrap();
}
