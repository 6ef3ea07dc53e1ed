//! The Berkeley DB hash file rpm ≤ 4.15 keeps its headers in (`/var/lib/rpm/Packages`: RHEL/CentOS ≤ 8,
//! Amazon Linux 2). No maintained crate reads Berkeley DB without linking libdb, and only a small part of
//! the on-disk format is needed: the metadata page gives the page size and byte order; every hash page
//! holds key/data pairs, a data item is either inline (`H_KEYDATA`) or the start of a chain of overflow
//! pages (`H_OFFPAGE`), which is where rpm headers (kilobytes each) nearly always live.
//! Layout: libdb 5.3 `dbinc/db_page.h`.

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

struct Db<'a> {
    bytes: &'a [u8],
    page_size: usize,
    big_endian: bool,
    /// Overflow pages already read. A page belongs to one item's chain; a crafted file that points many
    /// items at one long chain would otherwise turn a 1 MiB file into gigabytes of copies.
    used: Vec<bool>,
}

impl<'a> Db<'a> {
    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    fn u16_at(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }

    fn page(&self, number: usize) -> Option<&'a [u8]> {
        self.bytes.get(number * self.page_size..(number + 1) * self.page_size)
    }

    fn pages(&self) -> usize {
        self.bytes.len() / self.page_size
    }

    /// Follows an overflow chain from `first`, collecting `total` bytes. Every page is read at most once
    /// in the whole file, so a chain that loops ends, and all the values together are never larger than
    /// the file: memory and work are linear in its size.
    fn overflow(&mut self, first: u32, total: usize) -> Result<Vec<u8>, String> {
        if total > self.bytes.len() {
            return Err(format!("an item claims {total} bytes, more than the file"));
        }
        let mut out = Vec::new();
        let mut next = first as usize;
        while out.len() < total {
            let page = self.page(next).filter(|_| next != 0);
            let page = page.ok_or_else(|| format!("overflow chain from page {first} is broken at page {next}"))?;
            if std::mem::replace(&mut self.used[next], true) {
                return Err(format!("overflow page {next} is shared by two items or loops: a corrupt or crafted file"));
            }
            if page[25] != P_OVERFLOW {
                return Err(format!("page {next} in an overflow chain has type {}", page[25]));
            }
            let base = next * self.page_size;
            // On overflow pages, `hf_offset` is the number of bytes used after the header.
            let used = self.u16_at(base + 22).unwrap_or(0) as usize;
            let chunk = page
                .get(PAGE_HEADER..PAGE_HEADER + used)
                .ok_or_else(|| format!("overflow page {next} claims {used} bytes"))?;
            if used == 0 {
                return Err(format!("overflow page {next} is empty"));
            }
            out.extend_from_slice(&chunk[..chunk.len().min(total - out.len())]);
            next = self.u32_at(base + 16).unwrap_or(0) as usize;
        }
        Ok(out)
    }
}

/// Every data item (the value of each key/value pair) in the hash file, in page order.
pub fn values(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let meta = bytes.get(..512).ok_or("too short for a Berkeley DB file")?;
    let magic: [u8; 4] = meta[12..16].try_into().map_err(|_| "no magic")?;
    let big_endian = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
        (HASH_MAGIC, _) => false,
        (_, HASH_MAGIC) => true,
        _ => return Err("not a Berkeley DB hash file (bad magic)".into()),
    };
    let mut db = Db { bytes, page_size: 512, big_endian, used: Vec::new() };
    db.page_size = db.u32_at(20).unwrap_or(0) as usize;
    if !(512..=65536).contains(&db.page_size) || !db.page_size.is_power_of_two() || meta[25] != P_HASHMETA {
        return Err(format!("not a Berkeley DB hash file (page size {}, type {})", db.page_size, meta[25]));
    }
    if meta[24] != 0 {
        return Err("the Berkeley DB file is encrypted".into());
    }
    db.used = vec![false; db.pages()];
    let mut values = Vec::new();
    for number in 1..db.pages() {
        let Some(page) = db.page(number) else { break };
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        let base = number * db.page_size;
        let entries = db.u16_at(base + 20).unwrap_or(0) as usize;
        // Item offsets follow the header. Items are packed towards the page's end, but a sorted page
        // reorders the index, so an item ends where the next item up in the page begins.
        let offsets: Option<Vec<usize>> =
            (0..entries).map(|i| db.u16_at(base + PAGE_HEADER + 2 * i).map(usize::from)).collect();
        let offsets = offsets.ok_or_else(|| format!("hash page {number} has a truncated index"))?;
        let mut sorted = offsets.clone();
        sorted.sort_unstable();
        // Keys are at even indexes, their values at the odd ones.
        for i in (1..entries).step_by(2) {
            let start = offsets[i];
            // A binary search: a 64 KiB page holds up to 32k items, and a scan per item is quadratic.
            let end = sorted.get(sorted.partition_point(|o| *o <= start)).copied().unwrap_or(db.page_size);
            let item = page.get(start..end).filter(|item| !item.is_empty() && start >= PAGE_HEADER);
            let item = item.ok_or_else(|| format!("hash page {number} item {i} is out of the page"))?;
            match item[0] {
                H_KEYDATA => values.push(item[1..].to_vec()),
                H_OFFPAGE => {
                    let field = |at| {
                        let b: [u8; 4] = item.get(at..at + 4)?.try_into().ok()?;
                        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
                    };
                    let (Some(first), Some(total)) = (field(4), field(8)) else {
                        return Err(format!("hash page {number} item {i} is a truncated overflow reference"));
                    };
                    values.push(db.overflow(first, total as usize)?);
                }
                other => return Err(format!("hash page {number} item {i} has unsupported type {other}")),
            }
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_hash_file() {
        assert!(values(b"short").unwrap_err().contains("too short"));
        assert!(values(&[0u8; 4096]).unwrap_err().contains("bad magic"));
        let mut meta = vec![0u8; 4096];
        meta[12..16].copy_from_slice(&HASH_MAGIC.to_le_bytes());
        meta[20..24].copy_from_slice(&1000u32.to_le_bytes());
        meta[25] = P_HASHMETA;
        assert!(values(&meta).unwrap_err().contains("page size 1000"));
    }
}
