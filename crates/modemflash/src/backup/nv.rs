//! Which NV items a backup reads through DIAG NV_READ, what it keeps of each (`nv.json`),
//! and how two such records compare (identity lost in an update).
//!
//! The list is data: item 550 (`NV_UE_IMEI_I`) is the identity
//! (docs/facts/hdlc-diag.md) [confirmed]; the others are provisioning items libqcdm names
//! (`nv-items.h`: 10 mode preference, 178 directory number, 442 roaming preference, 562
//! hybrid preference, 1896 IPv6, 4964 HDR revision preference) [confirmed for the numbers].
//! 0 (ESN) and 1943 (MEID) are identities of CDMA-capable modules [confirmed, Qualcomm's
//! `nv_items_enum_type`]. [inferred] which items the 9x07/9615 calibration lives in is
//! not recorded: the field user's QCN (9728 bytes) suggests a few dozen items, and RF
//! calibration on these chips sits largely in EFS files, which the partition dump holds
//! where the package writes the EFS partition. Extend [`NV_ITEMS`] as facts arrive.

use serde::{Deserialize, Serialize};

use crate::protocol::diag::nv::{NV_UE_IMEI_I, NvItem, NvStatus, imei_from_nv};

/// One item the backup reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvItemSpec {
    pub item: u16,
    pub name: &'static str,
    /// `identity` items are compared after an update; `provisioning` ones are reported.
    pub role: &'static str,
}

/// The items read, in order.
pub const NV_ITEMS: &[NvItemSpec] = &[
    NvItemSpec { item: NV_UE_IMEI_I, name: "ue-imei", role: "identity" },
    NvItemSpec { item: 0, name: "esn", role: "identity" },
    NvItemSpec { item: 1943, name: "meid", role: "identity" },
    NvItemSpec { item: 10, name: "mode-pref", role: "provisioning" },
    NvItemSpec { item: 178, name: "dir-number", role: "provisioning" },
    NvItemSpec { item: 442, name: "roam-pref", role: "provisioning" },
    NvItemSpec { item: 562, name: "hybrid-pref", role: "provisioning" },
    NvItemSpec { item: 1896, name: "ipv6-enabled", role: "provisioning" },
    NvItemSpec { item: 4964, name: "hdr-rev-pref", role: "provisioning" },
];

/// One item as kept in `nv.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvRecord {
    pub item: u16,
    pub name: String,
    pub role: String,
    /// `ok`, `inactive` (never written or lost), … or `refused` (the DIAG task said no).
    pub status: String,
    /// The 128 data bytes in hex, when the status is OK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// `nv.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvBackup {
    /// The IMEI decoded from item 550, when it holds one.
    pub imei: Option<String>,
    pub items: Vec<NvRecord>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn status_name(s: NvStatus) -> String {
    match s {
        NvStatus::Ok => "ok".into(),
        NvStatus::Busy => "busy".into(),
        NvStatus::BadCommand => "bad-command".into(),
        NvStatus::MemoryFull => "memory-full".into(),
        NvStatus::Failed => "failed".into(),
        NvStatus::Inactive => "inactive".into(),
        NvStatus::BadParameter => "bad-parameter".into(),
        NvStatus::ReadOnly => "read-only".into(),
        NvStatus::Other(n) => format!("status-{n}"),
    }
}

impl NvBackup {
    /// Add what the device answered for `spec` (`None`: the command was refused).
    pub fn add(&mut self, spec: &NvItemSpec, answer: Option<&NvItem>) {
        let (status, data) = match answer {
            Some(nv) if nv.status == NvStatus::Ok => ("ok".to_owned(), Some(hex(&nv.data))),
            Some(nv) => (status_name(nv.status), None),
            None => ("refused".to_owned(), None),
        };
        if spec.item == NV_UE_IMEI_I
            && let Some(nv) = answer.filter(|n| n.status == NvStatus::Ok)
        {
            self.imei = imei_from_nv(&nv.data);
        }
        self.items.push(NvRecord {
            item: spec.item,
            name: spec.name.to_owned(),
            role: spec.role.to_owned(),
            status,
            data,
        });
    }

    fn get(&self, item: u16) -> Option<&NvRecord> {
        self.items.iter().find(|r| r.item == item)
    }
}

/// How one item changed between two reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NvChange {
    pub item: u16,
    pub name: String,
    pub role: String,
    pub before: String,
    pub after: String,
}

impl std::fmt::Display for NvChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NV {} ({}, {}): {} before, {} now",
            self.item, self.name, self.role, self.before, self.after
        )
    }
}

fn describe(r: Option<&NvRecord>) -> String {
    match r {
        None => "not read".into(),
        Some(r) if r.status != "ok" => r.status.clone(),
        Some(r) if r.item == NV_UE_IMEI_I => r
            .data
            .as_deref()
            .and_then(|h| {
                let bytes: Option<Vec<u8>> = (0..h.len())
                    .step_by(2)
                    .map(|i| h.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
                    .collect();
                imei_from_nv(&bytes?)
            })
            .map_or_else(|| "an unreadable IMEI".into(), |i| format!("IMEI {i}")),
        Some(r) => format!("data {}", r.data.as_deref().map_or("", |d| d.get(..16).unwrap_or(d))),
    }
}

/// Every item read in `before` whose answer differs in `after`. An item that was not set
/// before and is not set now is no change.
pub fn compare(before: &NvBackup, after: &NvBackup) -> Vec<NvChange> {
    let mut out = Vec::new();
    for b in &before.items {
        let a = after.get(b.item);
        let same = a.is_some_and(|a| a.status == b.status && a.data == b.data);
        if !same {
            out.push(NvChange {
                item: b.item,
                name: b.name.clone(),
                role: b.role.clone(),
                before: describe(Some(b)),
                after: describe(a),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::diag::nv::{NV_DATA_LEN, imei_to_nv};

    fn item(n: u16, status: NvStatus, data: &[u8]) -> NvItem {
        let mut d = [0u8; NV_DATA_LEN];
        d[..data.len()].copy_from_slice(data);
        NvItem { item: n, data: d, status }
    }

    #[test]
    fn a_lost_imei_is_a_change_naming_both_sides() {
        let imei = imei_to_nv("867698040000018").unwrap();
        let mut before = NvBackup::default();
        before.add(&NV_ITEMS[0], Some(&item(550, NvStatus::Ok, &imei)));
        before.add(&NV_ITEMS[1], Some(&item(0, NvStatus::Inactive, &[])));
        assert_eq!(before.imei.as_deref(), Some("867698040000018"));
        let mut after = NvBackup::default();
        after.add(&NV_ITEMS[0], Some(&item(550, NvStatus::Inactive, &[])));
        after.add(&NV_ITEMS[1], Some(&item(0, NvStatus::Inactive, &[])));
        let c = compare(&before, &after);
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].to_string(), "NV 550 (ue-imei, identity): IMEI 867698040000018 before, inactive now");
        assert!(compare(&before, &before).is_empty());
        let json = serde_json::to_string(&before).unwrap();
        assert_eq!(serde_json::from_str::<NvBackup>(&json).unwrap(), before);
    }
}
