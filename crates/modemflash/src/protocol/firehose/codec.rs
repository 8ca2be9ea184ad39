//! Pure Firehose messages: host command builders, the device-side command parser, the
//! device-side log/response encoders (9x07 style, `docs/facts/firehose.md`–4.4) and the
//! configure payload negotiation rule (`docs/facts/firehose.md` step 2).

use super::FirehoseError;
use super::scanner::Event;
use super::xml::{attr_in, wrap_document, write_element};

/// Default NAND payload per raw write, and QFirehose's configure request
/// (`docs/facts/firehose.md`).
pub const NAND_MAX_PAYLOAD: u64 = 8192;
/// QFirehose's NAND `MaxDigestTableSizeInBytes`.
pub const NAND_MAX_DIGEST_TABLE: u64 = 2048;

/// `<configure>` attributes. [`Default`] is QFirehose's NAND line (`docs/facts/firehose.md`),
/// same attributes in the same order (single spaces where QFirehose has a double one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigureOptions {
    /// `nand` for EC2x/EG25 (`emmc`, `ufs`, … elsewhere).
    pub memory_name: String,
    pub verbose: bool,
    pub always_validate: bool,
    pub max_digest_table_size: u64,
    /// Requested `MaxPayloadSizeToTargetInBytes`.
    pub max_payload_to_target: u64,
    pub zlp_aware_host: bool,
    pub skip_storage_init: bool,
    /// Extra attributes appended verbatim (e.g. `SkipWrite`, `PAGES_PER_BLOCK`).
    pub extra: Vec<(String, String)>,
}

impl Default for ConfigureOptions {
    fn default() -> Self {
        Self {
            memory_name: "nand".into(),
            verbose: false,
            always_validate: false,
            max_digest_table_size: NAND_MAX_DIGEST_TABLE,
            max_payload_to_target: NAND_MAX_PAYLOAD,
            zlp_aware_host: true,
            skip_storage_init: false,
            extra: Vec::new(),
        }
    }
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

fn element_doc<K: AsRef<str>, V: AsRef<str>>(name: &str, attrs: &[(K, V)]) -> Result<Vec<u8>, FirehoseError> {
    let mut line = String::new();
    write_element(name, attrs, true, &mut line)?;
    Ok(wrap_document(&line))
}

fn with_extra(mut attrs: Vec<(String, String)>, extra: &[(String, String)]) -> Vec<(String, String)> {
    for (k, v) in extra {
        if !attrs.iter().any(|(a, _)| a == k) {
            attrs.push((k.clone(), v.clone()));
        }
    }
    attrs
}

fn kv(k: &str, v: &impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

/// `<configure …/>` with `max_payload` as `MaxPayloadSizeToTargetInBytes`.
pub fn build_configure(opts: &ConfigureOptions, max_payload: u64) -> Result<Vec<u8>, FirehoseError> {
    let attrs = vec![
        kv("MemoryName", &opts.memory_name),
        kv("Verbose", &flag(opts.verbose)),
        kv("AlwaysValidate", &flag(opts.always_validate)),
        kv("MaxDigestTableSizeInBytes", &opts.max_digest_table_size),
        kv("MaxPayloadSizeToTargetInBytes", &max_payload),
        kv("ZlpAwareHost", &flag(opts.zlp_aware_host)),
        kv("SkipStorageInit", &flag(opts.skip_storage_init)),
    ];
    element_doc("configure", &with_extra(attrs, &opts.extra))
}

/// Where a `program`/`read`/`erase` acts. `start_sector` is a string because
/// rawprogram files may hold an expression (`docs/facts/firehose.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    pub sector_size: u32,
    pub start_sector: String,
    pub physical_partition_number: u32,
    /// Informational on the target.
    pub label: String,
    /// Informational on the target.
    pub filename: String,
    /// Extra attributes (NAND: `PAGES_PER_BLOCK`, `last_sector`; `sparse`, …), verbatim.
    pub extra: Vec<(String, String)>,
}

/// `<program …/>` for `num_sectors` sectors. The caller computes `num_sectors` from the
/// file (QFirehose rewrites `num_partition_sectors` to ceil(size / sector), `docs/facts/firehose.md` step 3); see [`sectors_for`](super::data::sectors_for).
pub fn build_program(spec: &ProgramSpec, num_sectors: u64) -> Result<Vec<u8>, FirehoseError> {
    addressed("program", spec, num_sectors)
}

/// `<read …/>`: the target streams `num_sectors × sector_size` bytes after its ACK.
pub fn build_read(spec: &ProgramSpec, num_sectors: u64) -> Result<Vec<u8>, FirehoseError> {
    addressed("read", spec, num_sectors)
}

/// `<program>` and `<read>` share their addressing attributes.
fn addressed(element: &str, spec: &ProgramSpec, num_sectors: u64) -> Result<Vec<u8>, FirehoseError> {
    let attrs = vec![
        kv("SECTOR_SIZE_IN_BYTES", &spec.sector_size),
        kv("filename", &spec.filename),
        kv("label", &spec.label),
        kv("num_partition_sectors", &num_sectors),
        kv("physical_partition_number", &spec.physical_partition_number),
        kv("start_sector", &spec.start_sector),
    ];
    element_doc(element, &with_extra(attrs, &spec.extra))
}

/// `<erase …/>` attributes (`docs/facts/firehose.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseSpec {
    pub sector_size: u32,
    pub num_partition_sectors: u64,
    pub start_sector: String,
    /// `None` leaves the attribute out, as the NAND rawprogram lines do.
    pub physical_partition_number: Option<u32>,
    /// NAND: `PAGES_PER_BLOCK`, `last_sector`.
    pub extra: Vec<(String, String)>,
}

/// `<erase …/>`, NAND line order: `PAGES_PER_BLOCK` (from `extra`, first when present),
/// `SECTOR_SIZE_IN_BYTES`, `num_partition_sectors`, `start_sector`.
pub fn build_erase(spec: &EraseSpec) -> Result<Vec<u8>, FirehoseError> {
    let mut attrs: Vec<(String, String)> =
        spec.extra.iter().filter(|(k, _)| k == "PAGES_PER_BLOCK").cloned().collect();
    attrs.push(kv("SECTOR_SIZE_IN_BYTES", &spec.sector_size));
    attrs.push(kv("num_partition_sectors", &spec.num_partition_sectors));
    if let Some(p) = spec.physical_partition_number {
        attrs.push(kv("physical_partition_number", &p));
    }
    attrs.push(kv("start_sector", &spec.start_sector));
    element_doc("erase", &with_extra(attrs, &spec.extra))
}

/// `<patch …/>` attributes (`docs/facts/firehose.md`). `start_sector` and `value` may be
/// expressions the programmer evaluates (`NUM_DISK_SECTORS-6.`, `CRC32(2,4096)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchSpec {
    pub sector_size: u32,
    pub byte_offset: u64,
    pub filename: String,
    pub physical_partition_number: u32,
    pub size_in_bytes: u32,
    pub start_sector: String,
    pub value: String,
    pub extra: Vec<(String, String)>,
}

/// `<patch …/>`.
pub fn build_patch(spec: &PatchSpec) -> Result<Vec<u8>, FirehoseError> {
    let attrs = vec![
        kv("SECTOR_SIZE_IN_BYTES", &spec.sector_size),
        kv("byte_offset", &spec.byte_offset),
        kv("filename", &spec.filename),
        kv("physical_partition_number", &spec.physical_partition_number),
        kv("size_in_bytes", &spec.size_in_bytes),
        kv("start_sector", &spec.start_sector),
        kv("value", &spec.value),
    ];
    element_doc("patch", &with_extra(attrs, &spec.extra))
}

/// `<power DelayInSeconds="10" value="reset" />` (QFirehose, `docs/facts/firehose.md`);
/// `value` may also be `off`. `delay` `None` leaves `DelayInSeconds` out.
pub fn build_power(value: &str, delay_secs: Option<u32>) -> Result<Vec<u8>, FirehoseError> {
    let mut attrs = Vec::new();
    if let Some(d) = delay_secs {
        attrs.push(kv("DelayInSeconds", &d));
    }
    attrs.push(kv("value", &value));
    element_doc("power", &attrs)
}

/// `<nop />`.
pub fn build_nop() -> Vec<u8> {
    wrap_document("<nop />")
}

/// `<getstorageinfo physical_partition_number="N" />`.
pub fn build_getstorageinfo(physical_partition_number: u32) -> Result<Vec<u8>, FirehoseError> {
    element_doc("getstorageinfo", &[kv("physical_partition_number", &physical_partition_number)])
}

/// Any element from a raw attribute list (e.g. `vendor="quectel"` rawprogram lines sent
/// verbatim, `docs/facts/firehose.md`). Names are validated, values XML-escaped.
pub fn build_element<K: AsRef<str>, V: AsRef<str>>(
    name: &str,
    attrs: &[(K, V)],
) -> Result<Vec<u8>, FirehoseError> {
    element_doc(name, attrs)
}

// ---------------------------------------------------------------------------------------
// Device side

pub use super::command::{Command, CommandKind, parse_command, parse_u64_attr};

/// `<log value="…"/>` document, 9x07 style: no space before `/>` (`docs/facts/firehose.md`).
pub fn encode_log(text: &str) -> Vec<u8> {
    let mut line = String::with_capacity(text.len() + 16);
    line.push_str("<log value=\"");
    super::xml::escape_into(text, &mut line);
    line.push_str("\"/>");
    wrap_document(&line)
}

/// `<response value="ACK|NAK" [rawmode="…"] extra… />` document, 9x07 style: a space
/// before `/>`, `rawmode` right after `value` (`docs/facts/firehose.md`).
pub fn encode_response<K: AsRef<str>, V: AsRef<str>>(
    ack: bool,
    rawmode: Option<bool>,
    extra: &[(K, V)],
) -> Result<Vec<u8>, FirehoseError> {
    let mut attrs: Vec<(&str, &str)> = vec![("value", if ack { "ACK" } else { "NAK" })];
    if let Some(r) = rawmode {
        attrs.push(("rawmode", if r { "true" } else { "false" }));
    }
    attrs.extend(extra.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    element_doc("response", &attrs)
}

// ---------------------------------------------------------------------------------------
// Configure negotiation

/// What the target accepted for `<configure>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Payload size the host must use for raw writes.
    pub max_payload_to_target: u64,
    pub max_payload_from_target: Option<u64>,
    pub memory_name: Option<String>,
    pub target_name: Option<String>,
    /// Every attribute of the final ACK.
    pub attrs: Vec<(String, String)>,
    /// Configure documents sent (1 or 2).
    pub attempts: u32,
}

/// Most configure documents sent before giving up (`docs/facts/firehose.md` step 2).
pub const MAX_CONFIGURE_ATTEMPTS: u32 = 2;

/// What to do after a configure response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigureStep {
    /// ACK: done.
    Done(Negotiated),
    /// NAK with a payload size: send configure again with this value.
    Retry(u64),
    /// NAK we cannot act on.
    Fail,
}

fn attr_num(attrs: &[(String, String)], name: &str) -> Option<u64> {
    attr_in(attrs, name).and_then(|v| parse_u64_attr(name, v).ok()).filter(|&n| n > 0)
}

/// Decide the next configure step. `requested` is the value just sent, `attempt` the
/// number of configure documents sent so far. On ACK the smaller of the request, the
/// echoed `MaxPayloadSizeToTargetInBytes` and `MaxPayloadSizeToTargetInBytesSupported`
/// is adopted.
pub fn configure_step(requested: u64, attempt: u32, response: &Event) -> ConfigureStep {
    let Event::Response { ack, attrs, .. } = response else {
        return ConfigureStep::Fail;
    };
    let offered = attr_num(attrs, "MaxPayloadSizeToTargetInBytes");
    if !*ack {
        return match offered {
            Some(n) if attempt < MAX_CONFIGURE_ATTEMPTS => ConfigureStep::Retry(n),
            _ => ConfigureStep::Fail,
        };
    }
    let supported = attr_num(attrs, "MaxPayloadSizeToTargetInBytesSupported");
    let size = [Some(requested), offered, supported].into_iter().flatten().min().unwrap_or(requested);
    ConfigureStep::Done(Negotiated {
        max_payload_to_target: size,
        max_payload_from_target: attr_num(attrs, "MaxPayloadSizeFromTargetInBytes"),
        memory_name: attr_in(attrs, "MemoryName").map(str::to_owned),
        target_name: attr_in(attrs, "TargetName").map(str::to_owned),
        attrs: attrs.clone(),
        attempts: attempt,
    })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
