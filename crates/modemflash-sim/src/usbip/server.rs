//! The USB/IP server: accepts connections, answers the operations, and runs one imported
//! device per connection (see the module docs).

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::descriptors::{Descriptors, descriptors};
use super::pipe::{Pipe, Writer, lock, write};
use super::proto::{self, Command, DeviceInfo, EPIPE, OpHeader, Submit};
use crate::bus::Enumeration;
use crate::module::Module;

/// The bus id the device is exported under (`usbip attach -b 1-1`).
pub const BUSID: &str = "1-1";
/// How often the imported connection looks for a mode change.
const WATCH: Duration = Duration::from_millis(20);
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// A running server. Dropping the handle does not stop it; [`UsbIpServer::stop`] does.
#[derive(Debug, Clone)]
pub struct UsbIpServer {
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl UsbIpServer {
    /// Serve `module` on `listener` from a background thread.
    pub fn start(module: Module, listener: TcpListener) -> std::io::Result<UsbIpServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let imported = Arc::new(Mutex::new(false));
        let flag = Arc::clone(&stop);
        thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        let module = module.clone();
                        let imported = Arc::clone(&imported);
                        let flag = Arc::clone(&flag);
                        thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_nodelay(true);
                            if let Err(e) = connection(&module, stream, &imported, &flag) {
                                module.log(format!("usbip: connection from {peer}: {e}"));
                            }
                        });
                    }
                    Err(_) => thread::sleep(ACCEPT_POLL),
                }
            }
        });
        Ok(UsbIpServer { stop, addr })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stop accepting and end every imported connection.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The device record of the current enumeration.
fn device_info(e: &Enumeration, d: &Descriptors) -> DeviceInfo {
    DeviceInfo {
        path: format!("/sys/devices/platform/modemflash-sim/usb1/{BUSID}"),
        busid: BUSID.into(),
        busnum: 1,
        devnum: (e.generation % 120) as u32 + 2,
        speed: proto::SPEED_HIGH,
        vid: d.identity.vid,
        pid: d.identity.pid,
        bcd_device: d.identity.bcd_device,
        class: 0,
        subclass: 0,
        protocol: 0,
        configuration_value: 1,
        num_configurations: 1,
        interfaces: d.interfaces.iter().map(|i| (i.class, i.subclass, i.protocol)).collect(),
    }
}

fn current(module: &Module) -> Option<(Enumeration, Descriptors)> {
    let e = module.bus().current();
    let mode = e.mode?;
    let d = descriptors(module.model(), mode, e.usb_serial.clone());
    Some((e, d))
}

fn connection(
    module: &Module,
    mut stream: TcpStream,
    imported: &Mutex<bool>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut h = [0u8; proto::OP_HEADER_LEN];
    stream.read_exact(&mut h)?;
    let op = OpHeader::parse(&h).map_err(std::io::Error::other)?;
    let writer: Writer = Arc::new(Mutex::new(stream.try_clone()?));
    match op.code {
        proto::OP_REQ_DEVLIST => {
            let busy = *lock(imported);
            let list: Vec<DeviceInfo> =
                current(module).filter(|_| !busy).map(|(e, d)| device_info(&e, &d)).into_iter().collect();
            write(&writer, &proto::encode_devlist_reply(&list));
            Ok(())
        }
        proto::OP_REQ_IMPORT => {
            let mut busid = [0u8; proto::BUSID_LEN];
            stream.read_exact(&mut busid)?;
            let busid = proto::parse_busid(&busid);
            let mut busy = lock(imported);
            let found = current(module).filter(|_| !*busy && busid == BUSID);
            let Some((e, d)) = found else {
                drop(busy);
                write(&writer, &proto::encode_import_reply(None));
                return Ok(());
            };
            // Open the mode's endpoints before saying yes: the mode may be gone already.
            let mut opened = Vec::new();
            for i in &d.interfaces {
                let t = match i.role.map(|role| module.bus().open(role)) {
                    Some(Ok(t)) => Some(t),
                    Some(Err(_)) => {
                        drop(busy);
                        write(&writer, &proto::encode_import_reply(None));
                        return Ok(());
                    }
                    None => None,
                };
                opened.push(t);
            }
            *busy = true;
            drop(busy);
            write(&writer, &proto::encode_import_reply(Some(&device_info(&e, &d))));
            let id = d.identity.id_string();
            let mode = e.mode.map_or("?", modemflash::module::DeviceMode::key);
            module.log(format!("usbip: {id} ({mode}) imported"));
            let r = run_device(module, &mut stream, &writer, e.generation, &d, opened, stop);
            *lock(imported) = false;
            module.log(format!("usbip: {id} ({mode}) detached"));
            r
        }
        other => Err(std::io::Error::other(format!("usbip: unexpected operation {other:#06x}"))),
    }
}

/// One interface of the imported device.
enum Slot {
    /// Backed by a module endpoint.
    Pumped(Arc<Pipe>),
    /// No module endpoint (NMEA, modem, QMI): OUT data is taken, IN waits forever.
    Silent,
}

fn run_device(
    module: &Module,
    stream: &mut TcpStream,
    w: &Writer,
    generation: u64,
    d: &Descriptors,
    opened: Vec<Option<modemflash::transport::memory::MemoryTransport>>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut slots = Vec::new();
    let mut pumps = Vec::new();
    for t in opened {
        match t {
            Some(mut t) => {
                let p = Arc::new(Pipe::default());
                let (pc, wc) = (Arc::clone(&p), Arc::clone(w));
                pumps.push(thread::spawn(move || pc.pump(&mut t, &wc)));
                slots.push(Slot::Pumped(p));
            }
            None => slots.push(Slot::Silent),
        }
    }
    // The watcher unplugs the device when the module leaves the bus.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, bus_module, s) = (Arc::clone(&done), module.clone(), stream.try_clone()?);
        thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if bus_module.bus().current().generation != generation {
                    let _ = s.shutdown(Shutdown::Both);
                    break;
                }
                thread::sleep(WATCH);
            }
        })
    };
    let r = urbs(stream, w, d, &slots, stop);
    done.store(true, Ordering::SeqCst);
    let _ = stream.shutdown(Shutdown::Both);
    for s in &slots {
        if let Slot::Pumped(p) = s {
            p.stop();
        }
    }
    for p in pumps {
        let _ = p.join();
    }
    let _ = watcher.join();
    r
}

fn urbs(
    stream: &mut TcpStream,
    w: &Writer,
    d: &Descriptors,
    slots: &[Slot],
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut header = [0u8; proto::URB_HEADER_LEN];
    // IN URBs that never complete (interrupt endpoints, interfaces without a module
    // endpoint), until the host unlinks them.
    let silent = &Mutex::new(Vec::<u32>::new());
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        match stream.read_exact(&mut header) {
            Ok(()) => {}
            // The host detached, or the watcher unplugged the device.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let (cmd, payload) = Command::parse_header(&header).map_err(std::io::Error::other)?;
        let mut data = vec![0u8; payload];
        stream.read_exact(&mut data)?;
        match cmd {
            Command::Submit(s) if s.ep == 0 => {
                let (status, reply) = control(d, &s);
                let actual = if s.dir_in { reply.len() as u32 } else { s.length };
                write(w, &proto::encode_ret_submit(s.seqnum, status, actual, &reply));
            }
            Command::Submit(s) => {
                let address = s.ep | if s.dir_in { 0x80 } else { 0 };
                let at = d.interface_of(address);
                // Only the bulk pair carries the module's bytes; a notification
                // (interrupt) endpoint never has anything to say.
                let bulk = at.and_then(|i| d.interfaces.get(i)).is_some_and(|i| {
                    let (bin, bout) = i.bulk_pair();
                    Some(address) == bin || Some(address) == bout
                });
                match at.and_then(|i| slots.get(i)) {
                    Some(Slot::Pumped(p)) if bulk && s.dir_in => p.submit_in(s.seqnum, s.length),
                    Some(Slot::Pumped(p)) if bulk => p.submit_out(s.seqnum, data),
                    Some(_) if s.dir_in => lock(silent).push(s.seqnum),
                    Some(_) => write(w, &proto::encode_ret_submit(s.seqnum, 0, s.length, &[])),
                    None => write(w, &proto::encode_ret_submit(s.seqnum, -EPIPE, 0, &[])),
                }
            }
            Command::Unlink { seqnum, unlink_seqnum } => {
                let mut found = false;
                {
                    let mut held = lock(silent);
                    if let Some(i) = held.iter().position(|&x| x == unlink_seqnum) {
                        held.remove(i);
                        write(w, &proto::encode_ret_unlink(seqnum, -proto::ECONNRESET));
                        found = true;
                    }
                }
                for slot in slots {
                    if found {
                        break;
                    }
                    if let Slot::Pumped(p) = slot {
                        found = p.unlink(w, seqnum, unlink_seqnum);
                    }
                }
                if !found {
                    // Completed before the unlink arrived: its RET_SUBMIT is already sent.
                    write(w, &proto::encode_ret_unlink(seqnum, 0));
                }
            }
        }
    }
}

/// Standard requests answered from the descriptors; class and vendor requests without a
/// data stage (SET_CONTROL_LINE_STATE from the serial drivers) are accepted; anything else
/// stalls, as a device without that request does.
fn control(d: &Descriptors, s: &Submit) -> (i32, Vec<u8>) {
    let [req_type, request, v0, v1, _, _, l0, l1] = s.setup;
    let value = u16::from_le_bytes([v0, v1]);
    let len = usize::from(u16::from_le_bytes([l0, l1]));
    let stall = (-EPIPE, Vec::new());
    let reply = |mut b: Vec<u8>| {
        b.truncate(len);
        (0, b)
    };
    match (req_type, request) {
        (0x80, 6) => match (value >> 8) as u8 {
            1 => reply(d.device()),
            2 => reply(d.configuration()),
            3 => d.string(value as u8).map_or(stall, reply),
            _ => stall,
        },
        (0x80..=0x82, 0) => reply(vec![0, 0]),
        (0x80, 8) => reply(vec![1]),
        (0x81, 10) => reply(vec![0]),
        // SET_CONFIGURATION, SET_INTERFACE, CLEAR/SET_FEATURE.
        (0x00, 9) | (0x01, 11) | (0x00..=0x02, 1 | 3) => (0, Vec::new()),
        (t, _) if t & 0x60 != 0 && t & 0x80 == 0 => (0, Vec::new()),
        _ => stall,
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
