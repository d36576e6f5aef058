//! The network stack (`devices::net::NetStack` over smoltcp) fed arbitrary frames.
//!
//! A listener accepts, reads, writes and closes what it can.
//!
//! Input: a list of frames, each `[kind: u8][len: u16 LE][bytes]`. An odd kind sends
//! the bytes raw; an even kind wraps them as a TCP segment to the listener (Ethernet,
//! IPv4 and TCP headers with valid checksums, the first bytes choosing ports, flags,
//! sequence numbers and window), so the input reaches the TCP state machine rather than
//! the checksum checks (and can acknowledge what the stack sent, so a handshake
//! completes). Time advances 1 ms per frame, then past every timeout.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use wasmetal_devices::net::nic::Nic;
use wasmetal_devices::net::stack::{IpConfig, Limits, NetStack, SocketId};

const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PORT: u16 = 8080;
const CLIENT_IP: [u8; 4] = [10, 0, 2, 2];

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

struct FuzzNic {
    inbox: Queue,
    /// The sequence number just past the stack's last TCP segment: what a client that
    /// follows the conversation acknowledges.
    next_ack: Rc<Cell<u32>>,
}

/// Records where the stack's TCP segment ends in sequence space.
fn note_segment(frame: &[u8], next_ack: &Cell<u32>) {
    let Some(ip) = frame.get(14..) else { return };
    if frame.get(12..14) != Some(&[0x08, 0x00]) || ip.len() < 20 || ip[9] != 6 {
        return;
    }
    let header = usize::from(ip[0] & 0xF) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
    let Some(tcp) = ip.get(header..total) else { return };
    if tcp.len() < 20 {
        return;
    }
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let data = tcp.len().saturating_sub(usize::from(tcp[12] >> 4) * 4) as u32;
    let flags = u32::from(tcp[13] & 0x01 != 0) + u32::from(tcp[13] & 0x02 != 0);
    next_ack.set(seq.wrapping_add(data).wrapping_add(flags));
}

impl Nic for FuzzNic {
    type Rx = Vec<u8>;
    type Tx = Vec<u8>;
    fn mac(&self) -> [u8; 6] {
        SERVER_MAC
    }
    fn receive(&mut self) -> Option<Vec<u8>> {
        self.inbox.borrow_mut().pop_front()
    }
    fn rx_bytes(rx: &Vec<u8>) -> &[u8] {
        rx
    }
    fn recycle(&mut self, _rx: Vec<u8>) {}
    fn can_send(&mut self) -> bool {
        true
    }
    fn tx_buffer(&mut self, len: usize) -> Vec<u8> {
        vec![0; len]
    }
    fn tx_bytes(tx: &mut Vec<u8>) -> &mut [u8] {
        tx
    }
    fn send(&mut self, tx: Vec<u8>) -> bool {
        note_segment(&tx, &self.next_ack);
        true
    }
    fn frame_waiting(&self) -> bool {
        !self.inbox.borrow().is_empty()
    }
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        for pair in chunk.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// A TCP segment to the listener with the header fields taken from `spec`'s first
/// 12 bytes and the rest as payload; with bit 7 of byte 6 set it acknowledges what the
/// stack sent last.
fn tcp_frame(spec: &[u8], next_ack: u32) -> Vec<u8> {
    let field = |i: usize| spec.get(i).copied().unwrap_or(0);
    let payload = &spec[spec.len().min(12)..];
    let source_port = 40000 + u16::from(field(0) % 8);
    let flags = field(1) & 0x3F;
    let seq = u32::from_le_bytes([field(2), field(3), 0, field(4) & 1]);
    let ack = if field(6) & 0x80 != 0 { next_ack } else { u32::from_le_bytes([field(5), field(6), 0, 0]) };
    let window = u16::from_le_bytes([field(7), field(8) | 1]);
    let server_ip = IpConfig::QEMU_USER.address;
    let mut tcp = Vec::with_capacity(20 + payload.len());
    tcp.extend_from_slice(&source_port.to_be_bytes());
    tcp.extend_from_slice(&PORT.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.push(5 << 4);
    tcp.push(flags);
    tcp.extend_from_slice(&window.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(&payload[..payload.len().min(1400)]);
    let tcp_len = tcp.len() as u16;
    let pseudo = [&CLIENT_IP[..], &server_ip[..], &[0, 6], &tcp_len.to_be_bytes()].concat();
    let sum = checksum(&[&pseudo, &tcp]);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&(20 + tcp_len).to_be_bytes());
    ip.extend_from_slice(&CLIENT_IP);
    ip.extend_from_slice(&server_ip);
    let sum = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    [&SERVER_MAC[..], &CLIENT_MAC[..], &[0x08, 0x00], &ip, &tcp].concat()
}

pub fn run(bytes: &[u8]) -> bool {
    let inbox: Queue = Rc::default();
    let next_ack = Rc::new(Cell::new(0));
    let nic = FuzzNic { inbox: inbox.clone(), next_ack: next_ack.clone() };
    let limits = Limits { connections: 16, backlog: 4, receive_bytes: 4096, send_bytes: 4096, ..Limits::DEFAULT };
    let mut stack = NetStack::new(nic, IpConfig::QEMU_USER, limits, 1, 0);
    let listener = stack.listen(PORT).expect("a fresh stack listens");
    let mut open: Vec<SocketId> = Vec::new();
    let mut now_us = 0u64;
    let mut input = bytes;
    let mut buf = [0u8; 2048];
    let mut accepted = 0;
    while let [kind, lo, hi, rest @ ..] = input {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len()).min(4096);
        let (frame, tail) = rest.split_at(len);
        input = tail;
        inbox.borrow_mut().push_back(if kind & 1 == 1 { frame.to_vec() } else { tcp_frame(frame, next_ack.get()) });
        now_us += 1000;
        stack.poll(now_us);
        while let Ok(Some(socket)) = stack.accept(listener) {
            open.push(socket);
            accepted += 1;
        }
        for (index, &socket) in open.iter().enumerate() {
            let _ = stack.readiness(socket);
            let _ = stack.recv(socket, &mut buf, kind & 2 != 0);
            let _ = stack.send(socket, &buf[..usize::from(*kind)]);
            if kind & 0x80 != 0 && index == 0 {
                let _ = stack.close(socket, now_us);
            }
        }
        if kind & 0x80 != 0 && !open.is_empty() {
            open.remove(0);
        }
    }
    for socket in open {
        let _ = stack.close(socket, now_us);
    }
    for _ in 0..40 {
        now_us += 1_000_000;
        stack.poll(now_us);
    }
    accepted > 0
}
