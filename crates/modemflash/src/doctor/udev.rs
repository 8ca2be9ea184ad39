//! The udev rules modemflash ships (`packaging/udev/70-modemflash.rules`), generated from
//! the catalogue so that every USB id is covered.
//!
//! For every id: the usbfs node and the ttys get group access (`plugdev` for USB,
//! `dialout` for ttys) and `uaccess` (the user at the seat gets an ACL). The flashing
//! modes (05c6:9008, the EC20 R1's DLOAD on 05c6:9215 with bcdDevice 0000, and 18d1:d00d)
//! are hidden from ModemManager (`ID_MM_DEVICE_IGNORE`),
//! which otherwise probes them and can reset the module mid-flash (`quectel-flows.md` §6
//! [F]), and have USB autosuspend turned off. Normal-mode ids stay visible to ModemManager:
//! it is how people use the modem; `modemflash update` deals with it (see `doctor`).

use crate::catalog::USB_IDS;

/// Group that owns the usbfs nodes of catalogue devices.
pub const USB_GROUP: &str = "plugdev";
/// Group that owns the ttys (the distributions' default for serial ports).
pub const TTY_GROUP: &str = "dialout";

/// The rules text.
pub fn rules() -> String {
    let mut out = String::from(
        "# modemflash: access to Quectel / Qualcomm modules in every mode.\n\
         # Generated from the modemflash catalogue (`modemflash setup udev --print`); do not edit.\n\
         # Install: `sudo modemflash setup udev`, or copy to /etc/udev/rules.d/ and run\n\
         #   udevadm control --reload-rules && udevadm trigger\n\
         # USB nodes: group plugdev + uaccess; ttys: group dialout + uaccess.\n\
         # Flashing modes (05c6:9008 EDL, 05c6:9215 with bcdDevice 0000 = EC20 R1 DLOAD, 18d1:d00d fastboot)\n\
         # are hidden from ModemManager and kept awake.\n\n\
         ACTION==\"remove\", GOTO=\"modemflash_end\"\n\n",
    );
    for r in USB_IDS {
        let flashing = r.mode.is_flashing();
        let (v, p) = (format!("{:04x}", r.vid), format!("{:04x}", r.pid));
        // A mode that shares its id with another is told apart by bcdDevice (udev sees
        // no interface count or iProduct on the tty's parent chain this simply).
        let (bcd, bcd_tty, bcd_note) = match r.matchers.bcd_device {
            Some(b) => (
                format!(", ATTR{{bcdDevice}}==\"{b:04x}\""),
                format!(", ATTRS{{bcdDevice}}==\"{b:04x}\""),
                format!(" bcdDevice {b:04x}"),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        out.push_str(&format!("# {v}:{p}{bcd_note} {} ({})\n", r.family, r.mode.name()));
        let mut usb = format!(
            "SUBSYSTEM==\"usb\", ENV{{DEVTYPE}}==\"usb_device\", ATTR{{idVendor}}==\"{v}\", ATTR{{idProduct}}==\"{p}\"{bcd}, MODE=\"0660\", GROUP=\"{USB_GROUP}\", TAG+=\"uaccess\""
        );
        let mut tty = format!(
            "SUBSYSTEM==\"tty\", ATTRS{{idVendor}}==\"{v}\", ATTRS{{idProduct}}==\"{p}\"{bcd_tty}, MODE=\"0660\", GROUP=\"{TTY_GROUP}\", TAG+=\"uaccess\""
        );
        if flashing {
            usb.push_str(
                ", ENV{ID_MM_DEVICE_IGNORE}=\"1\", TEST==\"power/control\", ATTR{power/control}=\"on\"",
            );
            tty.push_str(", ENV{ID_MM_DEVICE_IGNORE}=\"1\"");
        }
        out.push_str(&usb);
        out.push('\n');
        out.push_str(&tty);
        out.push_str("\n\n");
    }
    out.push_str("LABEL=\"modemflash_end\"\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::checks::ids_missing_from_rules;

    #[test]
    fn every_catalogue_id_is_covered() {
        assert!(ids_missing_from_rules(&rules()).is_empty());
        assert_eq!(ids_missing_from_rules("").len(), USB_IDS.len());
    }

    #[test]
    fn flashing_modes_are_hidden_from_modemmanager() {
        let text = rules();
        let ignored: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("ID_MM_DEVICE_IGNORE") && l.starts_with("SUBSYSTEM==\"usb\""))
            .collect();
        assert_eq!(ignored.len(), 3, "9008, the 9615's DLOAD and d00d: {ignored:?}");
        assert!(ignored.iter().any(|l| l.contains("\"9008\"")));
        assert!(ignored.iter().any(|l| l.contains("\"d00d\"")));
        // The EC20 R1's DLOAD shares 05c6:9215 with its normal mode: only bcdDevice 0000 is hidden.
        let r1: Vec<&str> = text.lines().filter(|l| l.contains("\"9215\"") && !l.starts_with('#')).collect();
        assert_eq!(r1.len(), 4, "{r1:?}");
        for l in r1 {
            assert_eq!(l.contains("ID_MM_DEVICE_IGNORE"), l.contains("{bcdDevice}==\"0000\""), "{l}");
        }
    }

    #[test]
    fn packaged_file_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/udev/70-modemflash.rules");
        if std::env::var_os("MODEMFLASH_BLESS").is_some() {
            std::fs::write(path, rules()).unwrap();
        }
        let packaged = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            packaged,
            rules(),
            "regenerate with `modemflash setup udev --print > packaging/udev/70-modemflash.rules`"
        );
    }
}
