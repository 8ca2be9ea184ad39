//! Sahara command IDs, modes, status codes and EXECUTE client commands
//! (`docs/facts/sahara.md`–docs/facts/sahara.md, `docs/facts/sahara.md`). Unknown values stay numbers.

/// Command IDs (docs/facts/sahara.md).
pub mod cmd {
    pub const HELLO: u32 = 0x01;
    pub const HELLO_RESP: u32 = 0x02;
    pub const READ_DATA: u32 = 0x03;
    pub const END_IMAGE_TX: u32 = 0x04;
    pub const DONE: u32 = 0x05;
    pub const DONE_RESP: u32 = 0x06;
    pub const RESET: u32 = 0x07;
    pub const RESET_RESP: u32 = 0x08;
    pub const MEMORY_DEBUG: u32 = 0x09;
    pub const MEMORY_READ: u32 = 0x0A;
    pub const CMD_READY: u32 = 0x0B;
    pub const SWITCH_MODE: u32 = 0x0C;
    pub const EXECUTE: u32 = 0x0D;
    pub const EXECUTE_RESP: u32 = 0x0E;
    pub const EXECUTE_DATA: u32 = 0x0F;
    pub const MEMORY_DEBUG_64: u32 = 0x10;
    pub const MEMORY_READ_64: u32 = 0x11;
    pub const READ_DATA_64: u32 = 0x12;
    pub const RESET_STATE_MACHINE: u32 = 0x13;
    /// v3; layout not known (docs/facts/sahara.md), decoded as an unknown packet.
    pub const WRITE_DATA: u32 = 0x14;
}

/// Name of a command ID.
pub fn command_name(id: u32) -> &'static str {
    match id {
        cmd::HELLO => "HELLO",
        cmd::HELLO_RESP => "HELLO_RESP",
        cmd::READ_DATA => "READ_DATA",
        cmd::END_IMAGE_TX => "END_IMAGE_TX",
        cmd::DONE => "DONE",
        cmd::DONE_RESP => "DONE_RESP",
        cmd::RESET => "RESET",
        cmd::RESET_RESP => "RESET_RESP",
        cmd::MEMORY_DEBUG => "MEMORY_DEBUG",
        cmd::MEMORY_READ => "MEMORY_READ",
        cmd::CMD_READY => "CMD_READY",
        cmd::SWITCH_MODE => "SWITCH_MODE",
        cmd::EXECUTE => "EXECUTE",
        cmd::EXECUTE_RESP => "EXECUTE_RESP",
        cmd::EXECUTE_DATA => "EXECUTE_DATA",
        cmd::MEMORY_DEBUG_64 => "MEMORY_DEBUG_64",
        cmd::MEMORY_READ_64 => "MEMORY_READ_64",
        cmd::READ_DATA_64 => "READ_DATA_64",
        cmd::RESET_STATE_MACHINE => "RESET_STATE_MACHINE",
        cmd::WRITE_DATA => "WRITE_DATA",
        _ => "unknown command",
    }
}

/// Modes of HELLO / HELLO_RESP / SWITCH_MODE (docs/facts/sahara.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    ImageTxPending,
    ImageTxComplete,
    MemoryDebug,
    Command,
    Other(u32),
}

impl Mode {
    pub fn from_u32(v: u32) -> Self {
        match v {
            0 => Self::ImageTxPending,
            1 => Self::ImageTxComplete,
            2 => Self::MemoryDebug,
            3 => Self::Command,
            other => Self::Other(other),
        }
    }

    pub fn as_u32(self) -> u32 {
        match self {
            Self::ImageTxPending => 0,
            Self::ImageTxComplete => 1,
            Self::MemoryDebug => 2,
            Self::Command => 3,
            Self::Other(v) => v,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::ImageTxPending => "image transfer pending",
            Self::ImageTxComplete => "image transfer complete",
            Self::MemoryDebug => "memory debug",
            Self::Command => "command",
            Self::Other(_) => "unknown mode",
        }
    }
}

/// Status codes (docs/facts/sahara.md) that code refers to by name: the host client and
/// the virtual module's Sahara target share these.
pub mod status {
    pub const SUCCESS: u32 = 0x00;
    pub const INVALID_CMD: u32 = 0x01;
    pub const PROTOCOL_MISMATCH: u32 = 0x02;
    pub const INVALID_HOST_PROTOCOL_VERSION: u32 = 0x04;
    pub const UNEXPECTED_IMAGE_ID: u32 = 0x06;
    pub const INVALID_IMAGE_DATA_SIZE: u32 = 0x08;
    pub const UNSUPPORTED_NUM_PHDRS: u32 = 0x0E;
    pub const INVALID_PHDR_SIZE: u32 = 0x0F;
    pub const UNINITIALISED_PHDR_LOCATION: u32 = 0x11;
    pub const INVALID_IMAGE_HEADER_DATA_SIZE: u32 = 0x13;
    pub const INVALID_ELF_HEADER: u32 = 0x14;
    pub const HOST_ERROR_IN_HELLO_RESP: u32 = 0x15;
    pub const INVALID_HOST_MODE: u32 = 0x18;
    pub const MEMORY_DEBUG_NOT_SUPPORTED: u32 = 0x1B;
    pub const INVALID_MODE_SWITCH: u32 = 0x1C;
    pub const UNSUPPORTED_EXEC_CMD: u32 = 0x1F;
    pub const INVALID_CLIENT_CMD: u32 = 0x20;
    pub const HASH_TABLE_AUTH_FAILURE: u32 = 0x21;
    pub const IMAGE_AUTH_FAILURE: u32 = 0x25;
}

/// Name of a status code (docs/facts/sahara.md).
pub fn status_name(code: u32) -> &'static str {
    const NAMES: [&str; 0x29] = [
        "success",
        "invalid command for state",
        "protocol mismatch",
        "invalid target protocol version",
        "invalid host protocol version",
        "invalid packet size",
        "unexpected image ID",
        "invalid image header size",
        "invalid image data size",
        "invalid image type",
        "invalid TX length",
        "invalid RX length",
        "general TX/RX error",
        "error sending READ_DATA",
        "unsupported number of program headers",
        "invalid program header size",
        "multiple shared segments",
        "uninitialised program header location",
        "invalid destination address",
        "invalid image-header data size",
        "invalid ELF header",
        "unknown host error in HELLO_RESP",
        "timeout receiving",
        "timeout transmitting",
        "invalid host mode",
        "invalid memory read",
        "host cannot handle the requested read size",
        "memory debug not supported",
        "invalid mode switch",
        "command execution failed",
        "invalid exec parameter",
        "unsupported exec command",
        "invalid client command for EXECUTE_DATA",
        "hash table authentication failure",
        "segment hash verification failure",
        "hash table not found",
        "target initialisation failure",
        "image authentication failure",
        "invalid image hash table size",
        "enumeration failure",
        "hardware bulk transfer error",
    ];
    NAMES.get(code as usize).copied().unwrap_or("unknown status")
}

/// EXECUTE client commands (docs/facts/sahara.md).
pub mod exec {
    pub const NOP: u32 = 0x00;
    /// LE32 serial number.
    pub const SERIAL_NUM_READ: u32 = 0x01;
    /// LE64 MSM HW id (targets before v3).
    pub const MSM_HW_ID_READ: u32 = 0x02;
    /// OEM public-key hash, often repeated.
    pub const OEM_PK_HASH_READ: u32 = 0x03;
    pub const SWITCH_TO_DMSS_DLOAD: u32 = 0x04;
    pub const SWITCH_TO_STREAM_DLOAD: u32 = 0x05;
    pub const READ_DEBUG_DATA: u32 = 0x06;
    pub const GET_SOFTWARE_VERSION_SBL: u32 = 0x07;
    pub const GET_COMMAND_ID_LIST: u32 = 0x08;
    pub const GET_TRAINING_DATA: u32 = 0x09;
    /// v3 targets: chip id block (≥ 44 bytes).
    pub const READ_CHIP_ID_V3: u32 = 0x0A;
}

/// Name of an EXECUTE client command.
pub fn exec_name(id: u32) -> &'static str {
    match id {
        exec::NOP => "NOP",
        exec::SERIAL_NUM_READ => "SERIAL_NUM_READ",
        exec::MSM_HW_ID_READ => "MSM_HW_ID_READ",
        exec::OEM_PK_HASH_READ => "OEM_PK_HASH_READ",
        exec::SWITCH_TO_DMSS_DLOAD => "SWITCH_TO_DMSS_DLOAD",
        exec::SWITCH_TO_STREAM_DLOAD => "SWITCH_TO_STREAM_DLOAD",
        exec::READ_DEBUG_DATA => "READ_DEBUG_DATA",
        exec::GET_SOFTWARE_VERSION_SBL => "GET_SOFTWARE_VERSION_SBL",
        exec::GET_COMMAND_ID_LIST => "GET_COMMAND_ID_LIST",
        exec::GET_TRAINING_DATA => "GET_TRAINING_DATA",
        exec::READ_CHIP_ID_V3 => "READ_CHIP_ID_V3",
        _ => "unknown exec command",
    }
}

/// Image IDs seen in READ_DATA (docs/facts/sahara.md, `docs/facts/sahara.md`).
pub mod image_id {
    /// NPRG, NAND streaming programmer (HOSTDL).
    pub const NPRG: u32 = 7;
    /// ENPRG / `prog_nand_firehose_9x07.mbn` (EHOSTDL).
    pub const ENPRG: u32 = 13;
    /// SBL1 (AG35).
    pub const SBL1: u32 = 21;
    /// SBL2.
    pub const SBL2: u32 = 22;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(status_name(status::IMAGE_AUTH_FAILURE), "image authentication failure");
        assert_eq!(status_name(0x28), "hardware bulk transfer error");
        assert_eq!(status_name(0x29), "unknown status");
        assert_eq!(status_name(u32::MAX), "unknown status");
        assert_eq!(status_name(0x15), "unknown host error in HELLO_RESP");
        assert_eq!(status_name(status::INVALID_ELF_HEADER), "invalid ELF header");
        assert_eq!(status_name(status::UNSUPPORTED_NUM_PHDRS), "unsupported number of program headers");
        assert_eq!(status_name(status::INVALID_IMAGE_HEADER_DATA_SIZE), "invalid image-header data size");
        assert_eq!(status_name(status::INVALID_MODE_SWITCH), "invalid mode switch");
        assert_eq!(command_name(cmd::EXECUTE_RESP), "EXECUTE_RESP");
        assert_eq!(command_name(cmd::EXECUTE_DATA), "EXECUTE_DATA");
        assert_eq!(exec_name(exec::OEM_PK_HASH_READ), "OEM_PK_HASH_READ");
        for v in 0..8 {
            assert_eq!(Mode::from_u32(v).as_u32(), v);
        }
        assert_eq!(Mode::from_u32(3), Mode::Command);
    }
}
