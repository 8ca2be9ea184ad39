//! The USB/IP wire format, pure (bytes in, values out and back), as the Linux kernel's
//! `vhci-hcd` and the `usbip` tool speak it (protocol version 1.1.1; every field is
//! big-endian; docs/facts/usb.md, "USB/IP").
//!
//! Two phases on one TCP connection:
//! - operations: an 8-byte header (version, code, status); `OP_REQ_DEVLIST` lists the
//!   exported devices, `OP_REQ_IMPORT` takes one by bus id;
//! - after a successful import, URBs: 48-byte headers, `CMD_SUBMIT` (with the OUT data)
//!   answered by `RET_SUBMIT` (with the IN data), `CMD_UNLINK` answered by `RET_UNLINK`.
//!
//! Decoding never panics and never allocates by an unchecked length: a transfer longer
//! than [`MAX_TRANSFER`] and isochronous URBs (no virtual module has such endpoints) are
//! errors that end the connection.

/// Protocol version of Linux's usbip 2.0 tools and vhci-hcd.
pub const VERSION: u16 = 0x0111;
pub const OP_REQ_DEVLIST: u16 = 0x8005;
pub const OP_REP_DEVLIST: u16 = 0x0005;
pub const OP_REQ_IMPORT: u16 = 0x8003;
pub const OP_REP_IMPORT: u16 = 0x0003;
pub const CMD_SUBMIT: u32 = 1;
pub const CMD_UNLINK: u32 = 2;
pub const RET_SUBMIT: u32 = 3;
pub const RET_UNLINK: u32 = 4;

/// Operation header length.
pub const OP_HEADER_LEN: usize = 8;
/// URB header length (every command and reply).
pub const URB_HEADER_LEN: usize = 48;
/// Bus id field of the device record and of `OP_REQ_IMPORT`.
pub const BUSID_LEN: usize = 32;
const PATH_LEN: usize = 256;

/// Longest transfer accepted in one URB (Linux usbfs submits at most 1 MiB per URB by
/// default; twice that leaves room).
pub const MAX_TRANSFER: u32 = 2 << 20;

/// `status` of a successful operation and of a failed one (the usbip tool reports
/// "request failed" for any non-zero value).
pub const ST_OK: u32 = 0;
pub const ST_NA: u32 = 1;

/// Linux errno values used as URB status (negative on the wire).
pub const EPIPE: i32 = 32;
pub const ECONNRESET: i32 = 104;
pub const ESHUTDOWN: i32 = 108;

/// `speed` of a high-speed device (Linux `enum usb_device_speed`).
pub const SPEED_HIGH: u32 = 3;

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("usbip: {0} bytes is too short for a {1}")]
    Short(usize, &'static str),
    #[error("usbip: unknown command {0:#x}")]
    UnknownCommand(u32),
    #[error("usbip: transfer of {0} bytes is over the {MAX_TRANSFER}-byte limit")]
    TooLong(u32),
    #[error("usbip: isochronous URBs are not supported ({0} packets)")]
    Isochronous(u32),
}

/// An operation header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpHeader {
    pub version: u16,
    pub code: u16,
    pub status: u32,
}

fn be16(b: &[u8], at: usize) -> u16 {
    let mut v = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        v.copy_from_slice(s);
    }
    u16::from_be_bytes(v)
}

fn be32(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from_slice(s);
    }
    u32::from_be_bytes(v)
}

impl OpHeader {
    pub fn parse(b: &[u8]) -> Result<OpHeader, ProtoError> {
        if b.len() < OP_HEADER_LEN {
            return Err(ProtoError::Short(b.len(), "operation header"));
        }
        Ok(OpHeader { version: be16(b, 0), code: be16(b, 2), status: be32(b, 4) })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.code.to_be_bytes());
        out.extend_from_slice(&self.status.to_be_bytes());
    }
}

/// The bus id of an `OP_REQ_IMPORT` body (NUL-terminated, at most 32 bytes).
pub fn parse_busid(b: &[u8]) -> String {
    let field = b.get(..BUSID_LEN).unwrap_or(b);
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
}

/// An `OP_REQ_IMPORT` request for `busid` (what the usbip tool sends).
pub fn encode_import_request(busid: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(OP_HEADER_LEN + BUSID_LEN);
    OpHeader { version: VERSION, code: OP_REQ_IMPORT, status: 0 }.encode(&mut out);
    put_fixed(&mut out, busid, BUSID_LEN);
    out
}

/// One exported device as the operations describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub path: String,
    pub busid: String,
    pub busnum: u32,
    pub devnum: u32,
    pub speed: u32,
    pub vid: u16,
    pub pid: u16,
    pub bcd_device: u16,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub configuration_value: u8,
    pub num_configurations: u8,
    /// Class, subclass, protocol of each interface.
    pub interfaces: Vec<(u8, u8, u8)>,
}

/// Length of a device record without its interfaces.
pub const DEVICE_LEN: usize = PATH_LEN + BUSID_LEN + 12 + 6 + 6;

fn put_fixed(out: &mut Vec<u8>, s: &str, len: usize) {
    let bytes = s.as_bytes();
    // Always NUL-terminated.
    let n = bytes.len().min(len.saturating_sub(1));
    out.extend_from_slice(bytes.get(..n).unwrap_or_default());
    out.resize(out.len() + (len - n), 0);
}

impl DeviceInfo {
    fn encode(&self, out: &mut Vec<u8>, with_interfaces: bool) {
        put_fixed(out, &self.path, PATH_LEN);
        put_fixed(out, &self.busid, BUSID_LEN);
        for v in [self.busnum, self.devnum, self.speed] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for v in [self.vid, self.pid, self.bcd_device] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        let n = u8::try_from(self.interfaces.len()).unwrap_or(u8::MAX);
        out.extend_from_slice(&[
            self.class,
            self.subclass,
            self.protocol,
            self.configuration_value,
            self.num_configurations,
            n,
        ]);
        if with_interfaces {
            for &(c, s, p) in self.interfaces.iter().take(usize::from(n)) {
                out.extend_from_slice(&[c, s, p, 0]);
            }
        }
    }

    /// Parse a device record (as `OP_REP_IMPORT` carries it: no interfaces).
    pub fn parse(b: &[u8]) -> Result<DeviceInfo, ProtoError> {
        if b.len() < DEVICE_LEN {
            return Err(ProtoError::Short(b.len(), "device record"));
        }
        let s = |from: usize, len: usize| parse_busid_len(b.get(from..from + len).unwrap_or_default());
        let at = PATH_LEN + BUSID_LEN;
        let byte = |i: usize| b.get(at + 18 + i).copied().unwrap_or(0);
        Ok(DeviceInfo {
            path: s(0, PATH_LEN),
            busid: s(PATH_LEN, BUSID_LEN),
            busnum: be32(b, at),
            devnum: be32(b, at + 4),
            speed: be32(b, at + 8),
            vid: be16(b, at + 12),
            pid: be16(b, at + 14),
            bcd_device: be16(b, at + 16),
            class: byte(0),
            subclass: byte(1),
            protocol: byte(2),
            configuration_value: byte(3),
            num_configurations: byte(4),
            interfaces: Vec::new(),
        })
    }
}

fn parse_busid_len(field: &[u8]) -> String {
    let end = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
}

/// `OP_REP_DEVLIST` for `devices`.
pub fn encode_devlist_reply(devices: &[DeviceInfo]) -> Vec<u8> {
    let mut out = Vec::new();
    OpHeader { version: VERSION, code: OP_REP_DEVLIST, status: ST_OK }.encode(&mut out);
    out.extend_from_slice(&u32::try_from(devices.len()).unwrap_or(u32::MAX).to_be_bytes());
    for d in devices {
        d.encode(&mut out, true);
    }
    out
}

/// `OP_REP_IMPORT`: the device on success, a bare failure header otherwise.
pub fn encode_import_reply(device: Option<&DeviceInfo>) -> Vec<u8> {
    let mut out = Vec::new();
    let status = if device.is_some() { ST_OK } else { ST_NA };
    OpHeader { version: VERSION, code: OP_REP_IMPORT, status }.encode(&mut out);
    if let Some(d) = device {
        d.encode(&mut out, false);
    }
    out
}

/// A `CMD_SUBMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submit {
    pub seqnum: u32,
    pub devid: u32,
    /// Device to host.
    pub dir_in: bool,
    /// Endpoint number (0 = control), without the direction bit.
    pub ep: u8,
    pub transfer_flags: u32,
    pub length: u32,
    pub interval: u32,
    pub setup: [u8; 8],
}

/// A command from the host after the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Submit(Submit),
    Unlink { seqnum: u32, unlink_seqnum: u32 },
}

impl Command {
    /// Parse a URB header. Returns the command and how many payload bytes follow it (the
    /// OUT data of a submit).
    pub fn parse_header(h: &[u8]) -> Result<(Command, usize), ProtoError> {
        if h.len() < URB_HEADER_LEN {
            return Err(ProtoError::Short(h.len(), "URB header"));
        }
        let command = be32(h, 0);
        let seqnum = be32(h, 4);
        match command {
            CMD_SUBMIT => {
                let dir_in = be32(h, 12) == 1;
                let ep = (be32(h, 16) & 0x0f) as u8;
                let length = be32(h, 24);
                if length > MAX_TRANSFER {
                    return Err(ProtoError::TooLong(length));
                }
                let packets = be32(h, 32);
                // Non-isochronous URBs carry 0 (or 0xffffffff from some senders).
                if packets != 0 && packets != u32::MAX {
                    return Err(ProtoError::Isochronous(packets));
                }
                let mut setup = [0u8; 8];
                if let Some(s) = h.get(40..48) {
                    setup.copy_from_slice(s);
                }
                let submit = Submit {
                    seqnum,
                    devid: be32(h, 8),
                    dir_in,
                    ep,
                    transfer_flags: be32(h, 20),
                    length,
                    interval: be32(h, 36),
                    setup,
                };
                let payload = if dir_in { 0 } else { length as usize };
                Ok((Command::Submit(submit), payload))
            }
            CMD_UNLINK => Ok((Command::Unlink { seqnum, unlink_seqnum: be32(h, 20) }, 0)),
            other => Err(ProtoError::UnknownCommand(other)),
        }
    }

    /// The bytes a host sends for this command (header only; OUT data follows it).
    pub fn encode_header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(URB_HEADER_LEN);
        match self {
            Command::Submit(s) => {
                for v in [CMD_SUBMIT, s.seqnum, s.devid, u32::from(s.dir_in), u32::from(s.ep)] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                for v in [s.transfer_flags, s.length, 0, 0, s.interval] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out.extend_from_slice(&s.setup);
            }
            Command::Unlink { seqnum, unlink_seqnum } => {
                for v in [CMD_UNLINK, *seqnum, 0, 0, 0, *unlink_seqnum] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                out.resize(URB_HEADER_LEN, 0);
            }
        }
        out
    }
}

/// `RET_SUBMIT`: `status` is 0 or a negative errno; `data` is the IN data (empty for OUT);
/// `actual` the transferred length (the OUT length for OUT).
pub fn encode_ret_submit(seqnum: u32, status: i32, actual: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(URB_HEADER_LEN + data.len());
    // devid, direction and ep are 0 in replies.
    for v in [RET_SUBMIT, seqnum, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&status.to_be_bytes());
    // actual_length, start_frame, number_of_packets, error_count, 8 bytes padding.
    for v in [actual, 0, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// `RET_UNLINK` with `status` (0 or a negative errno).
pub fn encode_ret_unlink(seqnum: u32, status: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(URB_HEADER_LEN);
    for v in [RET_UNLINK, seqnum, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&status.to_be_bytes());
    out.resize(URB_HEADER_LEN, 0);
    out
}

/// A reply parsed back (tests, fuzzing): command, seqnum, status, actual length.
pub fn parse_ret(h: &[u8]) -> Result<(u32, u32, i32, u32), ProtoError> {
    if h.len() < URB_HEADER_LEN {
        return Err(ProtoError::Short(h.len(), "URB reply"));
    }
    let cmd = be32(h, 0);
    if cmd != RET_SUBMIT && cmd != RET_UNLINK {
        return Err(ProtoError::UnknownCommand(cmd));
    }
    Ok((cmd, be32(h, 4), be32(h, 20) as i32, be32(h, 24)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> DeviceInfo {
        DeviceInfo {
            path: "/sys/devices/usbip/1-1".into(),
            busid: "1-1".into(),
            busnum: 1,
            devnum: 2,
            speed: SPEED_HIGH,
            vid: 0x05c6,
            pid: 0x9008,
            bcd_device: 0,
            class: 0,
            subclass: 0,
            protocol: 0,
            configuration_value: 1,
            num_configurations: 1,
            interfaces: vec![(0xff, 0xff, 0xff)],
        }
    }

    #[test]
    fn devlist_reply_layout() {
        let b = encode_devlist_reply(&[dev()]);
        assert_eq!(&b[..8], &[0x01, 0x11, 0x00, 0x05, 0, 0, 0, 0]);
        assert_eq!(&b[8..12], &1u32.to_be_bytes());
        assert_eq!(b.len(), 12 + DEVICE_LEN + 4);
        // busid at 12 + 256; ids at 12 + 256 + 32 + 12.
        assert_eq!(&b[12 + 256..12 + 256 + 4], b"1-1\0");
        let ids = 12 + 256 + 32 + 12;
        assert_eq!(&b[ids..ids + 4], &[0x05, 0xc6, 0x90, 0x08]);
        assert_eq!(&b[b.len() - 4..], &[0xff, 0xff, 0xff, 0]);
        assert_eq!(b[ids + 6 + 5], 1, "one interface");
    }

    #[test]
    fn import_reply_round_trips_and_fails_bare() {
        let b = encode_import_reply(Some(&dev()));
        let h = OpHeader::parse(&b).unwrap();
        assert_eq!((h.version, h.code, h.status), (VERSION, OP_REP_IMPORT, ST_OK));
        assert_eq!(b.len(), 8 + DEVICE_LEN);
        let mut want = dev();
        want.interfaces.clear();
        assert_eq!(DeviceInfo::parse(&b[8..]).unwrap(), want);
        let f = encode_import_reply(None);
        assert_eq!(f, vec![0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1]);
        let req = encode_import_request("1-1");
        assert_eq!(OpHeader::parse(&req).unwrap().code, OP_REQ_IMPORT);
        assert_eq!(parse_busid(&req[8..]), "1-1");
    }

    #[test]
    fn submit_header_round_trips() {
        let s = Submit {
            seqnum: 7,
            devid: 0x0001_0002,
            dir_in: false,
            ep: 1,
            transfer_flags: 0x40,
            length: 1024,
            interval: 0,
            setup: [0; 8],
        };
        let h = Command::Submit(s).encode_header();
        assert_eq!(h.len(), URB_HEADER_LEN);
        assert_eq!(Command::parse_header(&h).unwrap(), (Command::Submit(s), 1024));
        let s_in = Submit { dir_in: true, ep: 1, ..s };
        let h = Command::Submit(s_in).encode_header();
        assert_eq!(Command::parse_header(&h).unwrap(), (Command::Submit(s_in), 0), "IN carries no data");
        let u = Command::Unlink { seqnum: 9, unlink_seqnum: 7 };
        assert_eq!(Command::parse_header(&u.encode_header()).unwrap(), (u, 0));
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(Command::parse_header(&[0; 47]), Err(ProtoError::Short(47, "URB header")));
        let mut h = [0u8; 48];
        h[3] = 9;
        assert_eq!(Command::parse_header(&h), Err(ProtoError::UnknownCommand(9)));
        h[3] = 1;
        h[24..28].copy_from_slice(&(MAX_TRANSFER + 1).to_be_bytes());
        assert_eq!(Command::parse_header(&h), Err(ProtoError::TooLong(MAX_TRANSFER + 1)));
        h[24..28].copy_from_slice(&8u32.to_be_bytes());
        h[32..36].copy_from_slice(&3u32.to_be_bytes());
        assert_eq!(Command::parse_header(&h), Err(ProtoError::Isochronous(3)));
        h[32..36].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Command::parse_header(&h).is_ok(), "0xffffffff = not isochronous");
    }

    #[test]
    fn replies_encode_status_and_data() {
        let r = encode_ret_submit(5, 0, 3, b"abc");
        assert_eq!(r.len(), 51);
        assert_eq!(parse_ret(&r).unwrap(), (RET_SUBMIT, 5, 0, 3));
        assert_eq!(&r[48..], b"abc");
        let u = encode_ret_unlink(6, -ECONNRESET);
        assert_eq!(u.len(), 48);
        assert_eq!(parse_ret(&u).unwrap(), (RET_UNLINK, 6, -104, 0));
        assert_eq!(&u[20..24], &[0xff, 0xff, 0xff, 0x98]);
    }

    #[test]
    fn long_strings_stay_terminated() {
        let mut d = dev();
        d.busid = "x".repeat(40);
        let b = encode_import_reply(Some(&d));
        let back = DeviceInfo::parse(&b[8..]).unwrap();
        assert_eq!(back.busid.len(), 31);
    }
}
