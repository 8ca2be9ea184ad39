//! The Firehose programmer of an EC25 (`prog_nand_firehose_9x07.mbn`) once the boot ROM
//! has loaded it (`docs/facts/firehose.md`, "The 9x07 programmer's real replies"). 9x07 style throughout: logs without an `INFO: ` prefix, responses with
//! the exact attribute sets of `docs/facts/firehose.md`.
//!
//! Commands come through the library's [`Scanner`]; after `<program>`'s
//! `ACK rawmode="true"` the next `num_partition_sectors × page` bytes are raw data, in any
//! split and possibly in the same read as the XML. The NAND keeps one
//! [`PartitionWriter`] per program: its hash covers the bytes received, i.e. the image
//! **padded to whole sectors** (the device never learns the unpadded length).

use std::time::Duration;

use modemflash::protocol::firehose::{
    Command, CommandKind, FirehoseError, Scanner, encode_log, encode_response,
};

use super::common::{Verdict, check_maybe_write};
use crate::core::EdlQuirks;
use crate::handler::{Cx, ResetTo};
use crate::nand::PartitionWriter;
use modemflash::module::DeviceMode;

/// Bytes buffered without a `</data>` before the command is refused.
pub const SCANNER_CAPACITY: usize = 256 * 1024;
/// `MaxPayloadSizeFromTargetInBytes` (the sibling 9x55 programmer's value [confirmed], assumed for
/// 9x07 [inferred], `docs/facts/firehose.md`).
pub const MAX_PAYLOAD_FROM_TARGET: u64 = 2048;
/// `TargetName` and `MemoryName` of the configure reply [confirmed].
pub const TARGET_NAME: &str = "9x07";
pub const MEMORY_NAME: &str = "NAND";
/// The function list exactly as a real 9x07 loader printed it, trailing space included
/// (`docs/facts/firehose.md`) [confirmed].
pub const SUPPORTED_FUNCTIONS: &str =
    "Supported Functions: program configure power benchmark read getstorageinfo erase nop ";
/// Time between the power-reset ACK and the device leaving the bus (~1 s [confirmed]).
pub const POWER_RESET_DELAY: Duration = Duration::from_secs(1);
/// Largest `<read>` served in one command: bounds the memory queued for it (a simulator
/// limit, not the device's [inferred]; hosts read a partition in pieces).
pub const MAX_READ_BYTES: u64 = 16 << 20;
/// Size of each transfer of a `<read>`.
const READ_TRANSFER: usize = 16 * 1024;

/// A `<program>` data phase in progress.
#[derive(Debug)]
struct DataPhase {
    writer: PartitionWriter,
    start_sector: u64,
    remaining: u64,
    /// Power loss once the partition holds this many bytes (fault
    /// `power-loss@step=firehose:program:…`).
    cut_at: Option<u64>,
}

/// If the link idled this long, the next data starts a new burst (device timing).
const LINK_IDLE_SLACK: Duration = Duration::from_millis(5);

/// Device timing (`EdlQuirks::link_rate` / `nand_rate`): when the link and the NAND are
/// next free, on the module clock.
#[derive(Debug, Default)]
struct Timing {
    link_free: Duration,
    nand_free: Duration,
}

fn duration_for(bytes: u64, rate: Option<u64>) -> Duration {
    match rate {
        // Whole seconds, then the remainder in nanoseconds: exact, no float.
        Some(r) if r > 0 => {
            Duration::from_secs(bytes / r)
                + Duration::from_nanos(
                    u64::try_from(u128::from(bytes % r) * 1_000_000_000 / u128::from(r)).unwrap_or(0),
                )
        }
        _ => Duration::ZERO,
    }
}

impl Timing {
    /// `n` bytes arrived: the link carried them, the NAND programs them behind it. Returns
    /// when the endpoint may read again: once the link is free and the programmer's
    /// buffer has room.
    fn data(&mut self, n: u64, edl: &EdlQuirks, now: Duration) -> Duration {
        let base = if now > self.link_free + LINK_IDLE_SLACK { now } else { self.link_free };
        self.link_free = base + duration_for(n, edl.link_rate);
        let start = self.link_free.max(self.nand_free);
        self.nand_free = start + duration_for(n, edl.nand_rate);
        let buffered = duration_for(edl.program_buffer, edl.nand_rate);
        self.link_free.max(self.nand_free.saturating_sub(buffered))
    }
}

/// NAND geometry the programmer checks against.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    page: u64,
    pages_per_block: u64,
    total_blocks: u64,
}

impl Geometry {
    fn of(edl: &EdlQuirks) -> Self {
        Geometry {
            page: u64::from(edl.page_size.max(1)),
            pages_per_block: u64::from(edl.pages_per_block.max(1)),
            total_blocks: u64::from(edl.total_blocks),
        }
    }

    fn total_sectors(self) -> u64 {
        self.total_blocks * self.pages_per_block
    }
}

/// The running programmer.
#[derive(Debug)]
pub struct Programmer {
    scanner: Scanner,
    data: Option<DataPhase>,
    tmp: Vec<u8>,
    /// Set once a reset is requested: nothing more is answered.
    gone: bool,
    /// The last partition written, kept so the next piece of a sparse image continues it.
    last: Option<PartitionWriter>,
    timing: Timing,
}

/// Why a command is refused: the log lines to send before the NAK.
type Refusal = Vec<String>;

fn log(cx: &mut Cx<'_>, text: &str) {
    cx.send(encode_log(text));
}

fn respond(cx: &mut Cx<'_>, ack: bool, rawmode: Option<bool>, extra: &[(&str, String)]) {
    if let Ok(doc) = encode_response(ack, rawmode, extra) {
        cx.send(doc);
    }
}

fn nak(cx: &mut Cx<'_>, lines: &[String]) {
    for l in lines {
        log(cx, l);
    }
    respond(cx, false, None, &[]);
}

/// A numeric attribute; a missing or unparsable one is a refusal ([inferred] wording).
fn num(cmd: &Command, name: &str) -> Result<u64, Refusal> {
    match cmd.attr_u64(name) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(vec![format!("ERROR: Attribute '{name}' is missing in <{}>", cmd.name)]),
        Err(_) => Err(vec![format!(
            "ERROR: Attribute '{name}'='{}' is not a number",
            cmd.attr(name).unwrap_or_default()
        )]),
    }
}

impl Programmer {
    /// The programmer starts: its start-up logs (`docs/facts/firehose.md`).
    pub fn start(cx: &mut Cx<'_>) -> Self {
        let edl = &cx.core.config.edl;
        let date = format!("Binary build date: {}\n", edl.build_date);
        let chip = cx.core.config.identity.chip_serial;
        let serial = format!("Chip serial num: {chip} ({chip:#x})");
        log(cx, &date);
        log(cx, &serial);
        log(cx, SUPPORTED_FUNCTIONS);
        cx.log("firehose: programmer running");
        Programmer {
            scanner: Scanner::new(SCANNER_CAPACITY),
            data: None,
            tmp: vec![0; 64 * 1024],
            gone: false,
            last: None,
            timing: Timing::default(),
        }
    }

    /// Bytes from the host: commands and raw program data.
    pub fn on_data(&mut self, mut data: &[u8], cx: &mut Cx<'_>) {
        while !data.is_empty() && !self.gone {
            let room = self.scanner.room();
            if room == 0 {
                self.too_big(cx);
                continue;
            }
            let (now, rest) = data.split_at(room.min(data.len()));
            if self.scanner.feed(now).is_err() {
                self.too_big(cx);
            }
            data = rest;
            self.process(cx);
        }
    }

    fn too_big(&mut self, cx: &mut Cx<'_>) {
        let held = self.scanner.buffered();
        self.scanner.clear();
        nak(cx, &[format!("XML ({held} bytes) is too big for buffer (max {SCANNER_CAPACITY} bytes)")]);
    }

    /// Handle everything buffered.
    fn process(&mut self, cx: &mut Cx<'_>) {
        while !self.gone {
            if self.data.is_some() {
                if !self.take_data(cx) {
                    return;
                }
                continue;
            }
            match self.scanner.next_command() {
                Ok(None) => return,
                Ok(Some(cmd)) => self.handle(&cmd, cx),
                Err(FirehoseError::DocumentTooLong { .. }) => self.too_big(cx),
                // The real text goes on after "correctly" [confirmed]; what follows is ours [inferred].
                Err(e) => nak(cx, &[format!("ERROR: XML not formed correctly: {e}")]),
            }
        }
    }

    /// Move raw data into the current write; false when more bytes are needed.
    fn take_data(&mut self, cx: &mut Cx<'_>) -> bool {
        let Some(phase) = self.data.as_mut() else { return true };
        if phase.remaining > 0 {
            let mut want = usize::try_from(phase.remaining).unwrap_or(usize::MAX).min(self.tmp.len());
            let written = phase.writer.len();
            if let Some(cut) = phase.cut_at {
                want = want.min(usize::try_from(cut.saturating_sub(written)).unwrap_or(usize::MAX));
            }
            let buf = self.tmp.get_mut(..want).unwrap_or_default();
            let n = self.scanner.take_raw(buf);
            phase.writer.write(written, buf.get(..n).unwrap_or_default());
            phase.remaining -= n as u64;
            let edl = &cx.core.config.edl;
            if n > 0 && (edl.link_rate.is_some() || edl.nand_rate.is_some()) {
                let now = cx.now();
                let resume = self.timing.data(n as u64, &cx.core.config.edl, now);
                cx.pause_until(resume);
            }
            if phase.cut_at.is_some_and(|cut| phase.writer.len() >= cut) {
                let Some(phase) = self.data.take() else { return false };
                cx.log(format!("firehose: power lost while programming {}", phase.writer.name));
                cx.commit(phase.writer, false);
                cx.reset(ResetTo::Boot, Duration::ZERO);
                self.gone = true;
                return false;
            }
            if phase.remaining > 0 {
                return false;
            }
        }
        let Some(phase) = self.data.take() else { return true };
        if cx.core.config.edl.nand_rate.is_some() {
            // The ACK comes once the NAND holds the data.
            cx.pause_until(self.timing.nand_free);
        }
        cx.commit(phase.writer.clone(), true);
        self.last = Some(phase.writer);
        log(cx, &format!("Finished sector address {}", phase.start_sector));
        respond(cx, true, Some(false), &[]);
        true
    }

    fn handle(&mut self, cmd: &Command, cx: &mut Cx<'_>) {
        let geo = Geometry::of(&cx.core.config.edl);
        let result = match &cmd.kind {
            CommandKind::Configure => self.configure(cmd, cx),
            CommandKind::Erase => self.erase(cmd, geo, cx),
            CommandKind::Program => self.program(cmd, geo, cx),
            CommandKind::Read => self.read(cmd, geo, cx),
            CommandKind::Power => self.power(cmd, cx),
            CommandKind::Patch => simple(cx, "firehose:patch", || {
                let file = cmd.attr("filename").unwrap_or_default();
                // Only DISK patches touch the device; others are for host files (docs/facts/firehose.md).
                // [inferred] the real programmer's handling of a non-DISK patch is unknown.
                (!file.eq_ignore_ascii_case("DISK")).then(|| format!("patch for {file:?} ignored: not DISK"))
            }),
            CommandKind::Nop => simple(cx, "firehose:nop", || None),
            CommandKind::GetStorageInfo => {
                let name = cx.core.config.edl.nand_name.clone();
                simple(cx, "firehose:getstorageinfo", || {
                    // `block_size` in bytes (256 KiB on the EC25-E's NAND): edl, the one
                    // independent client that reads it, divides it by the page size to
                    // get pages per block and multiplies total_blocks by that for the
                    // sector count (docs/facts/firehose.md) [inferred: no real 9x07
                    // value is recorded; the JSON template is the real programmer's].
                    Some(format!(
                        "{{\"storage_info\": {{\"total_blocks\":{}, \"block_size\":{}, \"page_size\":{}, \"mem_type\":\"NAND\", \"prod_name\":\"{name}\"}}}}",
                        geo.total_blocks,
                        geo.pages_per_block.saturating_mul(geo.page),
                        geo.page
                    ))
                })
            }
            CommandKind::Other(name) => {
                if check_maybe_write(cx, &format!("firehose:{name}"), false) == Verdict::Stop {
                    self.stop();
                }
                // [inferred] wording: the 9x07 text for an unknown tag is not known.
                Err(vec![format!("ERROR: Unknown or unsupported tag <{name}>")])
            }
        };
        if let Err(lines) = result
            && !self.gone
        {
            nak(cx, &lines);
        }
    }

    /// `<configure>`: NAND only; the payload limit is `firehose_max_payload`.
    fn configure(&mut self, cmd: &Command, cx: &mut Cx<'_>) -> Result<(), Refusal> {
        match check_maybe_write(cx, "firehose:configure", false) {
            Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
            Verdict::Nak => return Err(vec!["configure refused (fault)".into()]),
            Verdict::Stop => {
                self.stop();
                return Ok(());
            }
        }
        let memory = cmd.attr("MemoryName").unwrap_or_default();
        if !memory.eq_ignore_ascii_case("nand") {
            // Text per `docs/facts/firehose.md` step 2 [confirmed].
            return Err(vec![format!("Not support configure MemoryName {memory}")]);
        }
        let max = cx.core.config.firehose_max_payload;
        let requested = cmd.attr_u64("MaxPayloadSizeToTargetInBytes").ok().flatten().unwrap_or(max);
        let ok = (1..=max).contains(&requested);
        // The 9x07 field set, in the binary's string order (`docs/facts/firehose.md`) [B/D].
        let fields = [
            ("MemoryName", MEMORY_NAME.to_owned()),
            ("MaxPayloadSizeFromTargetInBytes", MAX_PAYLOAD_FROM_TARGET.to_string()),
            ("MaxPayloadSizeToTargetInBytes", if ok { requested } else { max }.to_string()),
            ("MaxPayloadSizeToTargetInBytesSupported", max.to_string()),
            ("TargetName", TARGET_NAME.to_owned()),
        ];
        cx.log(format!(
            "firehose: configure {memory} payload {requested} → {}",
            if ok { "ACK" } else { "NAK" }
        ));
        respond(cx, ok, None, &fields);
        Ok(())
    }

    /// A fault already applied (stall, disconnect): answer nothing more.
    fn stop(&mut self) {
        self.gone = true;
    }

    /// `SECTOR_SIZE_IN_BYTES` (required) and `PAGES_PER_BLOCK` (when given) must match
    /// the NAND (texts from the 9x07 binary [confirmed]).
    fn check_sector_size(cmd: &Command, geo: Geometry) -> Result<(), Refusal> {
        let sector = num(cmd, "SECTOR_SIZE_IN_BYTES")?;
        if sector != geo.page {
            return Err(vec![format!(
                "Attribute 'SECTOR_SIZE_IN_BYTES'={sector} must be equal to disk sector size {}",
                geo.page
            )]);
        }
        Ok(())
    }

    fn check_pages_per_block(cmd: &Command, geo: Geometry) -> Result<(), Refusal> {
        match cmd.attr_u64("PAGES_PER_BLOCK") {
            Ok(Some(ppb)) if ppb != geo.pages_per_block => Err(vec![format!(
                "Attribute 'PAGES_PER_BLOCK'={ppb} must be equal to disk pages per block {}",
                geo.pages_per_block
            )]),
            _ => Ok(()),
        }
    }

    /// `<erase>`: block-aligned ranges inside the NAND. Checks in the order the real
    /// EG25-G run implies (alignment reported although PAGES_PER_BLOCK was wrong there,
    /// `docs/facts/firehose.md`) [inferred].
    fn erase(&mut self, cmd: &Command, geo: Geometry, cx: &mut Cx<'_>) -> Result<(), Refusal> {
        match check_maybe_write(cx, "firehose:erase", false) {
            Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
            Verdict::Nak => return Err(vec!["erase failed (fault)".into()]),
            Verdict::Stop => {
                self.stop();
                return Ok(());
            }
        }
        if cmd.attr("vendor").is_some() {
            // Quectel vendor lines (SDX55 packages only) carry no geometry [inferred].
            respond(cx, true, Some(false), &[]);
            return Ok(());
        }
        Self::check_sector_size(cmd, geo)?;
        let start = num(cmd, "start_sector")?;
        let count = num(cmd, "num_partition_sectors")?;
        let where_ = format!("start_sector = {start} and num_partition_sectors ={count:#x})");
        if start % geo.pages_per_block != 0 {
            return Err(vec![where_, "start_sector unaligned".into()]);
        }
        if count % geo.pages_per_block != 0 {
            return Err(vec![where_, "num_partition_sectors unaligned".into()]);
        }
        if count == 0 {
            return Err(vec!["num_blocks to erase are ZERO".into()]);
        }
        if start.saturating_add(count) > geo.total_sectors() {
            return Err(vec!["Block erase request exceeding total number of blocks".into()]);
        }
        Self::check_pages_per_block(cmd, geo)?;
        let end = start + count;
        let names: Vec<String> = cx
            .core
            .nand
            .partitions
            .iter()
            .filter(|p| p.start_sector.is_some_and(|s| (start..end).contains(&s)))
            .map(|p| p.name.clone())
            .collect();
        if names.is_empty() {
            cx.log(format!("firehose: erased sectors {start}..{end} (no known partition there)"));
        }
        for n in names {
            cx.erase(&n);
        }
        // [inferred] 9x07 erase ACK form unknown; the SDX one carries rawmode="false" (docs/facts/firehose.md).
        respond(cx, true, Some(false), &[]);
        Ok(())
    }

    /// `<program>`: ACK rawmode="true", then the data phase (see [`Self::take_data`]).
    fn program(&mut self, cmd: &Command, geo: Geometry, cx: &mut Cx<'_>) -> Result<(), Refusal> {
        let label = cmd.attr("label").unwrap_or_default().to_owned();
        let fired = check_maybe_write(cx, &format!("firehose:program:{label}"), true);
        match fired {
            Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
            Verdict::Nak => return Err(vec![format!("program of {label} failed (fault)")]),
            Verdict::Stop => {
                self.stop();
                return Ok(());
            }
        }
        Self::check_sector_size(cmd, geo)?;
        Self::check_pages_per_block(cmd, geo)?;
        let start = num(cmd, "start_sector")?;
        let count = num(cmd, "num_partition_sectors")?;
        if start % geo.pages_per_block != 0 {
            return Err(vec!["start_sector unaligned".into()]);
        }
        if start.saturating_add(count) > geo.total_sectors() {
            // [inferred] wording modelled on the binary's read-side text.
            return Err(vec!["Trying to write beyond total sectors".into()]);
        }
        // A piece of a sparse image names its sector offset inside the partition image
        // (the host's `file_sector_offset`); the partition starts that much earlier. [inferred]
        // the real programmer addresses by start_sector only; pieces are tied together
        // here so the NAND model can hash the partition as a whole.
        let piece = cmd.attr_u64("file_sector_offset").ok().flatten().filter(|k| *k <= start);
        let part_start = start - piece.unwrap_or(0);
        let name = match (label.is_empty(), cx.core.nand.at_sector(part_start)) {
            (false, _) => label.clone(),
            (true, Some(p)) => p.name.clone(),
            (true, None) => format!("sector{part_start}"),
        };
        cx.core.nand.set_start_sector(&name, part_start);
        let offset = piece.unwrap_or(0) * geo.page;
        let mut writer = match (piece, self.last.take()) {
            (Some(k), Some(w)) if k > 0 && w.name == crate::nand::canonical(&name) => w,
            _ => PartitionWriter::new(&name).storing(&cx.core.data),
        };
        writer.skip_to(offset);
        let total = count * geo.page;
        let cut_at = (fired == Verdict::PowerLoss).then(|| offset + total / 2 / geo.page * geo.page);
        cx.log(format!("firehose: program {name} at sector {start}, {count} sectors"));
        respond(cx, true, Some(true), &[]);
        self.data = Some(DataPhase { writer, start_sector: start, remaining: total, cut_at });
        Ok(())
    }

    /// `<read>`: the sectors as the NAND holds them (`firehose_read.rs`).
    fn read(&mut self, cmd: &Command, geo: Geometry, cx: &mut Cx<'_>) -> Result<(), Refusal> {
        match check_maybe_write(cx, "firehose:read", false) {
            Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
            Verdict::Nak => return Err(vec!["read failed (fault)".into()]),
            Verdict::Stop => {
                self.stop();
                return Ok(());
            }
        }
        Self::check_sector_size(cmd, geo)?;
        let start = num(cmd, "start_sector")?;
        let count = num(cmd, "num_partition_sectors")?;
        if start.saturating_add(count) > geo.total_sectors() {
            return Err(vec!["Trying to read beyond total sectors".into()]);
        }
        let mut left = count * geo.page;
        if left > MAX_READ_BYTES {
            return Err(vec![format!("read of {left} bytes: the simulator serves at most {MAX_READ_BYTES}")]);
        }
        respond(cx, true, Some(true), &[]);
        let mut at = start * geo.page;
        while left > 0 {
            let n = left.min(READ_TRANSFER as u64);
            let mut buf = vec![0u8; usize::try_from(n).unwrap_or(READ_TRANSFER)];
            super::firehose_read::fill(cx.core, geo.page, at, &mut buf);
            cx.send(buf);
            left -= n;
            at += n;
        }
        respond(cx, true, Some(false), &[]);
        Ok(())
    }

    /// `<power>`: reset (the ROM then boots from NAND), off, or back to EDL.
    fn power(&mut self, cmd: &Command, cx: &mut Cx<'_>) -> Result<(), Refusal> {
        match check_maybe_write(cx, "firehose:power", false) {
            Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
            Verdict::Nak => return Err(vec!["power failed (fault)".into()]),
            Verdict::Stop => {
                self.stop();
                return Ok(());
            }
        }
        let value = cmd.attr("value").unwrap_or_default();
        let to = match value.to_ascii_lowercase().as_str() {
            "reset" => {
                log(cx, "Inside handlePower() - Requested POWER_RESET");
                ResetTo::Boot
            }
            // [inferred] the virtual module has no "off" switch a handler can reach: powering
            // off is modelled as leaving the bus and booting again.
            "off" => {
                log(cx, "Inside handlePower() - Requested POWER_OFF");
                ResetTo::Boot
            }
            // The binary holds "Now resetting to EDL..." [confirmed]; the attribute value is [inferred].
            "edl" => {
                log(cx, "Now resetting to EDL...");
                ResetTo::Mode(DeviceMode::Edl)
            }
            _ => return Err(vec![format!("ERROR: Invalid power value '{value}'")]),
        };
        respond(cx, true, None, &[]);
        cx.reset(to, POWER_RESET_DELAY);
        self.gone = true;
        Ok(())
    }
}

/// A command that only needs an ACK, with an optional log line first.
fn simple(cx: &mut Cx<'_>, step: &str, line: impl FnOnce() -> Option<String>) -> Result<(), Refusal> {
    match check_maybe_write(cx, step, false) {
        Verdict::Go | Verdict::PowerLoss | Verdict::Disconnect => {}
        Verdict::Nak => return Err(vec![format!("{step} failed (fault)")]),
        Verdict::Stop => return Ok(()),
    }
    if let Some(l) = line() {
        log(cx, &l);
    }
    respond(cx, true, None, &[]);
    Ok(())
}
