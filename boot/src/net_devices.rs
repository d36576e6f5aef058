//! The VM's network for `--tcplisten ADDR:PORT`: QEMU user networking (slirp) with one
//! host forward per listener, bound to the address given (127.0.0.1 in the examples),
//! into a virtio-net card on microvm's virtio-mmio slot 6. The guest is 10.0.2.15 and
//! listens on the same port numbers; `restrict=on` keeps it from reaching anything
//! but its forwards. (A tap device would be `-netdev tap,...` with the same card; the
//! kernel's address is then static 10.0.2.15/24, so the tap side must match.)

use std::net::{SocketAddr, SocketAddrV4, TcpListener};

use anyhow::Result;

use crate::exit_status::InputError;

/// The slot the network card takes (7 is stdio's serial device, 8.. are `--dir`s).
const NET_SLOT: u64 = 6;
/// microvm's virtio-mmio slots: slot N's registers sit at BASE + N * STRIDE.
const MMIO_BASE: u64 = 0xfeb0_0000;
const MMIO_STRIDE: u64 = 0x200;

/// Parses `ADDR:PORT` (IPv4, a port other than 0) and checks the host address is free,
/// so a port in use is a one-line error, not a QEMU failure.
pub fn parse_tcplisten(spec: &str) -> Result<SocketAddrV4> {
    let addr: SocketAddr =
        spec.parse().map_err(|_| InputError(format!("--tcplisten {spec}: expected ADDR:PORT, like 127.0.0.1:8080")))?;
    let SocketAddr::V4(addr) = addr else {
        return Err(InputError(format!("--tcplisten {spec}: only IPv4 addresses can be forwarded")).into());
    };
    if addr.port() == 0 {
        return Err(InputError(format!("--tcplisten {spec}: give a port number other than 0")).into());
    }
    if let Err(error) = TcpListener::bind(addr) {
        return Err(InputError(format!("--tcplisten {spec}: cannot listen there: {error}")).into());
    }
    Ok(addr)
}

/// Refuses two listeners on one port (the guest listens on the host's port numbers).
pub fn check_distinct(listeners: &[SocketAddrV4]) -> Result<()> {
    for (index, addr) in listeners.iter().enumerate() {
        if listeners[..index].iter().any(|earlier| earlier.port() == addr.port()) {
            return Err(InputError(format!("--tcplisten: port {} is given twice", addr.port())).into());
        }
    }
    Ok(())
}

/// QEMU arguments for the card and its forwards.
pub fn qemu_args(listeners: &[SocketAddrV4]) -> Vec<String> {
    let mut netdev = String::from("user,id=wasmetal-net,restrict=on");
    for addr in listeners {
        netdev.push_str(&format!(",hostfwd=tcp:{}:{}-:{}", addr.ip(), addr.port(), addr.port()));
    }
    vec![
        "-netdev".into(),
        netdev,
        "-device".into(),
        format!("virtio-net-device,netdev=wasmetal-net,bus=virtio-mmio-bus.{NET_SLOT}"),
    ]
}

/// The kernel command-line options naming the card and the ports to listen on.
pub fn cmdline_options(listeners: &[SocketAddrV4]) -> String {
    let ports: Vec<String> = listeners.iter().map(|addr| addr.port().to_string()).collect();
    format!("net.virtio={:#x} net.listen={}", MMIO_BASE + NET_SLOT * MMIO_STRIDE, ports.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_and_command_line() {
        let listeners: Vec<SocketAddrV4> = vec!["127.0.0.1:8080".parse().unwrap(), "0.0.0.0:9000".parse().unwrap()];
        let args = qemu_args(&listeners);
        assert_eq!(
            args[1],
            "user,id=wasmetal-net,restrict=on,hostfwd=tcp:127.0.0.1:8080-:8080,hostfwd=tcp:0.0.0.0:9000-:9000"
        );
        assert_eq!(args[3], "virtio-net-device,netdev=wasmetal-net,bus=virtio-mmio-bus.6");
        assert_eq!(cmdline_options(&listeners), "net.virtio=0xfeb00c00 net.listen=8080,9000");
        assert!(check_distinct(&listeners).is_ok());
        let twice: Vec<SocketAddrV4> = vec!["127.0.0.1:8080".parse().unwrap(), "127.0.0.2:8080".parse().unwrap()];
        assert!(check_distinct(&twice).is_err());
    }

    #[test]
    fn bad_specs_are_input_errors() {
        for spec in ["8080", "localhost:80", "[::1]:8080", "127.0.0.1:0"] {
            let error = parse_tcplisten(spec).unwrap_err();
            assert!(error.downcast_ref::<InputError>().is_some(), "{spec}: {error}");
        }
    }
}
