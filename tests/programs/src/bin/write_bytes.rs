//! Writes a deterministic byte pattern: `write_bytes STREAM TOTAL CHUNK [exit]` writes
//! TOTAL bytes to stdout or stderr (STREAM = out|err) in writes of CHUNK bytes (TOTAL 0:
//! forever), then returns from main, or with `exit` calls `process::exit(7)` at once.
//! On a failed write it reports the error kind on stderr and exits 3.
use std::io::Write;

fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 13) as u8
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stream = args[1].as_str();
    let total: u64 = args[2].parse().expect("TOTAL");
    let chunk: usize = args[3].parse().expect("CHUNK");
    let exit = args.get(4).is_some_and(|a| a == "exit");
    let mut out: Box<dyn Write> =
        if stream == "out" { Box::new(std::io::stdout().lock()) } else { Box::new(std::io::stderr().lock()) };
    let mut buffer = vec![0u8; chunk];
    let mut offset = 0u64;
    while total == 0 || offset < total {
        let n = if total == 0 { chunk } else { chunk.min((total - offset) as usize) };
        for (i, byte) in buffer[..n].iter_mut().enumerate() {
            *byte = pattern(offset + i as u64);
        }
        if let Err(error) = out.write_all(&buffer[..n]) {
            drop(out);
            eprintln!("write failed: {:?}", error.kind());
            std::process::exit(3);
        }
        offset += n as u64;
    }
    if exit {
        std::process::exit(7);
    }
}
