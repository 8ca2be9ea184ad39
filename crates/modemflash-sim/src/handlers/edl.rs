//! EC25 (MDM9x07) in EDL, device side: the boot ROM's Sahara target, then the Firehose
//! programmer it loads, on the same bulk endpoint (`docs/facts/sahara.md`, `docs/facts/firehose.md`).
//!
//! - On enumeration the target speaks first: HELLO (version 2, compatible 1, mode 0,
//!   `max_cmd_len` from [`EdlQuirks`](crate::core::EdlQuirks)), sent on the first idle tick and
//!   again when the host writes a short nudge (or garbage) before HELLO_RESP.
//! - HELLO_RESP mode 0: image 13 (EHOSTDL) is loaded the way the SDX ROMs load an ELF
//!   (`docs/facts/sahara.md`): the 52-byte ELF header, the program headers, then every
//!   loadable segment in program-header order in reads of at most `read_chunk` bytes that
//!   never cross a segment end. END_IMAGE_TX 0, DONE → DONE_RESP, and after
//!   `programmer_boot` the Firehose programmer ([`super::firehose`]) owns the endpoint.
//! - HELLO_RESP mode 3: command mode (CMD_READY, EXECUTE serial / MSM HW id / PK hash).
//!   SWITCH_MODE(m) → a fresh HELLO whose mode field is `m` (0 image transfer, 3 command),
//!   as a real 9x07 does: edl's log of one shows the second HELLO after its SWITCH_MODE
//!   (bkerler/edl #714, #457), and edl and libopenpst wait for it.
//! - Fault `fragile-rom`: before HELLO_RESP, one byte that is not a Sahara packet wedges
//!   the ROM until a power cycle (modelled on bkerler/edl #335, #398, #752).
//!
//! Everything the image header declares is bounded ([`MAX_PHNUM`], [`MAX_IMAGE_BYTES`]);
//! a bad image ends with END_IMAGE_TX and a named status (docs/facts/sahara.md).

use std::collections::VecDeque;
use std::time::Duration;

use modemflash::package::elf;
use modemflash::protocol::sahara::codec::{HEADER_LEN, HELLO_LEN};
use modemflash::protocol::sahara::codes::{exec, exec_name, image_id, status};
use modemflash::protocol::sahara::{Framer, Hello, HelloResp, Packet, status_name};

use super::common::{Verdict, check_maybe_write};
use super::firehose::Programmer;
use crate::fault::FaultKind;
use crate::handler::{Cx, Handler, ResetTo};

/// ELF32 header length: the first read.
pub const ELF32_EHDR_LEN: u32 = elf::EHDR_LEN as u32;
/// ELF32 program header length; anything else is refused with 0x0F.
pub const ELF32_PHDR_LEN: u32 = elf::PHDR_LEN as u32;
/// Most program headers accepted (the library's bound).
pub const MAX_PHNUM: u32 = elf::MAX_PHNUM as u32;
/// Most bytes loaded from one image (the library's bound).
pub const MAX_IMAGE_BYTES: u64 = elf::MAX_LOAD_BYTES;
/// Bytes kept while the programmer boots (a host should wait for its logs).
const MAX_EARLY_BYTES: usize = 1 << 20;

/// What the target does with the next bytes.
#[derive(Debug)]
enum State {
    /// HELLO sent (or due on the next idle tick); waiting for HELLO_RESP.
    WaitHelloResp,
    /// Image transfer: waiting for the bytes of the last READ_DATA.
    Loading(Load),
    /// END_IMAGE_TX 0 sent; waiting for DONE.
    WaitDone,
    /// Command mode; the EXECUTE answer waiting for EXECUTE_DATA.
    Command { pending: Option<(u32, Vec<u8>)> },
    /// END_IMAGE_TX with an error sent; a nudge restarts with HELLO, RESET resets.
    Failed,
    /// DONE_RESP sent; the programmer starts after `ticks_left` idle ticks.
    Booting { ticks_left: u32, early: Vec<u8> },
    /// The Firehose programmer runs.
    Firehose(Box<Programmer>),
    /// Fault `fragile-rom` fired: nothing is answered until a power cycle.
    Wedged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ElfHeader,
    ProgramHeaders,
    Segments,
}

/// Progress of the image load.
#[derive(Debug)]
struct Load {
    step: Step,
    /// The outstanding READ_DATA.
    offset: u32,
    length: u32,
    /// Reads still to make (offset, length).
    queue: VecDeque<(u32, u32)>,
    reads: u64,
    bytes: u64,
}

/// The EC25 EDL endpoint.
#[derive(Debug)]
pub struct EdlHandler {
    state: State,
    framer: Framer,
    hello_sent: bool,
}

impl Default for EdlHandler {
    fn default() -> Self {
        EdlHandler { state: State::WaitHelloResp, framer: Framer::default(), hello_sent: false }
    }
}

impl EdlHandler {
    pub fn new() -> Self {
        EdlHandler::default()
    }

    fn send_hello(&mut self, cx: &mut Cx<'_>) {
        self.send_hello_in(cx, 0);
    }

    /// HELLO with `mode` in its mode field (0 after power-on, the requested mode after
    /// SWITCH_MODE).
    fn send_hello_in(&mut self, cx: &mut Cx<'_>, mode: u32) {
        let hello = Hello {
            version: 2,
            version_supported: 1,
            max_cmd_len: cx.core.config.edl.max_cmd_len,
            mode,
            reserved: [0; 6],
            len: HELLO_LEN,
        };
        cx.send(Packet::Hello(hello).encode());
        self.hello_sent = true;
        self.state = State::WaitHelloResp;
    }

    fn end_image(cx: &mut Cx<'_>, image: u32, code: u32) {
        cx.send(Packet::EndImageTx { image_id: image, status: code }.encode());
        if code != status::SUCCESS {
            cx.log(format!("sahara: END_IMAGE_TX status {code:#04x} ({})", status_name(code)));
        }
    }

    /// Refuse the image with `code` and wait for a RESET or a nudge.
    fn fail(&mut self, cx: &mut Cx<'_>, code: u32) {
        Self::end_image(cx, image_id::ENPRG, code);
        self.framer = Framer::default();
        self.state = State::Failed;
    }

    fn reset(&mut self, cx: &mut Cx<'_>) {
        cx.send(Packet::ResetResp.encode());
        cx.log("sahara: RESET");
        cx.reset(ResetTo::Boot, Duration::ZERO);
        self.state = State::Failed;
    }

    fn request(&mut self, cx: &mut Cx<'_>, mut load: Load, offset: u32, length: u32) {
        load.offset = offset;
        load.length = length;
        cx.send(Packet::ReadData { image_id: image_id::ENPRG, offset, length }.encode());
        self.state = State::Loading(load);
    }

    fn on_hello_resp(&mut self, cx: &mut Cx<'_>, rsp: &HelloResp) {
        match check_maybe_write(cx, "sahara:hello", false) {
            Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
            Verdict::Nak => return self.fail(cx, status::PROTOCOL_MISMATCH),
            Verdict::Stop => return,
        }
        if rsp.version < 1 {
            return self.fail(cx, status::INVALID_HOST_PROTOCOL_VERSION);
        }
        if rsp.status != status::SUCCESS {
            return self.fail(cx, status::HOST_ERROR_IN_HELLO_RESP);
        }
        match rsp.mode {
            0 => {
                cx.log("sahara: loading image 13 (EHOSTDL)");
                let load = Load {
                    step: Step::ElfHeader,
                    offset: 0,
                    length: 0,
                    queue: VecDeque::new(),
                    reads: 0,
                    bytes: 0,
                };
                self.request(cx, load, 0, ELF32_EHDR_LEN);
            }
            3 => {
                cx.send(Packet::CmdReady.encode());
                self.state = State::Command { pending: None };
            }
            2 => self.fail(cx, status::MEMORY_DEBUG_NOT_SUPPORTED),
            _ => self.fail(cx, status::INVALID_HOST_MODE),
        }
    }

    /// Raw image bytes for the outstanding READ_DATA.
    fn on_image_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        let State::Loading(load) = &self.state else { return };
        // A RESET where data was expected (a host that gave up): the transfer is short
        // and is exactly a RESET packet.
        if self.framer.buffered() == 0 && load.length != 8 && data == Packet::Reset.encode().as_slice() {
            return self.reset(cx);
        }
        self.framer.push(data);
        let Some(bytes) = self.framer.take_raw(load.length as usize) else { return };
        let State::Loading(mut load) = std::mem::replace(&mut self.state, State::Failed) else { return };
        match check_maybe_write(cx, "sahara:read", false) {
            Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
            // [inferred] a refused read is reported as an authentication failure, the error
            // users meet with a wrong or unsigned programmer.
            Verdict::Nak => return self.fail(cx, status::IMAGE_AUTH_FAILURE),
            Verdict::Stop => return,
        }
        load.reads += 1;
        load.bytes += bytes.len() as u64;
        match load.step {
            Step::ElfHeader => match parse_elf_header(&bytes) {
                Ok((phoff, phnum)) => {
                    load.step = Step::ProgramHeaders;
                    return self.request(cx, load, phoff, phnum * ELF32_PHDR_LEN);
                }
                Err(code) => return self.fail(cx, code),
            },
            Step::ProgramHeaders => match load_plan(&bytes, cx.core.config.edl.read_chunk) {
                Ok(queue) => {
                    load.step = Step::Segments;
                    load.queue = queue;
                }
                Err(code) => return self.fail(cx, code),
            },
            Step::Segments => {}
        }
        if let Some((offset, length)) = load.queue.pop_front() {
            self.request(cx, load, offset, length);
        } else {
            cx.log(format!("sahara: image 13 loaded, {} bytes in {} reads", load.bytes, load.reads));
            Self::end_image(cx, image_id::ENPRG, status::SUCCESS);
            self.state = State::WaitDone;
        }
    }

    fn on_packet(&mut self, packet: Packet, cx: &mut Cx<'_>) {
        if packet == Packet::Reset {
            return self.reset(cx);
        }
        match (&mut self.state, packet) {
            (State::WaitHelloResp | State::Failed, Packet::HelloResp(rsp)) => self.on_hello_resp(cx, &rsp),
            (State::WaitDone, Packet::Done) => match check_maybe_write(cx, "sahara:done", false) {
                Verdict::Nak => self.fail(cx, status::IMAGE_AUTH_FAILURE),
                Verdict::Stop => {}
                Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {
                    let edl = &cx.core.config.edl;
                    let done = edl.done_status;
                    let tick = crate::module::POLL.as_nanos().max(1);
                    let ticks =
                        u32::try_from(edl.programmer_boot.as_nanos().div_ceil(tick)).unwrap_or(u32::MAX);
                    cx.send(Packet::DoneResp { status: done }.encode());
                    cx.log("sahara: DONE; the programmer boots");
                    self.state = State::Booting { ticks_left: ticks, early: self.framer.take_all() };
                }
            },
            (State::Command { pending }, Packet::Execute { client_cmd }) => {
                *pending = None;
                match check_maybe_write(cx, &format!("sahara:execute:{client_cmd}"), false) {
                    Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
                    Verdict::Nak => return Self::end_image(cx, 0, status::UNSUPPORTED_EXEC_CMD),
                    Verdict::Stop => return,
                }
                match execute_answer(cx, client_cmd) {
                    Some(data) => {
                        cx.send(Packet::ExecuteResp { client_cmd, len: data.len() as u32 }.encode());
                        if let State::Command { pending } = &mut self.state {
                            *pending = Some((client_cmd, data));
                        }
                    }
                    None => Self::end_image(cx, 0, status::UNSUPPORTED_EXEC_CMD),
                }
            }
            (State::Command { pending }, Packet::ExecuteData { client_cmd }) => match pending.take() {
                Some((cmd, data)) if cmd == client_cmd => cx.send(data),
                _ => Self::end_image(cx, 0, status::INVALID_CLIENT_CMD),
            },
            (State::Command { .. }, Packet::SwitchMode { mode }) => match mode {
                // A fresh HELLO in the requested mode; the host's HELLO_RESP then picks.
                0 | 3 => {
                    cx.log(format!("sahara: SWITCH_MODE({mode}); HELLO again"));
                    self.send_hello_in(cx, mode);
                }
                _ => Self::end_image(cx, 0, status::INVALID_MODE_SWITCH),
            },
            // The host echoing a HELLO, or packets after a failure: nothing to say.
            (_, Packet::Hello(_)) | (State::Failed, _) => {}
            (_, other) => {
                cx.log(format!("sahara: unexpected {} in this state", other.name()));
                Self::end_image(cx, image_id::ENPRG, status::INVALID_CMD);
            }
        }
    }

    /// Fault `fragile-rom`: the boot ROM stops answering for good.
    fn wedge(&mut self, cx: &mut Cx<'_>, what: &str) {
        cx.log(format!(
            "sahara: {what} before HELLO_RESP; the boot ROM is in an error state until a power cycle"
        ));
        self.framer = Framer::default();
        self.state = State::Wedged;
    }

    fn on_packets(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        let before_hello = matches!(self.state, State::WaitHelloResp | State::Failed);
        let fragile = before_hello && cx.has_fault(&FaultKind::FragileRom);
        if fragile && !starts_sahara_packet(self.framer.buffered(), data) {
            return self.wedge(cx, &format!("{} non-Sahara byte(s)", data.len()));
        }
        if before_hello && self.framer.buffered() == 0 && data.len() < HEADER_LEN {
            // fwupd/QFirehose write one byte when no HELLO came (docs/facts/sahara.md step 1).
            cx.log("sahara: host nudged; HELLO again");
            return self.send_hello(cx);
        }
        self.framer.push(data);
        while let Some(next) = self.framer.next_packet() {
            match next {
                Ok(packet) => self.on_packet(packet, cx),
                Err(e) if fragile => return self.wedge(cx, &e.to_string()),
                Err(e) => {
                    cx.log(format!("sahara: {e}"));
                    if before_hello {
                        // Garbage before HELLO_RESP (the EC20 tool writes 1024 zeros):
                        // say HELLO again.
                        self.send_hello(cx);
                    } else {
                        Self::end_image(cx, image_id::ENPRG, status::PROTOCOL_MISMATCH);
                    }
                }
            }
            match &mut self.state {
                // What follows is image data, left in the framer for `on_image_data`.
                State::Loading(_) => {
                    let rest = self.framer.take_all();
                    if !rest.is_empty() {
                        self.on_image_data(&rest, cx);
                    }
                    return;
                }
                State::Booting { early, .. } => {
                    early.extend(self.framer.take_all());
                    return;
                }
                _ => {}
            }
        }
    }
}

impl Handler for EdlHandler {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        if data.is_empty() {
            return; // a ZLP ends a transfer; nothing in it
        }
        match &mut self.state {
            State::Wedged => {}
            State::Firehose(p) => p.on_data(data, cx),
            State::Booting { early, .. } => {
                let room = MAX_EARLY_BYTES.saturating_sub(early.len());
                early.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
            }
            State::Loading(_) => self.on_image_data(data, cx),
            _ => self.on_packets(data, cx),
        }
    }

    fn on_idle(&mut self, cx: &mut Cx<'_>) {
        match &mut self.state {
            State::WaitHelloResp if !self.hello_sent => self.send_hello(cx),
            State::Booting { ticks_left, .. } if *ticks_left > 0 => *ticks_left -= 1,
            State::Booting { early, .. } => {
                let early = std::mem::take(early);
                let mut programmer = Box::new(Programmer::start(cx));
                if !early.is_empty() {
                    programmer.on_data(&early, cx);
                }
                self.state = State::Firehose(programmer);
            }
            _ => {}
        }
    }
}

/// Whether `data`, arriving with `buffered` bytes already held, can be the start of a
/// Sahara packet a host sends before HELLO_RESP: a HELLO_RESP (0x02) or RESET (0x07)
/// header with a length of at least the header.
fn starts_sahara_packet(buffered: usize, data: &[u8]) -> bool {
    if buffered > 0 {
        return true; // the header was judged when it came
    }
    if data.len() < HEADER_LEN {
        return false;
    }
    let cmd = le32(data, 0);
    let len = le32(data, 4);
    matches!(cmd, 0x02 | 0x07) && len as usize >= HEADER_LEN
}

/// What EXECUTE `client_cmd` answers (`docs/facts/sahara.md`), `None` when unsupported.
fn execute_answer(cx: &mut Cx<'_>, client_cmd: u32) -> Option<Vec<u8>> {
    let edl = &cx.core.config.edl;
    let answer = match client_cmd {
        exec::SERIAL_NUM_READ => cx.core.config.identity.chip_serial.to_le_bytes().to_vec(),
        exec::MSM_HW_ID_READ => {
            let id = if cx.has_fault(&FaultKind::WrongChipId) { WRONG_CHIP_HW_ID } else { edl.msm_hw_id };
            id.to_le_bytes().to_vec()
        }
        exec::OEM_PK_HASH_READ => edl.pk_hash.clone(),
        _ => {
            cx.log(format!("sahara: EXECUTE {} ({client_cmd:#x}) not supported", exec_name(client_cmd)));
            return None;
        }
    };
    Some(answer)
}

/// MSM HW id reported under the `wrong-chip-id` fault: an MSM8916's (MSM_ID 0x007050E1),
/// not a 9x07 [inferred].
pub const WRONG_CHIP_HW_ID: u64 = 0x0070_50E1_0000_0000;

/// Check the ELF32 header with the library's parser (`modemflash::package::elf`, the one
/// `inspect` uses); `(e_phoff, e_phnum)` or the Sahara status the ROM answers.
pub fn parse_elf_header(h: &[u8]) -> Result<(u32, u32), u32> {
    elf::parse_header(h).map(|e| (e.phoff, u32::from(e.phnum))).map_err(|e| elf_status(&e))
}

/// The reads that load the segments described by `phdrs` (the library's load plan):
/// every `PT_LOAD` and Qualcomm hash segment with data, in program-header order, in
/// pieces of at most `chunk` bytes.
pub fn load_plan(phdrs: &[u8], chunk: u32) -> Result<VecDeque<(u32, u32)>, u32> {
    elf::load_plan(&elf::parse_phdrs(phdrs), chunk).map(VecDeque::from).map_err(|e| elf_status(&e))
}

/// The Sahara status a boot ROM answers for an image the library's ELF parser refuses
/// (`docs/facts/sahara.md` names) [I: which status a real ROM picks for each is inferred].
fn elf_status(e: &elf::ElfError) -> u32 {
    match e {
        elf::ElfError::NotElf32 => status::INVALID_ELF_HEADER,
        elf::ElfError::PhentSize(_) => status::INVALID_PHDR_SIZE,
        elf::ElfError::PhNum(_) | elf::ElfError::NoLoad | elf::ElfError::NoHash => {
            status::UNSUPPORTED_NUM_PHDRS
        }
        elf::ElfError::PhdrsOutside { .. } => status::UNINITIALISED_PHDR_LOCATION,
        elf::ElfError::SegmentOutside { .. } => status::INVALID_IMAGE_HEADER_DATA_SIZE,
        elf::ElfError::TooLarge(_) => status::INVALID_IMAGE_DATA_SIZE,
    }
}

#[cfg(test)]
#[path = "edl_tests.rs"]
mod tests;

/// The little-endian u32 at `at`, 0 when `b` is too short.
fn le32(b: &[u8], at: usize) -> u32 {
    at.checked_add(4)
        .and_then(|end| b.get(at..end))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}
