//! The virtual module's NV items, as DIAG NV_READ (0x26) returns them: the instance's own
//! IMEI in item 550 (`SimIdentity::imei`, BCD as `modemflash::protocol::diag::nv` lays it
//! out), plus a few provisioning items. The fault switch `wipe-nv` empties the store
//! during an update (the first erase or partition write), after which every item reads
//! "inactive".
//!
//! [inferred] which items a real EC25/EC20 holds and their values are not recorded; the
//! provisioning items below (libqcdm's names: mode preference 10, roaming preference 442,
//! IPv6 enabled 1896) carry plausible values so a backup has more than the IMEI to compare.

use std::collections::BTreeMap;

use modemflash::protocol::diag::nv::{NV_DATA_LEN, NV_UE_IMEI_I, imei_to_nv};

/// NV items by number, each up to 128 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NvStore {
    items: BTreeMap<u16, Vec<u8>>,
}

impl NvStore {
    /// The items a module with this IMEI starts with.
    pub fn for_imei(imei: &str) -> Self {
        let mut items = BTreeMap::new();
        if let Some(bcd) = imei_to_nv(imei) {
            items.insert(NV_UE_IMEI_I, bcd.to_vec());
        }
        // [inferred] values: profile 0 / automatic mode (0x04); home + roaming (0xFF); IPv6 on.
        items.insert(10, vec![0x00, 0x04]);
        items.insert(442, vec![0x00, 0xff]);
        items.insert(1896, vec![0x01]);
        NvStore { items }
    }

    /// An item's bytes, when it is set.
    pub fn get(&self, item: u16) -> Option<&[u8]> {
        self.items.get(&item).map(Vec::as_slice)
    }

    /// Set an item (at most 128 bytes are kept).
    pub fn set(&mut self, item: u16, data: &[u8]) {
        self.items.insert(item, data.get(..data.len().min(NV_DATA_LEN)).unwrap_or_default().to_vec());
    }

    /// Lose every item (fault `wipe-nv`).
    pub fn wipe(&mut self) {
        self.items.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use modemflash::protocol::diag::nv::imei_from_nv;

    #[test]
    fn the_imei_item_holds_the_instance_imei() {
        let mut s = NvStore::for_imei("867698040000018");
        assert_eq!(imei_from_nv(s.get(550).unwrap()).as_deref(), Some("867698040000018"));
        s.wipe();
        assert!(s.get(550).is_none() && s.is_empty());
    }
}
