//! The device side of Quectel's LK fastboot (18d1:d00d; `docs/facts/fastboot.md` and docs/facts/fastboot.md,
//! `docs/facts/quectel.md`, `docs/facts/fastboot.md`), for both models.
//!
//! Every command arrives as one message (one USB transfer, or one packet of fastboot over
//! TCP) and gets one final reply (`OKAY`, `FAIL` or `DATA`), made with the library's
//! [`codec`](modemflash::protocol::fastboot::codec). After `DATA%08x` the next messages
//! are the download data, exactly that many bytes in any number of messages (ZLPs
//! ignored), then `OKAY`.
//!
//! Replies are kept within 64 bytes: older hosts (AOSP fastboot ≤ 29) read replies into
//! a 64-byte buffer.
//!
//! Fault steps: `fastboot:getvar:<name>`, `fastboot:download`, `fastboot:flash:<name>`,
//! `fastboot:erase:<name>`, `fastboot:reboot`, `fastboot:reboot-bootloader`,
//! `fastboot:continue`, `fastboot:boot`, `fastboot:oem:<args>`, `fastboot:<other>`.

use std::time::{Duration, Instant};

use modemflash::package::headers;
use modemflash::protocol::fastboot::codec::{Command, Reply, parse_command};
use modemflash::protocol::fastboot::sparse::SparseHeader;

pub use super::fastboot_flash::Session;
use super::fastboot_flash::{FlashError, Flashed, flash_raw, flash_sparse};
use crate::boot::Model;
use crate::fault::FaultKind;
use crate::handler::{Cx, Handler, ResetTo};
use crate::nand::canonical;
use modemflash::module::DeviceMode;

/// Time between the `OKAY` to a reboot command and leaving the bus.
pub const REBOOT_DELAY: Duration = Duration::from_millis(100);
/// Longest reply sent; AOSP fastboot ≤ 29 reads 64 bytes per reply.
const MAX_SENT_REPLY: usize = 64;

/// `getvar:version`: the protocol version LK reports [inferred] (AOSP's own is "0.4"; the value
/// the task asks for is "0.5"; no Quectel recording exists, `docs/facts/fastboot.md`).
pub const PROTOCOL_VERSION: &str = "0.5";
/// `getvar:version-bootloader` [inferred]: no recorded value exists for Quectel's LK.
pub const BOOTLOADER_VERSION: &str = "1.0";

/// `getvar:product` and `serialno`. [inferred] QFlash's `fastboot devices` check looks
/// for `MDM9615` in the serial string of the EC20 R1's aboot (`docs/facts/quectel.md`);
/// the EC25's is assumed to follow the same pattern with its chip name.
pub fn product(model: Model) -> &'static str {
    match model {
        Model::Ec20R1 => "MDM9615",
        Model::Ec25 => "MDM9607",
    }
}

#[derive(Debug)]
enum Phase {
    /// Waiting for a command.
    Command,
    /// Receiving `left` more download bytes into `buf`.
    Data { left: u64, buf: Vec<u8> },
    /// A download failed part-way: swallow the `left` bytes the host still sends, so they
    /// are not taken for commands. [inferred] inferred; keeps the host seeing one FAIL.
    Discard { left: u64 },
}

/// The fastboot endpoint.
#[derive(Debug)]
pub struct Fastboot {
    model: Model,
    phase: Phase,
    /// When the previous data message arrived (for `min_gap`). Real time: the host paces
    /// its blocks with real sleeps.
    last_block: Option<Instant>,
}

impl Fastboot {
    pub fn new(model: Model) -> Self {
        Fastboot { model, phase: Phase::Command, last_block: None }
    }
}

fn reply(cx: &mut Cx<'_>, r: Reply) {
    let r = match r {
        Reply::Okay(s) => Reply::Okay(clip(s)),
        Reply::Fail(s) => Reply::Fail(clip(s)),
        Reply::Info(s) => Reply::Info(clip(s)),
        Reply::Text(s) => Reply::Text(clip(s)),
        d @ Reply::Data(_) => d,
    };
    if let Ok(bytes) = r.encode() {
        cx.send(bytes);
    }
}

/// Cut a reply body so the whole reply fits in [`MAX_SENT_REPLY`] bytes.
fn clip(mut s: String) -> String {
    let max = MAX_SENT_REPLY - 4;
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn okay(cx: &mut Cx<'_>) {
    reply(cx, Reply::Okay(String::new()));
}

fn fail(cx: &mut Cx<'_>, msg: impl Into<String>) {
    reply(cx, Reply::Fail(msg.into()));
}

fn step_of(cmd: &Command) -> String {
    match cmd {
        Command::GetVar(v) => format!("fastboot:getvar:{v}"),
        Command::Download(_) => "fastboot:download".into(),
        Command::Flash(p) => format!("fastboot:flash:{p}"),
        Command::Erase(p) => format!("fastboot:erase:{p}"),
        Command::Oem(a) => format!("fastboot:oem:{a}"),
        other => format!("fastboot:{}", other.to_text()),
    }
}

/// The NAND partition a fastboot name stands for, if any.
fn resolve(cx: &Cx<'_>, name: &str) -> Option<String> {
    let n = canonical(name);
    if cx.core.nand.get(&n).is_some() {
        return Some(n);
    }
    let aliases = &cx.core.config.fastboot.partition_aliases;
    aliases
        .iter()
        .find(|(alias, target)| *alias == n && cx.core.nand.get(target).is_some())
        .map(|(_, target)| canonical(target))
}

impl Fastboot {
    fn getvar(&self, name: &str, cx: &Cx<'_>) -> Option<String> {
        let part = |prefix: &str| name.strip_prefix(prefix).and_then(|p| resolve(cx, p));
        match name {
            "product" => Some(product(self.model).into()),
            "serialno" => Some(
                cx.core.config.identity.fastboot_serial.clone().unwrap_or_else(|| product(self.model).into()),
            ),
            "version" => Some(PROTOCOL_VERSION.into()),
            "version-bootloader" => Some(BOOTLOADER_VERSION.into()),
            "max-download-size" => Some(format!("0x{:08x}", cx.core.config.fastboot.max_download_size)),
            // [inferred] an unlocked development bootloader, as Quectel ships.
            "secure" => Some("no".into()),
            _ if name.starts_with("partition-size:") => {
                let p = part("partition-size:")?;
                let cap = cx.core.nand.get(&p)?.capacity?;
                Some(format!("0x{cap:x}"))
            }
            // [inferred] LK on NAND reports no file-system type; "raw" is what AOSP
            // treats as "do not format".
            _ if name.starts_with("partition-type:") => part("partition-type:").map(|_| "raw".into()),
            _ => None,
        }
    }

    fn command(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        let cmd = match parse_command(data) {
            Ok(c) => c,
            Err(e) => {
                cx.log(format!("fastboot: bad command: {e}"));
                return fail(cx, "unknown command");
            }
        };
        let step = step_of(&cmd);
        cx.log(format!("fastboot: {}", cmd.to_text()));
        let fault = cx.command(&step);
        match fault {
            Some(FaultKind::Nak) => return fail(cx, "command failed"),
            Some(FaultKind::Stall) => {
                cx.core.faults.stalled = true;
                return;
            }
            Some(FaultKind::Disconnect) => return cx.reset(ResetTo::Boot, Duration::ZERO),
            Some(FaultKind::PowerLoss) if !matches!(cmd, Command::Flash(_)) => {
                return cx.reset(ResetTo::Boot, Duration::ZERO);
            }
            _ => {}
        }
        let power_loss = fault == Some(FaultKind::PowerLoss);
        match cmd {
            Command::GetVar(name) => match self.getvar(&name, cx) {
                Some(v) => reply(cx, Reply::Okay(v)),
                // The real Pixel reply (`docs/facts/fastboot.md`). [inferred] old LK builds answer an
                // empty OKAY instead (`docs/facts/fastboot.md`).
                None => fail(cx, "variable not found"),
            },
            Command::Download(n) => self.download(u64::from(n), cx),
            Command::Flash(name) => flash(&name, cx, power_loss),
            Command::Erase(name) => match resolve(cx, &name) {
                Some(p) => {
                    cx.core.fastboot.sparse = None;
                    cx.erase(&p);
                    okay(cx);
                }
                None => fail(cx, "unknown partition name"),
            },
            Command::Reboot | Command::Continue => {
                okay(cx);
                cx.reset(ResetTo::Boot, REBOOT_DELAY);
            }
            Command::RebootBootloader => {
                okay(cx);
                cx.reset(ResetTo::Mode(DeviceMode::Fastboot), REBOOT_DELAY);
            }
            Command::Boot => {
                // [inferred] LK boots a downloaded Android boot image from RAM; the
                // module then runs its firmware (normal mode).
                let ok = cx.core.fastboot.image.as_deref().is_some_and(|i| headers::parse_boot(i).is_some());
                if ok {
                    okay(cx);
                    cx.reset(ResetTo::Mode(DeviceMode::Normal), REBOOT_DELAY);
                } else {
                    fail(cx, "invalid boot image");
                }
            }
            Command::Upload | Command::Oem(_) | Command::Other(_) => fail(cx, "unknown command"),
        }
    }

    fn download(&mut self, n: u64, cx: &mut Cx<'_>) {
        if n > cx.core.config.fastboot.max_download_size {
            return fail(cx, "data too large");
        }
        // LK downloads over its previous buffer.
        cx.core.fastboot.image = None;
        reply(cx, Reply::Data(n as u32));
        if n == 0 {
            cx.core.fastboot.image = Some(Vec::new());
            return okay(cx);
        }
        self.last_block = None;
        self.phase = Phase::Data { left: n, buf: Session::new_buffer(n) };
    }

    fn data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        let Phase::Data { left, buf } = &mut self.phase else { return };
        let quirks = &cx.core.config.fastboot;
        let too_big = quirks.max_block.is_some_and(|m| data.len() > m);
        let now = Instant::now();
        let too_soon = self.last_block.is_some_and(|t| now.duration_since(t) < quirks.min_gap);
        self.last_block = Some(now);
        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
        let rest = *left - take as u64;
        if too_big || too_soon {
            // [inferred] inferred messages: the picky EG25 LK is only known to need 16 KiB blocks
            // spaced out (`docs/facts/fastboot.md`).
            let why = if too_big { "block too large" } else { "data arrived too fast" };
            cx.log(format!("fastboot: download refused: {why} ({} bytes)", data.len()));
            self.phase = if rest > 0 { Phase::Discard { left: rest } } else { Phase::Command };
            return fail(cx, why);
        }
        buf.extend_from_slice(data.get(..take).unwrap_or_default());
        *left = rest;
        if data.len() > take {
            cx.log(format!("fastboot: {} bytes past the download size ignored", data.len() - take));
        }
        if rest == 0 {
            let Phase::Data { buf, .. } = std::mem::replace(&mut self.phase, Phase::Command) else { return };
            cx.log(format!("fastboot: downloaded {} bytes", buf.len()));
            cx.core.fastboot.image = Some(buf);
            self.last_block = None;
            okay(cx);
        }
    }
}

fn flash(name: &str, cx: &mut Cx<'_>, power_loss: bool) {
    let Some(part) = resolve(cx, name) else { return fail(cx, "unknown partition name") };
    let Some(image) = cx.core.fastboot.image.take() else { return fail(cx, "no image downloaded") };
    let capacity = cx.core.nand.get(&part).and_then(|p| p.capacity);
    let store = cx.core.data.clone();
    let result = if SparseHeader::is_sparse(&image) {
        flash_sparse(&part, &image, capacity, &mut cx.core.fastboot.sparse, power_loss, Some(&store))
    } else {
        cx.core.fastboot.sparse = None;
        flash_raw(&part, &image, capacity, power_loss, Some(&store))
    };
    // LK keeps its download buffer: the same data can be flashed again.
    cx.core.fastboot.image = Some(image);
    match result {
        Ok(Flashed { writer, complete, sparse_span }) => {
            if let Some(span) = sparse_span {
                cx.log(format!("fastboot: sparse image for {part} expands to {span} bytes"));
            }
            cx.commit(writer, complete);
            if complete {
                okay(cx);
            } else {
                cx.reset(ResetTo::Boot, Duration::ZERO);
            }
        }
        Err(e @ FlashError::TooLarge) => fail(cx, e.to_string()),
        Err(e @ FlashError::Sparse(_)) => {
            cx.log(format!("fastboot: flash {part}: {e}"));
            fail(cx, "invalid sparse image");
        }
    }
}

impl Handler for Fastboot {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        let generation = cx.core.generation;
        cx.core.fastboot.sync(generation);
        if data.is_empty() {
            return; // a ZLP
        }
        match &mut self.phase {
            Phase::Command => self.command(data, cx),
            Phase::Data { .. } => self.data(data, cx),
            Phase::Discard { left } => {
                *left = left.saturating_sub(data.len() as u64);
                if *left == 0 {
                    self.phase = Phase::Command;
                }
            }
        }
    }
}
