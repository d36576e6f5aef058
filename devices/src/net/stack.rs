//! One interface's TCP/IP stack: smoltcp, its listeners and connections, bounded.
//!
//! A listener keeps `backlog` smoltcp sockets listening on its port; when one takes a
//! SYN it moves to the listener's pending queue and a fresh one replaces it, so a
//! burst of connections is not refused while the program is busy. `accept` hands out
//! pending sockets whose handshake is done. Memory is bounded by [`Limits`]: every
//! socket's buffers are allocated once, at a fixed size, and no new socket is made past
//! `connections` (pending, open and closing ones all count); a SYN beyond that is
//! refused by smoltcp with a reset. A closed connection lingers until its FIN is
//! acknowledged or `linger_ms` passes, then is aborted. It knows no WASI and touches
//! no hardware (the card is a [`Nic`]).

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;

use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::AnySocket;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use super::device::NicDevice;
use super::nic::Nic;

/// Most `poll_egress` passes per flush or poll: more than a full transmit ring of
/// single-segment passes, so only a card that keeps taking frames reaches it.
const MAX_EGRESS_PASSES: usize = 2 * super::nic::VIRTIO_QUEUE_SIZE;

/// A listener or connection of the stack (the embedder's handle for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u32);

/// The stack's fixed bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most sockets at once: listening, pending (not yet accepted), open and closing.
    pub connections: usize,
    /// Listening sockets kept ready per listener.
    pub backlog: usize,
    /// Bytes of each connection's receive buffer (its TCP window).
    pub receive_bytes: usize,
    /// Bytes of each connection's send buffer.
    pub send_bytes: usize,
    /// How long a closed connection may wait for its FIN to be acknowledged.
    pub linger_ms: u64,
    /// A connection whose handshake, or whose queued data, gets no answer for this long
    /// is aborted (an idle connection is kept, as Linux keeps it).
    pub timeout_ms: u64,
}

impl Limits {
    /// Room for 1 000 clients and then some, at 64 KiB of buffers each (about 80 MiB at
    /// most, allocated as connections come). A backlog of 16 takes any burst of SYNs:
    /// a listening socket that took one is replaced before the next frame is read, and
    /// every listening socket is walked on every poll, so more would only cost.
    pub const DEFAULT: Limits = Limits {
        connections: 1280,
        backlog: 16,
        receive_bytes: 32 * 1024,
        send_bytes: 32 * 1024,
        linger_ms: 2_000,
        timeout_ms: 30_000,
    };
}

/// The interface's IPv4 configuration (static: QEMU user networking's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpConfig {
    pub address: [u8; 4],
    pub prefix_len: u8,
    pub gateway: [u8; 4],
}

impl IpConfig {
    /// QEMU's `-netdev user`: the guest is 10.0.2.15/24 behind 10.0.2.2.
    pub const QEMU_USER: IpConfig = IpConfig { address: [10, 0, 2, 15], prefix_len: 24, gateway: [10, 0, 2, 2] };
}

/// Why a socket operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetError {
    /// No socket has this id (never made, or closed).
    NoSuchSocket,
    /// The socket is a connection where a listener is needed, or the other way round.
    WrongKind,
    /// The peer reset the connection (or it timed out).
    Reset,
    /// This side shut the connection down for writing.
    Shut,
    /// The port has a listener already, or is 0.
    BadPort(u16),
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NetError::NoSuchSocket => f.write_str("no such socket"),
            NetError::WrongKind => f.write_str("the socket is of the wrong kind (listener or connection)"),
            NetError::Reset => f.write_str("the connection was reset"),
            NetError::Shut => f.write_str("the connection is shut down for writing"),
            NetError::BadPort(port) => write!(f, "cannot listen on port {port}: zero or already listening"),
        }
    }
}

/// What a receive produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// This many bytes (at least one).
    Data(usize),
    /// The peer finished sending (or this side shut reading down).
    End,
    /// Nothing yet.
    WouldBlock,
}

/// Which directions `shutdown` ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// Whether a socket's operations would complete now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// A receive (or, for a listener, an accept) would not block.
    pub readable: bool,
    /// A send would not block.
    pub writable: bool,
    /// The peer is done: no more data will come.
    pub hangup: bool,
    /// Bytes waiting to be received (connections waiting to be accepted).
    pub bytes: u64,
}

enum Entry {
    Listener { port: u16, listening: Vec<SocketHandle>, pending: VecDeque<SocketHandle> },
    Stream { handle: SocketHandle, read_shut: bool },
}

/// A connection closed by the program, waiting for the peer.
struct Closing {
    handle: SocketHandle,
    deadline_ms: u64,
    aborted: bool,
}

/// The stack of one network card.
pub struct NetStack<N: Nic> {
    device: NicDevice<N>,
    iface: Interface,
    sockets: SocketSet<'static>,
    entries: Vec<Option<Entry>>,
    closing: Vec<Closing>,
    /// Pending, open and closing connections (what `Limits::connections` bounds).
    connections: usize,
    limits: Limits,
}

fn instant(now_us: u64) -> Instant {
    Instant::from_micros(i64::try_from(now_us).unwrap_or(i64::MAX))
}

/// Whether a socket in `state` has finished its handshake (it can be accepted).
fn connected(state: State) -> bool {
    !matches!(state, State::Closed | State::Listen | State::SynSent | State::SynReceived)
}

impl<N: Nic> NetStack<N> {
    /// The stack over `nic` with address `ip`; `seed` varies initial sequence numbers.
    pub fn new(nic: N, ip: IpConfig, limits: Limits, seed: u64, now_us: u64) -> Self {
        let mut device = NicDevice::new(nic);
        let mac = EthernetAddress(device.nic().mac());
        let mut config = Config::new(HardwareAddress::Ethernet(mac));
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, instant(now_us));
        let [a, b, c, d] = ip.address;
        iface.update_ip_addrs(|addrs| {
            // The address list has room for several; this is the only one.
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(Ipv4Address::new(a, b, c, d)), ip.prefix_len));
        });
        let [a, b, c, d] = ip.gateway;
        // Fails only when the route table is full; it is empty here.
        let _ = iface.routes_mut().add_default_ipv4_route(Ipv4Address::new(a, b, c, d));
        NetStack {
            device,
            iface,
            sockets: SocketSet::new(Vec::new()),
            entries: Vec::new(),
            closing: Vec::new(),
            connections: 0,
            limits,
        }
    }

    /// The card (interrupt acknowledgement).
    pub fn nic_mut(&mut self) -> &mut N {
        self.device.nic_mut()
    }

    /// Whether a frame waits to be polled in (cheap: no device access).
    pub fn frame_waiting(&self) -> bool {
        self.device.nic().frame_waiting()
    }

    /// Lets the card interrupt before the caller sleeps on it; true when a frame came
    /// meanwhile (poll instead of sleeping: its interrupt may never come).
    pub fn arm_interrupt(&mut self) -> bool {
        self.device.nic_mut().set_interrupts(true);
        // The flag must be visible before the ring is looked at (a store then a load:
        // only a full fence orders them on x86), or the card may read the old flag and
        // stay quiet while we read the old ring and sleep.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        self.frame_waiting()
    }

    /// Stops the card's interrupts while the caller polls (they would only cost exits).
    pub fn disarm_interrupt(&mut self) {
        self.device.nic_mut().set_interrupts(false);
    }

    /// Pending, open and closing connections.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// Frames the card refused to send.
    pub fn dropped_frames(&self) -> u64 {
        self.device.dropped
    }

    /// Frames received and sent since the start.
    pub fn frames(&self) -> (u64, u64) {
        (self.device.received, self.device.sent)
    }

    /// smoltcp sockets in existence (listening ones included): what memory is spent on.
    pub fn sockets(&self) -> usize {
        self.sockets.iter().count()
    }

    fn insert(&mut self, entry: Entry) -> SocketId {
        let index = match self.entries.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.entries.push(None);
                self.entries.len() - 1
            }
        };
        self.entries[index] = Some(entry);
        SocketId(index as u32)
    }

    fn entry_mut(&mut self, id: SocketId) -> Result<&mut Entry, NetError> {
        self.entries.get_mut(id.0 as usize).and_then(Option::as_mut).ok_or(NetError::NoSuchSocket)
    }

    fn listening_socket(&mut self, port: u16) -> Option<SocketHandle> {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.limits.receive_bytes]),
            tcp::SocketBuffer::new(vec![0; self.limits.send_bytes]),
        );
        socket.set_nagle_enabled(false);
        socket.set_timeout(Some(Duration::from_millis(self.limits.timeout_ms)));
        socket.listen(port).ok()?;
        Some(self.sockets.add(socket))
    }

    /// Starts listening on `port` (all of the interface's addresses).
    pub fn listen(&mut self, port: u16) -> Result<SocketId, NetError> {
        let taken =
            self.entries.iter().flatten().any(|entry| matches!(entry, Entry::Listener { port: p, .. } if *p == port));
        if port == 0 || taken {
            return Err(NetError::BadPort(port));
        }
        let id = self.insert(Entry::Listener { port, listening: Vec::new(), pending: VecDeque::new() });
        self.replenish();
        Ok(id)
    }

    /// Moves listening sockets that took a SYN to their pending queue and tops the
    /// listening sets up again, within the connection limit.
    fn replenish(&mut self) {
        for index in 0..self.entries.len() {
            let Some(Entry::Listener { port, listening, pending }) = &mut self.entries[index] else { continue };
            let port = *port;
            let mut at = 0;
            while at < listening.len() {
                let handle = listening[at];
                if self.sockets.get::<tcp::Socket>(handle).state() == State::Listen {
                    at += 1;
                } else {
                    listening.swap_remove(at);
                    pending.push_back(handle);
                    self.connections += 1;
                }
            }
            // Listening sockets count against the limit too: each may become a connection.
            let missing = self.limits.backlog.saturating_sub(listening.len());
            let room = self.limits.connections.saturating_sub(self.connections + listening.len());
            for _ in 0..missing.min(room) {
                let Some(handle) = self.listening_socket(port) else { break };
                let Some(Entry::Listener { listening, .. }) = &mut self.entries[index] else { break };
                listening.push(handle);
            }
        }
    }

    /// Arms smoltcp's timeout only where something waits for the peer: a handshake, or
    /// data queued to send. smoltcp's timeout otherwise aborts any connection whose peer
    /// was quiet that long, which resets idle keep-alive clients.
    fn arm_timeouts(&mut self) {
        let timeout = Some(Duration::from_millis(self.limits.timeout_ms));
        for entry in self.entries.iter().flatten() {
            let handles: &mut dyn Iterator<Item = &SocketHandle> = match entry {
                Entry::Listener { pending, .. } => &mut pending.iter(),
                Entry::Stream { handle, .. } => &mut core::iter::once(handle),
            };
            for &handle in handles {
                let socket = self.sockets.get_mut::<tcp::Socket>(handle);
                let waiting = socket.send_queue() > 0 || !connected(socket.state());
                let wanted = if waiting { timeout } else { None };
                if socket.timeout() != wanted {
                    socket.set_timeout(wanted);
                }
            }
        }
    }

    /// Lets go of closed connections whose FIN was acknowledged or whose time is up.
    fn reap(&mut self, now_ms: u64) -> bool {
        let mut freed = false;
        let mut at = 0;
        while at < self.closing.len() {
            let closing = &mut self.closing[at];
            let state = self.sockets.get::<tcp::Socket>(closing.handle).state();
            if matches!(state, State::Closed | State::TimeWait) {
                self.sockets.remove(closing.handle);
                self.closing.swap_remove(at);
                self.connections -= 1;
                freed = true;
                continue;
            }
            if now_ms >= closing.deadline_ms && !closing.aborted {
                // Send a reset on the next poll and forget the socket after it.
                self.sockets.get_mut::<tcp::Socket>(closing.handle).abort();
                closing.aborted = true;
            }
            at += 1;
        }
        freed
    }

    /// Sends what the sockets have queued (no frames in, no timers): after a program's
    /// send, so the bytes leave before it calls in again.
    pub fn flush(&mut self, now_us: u64) {
        self.egress(instant(now_us));
        self.device.nic_mut().flush();
    }

    /// Sends everything the sockets may send now. smoltcp's `poll_egress` takes at most
    /// one segment from each socket, so one call per poll made a bulk sender wait a
    /// round trip per segment (stop-and-wait: 6 MiB/s). The loop ends when a pass sends
    /// nothing: the sockets' windows and the card's transmit ring bound it.
    fn egress(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for _ in 0..MAX_EGRESS_PASSES {
            if self.iface.poll_egress(now, &mut self.device, &mut self.sockets) == PollResult::None {
                break;
            }
            changed = true;
        }
        changed
    }

    /// Moves frames between the card and the sockets; true when a socket may have
    /// changed state (data, a connection, a close).
    pub fn poll(&mut self, now_us: u64) -> bool {
        let now = instant(now_us);
        let mut changed = false;
        loop {
            match self.iface.poll_ingress_single(now, &mut self.device, &mut self.sockets) {
                PollIngressSingleResult::None => break,
                result => {
                    changed |= result == PollIngressSingleResult::SocketStateChanged;
                    // A SYN may have taken a listening socket (smoltcp does not always
                    // report that as a state change): have another ready before the
                    // next packet, which may be another SYN.
                    self.replenish();
                }
            }
        }
        changed |= self.egress(now);
        // One notification for everything this poll sent (ACKs from ingress included).
        self.device.nic_mut().flush();
        self.arm_timeouts();
        // Room again below the connection limit (closes reaped, accepts): listen on it.
        self.reap(now_us / 1000);
        self.replenish();
        changed
    }

    /// Bytes sent on live connections (closing ones included) that the peers have not
    /// acknowledged yet: what would be lost if the machine stopped now.
    pub fn unacknowledged_bytes(&self) -> usize {
        self.sockets
            .iter()
            .filter_map(|(_, socket)| tcp::Socket::downcast(socket))
            .filter(|socket| !matches!(socket.state(), State::Closed | State::TimeWait))
            .map(|socket| socket.send_queue())
            .sum()
    }

    /// Microseconds until the stack next needs a poll (retransmits, delayed ACKs), if it
    /// has timers running.
    pub fn poll_delay_us(&mut self, now_us: u64) -> Option<u64> {
        self.iface.poll_delay(instant(now_us), &self.sockets).map(|delay| delay.total_micros())
    }

    /// A connection of `listener` whose handshake is done, if one is waiting.
    pub fn accept(&mut self, listener: SocketId) -> Result<Option<SocketId>, NetError> {
        let backlog = self.limits.backlog;
        let Entry::Listener { pending, listening, .. } = self.entry_mut(listener)? else {
            return Err(NetError::WrongKind);
        };
        let (mut pending, mut listening) = (core::mem::take(pending), core::mem::take(listening));
        let mut accepted = None;
        let mut kept = VecDeque::with_capacity(pending.len());
        while let Some(handle) = pending.pop_front() {
            let state = self.sockets.get::<tcp::Socket>(handle).state();
            match state {
                _ if accepted.is_some() => kept.push_back(handle),
                State::SynReceived | State::SynSent => kept.push_back(handle),
                // The handshake was reset: smoltcp put the socket back to listening.
                State::Listen if listening.len() < backlog => {
                    listening.push(handle);
                    self.connections -= 1;
                }
                State::Listen | State::Closed => {
                    self.sockets.remove(handle);
                    self.connections -= 1;
                }
                _ => accepted = Some(handle),
            }
        }
        if let Ok(Entry::Listener { pending, listening: slot, .. }) = self.entry_mut(listener) {
            *pending = kept;
            *slot = listening;
        }
        self.replenish();
        Ok(accepted.map(|handle| self.insert(Entry::Stream { handle, read_shut: false })))
    }

    fn stream(&mut self, id: SocketId) -> Result<(SocketHandle, bool), NetError> {
        match self.entry_mut(id)? {
            Entry::Stream { handle, read_shut } => Ok((*handle, *read_shut)),
            Entry::Listener { .. } => Err(NetError::WrongKind),
        }
    }

    /// Receives into `buf` (leaving the bytes queued with `peek`).
    pub fn recv(&mut self, id: SocketId, buf: &mut [u8], peek: bool) -> Result<Received, NetError> {
        let (handle, read_shut) = self.stream(id)?;
        if read_shut {
            return Ok(Received::End);
        }
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        if socket.can_recv() {
            let count = if peek { socket.peek_slice(buf) } else { socket.recv_slice(buf) };
            return match count {
                Ok(0) if !buf.is_empty() => Ok(Received::WouldBlock),
                Ok(count) => Ok(Received::Data(count)),
                Err(tcp::RecvError::Finished) => Ok(Received::End),
                Err(tcp::RecvError::InvalidState) => Err(NetError::Reset),
            };
        }
        match socket.state() {
            // Closed without this side closing: a reset or a timeout.
            State::Closed => Err(NetError::Reset),
            _ if !socket.may_recv() => Ok(Received::End),
            _ => Ok(Received::WouldBlock),
        }
    }

    /// Queues as much of `buf` as the send buffer takes (0: it is full).
    pub fn send(&mut self, id: SocketId, buf: &[u8]) -> Result<usize, NetError> {
        let (handle, _) = self.stream(id)?;
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        match socket.state() {
            State::Closed => return Err(NetError::Reset),
            _ if !socket.may_send() => return Err(NetError::Shut),
            _ => {}
        }
        if !socket.can_send() {
            return Ok(0);
        }
        socket.send_slice(buf).map_err(|_| NetError::Shut)
    }

    /// Shuts down reading, writing (a FIN) or both.
    pub fn shutdown(&mut self, id: SocketId, how: Shutdown) -> Result<(), NetError> {
        let (handle, _) = self.stream(id)?;
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.sockets.get_mut::<tcp::Socket>(handle).close();
        }
        if matches!(how, Shutdown::Read | Shutdown::Both)
            && let Ok(Entry::Stream { read_shut, .. }) = self.entry_mut(id)
        {
            *read_shut = true;
        }
        Ok(())
    }

    /// Closes a listener (refusing its pending connections) or a connection (a FIN, or
    /// a reset if received data was never read, as Linux does).
    pub fn close(&mut self, id: SocketId, now_us: u64) -> Result<(), NetError> {
        let entry = self.entries.get_mut(id.0 as usize).and_then(Option::take).ok_or(NetError::NoSuchSocket)?;
        match entry {
            Entry::Listener { listening, pending, .. } => {
                for handle in listening {
                    self.sockets.remove(handle);
                }
                for handle in pending {
                    self.sockets.get_mut::<tcp::Socket>(handle).abort();
                    self.closing.push(Closing { handle, deadline_ms: now_us / 1000, aborted: true });
                }
            }
            Entry::Stream { handle, .. } => {
                let socket = self.sockets.get_mut::<tcp::Socket>(handle);
                let unread = socket.recv_queue() > 0;
                if unread {
                    socket.abort();
                } else {
                    socket.close();
                }
                let deadline_ms = now_us / 1000 + self.limits.linger_ms;
                self.closing.push(Closing { handle, deadline_ms, aborted: unread });
            }
        }
        while self.entries.last().is_some_and(Option::is_none) {
            self.entries.pop();
        }
        Ok(())
    }

    /// Whether `id`'s operations would complete now.
    pub fn readiness(&mut self, id: SocketId) -> Result<Readiness, NetError> {
        match self.entry_mut(id)? {
            Entry::Listener { pending, .. } => {
                let pending: Vec<SocketHandle> = pending.iter().copied().collect();
                let ready = pending
                    .iter()
                    .filter(|&&handle| connected(self.sockets.get::<tcp::Socket>(handle).state()))
                    .count();
                Ok(Readiness { readable: ready > 0, writable: false, hangup: false, bytes: ready as u64 })
            }
            Entry::Stream { handle, read_shut } => {
                let (handle, read_shut) = (*handle, *read_shut);
                let socket = self.sockets.get::<tcp::Socket>(handle);
                let closed = socket.state() == State::Closed;
                let ended = read_shut || closed || (!socket.may_recv() && !socket.can_recv());
                Ok(Readiness {
                    readable: socket.can_recv() || ended,
                    writable: socket.can_send() || closed || !socket.may_send(),
                    hangup: ended,
                    bytes: socket.recv_queue() as u64,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::VecDeque;
    use alloc::rc::Rc;
    use core::cell::RefCell;

    type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;

    /// One end of an in-memory Ethernet cable.
    struct WireNic {
        mac: [u8; 6],
        inbox: Queue,
        outbox: Queue,
    }

    impl Nic for WireNic {
        type Rx = Vec<u8>;
        type Tx = Vec<u8>;
        fn mac(&self) -> [u8; 6] {
            self.mac
        }
        fn receive(&mut self) -> Option<Vec<u8>> {
            self.inbox.borrow_mut().pop_front()
        }
        fn rx_bytes(rx: &Vec<u8>) -> &[u8] {
            rx
        }
        fn recycle(&mut self, _rx: Vec<u8>) {}
        fn frame_waiting(&self) -> bool {
            !self.inbox.borrow().is_empty()
        }
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
            self.outbox.borrow_mut().push_back(tx);
            true
        }
    }

    const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const PORT: u16 = 8080;

    /// The stack under test and a plain smoltcp client on the other end of the wire.
    struct Rig {
        server: NetStack<WireNic>,
        client: Interface,
        client_device: NicDevice<WireNic>,
        client_sockets: SocketSet<'static>,
        /// The server's side of the cable, towards the client (what it sent, unread).
        to_client: Queue,
        now_us: u64,
    }

    impl Rig {
        fn new(limits: Limits) -> Rig {
            let (a, b): (Queue, Queue) = Default::default();
            let server_nic = WireNic { mac: SERVER_MAC, inbox: a.clone(), outbox: b.clone() };
            let to_client = b.clone();
            let mut client_device = NicDevice::new(WireNic { mac: CLIENT_MAC, inbox: b, outbox: a });
            let server = NetStack::new(server_nic, IpConfig::QEMU_USER, limits, 1, 0);
            let mut client = Interface::new(
                Config::new(HardwareAddress::Ethernet(EthernetAddress(CLIENT_MAC))),
                &mut client_device,
                Instant::ZERO,
            );
            client.update_ip_addrs(|addrs| {
                addrs.push(IpCidr::new(IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 2)), 24)).unwrap();
            });
            Rig { server, client, client_device, client_sockets: SocketSet::new(Vec::new()), to_client, now_us: 0 }
        }

        fn connect(&mut self, local_port: u16) -> SocketHandle {
            self.connect_with_window(local_port, 4096)
        }

        fn connect_with_window(&mut self, local_port: u16, receive_bytes: usize) -> SocketHandle {
            let mut socket =
                tcp::Socket::new(tcp::SocketBuffer::new(vec![0; receive_bytes]), tcp::SocketBuffer::new(vec![0; 4096]));
            socket
                .connect(self.client.context(), (IpAddress::Ipv4(Ipv4Address::new(10, 0, 2, 15)), PORT), local_port)
                .unwrap();
            self.client_sockets.add(socket)
        }

        fn pump(&mut self) {
            for _ in 0..50 {
                self.now_us += 1000;
                self.client.poll(instant(self.now_us), &mut self.client_device, &mut self.client_sockets);
                self.server.poll(self.now_us);
            }
        }

        /// Listens on [`PORT`], connects a client from `local_port` and accepts it.
        fn accepted(&mut self, local_port: u16) -> (SocketHandle, SocketId) {
            let listener = self.server.listen(PORT).unwrap();
            let client = self.connect(local_port);
            self.pump();
            (client, self.server.accept(listener).unwrap().expect("a connection"))
        }

        fn client(&mut self, handle: SocketHandle) -> &mut tcp::Socket<'static> {
            self.client_sockets.get_mut::<tcp::Socket>(handle)
        }
    }

    fn limits(connections: usize, backlog: usize) -> Limits {
        Limits { connections, backlog, receive_bytes: 4096, send_bytes: 4096, linger_ms: 100, timeout_ms: 1000 }
    }

    #[test]
    fn accept_receive_send_and_close() {
        let mut rig = Rig::new(limits(8, 2));
        let listener = rig.server.listen(PORT).unwrap();
        assert_eq!(rig.server.listen(PORT), Err(NetError::BadPort(PORT)));
        assert_eq!(rig.server.accept(listener), Ok(None));
        let client = rig.connect(40000);
        rig.pump();
        assert!(rig.server.readiness(listener).unwrap().readable);
        let stream = rig.server.accept(listener).unwrap().expect("a connection");
        assert_eq!(rig.server.recv(stream, &mut [0; 16], false), Ok(Received::WouldBlock));
        rig.client(client).send_slice(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        rig.pump();
        let mut buf = [0u8; 64];
        assert_eq!(rig.server.recv(stream, &mut buf[..3], true), Ok(Received::Data(3)));
        let Received::Data(count) = rig.server.recv(stream, &mut buf, false).unwrap() else { panic!("no data") };
        assert_eq!(&buf[..count], b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(rig.server.send(stream, b"HTTP/1.1 200 OK\r\n\r\n"), Ok(19));
        rig.pump();
        let mut reply = [0u8; 64];
        let count = rig.client(client).recv_slice(&mut reply).unwrap();
        assert_eq!(&reply[..count], b"HTTP/1.1 200 OK\r\n\r\n");
        rig.client(client).close();
        rig.pump();
        assert_eq!(rig.server.recv(stream, &mut buf, false), Ok(Received::End));
        assert!(rig.server.readiness(stream).unwrap().hangup);
        rig.server.close(stream, rig.now_us).unwrap();
        rig.pump();
        assert_eq!(rig.server.connections(), 0);
        assert_eq!(rig.server.recv(stream, &mut buf, false), Err(NetError::NoSuchSocket));
        // The listener's backlog and nothing else is left.
        assert_eq!(rig.server.sockets(), 2);
    }

    #[test]
    fn sent_bytes_count_as_unacknowledged_until_the_peer_acks_them() {
        let mut rig = Rig::new(limits(8, 2));
        let (client, stream) = rig.accepted(40001);
        assert_eq!(rig.server.unacknowledged_bytes(), 0);
        assert_eq!(rig.server.send(stream, b"last words"), Ok(10));
        rig.server.flush(rig.now_us);
        assert_eq!(rig.server.unacknowledged_bytes(), 10);
        // Still owed once the program closed the connection.
        rig.server.close(stream, rig.now_us).unwrap();
        assert_eq!(rig.server.unacknowledged_bytes(), 10);
        rig.pump();
        let mut reply = [0u8; 16];
        assert_eq!(rig.client(client).recv_slice(&mut reply), Ok(10));
        assert_eq!(rig.server.unacknowledged_bytes(), 0);
    }

    #[test]
    fn one_flush_sends_all_the_window_allows() {
        let send_bytes = 16 * 1024;
        let mut rig = Rig::new(Limits { send_bytes, ..limits(8, 2) });
        let listener = rig.server.listen(PORT).unwrap();
        let client = rig.connect_with_window(40002, 64 * 1024);
        rig.pump();
        let stream = rig.server.accept(listener).unwrap().expect("a connection");
        rig.to_client.borrow_mut().clear();
        let data: Vec<u8> = (0..send_bytes).map(|i| i as u8).collect();
        assert_eq!(rig.server.send(stream, &data), Ok(send_bytes));
        rig.server.flush(rig.now_us);
        // Not one segment per flush (a round trip per segment): the whole buffer, in
        // segments of at most one MSS (1460 bytes on Ethernet).
        let frames = rig.to_client.borrow().len();
        assert!(frames >= send_bytes.div_ceil(1460), "one flush sent {frames} frames for {send_bytes} bytes");
        rig.pump();
        let mut received = vec![0u8; send_bytes];
        assert_eq!(rig.client(client).recv_slice(&mut received), Ok(send_bytes));
        assert_eq!(received, data);
    }

    #[test]
    fn a_reset_is_reported_and_the_socket_freed_on_close() {
        let mut rig = Rig::new(limits(8, 2));
        let (client, stream) = rig.accepted(40001);
        rig.client(client).abort();
        rig.pump();
        assert_eq!(rig.server.recv(stream, &mut [0; 8], false), Err(NetError::Reset));
        assert_eq!(rig.server.send(stream, b"late"), Err(NetError::Reset));
        assert!(rig.server.readiness(stream).unwrap().readable);
        rig.server.close(stream, rig.now_us).unwrap();
        rig.pump();
        assert_eq!(rig.server.connections(), 0);
    }

    #[test]
    fn connections_past_the_limit_are_refused_and_memory_stays_bounded() {
        let mut rig = Rig::new(limits(3, 2));
        let listener = rig.server.listen(PORT).unwrap();
        let clients: Vec<SocketHandle> = (0..6).map(|i| rig.connect(41000 + i)).collect();
        rig.pump();
        let established = clients.iter().filter(|&&c| rig.client(c).state() == State::Established).count();
        assert_eq!(established, 3);
        assert_eq!(rig.server.connections(), 3);
        // Nothing listens while the limit is reached.
        assert_eq!(rig.server.sockets(), 3);
        let mut accepted = Vec::new();
        while let Some(stream) = rig.server.accept(listener).unwrap() {
            accepted.push(stream);
        }
        assert_eq!(accepted.len(), 3);
        for stream in accepted {
            rig.server.close(stream, rig.now_us).unwrap();
        }
        // The clients never close their side: the linger time frees the sockets.
        for _ in 0..3 {
            rig.pump();
        }
        // Closed connections are freed and the backlog is listening again.
        assert_eq!(rig.server.connections(), 0);
        assert_eq!(rig.server.sockets(), 2);
        let late = rig.connect(42000);
        rig.pump();
        assert_eq!(rig.client(late).state(), State::Established);
    }

    #[test]
    fn a_peer_that_never_acknowledges_the_close_is_aborted() {
        let mut rig = Rig::new(limits(4, 1));
        let listener = rig.server.listen(PORT).unwrap();
        let _client = rig.connect(43000);
        rig.pump();
        let stream = rig.server.accept(listener).unwrap().unwrap();
        // Cut the wire: the FIN is never acknowledged.
        rig.client_sockets = SocketSet::new(Vec::new());
        rig.server.close(stream, rig.now_us).unwrap();
        for _ in 0..10 {
            rig.server.poll(rig.now_us);
            rig.now_us += 50_000;
        }
        assert_eq!(rig.server.connections(), 0);
    }

    #[test]
    fn an_idle_connection_is_kept_and_a_silent_peer_with_data_queued_aborted() {
        let mut rig = Rig::new(limits(4, 1));
        let listener = rig.server.listen(PORT).unwrap();
        let client = rig.connect(44000);
        rig.pump();
        let stream = rig.server.accept(listener).unwrap().unwrap();
        // Quiet for five timeouts: still open both ways.
        for _ in 0..50 {
            rig.now_us += 100_000;
            rig.server.poll(rig.now_us);
        }
        rig.pump();
        assert_eq!(rig.client(client).state(), State::Established);
        assert_eq!(rig.server.send(stream, b"still here"), Ok(10));
        rig.pump();
        let mut buf = [0u8; 16];
        assert_eq!(rig.client(client).recv_slice(&mut buf), Ok(10));
        // Now the wire is cut with data queued: the timeout aborts the connection.
        rig.client_sockets = SocketSet::new(Vec::new());
        assert_eq!(rig.server.send(stream, b"lost"), Ok(4));
        for _ in 0..30 {
            rig.now_us += 100_000;
            rig.server.poll(rig.now_us);
        }
        assert_eq!(rig.server.recv(stream, &mut buf, false), Err(NetError::Reset));
    }

    #[test]
    fn wrong_kinds_and_unknown_ids() {
        let mut rig = Rig::new(limits(4, 1));
        let listener = rig.server.listen(PORT).unwrap();
        assert_eq!(rig.server.recv(listener, &mut [0; 4], false), Err(NetError::WrongKind));
        assert_eq!(rig.server.send(listener, b"x"), Err(NetError::WrongKind));
        assert_eq!(rig.server.accept(SocketId(99)), Err(NetError::NoSuchSocket));
        assert_eq!(rig.server.listen(0), Err(NetError::BadPort(0)));
        rig.server.close(listener, 0).unwrap();
        assert_eq!(rig.server.sockets(), 0);
    }
}
