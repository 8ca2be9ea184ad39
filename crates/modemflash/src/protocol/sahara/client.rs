//! Blocking Sahara host over a raw [`Transport`] (`protocols.md` §4.5, `quectel-flows.md`
//! §3.5): image upload driven by [`UploadMachine`], and command-mode identity reads.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use super::codec::{Hello, Packet};
use super::codes::{Mode, exec, exec_name, status_name};
use super::error::SaharaError;
use super::framer::Framer;
use super::identity::{Identity, parse_chip_id_v3, parse_msm_hw_id, parse_serial, trim_pk_hash};
use super::machine::{Action, DoneStatus, MAX_READ_LEN, ReadRequest, UploadConfig, UploadMachine};
use crate::transport::{Transport, TransportError};

/// Wait for the target's HELLO (QFirehose: 5 s per read).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Wait for each later packet (QFirehose 5 s; qdl 1 s, fwupd 15 s).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// What is written when no HELLO came: one byte, then the host reads again once
/// (fwupd, QFirehose). [I] inferred: the byte's value does not matter; 0 is sent.
pub const HELLO_NUDGE: &[u8] = &[0];
/// Receive buffer (QFirehose reads 4 KiB at a time).
pub const RECV_BUFFER: usize = 4096;
/// Largest EXECUTE answer accepted (PK hashes are ≤ a few hundred bytes).
pub const MAX_EXECUTE_RESPONSE: u32 = 64 * 1024;

/// Timing knobs; defaults are the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaharaTimeouts {
    pub hello: Duration,
    pub command: Duration,
}

impl Default for SaharaTimeouts {
    fn default() -> Self {
        Self { hello: HELLO_TIMEOUT, command: COMMAND_TIMEOUT }
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// The target's HELLO.
    pub target: Option<Hello>,
    /// Image ID the target asked for.
    pub image_id: Option<u64>,
    /// READ_DATA requests served.
    pub reads: u64,
    /// Bytes sent in answer to them (re-reads counted again).
    pub bytes_served: u64,
    /// Size of the image.
    pub image_size: u64,
    /// DONE_RESP result.
    pub done: DoneStatus,
}

/// A Sahara host.
#[derive(Debug)]
pub struct SaharaClient<T> {
    transport: T,
    config: UploadConfig,
    timeouts: SaharaTimeouts,
    /// Bytes received but not used by the last operation (e.g. the HELLO that follows
    /// SWITCH_MODE).
    framer: Framer,
    rx: Vec<u8>,
    data: Vec<u8>,
}

impl<T: Transport> SaharaClient<T> {
    /// Speak Sahara over `transport` with the default [`UploadConfig`].
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            config: UploadConfig::default(),
            timeouts: SaharaTimeouts::default(),
            framer: Framer::default(),
            rx: vec![0; RECV_BUFFER],
            data: Vec::new(),
        }
    }

    /// Replace the HELLO_RESP / acceptance configuration. Reads are capped at
    /// [`MAX_READ_LEN`] whatever it says, so each answer is one transfer.
    #[must_use]
    pub fn with_config(mut self, mut config: UploadConfig) -> Self {
        config.max_read_len = config.max_read_len.min(MAX_READ_LEN);
        self.config = config;
        self
    }

    /// Replace the timing knobs.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: SaharaTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Give the transport back.
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// Give the transport back with the bytes received but not used yet (the start of
    /// the HELLO that follows SWITCH_MODE), for whoever speaks next.
    pub fn into_parts(mut self) -> (T, Vec<u8>) {
        let rest = self.framer.take_all();
        (self.transport, rest)
    }

    /// Upload `image` (a programmer such as `prog_nand_firehose_9x07.mbn` or NPRG) by
    /// serving the target's reads, in whatever order it asks. Progress is bytes served
    /// (capped at the image size) out of the image size, and the whole size once the
    /// target says it is done.
    pub fn upload_image<R: Read + Seek>(
        &mut self,
        mut image: R,
        expected_image_id: Option<u32>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<UploadReport, SaharaError> {
        let size =
            image.seek(SeekFrom::End(0)).map_err(|source| SaharaError::ImageRead { offset: 0, source })?;
        let mut machine = UploadMachine::new(self.config.clone(), size, expected_image_id);
        let mut served = 0u64;
        let mut nudged = false;
        progress(0, size);
        let mut actions = machine.feed(&self.framer.take_all());
        loop {
            for action in actions {
                match action {
                    Action::Send(bytes) => self.transport.send(&bytes)?,
                    Action::Serve(req) => {
                        self.serve(&mut image, req)?;
                        served = served.saturating_add(req.length);
                        progress(served.min(size), size);
                    }
                    Action::Done(done) => {
                        // The target read what it needed: an ELF's gaps between segments
                        // are never read, so served bytes fall short of the file size.
                        progress(size, size);
                        self.framer = Framer::with_bytes(machine.take_unused());
                        return Ok(UploadReport {
                            target: machine.target_hello().copied(),
                            image_id: machine.image_id(),
                            reads: machine.reads(),
                            bytes_served: served,
                            image_size: size,
                            done,
                        });
                    }
                    Action::Failed(e) => return Err(e),
                }
            }
            let n = self.recv(machine.waiting_for_hello(), machine.waiting_for(), &mut nudged)?;
            actions = machine.feed(self.rx.get(..n).unwrap_or_default());
        }
    }

    /// Command mode (docs/facts/sahara.md): HELLO_RESP(mode 3) → CMD_READY, then EXECUTE
    /// serial number, MSM HW id (READ_CHIP_ID_V3 on v3 targets) and OEM PK hash, then
    /// SWITCH_MODE(0): the target answers with a fresh HELLO in that mode (a real 9x07 does,
    /// bkerler/edl #714), which a following [`Self::upload_image`] reads. A target that
    /// answers CMD_READY instead is tolerated there.
    pub fn read_identity(&mut self) -> Result<Identity, SaharaError> {
        let mut nudged = false;
        let hello = match self.next_packet(true, "HELLO", &mut nudged)? {
            Packet::Hello(h) => h,
            other => return Err(unexpected("HELLO", &other)),
        };
        let mut rsp = self.config.hello_resp(&hello);
        rsp.mode = Mode::Command.as_u32();
        self.transport.send(&Packet::HelloResp(rsp).encode())?;
        match self.next_packet(false, "CMD_READY", &mut nudged)? {
            Packet::CmdReady => {}
            other => return Err(unexpected("CMD_READY", &other)),
        }
        let serial = parse_serial(&self.execute(exec::SERIAL_NUM_READ)?)?;
        let hw_id = if hello.version >= 3 {
            parse_chip_id_v3(&self.execute(exec::READ_CHIP_ID_V3)?)?
        } else {
            parse_msm_hw_id(&self.execute(exec::MSM_HW_ID_READ)?)?
        };
        let pk_hash = trim_pk_hash(&self.execute(exec::OEM_PK_HASH_READ)?).to_vec();
        self.transport.send(&Packet::SwitchMode { mode: Mode::ImageTxPending.as_u32() }.encode())?;
        Ok(Identity { sahara_version: hello.version, serial, hw_id, pk_hash })
    }

    /// EXECUTE(cmd) → EXECUTE_RESP(cmd, len) → EXECUTE_DATA(cmd) → `len` raw bytes.
    pub fn execute(&mut self, client_cmd: u32) -> Result<Vec<u8>, SaharaError> {
        let name = exec_name(client_cmd);
        self.transport.send(&Packet::Execute { client_cmd }.encode())?;
        let mut nudged = true;
        let len = loop {
            match self.next_packet(false, "EXECUTE_RESP", &mut nudged)? {
                // Tolerate a repeated CMD_READY between commands.
                Packet::CmdReady => {}
                Packet::ExecuteResp { client_cmd: got, len } if got == client_cmd => break len,
                Packet::ExecuteResp { client_cmd: got, .. } => {
                    return Err(SaharaError::ExecuteMismatch { sent: client_cmd, got });
                }
                Packet::EndImageTx { status, .. } => {
                    return Err(SaharaError::ExecuteFailed {
                        name,
                        status,
                        status_name: status_name(status),
                    });
                }
                other => return Err(unexpected("EXECUTE_RESP", &other)),
            }
        };
        if len > MAX_EXECUTE_RESPONSE {
            return Err(SaharaError::ExecuteTooLong { name, len, max: MAX_EXECUTE_RESPONSE });
        }
        self.transport.send(&Packet::ExecuteData { client_cmd }.encode())?;
        loop {
            if let Some(data) = self.framer.take_raw(len as usize) {
                return Ok(data);
            }
            let n = self.recv(false, name, &mut nudged)?;
            self.framer.push(self.rx.get(..n).unwrap_or_default());
        }
    }

    /// Send exactly `req.length` bytes from `req.offset` in one write; the transport adds
    /// the ZLP when the length is a multiple of the max packet size.
    fn serve<R: Read + Seek>(&mut self, image: &mut R, req: ReadRequest) -> Result<(), SaharaError> {
        let offset = req.offset;
        let io = |source| SaharaError::ImageRead { offset, source };
        // The machine refused reads above `max_read_len` (≤ 1 MiB), so this is bounded.
        self.data.resize(req.length.min(MAX_READ_LEN) as usize, 0);
        image.seek(SeekFrom::Start(offset)).map_err(io)?;
        image.read_exact(&mut self.data).map_err(io)?;
        Ok(self.transport.send(&self.data)?)
    }

    fn next_packet(
        &mut self,
        hello: bool,
        waiting_for: &'static str,
        nudged: &mut bool,
    ) -> Result<Packet, SaharaError> {
        loop {
            if let Some(p) = self.framer.next_packet() {
                return p;
            }
            let n = self.recv(hello, waiting_for, nudged)?;
            self.framer.push(self.rx.get(..n).unwrap_or_default());
        }
    }

    /// One non-empty read. While waiting for HELLO, a timeout is answered once with
    /// [`HELLO_NUDGE`] and the read is retried.
    fn recv(
        &mut self,
        hello: bool,
        waiting_for: &'static str,
        nudged: &mut bool,
    ) -> Result<usize, SaharaError> {
        loop {
            let timeout = if hello { self.timeouts.hello } else { self.timeouts.command };
            match self.transport.recv(&mut self.rx, timeout) {
                Ok(0) => {} // a ZLP ends a transfer; nothing to parse
                Ok(n) => return Ok(n),
                Err(TransportError::Timeout(_)) if hello && !*nudged => {
                    *nudged = true;
                    self.transport.send(HELLO_NUDGE)?;
                }
                Err(TransportError::Timeout(_)) if hello => {
                    return Err(SaharaError::NoHello { waited: timeout.saturating_mul(2) });
                }
                Err(TransportError::Timeout(_)) => {
                    return Err(SaharaError::Timeout { waiting_for, after: timeout });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn unexpected(expected: &'static str, got: &Packet) -> SaharaError {
    SaharaError::Unexpected { expected, got: got.name(), cmd: got.cmd() }
}
