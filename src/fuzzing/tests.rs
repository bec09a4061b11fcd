//! Every seed and every input that once crashed a target (`fuzz/seeds/<target>/`) runs through
//! its target here, in the ordinary test build: a crash fixed stays fixed, and a target that
//! cannot even take its seeds fails before any fuzzing.

use super::{fixture, TARGETS};
use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn the_fixture_resolves() {
    let f = fixture::get();
    assert_eq!((f.ldap.len(), f.csv.len(), f.http.len()), (2, 2, 2));
    assert!(!f.idp.is_empty());
}

#[test]
fn every_target_takes_its_seeds_and_past_crashes() {
    for (name, run) in TARGETS {
        let seeds = seeds(name);
        assert!(seeds.len() >= 3, "{name}: only {} seeds", seeds.len());
        for (path, bytes) in seeds {
            if let Err(e) = std::panic::catch_unwind(|| run(&bytes)) {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{name}: {} crashed: {why}", path.display());
            }
        }
    }
}

#[test]
fn a_name_finds_its_target() {
    assert!(super::target("config").is_some());
    assert!(super::target("nope").is_none());
}
