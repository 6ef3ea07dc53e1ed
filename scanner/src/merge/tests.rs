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

fn with_links(mut inv: LayerInventory, links: &[(&str, &str)]) -> LayerInventory {
    inv.hardlinks = links.iter().map(|(l, t)| (l.to_string(), t.to_string())).collect();
    inv
}

#[test]
fn a_hard_link_to_a_lower_layer_gets_its_content_or_makes_the_image_incomplete() {
    let layers: Vec<_> = (0..3).map(layer).collect();
    let mut base = LayerInventory::new("sha256:0");
    base.files.insert("var/lib/dpkg/status.d/base".into(), status(&[deb("a", "1")]));
    let linked = with_links(
        LayerInventory::new("sha256:1"),
        &[("var/lib/dpkg/status", "var/lib/dpkg/status.d/base"), ("var/lib/dpkg/status.d/x", "tmp/gone")],
    );
    let inv = merge(&layers[..2], &[base.clone(), linked.clone()]);
    let paths: Vec<_> = inv.packages.iter().map(|p| (p.path.as_str(), p.layer.index)).collect();
    assert_eq!(paths, [("/var/lib/dpkg/status", 1), ("/var/lib/dpkg/status.d/base", 0)]);
    assert_eq!(inv.incomplete.len(), 1, "{:?}", inv.incomplete);
    assert_eq!(inv.incomplete[0].path.as_deref(), Some("/var/lib/dpkg/status.d/x"));
    assert!(inv.incomplete[0].reason.contains("/tmp/gone"));

    // A target deleted before the link's layer cannot be linked to.
    let mut gone = LayerInventory::new("sha256:1");
    gone.whiteouts.insert("var/lib/dpkg/status.d".into());
    let mut linked = linked;
    linked.digest = "sha256:2".into();
    let inv = merge(&layers, &[base, gone, linked]);
    assert!(inv.packages.is_empty());
    assert_eq!(inv.incomplete.len(), 2);
}

#[test]
fn an_empty_whiteout_in_an_old_inventory_deletes_nothing() {
    let inv = run(vec![
        L { files: vec![("var/lib/dpkg/status", status(&[deb("a", "1")]))], ..L::default() },
        L { whiteouts: vec![""], ..L::default() },
    ]);
    assert_eq!(summary(&inv), [s("a", "1", 0)]);
    // An opaque root does hide everything below.
    let inv = run(vec![
        L { files: vec![("var/lib/dpkg/status", status(&[deb("a", "1")]))], ..L::default() },
        L { opaque: vec![""], ..L::default() },
    ]);
    assert!(inv.packages.is_empty());
}

#[test]
fn whiteouts_hide_exactly_their_subtree() {
    let inv = run(vec![
        L {
            files: vec![
                ("app/a/package.json", status(&[deb("a", "1")])),
                ("app/a-b/package.json", status(&[deb("b", "1")])),
                ("app/a.c", status(&[deb("c", "1")])),
                ("app/a0", status(&[deb("d", "1")])),
                ("app/a", status(&[deb("e", "1")])),
            ],
            ..L::default()
        },
        L { whiteouts: vec!["app/a"], ..L::default() },
    ]);
    assert_eq!(summary(&inv), [s("b", "1", 0), s("c", "1", 0), s("d", "1", 0)]);
}

#[test]
fn merging_150k_files_with_150k_whiteouts_is_not_quadratic() {
    let started = std::time::Instant::now();
    let layers: Vec<_> = (0..2).map(layer).collect();
    let mut files = LayerInventory::new("sha256:0");
    let mut whiteouts = LayerInventory::new("sha256:1");
    for i in 0..150_000 {
        files.files.insert(format!("srv/{}/{i}/f", i % 97), status(&[deb("p", "1")]));
        whiteouts.whiteouts.insert(format!("srv/{}/{i}/g", i % 89));
    }
    // Every other directory is deleted as a whole.
    for i in (0..150_000).step_by(2) {
        whiteouts.whiteouts.insert(format!("srv/{}/{i}", i % 97));
    }
    let inv = merge(&layers, &[files, whiteouts]);
    assert_eq!(inv.packages.len(), 75_000);
    // A hang guard only, far above the expected time: quadratic work takes hours here.
    assert!(started.elapsed() < std::time::Duration::from_secs(120), "{:?}", started.elapsed());
}
