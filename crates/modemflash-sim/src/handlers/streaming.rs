//! The EC20 R1 streaming programmer (NPRG/ENPRG9x15 after GO) on the DM port:
//! streaming DLOAD as hostdl speaks it (`docs/facts/streaming.md`).
//!
//! - Replies are framed with a leading `7E`; with `streaming_short_packet_pad` two extra
//!   `7E` follow a frame whose length is a multiple of 64 (`docs/facts/hdlc-diag.md` [confirmed]).
//! - An unknown command (a DMSS NOP among them) gets the LOG "Invalid Command": that reply
//!   starting `7E 0E` is how hosts recognise a running programmer (docs/facts/dmss.md).
//! - Until HELLO every other command gets ERROR 5; PARTITION_TABLE needs SECURITY_MODE;
//!   OPEN_MULTI needs a partition table; RESET is refused while an image is open (docs/facts/streaming.md).
//! - An ERROR is preceded by a LOG with the same text (`docs/facts/streaming.md` [confirmed]).
//! - ERASE_FLASH (0x1D) would erase the whole NAND: refused, and logged.

use std::time::Duration;

use modemflash::package::ptable::{self, PartitionTable};
use modemflash::protocol::hdlc::{Decoder, HdlcError, encode};
use modemflash::protocol::streaming::codec::{Request, partition_name};
use modemflash::protocol::streaming::codes::{ImageType, OpenMultiStatus, PartitionStatus, error_code};
use modemflash::protocol::streaming::hello::{HelloOptions, feature};
use modemflash::protocol::streaming::{HelloResponse, Reply, StreamingError};

use super::common::{SWITCH_DELAY, Verdict, check, check_write};
use crate::handler::{Cx, Handler, ResetTo};
use crate::nand::{PartitionWriter, canonical};

/// Largest STREAM_WRITE data length and the block size announced in HELLO (`docs/facts/hdlc-diag.md` [confirmed]).
pub const MAX_BLOCK: usize = 1024;
/// Largest frame the decoder takes whole; longer ones are answered "invalid length".
const MAX_FRAME: usize = 2048;
/// Feature bits the NAND programmer supports: uncompressed + multi-image (docs/facts/streaming.md [confirmed]).
pub const SUPPORTED_FEATURES: u8 = feature::UNCOMPRESSED_DOWNLOAD | feature::NAND_MULTI_IMAGE;
/// Flash id in the HELLO response [inferred] the real string is not recorded.
pub const FLASH_ID: &str = "NAND 2Gbit";
/// Receive buffers announced in HELLO (docs/facts/streaming.md [confirmed]).
pub const WINDOW: u16 = 2;
/// Erase block size announced as the one "sector" of the HELLO response [inferred] the
/// NAND content of the sector list is unconfirmed (docs/facts/streaming.md).
pub const BLOCK_BYTES: u32 = 128 * 1024;
/// The LOG text for unknown commands, as the Quectel probe saw it (`docs/facts/dmss.md`).
pub const INVALID_COMMAND_LOG: &str = "Invalid Command\n";

/// An image being written.
#[derive(Debug)]
struct Open {
    /// As the host named it (`0:SBL1`), for step names and logs.
    sent: String,
    writer: PartitionWriter,
    capacity: Option<u64>,
}

/// The programmer.
#[derive(Debug)]
pub struct Streaming {
    decoder: Decoder,
    hello: bool,
    security: Option<u8>,
    /// The partition table OPEN_MULTI looks names up in.
    table: Option<PartitionTable>,
    open: Option<Open>,
}

impl Default for Streaming {
    fn default() -> Self {
        Streaming { decoder: Decoder::new(MAX_FRAME), hello: false, security: None, table: None, open: None }
    }
}

fn send(cx: &mut Cx<'_>, reply: &Reply) {
    let mut frame = encode(&reply.encode(), true);
    if cx.core.config.streaming_short_packet_pad && frame.len().is_multiple_of(64) {
        frame.extend_from_slice(&[0x7E, 0x7E]);
    }
    cx.send(frame);
}

fn log_line(cx: &mut Cx<'_>, text: &str) {
    send(cx, &Reply::Log(text.to_owned()));
}

/// LOG then ERROR with the same text.
fn error(cx: &mut Cx<'_>, code: u32, text: &str) {
    log_line(cx, &format!("{text}\n"));
    send(cx, &Reply::Error { code, text: text.to_owned() });
}

/// The partition named by an OPEN_MULTI, or the status refusing it. Besides CUSTOM (0x0E,
/// what Quectel tools send), the 9x15 hostdl numbers SBL1/SBL2/RPM/DSP3 as 0x14–0x17
/// (`docs/facts/streaming.md` [confirmed]) and APPSBL/DSP1/DSP2 have their own types.
fn open_target(image_type: ImageType, payload: &[u8]) -> Result<String, OpenMultiStatus> {
    let fixed = match image_type {
        ImageType::Custom => {
            return match partition_name(payload) {
                Some(name) if !name.is_empty() => Ok(name.to_owned()),
                Some(_) if payload.is_empty() => Err(OpenMultiStatus::PayloadRequired),
                _ => Err(OpenMultiStatus::UnknownPartition),
            };
        }
        ImageType::AppsBl => "0:APPSBL",
        ImageType::Dsp1 => "0:DSP1",
        ImageType::Dsp2 => "0:DSP2",
        ImageType::BuildDependent(0x14) => "0:SBL1",
        ImageType::BuildDependent(0x15) => "0:SBL2",
        ImageType::BuildDependent(0x16) => "0:RPM",
        ImageType::BuildDependent(0x17) => "0:DSP3",
        _ => return Err(OpenMultiStatus::UnknownPartition),
    };
    if payload.is_empty() { Ok(fixed.to_owned()) } else { Err(OpenMultiStatus::NoPayloadExpected) }
}

impl Streaming {
    pub fn new() -> Self {
        Self::default()
    }

    fn handle(&mut self, payload: &[u8], cx: &mut Cx<'_>) {
        let req = match Request::parse(payload) {
            Ok(r) => r,
            Err(StreamingError::BadMagic { .. }) => {
                return error(cx, error_code::INVALID_COMMAND, "Invalid magic number");
            }
            Err(StreamingError::Truncated { .. } | StreamingError::Empty) => {
                return error(cx, error_code::PACKET_TOO_SHORT, "Packet too short");
            }
            Err(StreamingError::TooLong { .. }) => {
                return error(cx, error_code::INVALID_LENGTH, "Invalid length");
            }
            Err(e) => {
                cx.log(format!("streaming: cannot parse {} bytes: {e}", payload.len()));
                return error(cx, error_code::INVALID_COMMAND, "Invalid Command");
            }
        };
        match &req {
            // hostdl's answers to commands it knows but will not do here (docs/facts/streaming.md [confirmed]).
            Request::Other { cmd: 0x05, .. } if self.hello => {
                return error(cx, error_code::INVALID_COMMAND, "Simple write not allowed");
            }
            Request::Other { cmd: 0x11, .. } if self.hello => {
                return error(cx, error_code::POWER_OFF_NOT_SUPPORTED, "Power off not supported");
            }
            Request::Other { cmd: 0x05 | 0x11, .. } => {}
            Request::Other { .. } => return log_line(cx, INVALID_COMMAND_LOG),
            Request::DownloadFlag(_) if !cx.core.config.streaming_download_flag => {
                // A programmer without Quectel's command (`docs/facts/streaming.md`).
                return log_line(cx, "Invalid command\n");
            }
            _ => {}
        }
        if !self.hello && !matches!(req, Request::Hello(_)) {
            return error(cx, error_code::INVALID_COMMAND, "Invalid Command");
        }
        match req {
            Request::Hello(opts) => self.hello(cx, opts),
            Request::Read { .. } => {
                if check(cx, "streaming:read") == Verdict::Go {
                    // [inferred] reading back is not modelled.
                    error(cx, error_code::INVALID_COMMAND, "Read not supported");
                }
            }
            Request::Nop(data) => match check(cx, "streaming:nop") {
                Verdict::Go => send(cx, &Reply::Nop(data)),
                Verdict::Nak => error(cx, error_code::OPERATION_FAILED, "NOP failed"),
                _ => {}
            },
            Request::SecurityMode(mode) => match check(cx, "streaming:security") {
                Verdict::Go => {
                    self.security = Some(mode);
                    send(cx, &Reply::SecurityMode);
                }
                Verdict::Nak => error(cx, error_code::BAD_SECURITY_MODE, "Invalid security mode"),
                _ => {}
            },
            Request::PartitionTable { override_table, table } => {
                self.partition_table(cx, override_table != 0, &table);
            }
            Request::OpenMulti { image_type, payload } => self.open_multi(cx, image_type, &payload),
            Request::StreamWrite { addr, data } => self.write(cx, addr, &data),
            Request::Close => self.close(cx),
            Request::Reset => self.reset(cx),
            Request::EraseFlash => {
                cx.log("streaming: REFUSED ERASE_FLASH (0x1D): it would erase the whole NAND");
                if check(cx, "streaming:erase") == Verdict::Go {
                    error(cx, error_code::OPERATION_FAILED, "Erase flash refused");
                }
            }
            Request::DownloadFlag(flag) => match check(cx, "streaming:flag") {
                Verdict::Go => {
                    cx.log(format!(
                        "streaming: Quectel download flag {}",
                        if flag == 0 { "cleared" } else { "set" }
                    ));
                    send(cx, &Reply::DownloadFlag(0));
                }
                Verdict::Nak => send(cx, &Reply::DownloadFlag(1)),
                _ => {}
            },
            Request::Other { cmd, .. } => {
                // Only SIMPLE_WRITE / POWER_OFF before HELLO get here, and HELLO gating
                // answered them already.
                cx.log(format!("streaming: ignored command {cmd:#04x}"));
            }
        }
    }

    fn hello(&mut self, cx: &mut Cx<'_>, opts: HelloOptions) {
        match check(cx, "streaming:hello") {
            Verdict::Go => {}
            Verdict::Nak => return error(cx, error_code::INVALID_COMMAND, "Invalid Command"),
            _ => return,
        }
        if opts.min_version < 2 {
            return error(cx, error_code::INVALID_COMMAND, "Invalid protocol version");
        }
        self.hello = true;
        let rsp = HelloResponse {
            // 4 when the host speaks 4 over USB, else 3 (docs/facts/streaming.md [confirmed]).
            version: if opts.max_version >= 4 { 4 } else { 3 },
            min_version: 2,
            max_block_size: MAX_BLOCK as u32,
            flash_base: 0,
            flash_id: FLASH_ID.as_bytes().to_vec(),
            window_size: Some(WINDOW),
            sector_count: Some(1),
            sector_sizes: vec![BLOCK_BYTES],
            features: Some(opts.features & SUPPORTED_FEATURES),
        };
        send(cx, &Reply::Hello(rsp));
    }

    fn partition_table(&mut self, cx: &mut Cx<'_>, override_table: bool, table: &[u8]) {
        match check(cx, "streaming:ptable") {
            Verdict::Go => {}
            Verdict::Nak => return error(cx, error_code::OPERATION_FAILED, "Partition table failed"),
            _ => return,
        }
        if self.security.is_none() {
            return error(cx, error_code::OUT_OF_SEQUENCE, "No security mode received");
        }
        // The library's parser and units (`ModuleConfig::ptable_units`): sizes in blocks.
        let units = cx.core.config.ptable_units.clone();
        let parsed = match ptable::parse_with(table, &units) {
            Ok(t) => t,
            Err(e) => {
                cx.log(format!("streaming: partition table refused: {e}"));
                return send(cx, &Reply::PartitionTable(PartitionStatus::FormatNotRecognized));
            }
        };
        let current = cx.core.nand.table.clone();
        if current.is_empty() || current == table || override_table {
            if !current.is_empty() && current != table {
                cx.log("streaming: partition table overridden");
            }
            let parts: Vec<(String, Option<u64>)> =
                parsed.entries.iter().map(|e| (canonical(&e.name), e.length_bytes)).collect();
            cx.core.nand.define(&parts);
            cx.core.nand.table = table.to_vec();
            cx.core.dirty = true;
            self.table = Some(parsed);
            send(cx, &Reply::PartitionTable(PartitionStatus::Accepted));
        } else {
            // [inferred] the table on flash stays in force, so a host that carries on
            // after "differs" (QFlash 9615, `docs/facts/streaming.md`) can still open the
            // partitions it names.
            cx.log("streaming: partition table differs from the one on flash (override needed)");
            self.table = ptable::parse_with(&current, &units).ok();
            send(cx, &Reply::PartitionTable(PartitionStatus::Differs));
        }
    }

    fn open_multi(&mut self, cx: &mut Cx<'_>, image_type: ImageType, payload: &[u8]) {
        let target = open_target(image_type, payload);
        let step = match &target {
            Ok(name) => format!("streaming:open:{name}"),
            Err(_) => "streaming:open".to_owned(),
        };
        match check(cx, &step) {
            Verdict::Go => {}
            Verdict::Nak => return error(cx, error_code::OPERATION_FAILED, "Open failed"),
            _ => return,
        }
        let Some(table) = &self.table else {
            return error(cx, error_code::OUT_OF_SEQUENCE, "Partition table not received");
        };
        let name = match target {
            Ok(name) => name,
            Err(status) => return send(cx, &Reply::OpenMulti(status)),
        };
        let Some(entry) = table.find(&name) else {
            cx.log(format!("streaming: OPEN_MULTI {name:?}: not in the partition table"));
            return send(cx, &Reply::OpenMulti(OpenMultiStatus::UnknownPartition));
        };
        let capacity = entry.length_bytes;
        if let Some(prev) = self.open.take() {
            // [inferred] an image opened without closing the previous one leaves that
            // one unfinished.
            cx.log(format!("streaming: {} was never closed", prev.sent));
            cx.commit(prev.writer, false);
        }
        let writer = PartitionWriter::new(&name).storing(&cx.core.data);
        self.open = Some(Open { writer, sent: name, capacity });
        send(cx, &Reply::OpenMulti(OpenMultiStatus::Ok));
    }

    fn write(&mut self, cx: &mut Cx<'_>, addr: u32, data: &[u8]) {
        let Some(open) = &mut self.open else {
            let _ = check(cx, "streaming:write");
            return error(cx, error_code::OUT_OF_SEQUENCE, "No image open");
        };
        match check_write(cx, &format!("streaming:write:{}", open.sent)) {
            Verdict::Go => {}
            Verdict::Nak => return error(cx, error_code::OPERATION_FAILED, "Write failed"),
            Verdict::PowerLoss | Verdict::Disconnect => {
                // Half of this block reaches the NAND before the power goes.
                open.writer.write(u64::from(addr), data.get(..data.len() / 2).unwrap_or_default());
                if let Some(open) = self.open.take() {
                    cx.commit(open.writer, false);
                }
                cx.reset(ResetTo::Boot, Duration::ZERO);
                return;
            }
            Verdict::Stop => return,
        }
        if data.len() > MAX_BLOCK {
            return error(cx, error_code::INVALID_LENGTH, "Invalid length");
        }
        let end = u64::from(addr) + data.len() as u64;
        if open.capacity.is_some_and(|cap| end > cap) {
            return error(cx, error_code::OUT_OF_SPACE, "Out of space");
        }
        open.writer.write(u64::from(addr), data);
        send(cx, &Reply::StreamWrite { addr });
    }

    fn close(&mut self, cx: &mut Cx<'_>) {
        match check(cx, "streaming:close") {
            Verdict::Go => {}
            Verdict::Nak => return error(cx, error_code::CLOSE_FAILED, "Close failed"),
            _ => return,
        }
        let Some(open) = self.open.take() else {
            return error(cx, error_code::OUT_OF_SEQUENCE, "No image open");
        };
        cx.log(format!("streaming: {} closed after {} bytes", open.sent, open.writer.len()));
        cx.commit(open.writer, true);
        send(cx, &Reply::Close);
    }

    fn reset(&mut self, cx: &mut Cx<'_>) {
        match check(cx, "streaming:reset") {
            Verdict::Go => {}
            Verdict::Nak => return error(cx, error_code::OPERATION_FAILED, "Reset failed"),
            _ => return,
        }
        if let Some(open) = &self.open {
            let text = format!("Reset refused: {} is still open", open.sent);
            return error(cx, error_code::OUT_OF_SEQUENCE, &text);
        }
        send(cx, &Reply::Reset);
        cx.reset(ResetTo::Boot, SWITCH_DELAY);
    }
}

impl Handler for Streaming {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        for frame in self.decoder.feed_collect(data) {
            match frame {
                Ok(payload) => self.handle(&payload, cx),
                Err(HdlcError::TooLong { .. }) => error(cx, error_code::INVALID_LENGTH, "Invalid length"),
                // hostdl does not check the CRC over USB; the simulator cannot recover the
                // payload of a broken frame, so it drops it and the host retries.
                Err(e) => cx.log(format!("streaming: dropped a bad frame: {e}")),
            }
        }
    }
}
