//! Command bytes, status codes and image types of streaming DLOAD (`docs/facts/streaming.md`,
//! docs/facts/streaming.md, docs/facts/streaming.md; `docs/facts/streaming.md`). Unknown values are kept as numbers.

/// Command bytes (first payload byte of every frame). Host → target requests are odd,
/// target → host replies even, except the unsolicited ERROR/LOG packets.
pub mod cmd {
    pub const HELLO: u8 = 0x01;
    pub const HELLO_RESP: u8 = 0x02;
    pub const READ: u8 = 0x03;
    pub const READ_RESP: u8 = 0x04;
    pub const SIMPLE_WRITE: u8 = 0x05;
    pub const SIMPLE_WRITE_RESP: u8 = 0x06;
    pub const STREAM_WRITE: u8 = 0x07;
    pub const STREAM_WRITE_RESP: u8 = 0x08;
    pub const NOP: u8 = 0x09;
    pub const NOP_RESP: u8 = 0x0A;
    pub const RESET: u8 = 0x0B;
    pub const RESET_RESP: u8 = 0x0C;
    /// Target → host: code LE32 + ASCII text.
    pub const ERROR: u8 = 0x0D;
    /// Target → host: ASCII text.
    pub const LOG: u8 = 0x0E;
    pub const UNLOCK: u8 = 0x0F;
    pub const UNLOCK_RESP: u8 = 0x10;
    pub const POWER_OFF: u8 = 0x11;
    pub const POWER_OFF_RESP: u8 = 0x12;
    pub const OPEN: u8 = 0x13;
    pub const OPEN_RESP: u8 = 0x14;
    pub const CLOSE: u8 = 0x15;
    pub const CLOSE_RESP: u8 = 0x16;
    pub const SECURITY_MODE: u8 = 0x17;
    pub const SECURITY_MODE_RESP: u8 = 0x18;
    pub const PARTITION_TABLE: u8 = 0x19;
    pub const PARTITION_TABLE_RESP: u8 = 0x1A;
    pub const OPEN_MULTI: u8 = 0x1B;
    pub const OPEN_MULTI_RESP: u8 = 0x1C;
    /// Whole-device erase on NAND hostdl. The host API deliberately has no encoder for it
    /// (`docs/facts/quectel.md`); the constant exists so a device side can recognise and
    /// refuse it.
    pub const ERASE_FLASH: u8 = 0x1D;
    pub const ERASE_FLASH_RESP: u8 = 0x1E;
    /// Quectel custom: set (1) / clear (0) the download flag.
    pub const DOWNLOAD_FLAG: u8 = 0x60;
    pub const DOWNLOAD_FLAG_RESP: u8 = 0x61;
}

/// Human-readable name of a command byte, for error messages.
pub fn command_name(code: u8) -> &'static str {
    match code {
        cmd::HELLO => "HELLO",
        cmd::HELLO_RESP => "HELLO response",
        cmd::READ => "READ",
        cmd::READ_RESP => "READ response",
        cmd::SIMPLE_WRITE => "SIMPLE_WRITE",
        cmd::SIMPLE_WRITE_RESP => "SIMPLE_WRITE response",
        cmd::STREAM_WRITE => "STREAM_WRITE",
        cmd::STREAM_WRITE_RESP => "STREAM_WRITE response",
        cmd::NOP => "NOP",
        cmd::NOP_RESP => "NOP response",
        cmd::RESET => "RESET",
        cmd::RESET_RESP => "RESET response",
        cmd::ERROR => "ERROR",
        cmd::LOG => "LOG",
        cmd::UNLOCK => "UNLOCK",
        cmd::UNLOCK_RESP => "UNLOCK response",
        cmd::POWER_OFF => "POWER_OFF",
        cmd::POWER_OFF_RESP => "POWER_OFF response",
        cmd::OPEN => "OPEN",
        cmd::OPEN_RESP => "OPEN response",
        cmd::CLOSE => "CLOSE",
        cmd::CLOSE_RESP => "CLOSE response",
        cmd::SECURITY_MODE => "SECURITY_MODE",
        cmd::SECURITY_MODE_RESP => "SECURITY_MODE response",
        cmd::PARTITION_TABLE => "PARTITION_TABLE",
        cmd::PARTITION_TABLE_RESP => "PARTITION_TABLE response",
        cmd::OPEN_MULTI => "OPEN_MULTI_IMAGE",
        cmd::OPEN_MULTI_RESP => "OPEN_MULTI_IMAGE response",
        cmd::ERASE_FLASH => "ERASE_FLASH",
        cmd::ERASE_FLASH_RESP => "ERASE_FLASH response",
        cmd::DOWNLOAD_FLAG => "Quectel DOWNLOAD_FLAG",
        cmd::DOWNLOAD_FLAG_RESP => "Quectel DOWNLOAD_FLAG response",
        _ => "unknown command",
    }
}

/// ERROR (0x0D) codes (`docs/facts/streaming.md`, response_code_type).
pub mod error_code {
    pub const ACK: u32 = 0x00;
    pub const INVALID_DEST_ADDR: u32 = 0x02;
    pub const INVALID_LENGTH: u32 = 0x03;
    pub const PACKET_TOO_SHORT: u32 = 0x04;
    pub const INVALID_COMMAND: u32 = 0x05;
    pub const OPERATION_FAILED: u32 = 0x07;
    pub const WRONG_FLASH_ID: u32 = 0x08;
    pub const BAD_VOLTAGE: u32 = 0x09;
    pub const VERIFY_FAILED: u32 = 0x0A;
    pub const BAD_SECURITY_CODE: u32 = 0x0C;
    pub const CANNOT_POWER_DOWN: u32 = 0x0D;
    pub const NAND_NOT_SUPPORTED: u32 = 0x0E;
    pub const OUT_OF_SEQUENCE: u32 = 0x0F;
    pub const CLOSE_FAILED: u32 = 0x10;
    pub const BAD_FEATURE_BITS: u32 = 0x11;
    pub const OUT_OF_SPACE: u32 = 0x12;
    pub const BAD_SECURITY_MODE: u32 = 0x13;
    pub const MULTI_IMAGE_NOT_SUPPORTED: u32 = 0x14;
    pub const POWER_OFF_NOT_SUPPORTED: u32 = 0x15;
}

/// Name of an ERROR (0x0D) code.
pub fn error_name(code: u32) -> &'static str {
    match code {
        0x00 => "ACK/success",
        0x01 | 0x06 | 0x0B => "reserved",
        0x02 => "invalid destination address",
        0x03 => "invalid length",
        0x04 => "packet too short",
        0x05 => "invalid command",
        0x07 => "operation failed",
        0x08 => "wrong flash intelligent ID",
        0x09 => "bad programming voltage",
        0x0A => "readback verify failed",
        0x0C => "incorrect security code",
        0x0D => "cannot power down",
        0x0E => "NAND download not supported",
        0x0F => "command out of sequence",
        0x10 => "close failed",
        0x11 => "incompatible feature bits",
        0x12 => "out of space",
        0x13 => "invalid security mode",
        0x14 => "multi-image boot not supported",
        0x15 => "power off not supported",
        _ => "unknown error code",
    }
}

/// PARTITION_TABLE (0x1A) status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionStatus {
    /// 0: table accepted.
    Accepted,
    /// 1: table differs from the one on flash; resend with override to force it.
    Differs,
    /// 2: table format not recognised.
    FormatNotRecognized,
    /// 3: erasing for the new table failed.
    EraseFailed,
    /// Any other value, kept as sent.
    Other(u8),
}

impl PartitionStatus {
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Accepted,
            1 => Self::Differs,
            2 => Self::FormatNotRecognized,
            3 => Self::EraseFailed,
            other => Self::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::Differs => 1,
            Self::FormatNotRecognized => 2,
            Self::EraseFailed => 3,
            Self::Other(v) => v,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Differs => "partition table differs (override needed)",
            Self::FormatNotRecognized => "partition table format not recognised",
            Self::EraseFailed => "erase failed",
            // hostdl's internal enum: 4 too big, 5 unknown error (docs/facts/streaming.md).
            Self::Other(4) => "partition table too big",
            Self::Other(5) => "unknown error",
            Self::Other(_) => "unknown partition-table status",
        }
    }
}

/// OPEN_MULTI_IMAGE (0x1C) status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMultiStatus {
    /// 0.
    Ok,
    /// 1: payload length exceeded.
    PayloadTooLong,
    /// 2: this image type takes no payload.
    NoPayloadExpected,
    /// 3: this image type needs a payload.
    PayloadRequired,
    /// 4: hostdl "unknown error"; Quectel's table reads "block 0 write-protected".
    WriteProtected,
    /// 5: unknown partition name.
    UnknownPartition,
    /// Any other value, kept as sent.
    Other(u8),
}

impl OpenMultiStatus {
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Ok,
            1 => Self::PayloadTooLong,
            2 => Self::NoPayloadExpected,
            3 => Self::PayloadRequired,
            4 => Self::WriteProtected,
            5 => Self::UnknownPartition,
            other => Self::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::PayloadTooLong => 1,
            Self::NoPayloadExpected => 2,
            Self::PayloadRequired => 3,
            Self::WriteProtected => 4,
            Self::UnknownPartition => 5,
            Self::Other(v) => v,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::PayloadTooLong => "payload too long",
            Self::NoPayloadExpected => "no payload expected",
            Self::PayloadRequired => "payload required",
            Self::WriteProtected => "write-protected or unknown error",
            Self::UnknownPartition => "unknown partition",
            Self::Other(_) => "unknown open-multi status",
        }
    }
}

/// OPEN_MULTI_IMAGE image types (`docs/facts/streaming.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageType {
    None,
    Pbl,
    QcsblHeaderConfig,
    Qcsbl,
    Oemsbl,
    Amss,
    Apps,
    Obl,
    FotaUi,
    ModemCefs,
    AppsBl,
    AppsCefs,
    FlashBin,
    Dsp1,
    /// 0x0E: user partition named by the payload (`"0:SBL1\0"`). What Quectel tools use.
    Custom,
    Dbl,
    Osbl,
    Fsbl,
    Dsp2,
    Raw,
    /// 0x14–0x17: meaning differs by build (hostdl 9x15/9x07: SBL1, SBL2, RPM, DSP3;
    /// openpst: ROFS1–3).
    BuildDependent(u8),
    EmmcUser,
    EmmcBoot0,
    EmmcBoot1,
    EmmcRpmb,
    /// eMMC general-purpose partition 1–4 (0x25–0x28).
    EmmcGpp(u8),
    /// Any other value.
    Other(u8),
}

impl ImageType {
    pub fn from_u8(v: u8) -> Self {
        const TABLE: [ImageType; 20] = [
            ImageType::None,
            ImageType::Pbl,
            ImageType::QcsblHeaderConfig,
            ImageType::Qcsbl,
            ImageType::Oemsbl,
            ImageType::Amss,
            ImageType::Apps,
            ImageType::Obl,
            ImageType::FotaUi,
            ImageType::ModemCefs,
            ImageType::AppsBl,
            ImageType::AppsCefs,
            ImageType::FlashBin,
            ImageType::Dsp1,
            ImageType::Custom,
            ImageType::Dbl,
            ImageType::Osbl,
            ImageType::Fsbl,
            ImageType::Dsp2,
            ImageType::Raw,
        ];
        match v {
            0x00..=0x13 => TABLE.get(v as usize).copied().unwrap_or(Self::Other(v)),
            0x14..=0x17 => Self::BuildDependent(v),
            0x21 => Self::EmmcUser,
            0x22 => Self::EmmcBoot0,
            0x23 => Self::EmmcBoot1,
            0x24 => Self::EmmcRpmb,
            0x25..=0x28 => Self::EmmcGpp(v - 0x24),
            other => Self::Other(other),
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            Self::None => 0x00,
            Self::Pbl => 0x01,
            Self::QcsblHeaderConfig => 0x02,
            Self::Qcsbl => 0x03,
            Self::Oemsbl => 0x04,
            Self::Amss => 0x05,
            Self::Apps => 0x06,
            Self::Obl => 0x07,
            Self::FotaUi => 0x08,
            Self::ModemCefs => 0x09,
            Self::AppsBl => 0x0A,
            Self::AppsCefs => 0x0B,
            Self::FlashBin => 0x0C,
            Self::Dsp1 => 0x0D,
            Self::Custom => 0x0E,
            Self::Dbl => 0x0F,
            Self::Osbl => 0x10,
            Self::Fsbl => 0x11,
            Self::Dsp2 => 0x12,
            Self::Raw => 0x13,
            Self::EmmcUser => 0x21,
            Self::EmmcBoot0 => 0x22,
            Self::EmmcBoot1 => 0x23,
            Self::EmmcRpmb => 0x24,
            Self::EmmcGpp(n) => 0x24u8.wrapping_add(n),
            Self::BuildDependent(v) | Self::Other(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_types_round_trip() {
        for v in 0..=u8::MAX {
            assert_eq!(ImageType::from_u8(v).as_u8(), v, "value {v:#04x}");
        }
        assert_eq!(ImageType::from_u8(0x0E), ImageType::Custom);
        assert_eq!(ImageType::from_u8(0x15), ImageType::BuildDependent(0x15));
        assert_eq!(ImageType::from_u8(0x28), ImageType::EmmcGpp(4));
        assert_eq!(ImageType::from_u8(0x20), ImageType::Other(0x20));
    }

    #[test]
    fn statuses_round_trip_and_keep_unknowns() {
        for v in 0..=u8::MAX {
            assert_eq!(PartitionStatus::from_u8(v).as_u8(), v);
            assert_eq!(OpenMultiStatus::from_u8(v).as_u8(), v);
        }
        assert_eq!(PartitionStatus::from_u8(1), PartitionStatus::Differs);
        assert_eq!(PartitionStatus::from_u8(9), PartitionStatus::Other(9));
        assert_eq!(OpenMultiStatus::from_u8(5).name(), "unknown partition");
    }

    #[test]
    fn error_names() {
        assert_eq!(error_name(error_code::INVALID_COMMAND), "invalid command");
        assert_eq!(error_name(0x0F), "command out of sequence");
        assert_eq!(error_name(0x1234), "unknown error code");
        assert_eq!(command_name(cmd::ERASE_FLASH), "ERASE_FLASH");
    }
}
