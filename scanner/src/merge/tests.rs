use super::*;
use crate::analyze::OsRelease;
use crate::image::Descriptor;
use crate::package::PackageKind;

fn deb(name: &str, version: &str) -> Package {
    Package { arch: Some("amd64".into()), ..Package::new(PackageKind::Deb, name, version) }
}

fn layer(index: usize) -> LayerRef {
    LayerRef {
        index,
        descriptor: Descriptor {
            media_type: String::new(),
            digest: format!("sha256:{index:064}"),
            size: 0,
            platform: None,
            artifact_type: None,
            annotations: Default::default(),
        },
        diff_id: format!("sha256:diff{index}"),
        created_by: Some(format!("step {index}")),
    }
}

#[derive(Default)]
struct L {
    files: Vec<(&'static str, FileContent)>,
    whiteouts: Vec<&'static str>,
    opaque: Vec<&'static str>,
}

fn status(packages: &[Package]) -> FileContent {
    FileContent::packages(packages.to_vec())
}

fn run(spec: Vec<L>) -> ImageInventory {
    let layers: Vec<_> = (0..spec.len()).map(layer).collect();
    let inventories: Vec<_> = spec
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let mut inv = LayerInventory::new(&layers[i].descriptor.digest);
            inv.files = l.files.into_iter().map(|(p, c)| (p.to_string(), c)).collect();
            inv.whiteouts = l.whiteouts.into_iter().map(String::from).collect();
            inv.opaque_dirs = l.opaque.into_iter().map(String::from).collect();
            inv
        })
        .collect();
    merge(&layers, &inventories)
}

fn summary(inv: &ImageInventory) -> Vec<(String, String, usize)> {
    inv.packages.iter().map(|p| (p.package.name.clone(), p.package.version.clone(), p.layer.index)).collect()
}

fn s(name: &str, version: &str, layer: usize) -> (String, String, usize) {
    (name.into(), version.into(), layer)
}

#[test]
fn upgrades_and_additions_are_attributed_to_their_layer() {
    let inv = run(vec![
        L { files: vec![("var/lib/dpkg/status", status(&[deb("a", "1"), deb("b", "1")]))], ..L::default() },
        L { files: vec![("usr/bin/x", status(&[]))], ..L::default() },
        L {
            files: vec![("var/lib/dpkg/status", status(&[deb("a", "1"), deb("b", "2"), deb("c", "1")]))],
            ..L::default()
        },
    ]);
    assert_eq!(summary(&inv), [s("a", "1", 0), s("b", "2", 2), s("c", "1", 2)]);
    assert_eq!(inv.packages[0].path, "/var/lib/dpkg/status");
    assert_eq!(inv.packages[1].layer.created_by.as_deref(), Some("step 2"));
}

#[test]
fn whiteout_deletes_and_a_later_copy_starts_afresh() {
    let base = || ("var/lib/dpkg/status", status(&[deb("a", "1")]));
    let deleted =
        run(vec![L { files: vec![base()], ..L::default() }, L { whiteouts: vec!["var/lib/dpkg"], ..L::default() }]);
    assert!(deleted.packages.is_empty());

    let readded = run(vec![
        L { files: vec![base()], ..L::default() },
        L { whiteouts: vec!["var/lib/dpkg/status"], ..L::default() },
        L { files: vec![base()], ..L::default() },
    ]);
    assert_eq!(summary(&readded), [s("a", "1", 2)]);
}

#[test]
fn opaque_dir_hides_lower_files_but_not_its_own() {
    let inv = run(vec![
        L {
            files: vec![
                ("var/lib/dpkg/status", status(&[deb("a", "1")])),
                ("var/lib/dpkg/status.d/b", status(&[deb("b", "1")])),
            ],
            ..L::default()
        },
        L {
            opaque: vec!["var/lib/dpkg/status.d"],
            files: vec![("var/lib/dpkg/status.d/c", status(&[deb("c", "1")]))],
            ..L::default()
        },
    ]);
    assert_eq!(summary(&inv), [s("a", "1", 0), s("c", "1", 1)]);
}

#[test]
fn os_from_top_most_release_file() {
    let release = |id: &str, v: &str| {
        FileContent::OsRelease(OsRelease { id: id.into(), version_id: Some(v.into()), ..OsRelease::default() })
    };
    let inv = run(vec![
        L {
            files: vec![
                ("usr/lib/os-release", release("debian", "10")),
                ("etc/debian_version", FileContent::DebianVersion { version: "10.13".into() }),
            ],
            ..L::default()
        },
        L {
            files: vec![
                ("usr/lib/os-release", release("debian", "11")),
                ("etc/debian_version", FileContent::DebianVersion { version: "11.6".into() }),
            ],
            ..L::default()
        },
    ]);
    let os = inv.os.unwrap();
    assert_eq!((os.version.as_str(), os.ecosystem().as_deref()), ("11.6", Some("Debian:11")));
}
