//! Device selectors, the same for every command (`--device SEL`):
//!
//! | Form | Meaning |
//! |---|---|
//! | `usb:BUS-PORT[.PORT…]` | the USB device at that bus/port path, e.g. `usb:1-1.2` (Linux sysfs names) |
//! | `usb:VID:PID[:SERIAL]` | the device with that id (hex, 4 digits) and optional serial number |
//! | `serial:PATH` | a tty or COM port that is the module's DM port (`serial:/dev/ttyUSB0`, `serial:COM5`) |
//! | `tcp:HOST:PORT` | fastboot over TCP (`tcp:127.0.0.1:5554`) |
//!
//! Parsing is pure; every error names what was expected and what came.

use std::fmt;
use std::path::PathBuf;

/// A parsed `--device` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// A bus/port path, as Linux names USB devices in sysfs (`1-1.2`).
    UsbPath(String),
    /// A USB id, optionally narrowed by serial number.
    UsbId { vid: u16, pid: u16, serial: Option<String> },
    /// A serial port (the DM port of the module).
    Serial(PathBuf),
    /// Fastboot over TCP: `HOST:PORT` as given.
    Tcp { host: String, port: u16 },
}

/// Why a selector did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "device selector {0:?} has no known prefix: expected usb:BUS-PORT, usb:VID:PID[:SERIAL], serial:PATH or tcp:HOST:PORT"
    )]
    UnknownScheme(String),
    #[error("device selector {given:?}: {what} is empty")]
    Empty { given: String, what: &'static str },
    #[error(
        "device selector {given:?}: {part:?} is not a USB bus/port path; expected BUS-PORT[.PORT...] with decimal numbers, e.g. usb:1-1.2"
    )]
    BadUsbPath { given: String, part: String },
    #[error("device selector {given:?}: {which} {part:?} is not a 4-digit hex number (e.g. 2c7c)")]
    BadHexId { given: String, which: &'static str, part: String },
    #[error("device selector {given:?}: {part:?} is not a port number 1-65535; expected tcp:HOST:PORT")]
    BadPort { given: String, part: String },
    #[error("device selector {given:?}: expected tcp:HOST:PORT (the port is missing)")]
    MissingPort { given: String },
    #[error("device selector {given:?}: too many ':' parts; expected usb:VID:PID[:SERIAL]")]
    TooManyParts { given: String },
}

/// Whether `s` is a Linux USB device path such as `1-1`, `3-2.4.1` (bus, dash, dotted ports).
pub fn is_usb_path(s: &str) -> bool {
    let Some((bus, ports)) = s.split_once('-') else { return false };
    let num = |p: &str| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    num(bus) && !ports.is_empty() && ports.split('.').all(num)
}

fn hex16(given: &str, which: &'static str, part: &str) -> Result<u16, SelectorError> {
    let bad = || SelectorError::BadHexId { given: given.to_owned(), which, part: part.to_owned() };
    let digits = part.strip_prefix("0x").unwrap_or(part);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u16::from_str_radix(digits, 16).map_err(|_| bad())
}

impl Selector {
    /// Parse a `--device` value.
    pub fn parse(given: &str) -> Result<Self, SelectorError> {
        let given_s = given.to_owned();
        let (scheme, rest) =
            given.split_once(':').ok_or_else(|| SelectorError::UnknownScheme(given_s.clone()))?;
        match scheme {
            "usb" => Self::parse_usb(given, rest),
            "serial" => {
                if rest.is_empty() {
                    return Err(SelectorError::Empty { given: given_s, what: "the serial port path" });
                }
                Ok(Selector::Serial(PathBuf::from(rest)))
            }
            "tcp" => {
                // rsplit so that a bracketed IPv6 host keeps its colons.
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| SelectorError::MissingPort { given: given_s.clone() })?;
                if host.is_empty() {
                    return Err(SelectorError::Empty { given: given_s, what: "the host" });
                }
                let port = match port.parse::<u16>() {
                    Ok(p) if p != 0 => p,
                    _ => return Err(SelectorError::BadPort { given: given_s, part: port.to_owned() }),
                };
                Ok(Selector::Tcp { host: host.to_owned(), port })
            }
            _ => Err(SelectorError::UnknownScheme(given_s)),
        }
    }

    fn parse_usb(given: &str, rest: &str) -> Result<Self, SelectorError> {
        if rest.is_empty() {
            return Err(SelectorError::Empty { given: given.to_owned(), what: "the USB path or id" });
        }
        let parts: Vec<&str> = rest.splitn(3, ':').collect();
        match parts.as_slice() {
            [path] => {
                if is_usb_path(path) {
                    Ok(Selector::UsbPath((*path).to_owned()))
                } else {
                    Err(SelectorError::BadUsbPath { given: given.to_owned(), part: (*path).to_owned() })
                }
            }
            [vid, pid] => Ok(Selector::UsbId {
                vid: hex16(given, "vendor id", vid)?,
                pid: hex16(given, "product id", pid)?,
                serial: None,
            }),
            [vid, pid, serial] => {
                if serial.is_empty() {
                    return Err(SelectorError::Empty { given: given.to_owned(), what: "the serial number" });
                }
                if serial.contains(':') {
                    return Err(SelectorError::TooManyParts { given: given.to_owned() });
                }
                Ok(Selector::UsbId {
                    vid: hex16(given, "vendor id", vid)?,
                    pid: hex16(given, "product id", pid)?,
                    serial: Some((*serial).to_owned()),
                })
            }
            _ => Err(SelectorError::TooManyParts { given: given.to_owned() }),
        }
    }

    /// Whether this selector names a USB device (and so needs USB discovery).
    pub fn is_usb(&self) -> bool {
        matches!(self, Selector::UsbPath(_) | Selector::UsbId { .. })
    }

    /// Whether a USB device with these facts is the one selected. Serial and TCP selectors
    /// match no USB device.
    pub fn matches_usb(&self, path: &str, vid: u16, pid: u16, serial: Option<&str>) -> bool {
        match self {
            Selector::UsbPath(p) => p == path,
            Selector::UsbId { vid: v, pid: p, serial: s } => {
                *v == vid && *p == pid && s.as_deref().is_none_or(|want| serial == Some(want))
            }
            Selector::Serial(_) | Selector::Tcp { .. } => false,
        }
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::UsbPath(p) => write!(f, "usb:{p}"),
            Selector::UsbId { vid, pid, serial: None } => write!(f, "usb:{vid:04x}:{pid:04x}"),
            Selector::UsbId { vid, pid, serial: Some(s) } => write!(f, "usb:{vid:04x}:{pid:04x}:{s}"),
            Selector::Serial(p) => write!(f, "serial:{}", p.display()),
            Selector::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usb_paths() {
        assert_eq!(Selector::parse("usb:1-1.2").unwrap(), Selector::UsbPath("1-1.2".into()));
        assert_eq!(Selector::parse("usb:3-10").unwrap(), Selector::UsbPath("3-10".into()));
        assert_eq!(Selector::parse("usb:2-1.4.3").unwrap(), Selector::UsbPath("2-1.4.3".into()));
        for bad in ["usb:1-", "usb:-1", "usb:1-1..2", "usb:a-1", "usb:1_1", "usb:1-1.x"] {
            assert!(matches!(Selector::parse(bad), Err(SelectorError::BadUsbPath { .. })), "{bad}");
        }
        assert!(is_usb_path("1-1"));
        assert!(!is_usb_path("usb1"));
        assert!(!is_usb_path("1-1:1.0"));
    }

    #[test]
    fn usb_ids() {
        assert_eq!(
            Selector::parse("usb:2c7c:0125").unwrap(),
            Selector::UsbId { vid: 0x2c7c, pid: 0x0125, serial: None }
        );
        assert_eq!(
            Selector::parse("usb:05C6:9008:ABC123").unwrap(),
            Selector::UsbId { vid: 0x05c6, pid: 0x9008, serial: Some("ABC123".into()) }
        );
        assert_eq!(
            Selector::parse("usb:0x18d1:0xd00d").unwrap(),
            Selector::UsbId { vid: 0x18d1, pid: 0xd00d, serial: None }
        );
        let e = Selector::parse("usb:2c7g:0125").unwrap_err();
        assert_eq!(
            e.to_string(),
            "device selector \"usb:2c7g:0125\": vendor id \"2c7g\" is not a 4-digit hex number (e.g. 2c7c)"
        );
        assert!(matches!(
            Selector::parse("usb:2c7c:12345"),
            Err(SelectorError::BadHexId { which: "product id", .. })
        ));
        assert!(matches!(Selector::parse("usb:2c7c:0125:"), Err(SelectorError::Empty { .. })));
        assert!(matches!(Selector::parse("usb:2c7c:0125:a:b"), Err(SelectorError::TooManyParts { .. })));
        assert!(matches!(Selector::parse("usb:"), Err(SelectorError::Empty { .. })));
    }

    #[test]
    fn serial_and_tcp() {
        assert_eq!(Selector::parse("serial:/dev/ttyUSB0").unwrap(), Selector::Serial("/dev/ttyUSB0".into()));
        assert_eq!(Selector::parse("serial:COM5").unwrap(), Selector::Serial("COM5".into()));
        assert!(matches!(Selector::parse("serial:"), Err(SelectorError::Empty { .. })));
        assert_eq!(
            Selector::parse("tcp:127.0.0.1:5554").unwrap(),
            Selector::Tcp { host: "127.0.0.1".into(), port: 5554 }
        );
        assert_eq!(
            Selector::parse("tcp:[::1]:5554").unwrap(),
            Selector::Tcp { host: "[::1]".into(), port: 5554 }
        );
        assert!(matches!(Selector::parse("tcp:localhost"), Err(SelectorError::MissingPort { .. })));
        assert!(matches!(Selector::parse("tcp:host:0"), Err(SelectorError::BadPort { .. })));
        assert!(matches!(Selector::parse("tcp:host:99999"), Err(SelectorError::BadPort { .. })));
        assert!(matches!(Selector::parse("tcp::5554"), Err(SelectorError::Empty { .. })));
    }

    #[test]
    fn unknown_scheme_says_what_is_expected() {
        let e = Selector::parse("/dev/ttyUSB0").unwrap_err();
        assert!(e.to_string().contains("expected usb:BUS-PORT"), "{e}");
        assert!(matches!(Selector::parse("bt:00:11"), Err(SelectorError::UnknownScheme(_))));
    }

    #[test]
    fn display_round_trips() {
        for s in ["usb:1-1.2", "usb:2c7c:0125", "usb:05c6:9008:SN1", "serial:/dev/ttyUSB0", "tcp:h:1"] {
            assert_eq!(Selector::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn matching() {
        let by_id = Selector::parse("usb:2c7c:0125:SN").unwrap();
        assert!(by_id.matches_usb("1-1", 0x2c7c, 0x0125, Some("SN")));
        assert!(!by_id.matches_usb("1-1", 0x2c7c, 0x0125, None));
        assert!(Selector::parse("usb:2c7c:0125").unwrap().matches_usb("1-1", 0x2c7c, 0x0125, None));
        assert!(Selector::parse("usb:1-1").unwrap().matches_usb("1-1", 1, 2, None));
        assert!(!Selector::parse("serial:/x").unwrap().matches_usb("1-1", 1, 2, None));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = Selector::parse(&s);
        }
    }
}
