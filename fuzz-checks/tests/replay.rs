//! Replays the kept fuzz corpus (`fuzz/corpus/<target>/`) through the same checks the fuzz
//! targets run, on stable: what fuzzing found stays fixed.

#![allow(clippy::unwrap_used)]

use std::path::Path;

#[test]
fn every_kept_input_of_every_target_passes_its_check() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for (name, check) in cloudtask_fuzz_checks::TARGETS {
        let dir = corpus.join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            panic!("no corpus for target {name} in {}", dir.display());
        };
        let mut inputs = 0;
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} fails its check",
                path.display()
            );
            inputs += 1;
        }
        assert!(inputs > 0, "target {name} has an empty corpus");
        replayed += inputs;
    }
    println!("replayed {replayed} inputs");
}
