//! Just enough of an ELF file, read as it streams past: the header and program headers from its first
//! bytes, and the section header table captured where the header says it lies (usually the very end).

use std::ops::Range;

use object::Endianness;
use object::elf::{self, FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};

pub const MAGIC: &[u8; 4] = b"\x7fELF";
/// The byte of `e_ident` that says 32 or 64 bits.
const EI_CLASS: usize = 4;

/// Enough for the ELF header and the program header table, which linkers put right after it.
pub const HEAD: usize = 4096;

/// Real section header tables hold tens of sections (a few KiB); even `-ffunction-sections` objects stay
/// far below this. Beyond it we do not capture the table and fall back to content checks alone.
const MAX_SECTION_TABLE: u64 = 1 << 20;

/// GNU ld and lld put the section name table right before the section header table; this much before the
/// table is kept so the names can be read without a second pass.
const NAMES_WINDOW: u64 = 64 * 1024;

/// Where things are in one ELF file.
#[derive(Debug, Clone)]
pub struct Layout {
    endian: Endianness,
    is_64: bool,
    /// File ranges of writable, non-executable loadable segments: where Go puts its build info.
    pub data_segments: Vec<Range<u64>>,
    /// File ranges of all non-executable loadable segments: where Go puts its function table.
    pub nonexec_segments: Vec<Range<u64>>,
    section_table: Option<Range<u64>>,
    shstrndx: Option<u16>,
}

impl Layout {
    /// Reads the layout from the first bytes (`head`) of a file of `size` bytes.
    pub fn parse(head: &[u8], size: u64) -> Result<Layout, String> {
        match head.get(EI_CLASS) {
            Some(&c) if c == elf::ELFCLASS64.0 => layout::<FileHeader64<Endianness>>(head, size, true),
            Some(&c) if c == elf::ELFCLASS32.0 => layout::<FileHeader32<Endianness>>(head, size, false),
            _ => Err("not a valid ELF header: unknown class".into()),
        }
    }

    pub fn big_endian(&self) -> bool {
        self.endian == Endianness::Big
    }

    /// The bytes to keep for [`Layout::find_section`]: the section header table and the window before it.
    pub fn section_capture(&self) -> Option<Range<u64>> {
        let table = self.section_table.clone()?;
        Some(table.start.saturating_sub(NAMES_WINDOW)..table.end)
    }

    /// The file range of the section named `name`, read from the captured bytes (`captured` starts at
    /// [`Layout::section_capture`]'s start). `Err(())` when the table or its names were not captured, so
    /// the caller cannot tell whether the section exists.
    pub fn find_section(&self, captured: &[u8], name: &[u8]) -> Result<Option<Range<u64>>, ()> {
        let (capture, table) = (self.section_capture().ok_or(())?, self.section_table.clone().ok_or(())?);
        if captured.len() as u64 != capture.end - capture.start {
            return Err(());
        }
        let at = |r: Range<u64>| -> Option<&[u8]> {
            let start = r.start.checked_sub(capture.start)?;
            captured.get(usize::try_from(start).ok()?..usize::try_from(r.end - capture.start).ok()?)
        };
        let table_bytes = at(table.clone()).ok_or(())?;
        let shstrndx = self.shstrndx.ok_or(())?;
        let sections: Vec<(u32, Range<u64>)> = if self.is_64 {
            sections::<FileHeader64<Endianness>>(table_bytes, self.endian)?
        } else {
            sections::<FileHeader32<Endianness>>(table_bytes, self.endian)?
        };
        let names_range = sections.get(usize::from(shstrndx)).ok_or(())?.1.clone();
        let names = at(names_range).ok_or(())?;
        Ok(sections.into_iter().find_map(|(name_offset, range)| {
            let tail = names.get(name_offset as usize..)?;
            let end = tail.iter().position(|b| *b == 0)?;
            (&tail[..end] == name).then_some(range)
        }))
    }
}

fn layout<Elf: FileHeader<Endian = Endianness>>(head: &[u8], size: u64, is_64: bool) -> Result<Layout, String> {
    let header = Elf::parse(head).map_err(|e| format!("not a valid ELF header: {e}"))?;
    let endian = header.endian().map_err(|e| format!("not a valid ELF header: {e}"))?;
    let phdrs = header
        .program_headers(endian, head)
        .map_err(|e| format!("program header table unreadable in the first {HEAD} bytes: {e}"))?;
    let (mut data_segments, mut nonexec_segments) = (Vec::new(), Vec::new());
    for ph in phdrs {
        let (offset, filesz): (u64, u64) = (ph.p_offset(endian).into(), ph.p_filesz(endian).into());
        let end = offset.checked_add(filesz).ok_or("a segment's file range overflows")?;
        if end > size {
            return Err(truncated(end, size));
        }
        let flags = ph.p_flags(endian).0;
        if ph.p_type(endian) == elf::PT_LOAD && flags & (elf::PF_W.0 | elf::PF_X.0) == elf::PF_W.0 {
            data_segments.push(offset..end);
        }
        if ph.p_type(endian) == elf::PT_LOAD && flags & elf::PF_X.0 == 0 {
            nonexec_segments.push(offset..end);
        }
    }
    let shoff: u64 = header.e_shoff(endian).into();
    let table_len = u64::from(header.e_shnum(endian)) * u64::from(header.e_shentsize(endian));
    let table_end = shoff.checked_add(table_len).ok_or("the section header table's range overflows")?;
    if table_end > size {
        return Err(truncated(table_end, size));
    }
    // e_shnum == 0 with a table means extended numbering (over 65279 sections): not worth capturing.
    let section_table = (shoff != 0
        && table_len != 0
        && table_len <= MAX_SECTION_TABLE
        && usize::from(header.e_shentsize(endian)) == size_of::<Elf::SectionHeader>())
    .then_some(shoff..table_end);
    Ok(Layout {
        endian,
        is_64,
        data_segments,
        nonexec_segments,
        section_table,
        shstrndx: header.e_shstrndx(endian).index(),
    })
}

fn sections<Elf: FileHeader<Endian = Endianness>>(
    table: &[u8],
    endian: Endianness,
) -> Result<Vec<(u32, Range<u64>)>, ()> {
    let count = table.len() / size_of::<Elf::SectionHeader>();
    let (headers, _) = object::pod::slice_from_bytes::<Elf::SectionHeader>(table, count)?;
    Ok(headers
        .iter()
        .map(|sh| {
            let (offset, len): (u64, u64) = (sh.sh_offset(endian).into(), sh.sh_size(endian).into());
            // SHT_NOBITS sections (.bss) occupy no file bytes.
            let len = if sh.sh_type(endian) == elf::SHT_NOBITS { 0 } else { len };
            (sh.sh_name(endian), offset..offset.saturating_add(len))
        })
        .collect())
}

fn truncated(needed: u64, size: u64) -> String {
    format!("truncated ELF file: its headers point to byte {needed} but the file has {size} bytes")
}
