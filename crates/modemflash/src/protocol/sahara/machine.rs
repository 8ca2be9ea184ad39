//! Pure host state machine for Sahara v1–v3 image upload (`docs/facts/sahara.md`). Feed it whatever the target sent, in reads of any size; it
//! answers with [`Action`]s. No I/O, no clock.
//!
//! WaitHello → (HELLO → send HELLO_RESP) → Transfer → (READ_DATA[_64] → serve;
//! END_IMAGE_TX 0 → send DONE) → WaitDoneResp → (DONE_RESP → done). Any unexpected packet
//! sends RESET and fails.

use super::codec::{HELLO_LEN, Hello, HelloResp, Packet};
use super::codes::{Mode, status_name};
use super::error::SaharaError;
use super::framer::Framer;

/// Largest READ_DATA length served. Boot ROMs read ≤ 4 KiB at a time (`docs/facts/sahara.md`); 1 MiB also covers hosts that allow big reads, and keeps the buffer bounded.
pub const MAX_READ_LEN: u64 = 1024 * 1024;
/// HELLOs answered in one upload. A target repeats HELLO when our answer was slow, and
/// starts over with a HELLO when it received something it could not parse: over a tty
/// still in cooked mode right after it appeared, the line discipline echoes the target's
/// own HELLO back to it (seen over qcserial in a real kernel, tools/usb-e2e). A HELLO
/// after reads began restarts the transfer. [inferred] how often a real boot ROM starts
/// over is not recorded; beyond this many HELLOs one is unexpected.
pub const MAX_HELLOS: u32 = 5;
/// HELLOs repeated before the first READ_DATA, ignored (they are not counted in
/// [`MAX_HELLOS`]): a target that answers each echoed fragment of its HELLO with a new one
/// sends a burst while the fresh tty still echoes (13 in a row seen over qcserial in
/// tools/usb-e2e, where 5 had been allowed). Beyond this many the target is taken to be
/// looping [inferred].
pub const MAX_REPEATED_HELLOS: u32 = 64;

/// Whether DONE_RESP "pending" (0) ends an upload successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingPolicy {
    /// Accept for any image (an EDL programmer upload commonly answers 0 and jumps).
    Accept,
    /// Accept only for these image IDs (QFirehose / fwupd: 7, 13, 21).
    AcceptImages(Vec<u32>),
    /// Require "complete" (1).
    Reject,
}

/// How the host answers HELLO and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// HELLO_RESP version (2).
    pub version: u32,
    /// HELLO_RESP version_supported (1).
    pub version_supported: u32,
    /// Copy the target's version fields instead (QFirehose).
    pub echo_target_version: bool,
    /// HELLO_RESP mode (0, image transfer pending).
    pub mode: u32,
    /// Copy the target's mode instead (qdl).
    pub echo_target_mode: bool,
    /// HELLO_RESP reserved words (edl/QFirehose send 1..6; targets ignore them).
    pub reserved: [u32; 6],
    /// Answer a short (v1, 0x14-byte) HELLO with a HELLO_RESP of the same length.
    /// [inferred] v1 HELLO_RESP was 0x14 bytes too (docs/facts/sahara.md "Versions").
    pub mirror_short_hello: bool,
    /// See [`PendingPolicy`].
    pub pending: PendingPolicy,
    /// Reads longer than this (or of 0 bytes) are refused.
    pub max_read_len: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            version: 2,
            version_supported: 1,
            echo_target_version: false,
            mode: Mode::ImageTxPending.as_u32(),
            echo_target_mode: false,
            reserved: [1, 2, 3, 4, 5, 6],
            mirror_short_hello: true,
            pending: PendingPolicy::Accept,
            max_read_len: MAX_READ_LEN,
        }
    }
}

impl UploadConfig {
    /// The HELLO_RESP this configuration sends for `hello`.
    pub fn hello_resp(&self, hello: &Hello) -> HelloResp {
        let (version, version_supported) = if self.echo_target_version {
            (hello.version, hello.version_supported)
        } else {
            (self.version, self.version_supported)
        };
        let mode = if self.echo_target_mode { hello.mode } else { self.mode };
        let len = if self.mirror_short_hello { hello.len.min(HELLO_LEN) } else { HELLO_LEN };
        HelloResp { version, version_supported, status: 0, mode, reserved: self.reserved, len }
    }
}

/// One READ_DATA / READ_DATA_64 to serve: send exactly `length` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    pub image_id: u64,
    pub offset: u64,
    pub length: u64,
}

/// How the upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneStatus {
    /// DONE_RESP 1.
    Complete,
    /// DONE_RESP 0, accepted by [`PendingPolicy`].
    Pending,
}

/// What the host must do next.
#[derive(Debug)]
pub enum Action {
    /// Send these bytes (one Sahara packet).
    Send(Vec<u8>),
    /// Send `length` bytes of the image from `offset`.
    Serve(ReadRequest),
    /// Upload finished.
    Done(DoneStatus),
    /// Upload failed; further input is ignored.
    Failed(SaharaError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    WaitHello,
    Transfer,
    WaitDoneResp,
    Finished,
}

/// The upload state machine.
#[derive(Debug)]
pub struct UploadMachine {
    config: UploadConfig,
    image_size: u64,
    expected_image_id: Option<u32>,
    framer: Framer,
    state: State,
    target: Option<Hello>,
    image_id: Option<u64>,
    hellos: u32,
    /// HELLOs ignored since the last HELLO_RESP, before any READ_DATA.
    repeats: u32,
    reads: u64,
}

impl UploadMachine {
    /// Serve an image of `image_size` bytes; if `expected_image_id` is set, reads for
    /// other images are refused.
    pub fn new(config: UploadConfig, image_size: u64, expected_image_id: Option<u32>) -> Self {
        Self {
            config,
            image_size,
            expected_image_id,
            framer: Framer::default(),
            state: State::WaitHello,
            target: None,
            image_id: None,
            hellos: 0,
            repeats: 0,
            reads: 0,
        }
    }

    /// The target's HELLO, once received.
    pub fn target_hello(&self) -> Option<&Hello> {
        self.target.as_ref()
    }

    /// The image ID of the first read, once known.
    pub fn image_id(&self) -> Option<u64> {
        self.image_id
    }

    /// READ_DATA requests served so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Whether nothing has been received yet (the host may nudge the target).
    pub fn waiting_for_hello(&self) -> bool {
        self.state == State::WaitHello
    }

    /// Whether the machine has stopped (done or failed).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// What the machine waits for, for timeout messages.
    pub fn waiting_for(&self) -> &'static str {
        match self.state {
            State::WaitHello => "HELLO",
            State::Transfer => "READ_DATA or END_IMAGE_TX",
            State::WaitDoneResp => "DONE_RESP",
            State::Finished => "nothing",
        }
    }

    /// Bytes received but not yet used (after the machine finished), for whoever reads next.
    pub fn take_unused(&mut self) -> Vec<u8> {
        self.framer.take_all()
    }

    /// Feed received bytes; returns the actions they call for, in order.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::Finished {
            return out;
        }
        self.framer.push(data);
        while self.state != State::Finished {
            let Some(next) = self.framer.next_packet() else { break };
            match next {
                Ok(packet) => self.on_packet(packet, &mut out),
                Err(e) => self.reset_and_fail(e, &mut out),
            }
        }
        out
    }

    fn on_packet(&mut self, packet: Packet, out: &mut Vec<Action>) {
        match (self.state, packet) {
            // A HELLO repeated before the first READ_DATA is not answered again: the target
            // reads the one HELLO_RESP already sent, and a second one would reach it after
            // it began loading and be read as image bytes (a fresh qcserial tty echoes the
            // target's HELLO back to it, and it repeats HELLO for each echoed fragment).
            (State::Transfer, Packet::Hello(_)) if self.reads == 0 && self.repeats < MAX_REPEATED_HELLOS => {
                self.repeats += 1;
            }
            (State::WaitHello | State::Transfer, Packet::Hello(h)) if self.hellos < MAX_HELLOS => {
                self.hellos += 1;
                self.repeats = 0;
                // The target starts over: what it read before no longer counts.
                self.reads = 0;
                self.image_id = None;
                self.target = Some(h);
                out.push(Action::Send(Packet::HelloResp(self.config.hello_resp(&h)).encode()));
                self.state = State::Transfer;
            }
            // A target left in command mode after SWITCH_MODE answers CMD_READY instead of
            // the fresh HELLO a real 9x07 sends (bkerler/edl #714): wait on for the HELLO.
            (State::WaitHello, Packet::CmdReady) => {}
            (State::Transfer, Packet::ReadData { image_id, offset, length }) => {
                self.on_read(
                    ReadRequest { image_id: image_id.into(), offset: offset.into(), length: length.into() },
                    out,
                );
            }
            (State::Transfer, Packet::ReadData64 { image_id, offset, length }) => {
                self.on_read(ReadRequest { image_id, offset, length }, out);
            }
            (State::Transfer, Packet::EndImageTx { image_id, status: 0 }) => {
                if let Err(e) = self.check_image_id(image_id.into()) {
                    return self.reset_and_fail(e, out);
                }
                self.image_id.get_or_insert(image_id.into());
                out.push(Action::Send(Packet::Done.encode()));
                self.state = State::WaitDoneResp;
            }
            (State::Transfer, Packet::EndImageTx { image_id, status }) => {
                self.fail(SaharaError::ImageTransfer { image_id, status, name: status_name(status) }, out);
            }
            (State::WaitDoneResp, Packet::DoneResp { status: 1 }) => {
                self.state = State::Finished;
                out.push(Action::Done(DoneStatus::Complete));
            }
            (State::WaitDoneResp, Packet::DoneResp { status: 0 }) => {
                if self.pending_accepted() {
                    self.state = State::Finished;
                    out.push(Action::Done(DoneStatus::Pending));
                } else {
                    self.fail(SaharaError::PendingRejected { image_id: self.image_id }, out);
                }
            }
            (State::WaitDoneResp, Packet::DoneResp { status }) => {
                self.fail(SaharaError::BadDoneStatus { status }, out);
            }
            (_, other) => {
                let e = SaharaError::Unexpected {
                    expected: self.waiting_for(),
                    got: other.name(),
                    cmd: other.cmd(),
                };
                self.reset_and_fail(e, out);
            }
        }
    }

    fn on_read(&mut self, req: ReadRequest, out: &mut Vec<Action>) {
        if let Err(e) = self.check_read(&req) {
            return self.reset_and_fail(e, out);
        }
        self.image_id.get_or_insert(req.image_id);
        self.reads += 1;
        out.push(Action::Serve(req));
    }

    fn check_image_id(&self, got: u64) -> Result<(), SaharaError> {
        match self.expected_image_id {
            Some(expected) if u64::from(expected) != got => {
                Err(SaharaError::UnexpectedImageId { expected, got })
            }
            _ => Ok(()),
        }
    }

    fn check_read(&self, r: &ReadRequest) -> Result<(), SaharaError> {
        self.check_image_id(r.image_id)?;
        if r.length == 0 || r.length > self.config.max_read_len {
            return Err(SaharaError::BadReadLength { length: r.length, max: self.config.max_read_len });
        }
        match r.offset.checked_add(r.length) {
            Some(end) if end <= self.image_size => Ok(()),
            _ => Err(SaharaError::ReadOutOfRange {
                image_id: r.image_id,
                offset: r.offset,
                length: r.length,
                image_size: self.image_size,
            }),
        }
    }

    fn pending_accepted(&self) -> bool {
        match &self.config.pending {
            PendingPolicy::Accept => true,
            PendingPolicy::Reject => false,
            PendingPolicy::AcceptImages(ids) => {
                self.image_id.is_some_and(|id| ids.iter().any(|&allowed| u64::from(allowed) == id))
            }
        }
    }

    fn fail(&mut self, e: SaharaError, out: &mut Vec<Action>) {
        self.state = State::Finished;
        out.push(Action::Failed(e));
    }

    /// docs/facts/sahara.md step 6: an unexpected packet gets a RESET.
    fn reset_and_fail(&mut self, e: SaharaError, out: &mut Vec<Action>) {
        out.push(Action::Send(Packet::Reset.encode()));
        self.fail(e, out);
    }
}
