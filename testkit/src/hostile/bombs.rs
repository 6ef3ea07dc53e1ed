//! Bombs: small layers that expand into huge headers, a 200 GiB stream, a flood of secret-looking lines,
//! and 150k files deleted by 150k whiteouts.

use std::io::Write;
use std::path::Path;

use super::{Case, Written, base_layer, debian_base, layout, over_base, tar};
use crate::image::Compression;

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case::bounded("long_name_bomb", "a GNU long-name entry of 256 MiB", None, long_name_bomb),
        Case::bounded("pax_header_bomb", "a PAX extended header of 256 MiB", None, pax_bomb),
        Case::bounded("secret_flood", "781 KB of key-like lines in one file", Some(SECRETS), secret_flood),
        Case::bounded("zstd_bomb", "200 GiB of zeros from 6.5 MB of zstd", None, zstd_bomb),
        Case::bounded(
            "files_x_whiteouts",
            "150k installed npm packages in one layer, 150k whiteouts of them in the next",
            None,
            files_x_whiteouts,
        ),
    ]
}

const SECRETS: &str = "app/config/keys.env";
const BOMB: u64 = 256 << 20;

fn long_name_bomb(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| {
        tar::filled(out, b"././@LongLink", tar::GNU_LONG_NAME, BOMB, b'a');
        tar::entry(out, "placeholder", tar::REGULAR, b"x");
    })
}

fn pax_bomb(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| {
        // One record as long as the body: "268435456 comment=aaaa…\n".
        let prefix = format!("{BOMB} comment=");
        out.write_all(&tar::header(b"./PaxHeaders/bomb", BOMB, tar::PAX, b"")).expect("write");
        out.write_all(prefix.as_bytes()).expect("write");
        tar::repeat(out, b'a', BOMB - prefix.len() as u64 - 1);
        out.write_all(b"\n").expect("write");
        tar::entry(out, "placeholder", tar::REGULAR, b"x");
    })
}

/// Deterministic noise, so that the lines are different without a random-number dependency.
struct XorShift(u64);

impl XorShift {
    fn pick(&mut self, alphabet: &[u8]) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        alphabet[(self.0 % alphabet.len() as u64) as usize]
    }
}

pub fn secret_lines() -> Vec<u8> {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (upper, alnum) =
        (b"ABCDEFGHIJKLMNOPQRSTUVWYZ234567", b"abcdefghijkmnopqrstuvwyzABCDEFGHJKLMNPQRSTUVWYZ23456789");
    let mut out = Vec::with_capacity(800_000);
    while out.len() < 781_000 {
        out.extend_from_slice(b"aws_access_key_id=AKIA");
        out.extend((0..16).map(|_| rng.pick(upper)));
        out.extend_from_slice(b"\ngithub_token=ghp_");
        out.extend((0..36).map(|_| rng.pick(alnum)));
        out.push(b'\n');
    }
    out
}

fn secret_flood(dir: &Path) -> Written {
    over_base(dir, Compression::Gzip, |out| tar::entry(out, SECRETS, tar::REGULAR, &secret_lines()))
}

/// A zstd frame written by hand (RFC 8878): a raw block with one tar header declaring a 200 GiB file,
/// then 128 KiB RLE blocks of zeros (4 bytes each) for its content and the end-of-archive blocks.
pub fn zstd_bomb_blob(out: &mut dyn Write, zeros: u64) {
    const BLOCK: u64 = 128 << 10;
    let block_header = |size: u64, kind: u64, last: bool| {
        let v = (size << 3) | (kind << 1) | u64::from(last);
        [v as u8, (v >> 8) as u8, (v >> 16) as u8]
    };
    // Magic, frame header descriptor (no content size, no checksum), window 128 KiB.
    out.write_all(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]).expect("write");
    out.write_all(&block_header(512, 0, false)).expect("write");
    out.write_all(&tar::header(b"data/zeros.bin", zeros, tar::REGULAR, b"")).expect("write");
    let mut left = zeros + 1024;
    let mut rle = Vec::with_capacity(4 << 20);
    while left > 0 {
        let n = left.min(BLOCK);
        left -= n;
        rle.extend_from_slice(&block_header(n, 1, left == 0));
        rle.push(0);
        if rle.len() >= 4 << 20 || left == 0 {
            out.write_all(&rle).expect("write");
            rle.clear();
        }
    }
}

fn zstd_bomb(dir: &Path) -> Written {
    let base = base_layer(dir);
    let bomb =
        layout::raw_layer(dir, "application/vnd.oci.image.layer.v1.tar+zstd", |out| zstd_bomb_blob(out, 200 << 30));
    layout::image(dir, vec![base, bomb])
}

const FILES: usize = 150_000;

/// Files the analysers keep (installed npm packages) in one layer, each deleted by a whiteout in the next:
/// what the merge compares path by path.
fn files_x_whiteouts(dir: &Path) -> Written {
    let files = layout::layer(dir, Compression::Gzip, |out| {
        debian_base(out, true);
        for i in 0..FILES {
            let manifest = format!(r#"{{"name":"p{i}","version":"1.0.{}"}}"#, i % 100);
            tar::entry(out, &format!("app/node_modules/p{i}/package.json"), tar::REGULAR, manifest.as_bytes());
        }
        tar::end(out);
    });
    let whiteouts = layout::layer(dir, Compression::Gzip, |out| {
        for i in 0..FILES {
            tar::entry(out, &format!("app/node_modules/.wh.p{i}"), tar::REGULAR, b"");
        }
        tar::end(out);
    });
    layout::image(dir, vec![files, whiteouts])
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// The hand-written frame is one the reference zstd library decodes: a tar header, then zeros.
    #[test]
    fn zstd_bomb_decodes_as_a_tar_of_zeros() {
        let mut blob = Vec::new();
        zstd_bomb_blob(&mut blob, 10 << 20);
        let mut decoded = Vec::new();
        zstd::Decoder::new(&blob[..]).unwrap().read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded.len() as u64, 512 + (10 << 20) + 1024);
        let mut archive = ::tar::Archive::new(&decoded[..]);
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().size().unwrap(), 10 << 20);
        assert!(decoded[512..].iter().all(|&b| b == 0));
        // 200 GiB costs 4 bytes per 128 KiB block: 6.5 MB.
        let mut bomb = Vec::new();
        zstd_bomb_blob(&mut bomb, 200 << 30);
        assert!(bomb.len() < 7_000_000, "{} bytes", bomb.len());
    }

    #[test]
    fn secret_lines_are_781_kb() {
        let lines = secret_lines();
        assert!((781_000..790_000).contains(&lines.len()));
        assert!(lines.starts_with(b"aws_access_key_id=AKIA"));
    }
}
