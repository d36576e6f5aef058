//! The stdio link framing (control and stdin ports) as the kernel decodes it.
//!
//! Arbitrary bytes arriving in arbitrary pieces, read into buffers of arbitrary sizes.

use wasmetal_devices::stdio_link::{Decoder, HEADER_BYTES, Header, Read};

pub fn run(bytes: &[u8]) -> bool {
    for window in bytes.windows(HEADER_BYTES).take(64) {
        let mut header = [0; HEADER_BYTES];
        header.copy_from_slice(window);
        if let Some(decoded) = Header::decode(header) {
            assert_eq!(Header::decode(decoded.encode()), Some(decoded), "header round trip");
        }
    }
    // The first bytes pick piece and buffer sizes; the rest is the stream.
    let (sizes, stream) = bytes.split_at(bytes.len().min(16));
    let mut decoder = Decoder::new();
    let mut offset = 0;
    let mut out = vec![0u8; 4096];
    let mut frames = 0;
    for step in 0..10_000 {
        let piece = 1 + usize::from(sizes.get(step % sizes.len().max(1)).copied().unwrap_or(7));
        let room = 1 + usize::from(sizes.get((step + 1) % sizes.len().max(1)).copied().unwrap_or(64)) * 16;
        let mut source = |buf: &mut [u8]| {
            let n = buf.len().min(piece).min(stream.len() - offset);
            buf[..n].copy_from_slice(&stream[offset..offset + n]);
            offset += n;
            n
        };
        let room = room.min(out.len());
        match decoder.read(&mut source, &mut out[..room]) {
            Read::Eof => break,
            Read::Pending if offset == stream.len() => break,
            Read::Data(n) => {
                assert!(n <= room, "decoder claims {n} bytes into a {room}-byte buffer");
                frames += 1;
            }
            _ => {}
        }
    }
    frames > 0
}
