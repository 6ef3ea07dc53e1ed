//! Building layer tars in memory: files, whiteouts and opaque markers, as image builders write them.

pub struct TarBuilder {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        TarBuilder { builder: tar::Builder::new(Vec::new()) }
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a regular file at `path` (written with a `./` prefix, as `tar -C root .` does).
    pub fn file(mut self, path: &str, data: &[u8]) -> Self {
        self.append(path, data, tar::EntryType::Regular, 0o644);
        self
    }

    pub fn executable(mut self, path: &str, data: &[u8]) -> Self {
        self.append(path, data, tar::EntryType::Regular, 0o755);
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        self.append(path, b"", tar::EntryType::Directory, 0o755);
        self
    }

    /// Deletes `path` (and everything below it) from lower layers.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let marker = if dir.is_empty() { format!(".wh.{name}") } else { format!("{dir}/.wh.{name}") };
        self.file(&marker, b"")
    }

    /// Hides everything lower layers put below `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    pub fn build(self) -> Vec<u8> {
        self.builder.into_inner().expect("writing to a Vec cannot fail")
    }

    /// The entries without the end-of-archive blocks, to be followed by more entries (layers assembled
    /// from pieces, as `strata-loadtest` does).
    pub fn fragment(mut self) -> Vec<u8> {
        std::mem::take(self.builder.get_mut())
    }

    fn append(&mut self, path: &str, data: &[u8], kind: tar::EntryType, mode: u32) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(1_704_067_200);
        let path = format!("./{}", path.trim_start_matches('/'));
        self.builder.append_data(&mut header, path, data).expect("valid test tar entry");
    }
}
