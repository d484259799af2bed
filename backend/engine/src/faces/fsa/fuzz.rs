//! Hostile `.fsa` files: a zlib bomb, a stored_size of 2^32, and a seeded fuzz run over
//! random bytes and mutations (bit flips, cuts, insertions, duplicated runs) of the real
//! fixtures, through the pickle reader and the face importer. Every case must end in a value
//! or a clear error: a panic fails the test, a stack overflow aborts it (so the depth limit
//! is what this checks), and the time of each case is bounded.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use super::*;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

const FIXTURES: [&str; 3] = ["talk_woman_a_v24.fsa", "talk_woman_a_p5.fsa", "talk_woman_a_lists.fsa"];

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

fn temp(name: &str, bytes: &[u8]) -> crate::media::testdata::TempFile {
    crate::media::testdata::TempFile::with_bytes(name, bytes)
}

/// The decompressed pickles of the fixtures.
fn pickles() -> Vec<Vec<u8>> {
    FIXTURES
        .iter()
        .map(|f| {
            let mut raw = Vec::new();
            flate2::read::ZlibDecoder::new(std::fs::read(fixture(f)).unwrap().as_slice()).read_to_end(&mut raw).unwrap();
            raw
        })
        .collect()
}

/// What the importer does with a pickle, short of the source video: every face of every
/// frame through `face_entry` (small crops, to keep the run short).
fn import_values(root: &Value) -> usize {
    let Some(Value::Dict(frames)) = root.get("__data__") else { return 0 };
    let mut faces = 0;
    for (_, entry) in frames {
        if let Some(Value::List(list)) = entry.get("faces") {
            for face in list {
                faces += usize::from(face_entry(face, 0, 32, 16).is_ok());
            }
        }
    }
    faces
}

#[test]
fn a_zlib_bomb_stops_at_the_cap() {
    // 64 MiB of zeros in 64 kB; the cap here is 1 MiB (2 GiB in use).
    let bomb = zlib(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 100_000);
    let file = temp("bomb.fsa", &bomb);
    let err = read_fsa_capped(&file.0, 1 << 20).unwrap_err();
    assert!(matches!(err, FsaError::TooLarge(_, _)), "{err:?}");
    assert!(err.to_string().ends_with("bomb.fsa is larger than 1 MiB once decompressed"), "{err}");
    // At the real cap the same file is read whole and refused as a pickle, not a crash.
    assert!(matches!(read_fsa(&file.0), Err(FsaError::Pickle(..))));
}

#[test]
fn a_mask_of_2_to_the_32_pixels_a_side_is_left_out_with_a_reason() {
    let root = read_fsa(&fixture("talk_woman_a_v24.fsa")).unwrap();
    let Some(Value::Dict(frames)) = root.get("__data__") else { panic!() };
    let Some(Value::List(list)) = frames[0].1.get("faces") else { panic!() };
    let mut face = list[0].clone();
    let set_stored = |face: &mut Value, v: Value| {
        let Value::Dict(items) = face else { panic!() };
        let (_, Value::Dict(masks)) = items.iter_mut().find(|(k, _)| *k == Value::Str("mask".into())).unwrap() else { panic!() };
        let Value::Dict(m) = &mut masks[0].1 else { panic!() };
        m.iter_mut().find(|(k, _)| *k == Value::Str("stored_size".into())).unwrap().1 = v;
    };
    for bad in [Value::Int(1 << 32), Value::Int(-1), Value::Float(f64::NAN), Value::Float(1e300), Value::Int(0)] {
        set_stored(&mut face, bad.clone());
        let (entry, mask) = face_entry(&face, 0, 64, 32).unwrap();
        let why = mask.unwrap_err();
        assert!(why.contains("stored_size"), "{bad:?}: {why}");
        assert!(entry.mask(MaskKind::Painted).is_none(), "the face is kept without it");
    }
    // A size that fits but is not what the bytes hold.
    set_stored(&mut face, Value::Int(4096));
    assert!(face_entry(&face, 0, 64, 32).unwrap().1.unwrap_err().contains("not 4096x4096"));
}

/// One mutation of `base`, chosen by `rng`.
fn mutate(rng: &mut rand::rngs::StdRng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    let rounds = rng.gen_range(1..=4);
    for _ in 0..rounds {
        if b.is_empty() {
            b.push(rng.gen());
        }
        let at = rng.gen_range(0..b.len());
        match rng.gen_range(0..7) {
            0 => b[at] ^= 1 << rng.gen_range(0..8),
            1 => b[at] = rng.gen(),
            2 => b.truncate(at),
            3 => {
                let n = rng.gen_range(1..16);
                let junk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                b.splice(at..at, junk);
            }
            4 => {
                // A run of bytes repeated: repeated opcodes (DUP, GET, APPEND, MARK).
                let len = rng.gen_range(1..=8).min(b.len() - at);
                let run = b[at..at + len].to_vec();
                let times = rng.gen_range(2..2000);
                let mut rep = Vec::with_capacity(run.len() * times);
                for _ in 0..times {
                    rep.extend_from_slice(&run);
                }
                b.splice(at..at, rep);
            }
            5 => {
                let end = rng.gen_range(at..=b.len());
                b.drain(at..end);
            }
            _ => {
                // A hostile run spliced into real data: memo doubling, deep nesting, huge
                // lengths, a shape that overflows.
                let snippet: Vec<u8> = match rng.gen_range(0..5) {
                    0 => b"]q\x00".iter().copied().chain(b"(h\x00h\x00lq\x00".repeat(40)).collect(),
                    1 => [vec![b'('; 5000], vec![b'l'; 5000]].concat(),
                    2 => [vec![b']'; 3000], vec![b'a'; 2999]].concat(),
                    3 => [&[0x8e][..], &[0xff; 8]].concat(),
                    _ => b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x86".to_vec(),
                };
                b.splice(at..at, snippet);
            }
        }
    }
    b
}

#[test]
fn fuzzed_alignments_files_never_crash() {
    const CASES: usize = 5000;
    const BUDGET: u64 = 16 << 20;
    let pickles = pickles();
    let compressed: Vec<Vec<u8>> = FIXTURES.iter().map(|f| std::fs::read(fixture(f)).unwrap()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0d0e_fa5a);
    let started = Instant::now();
    let (mut ok, mut faces, mut slowest) = (0, 0, Duration::ZERO);
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    for case in 0..CASES {
        let t = Instant::now();
        let kind = case % 10;
        let result = if kind == 9 {
            // Through the whole reader: the compressed file mutated, or a mutated pickle
            // compressed again.
            let bytes = if rng.gen_bool(0.5) {
                mutate(&mut rng, &compressed[case % compressed.len()])
            } else {
                zlib(&mutate(&mut rng, &pickles[case % pickles.len()]))
            };
            let file = temp(&format!("fuzz-{case}.fsa"), &bytes);
            read_fsa_capped(&file.0, 16 << 20).map_err(|e| match e {
                FsaError::Pickle(_, p) => p.to_string(),
                FsaError::NotCompressed(..) => "does not decompress".into(),
                FsaError::TooLarge(..) => "too large".into(),
                other => format!("other: {other}"),
            })
        } else {
            let bytes = if kind == 8 {
                let n = rng.gen_range(0..4096);
                let mut b: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                if rng.gen_bool(0.5) {
                    b.splice(0..0, [0x80, 0x04]);
                }
                b
            } else {
                mutate(&mut rng, &pickles[case % pickles.len()])
            };
            pickle::load_within(&bytes, BUDGET).map_err(|e| e.to_string())
        };
        match result {
            Ok(value) => {
                ok += 1;
                faces += import_values(&value);
            }
            Err(e) => {
                let key = e.split(|c: char| c.is_ascii_digit() || c == ':').next().unwrap_or("").trim().to_string();
                *errors.entry(key).or_default() += 1;
            }
        }
        let took = t.elapsed();
        slowest = slowest.max(took);
        assert!(took < Duration::from_secs(10), "case {case} took {took:?}");
    }
    let total = started.elapsed();
    eprintln!("{CASES} cases in {total:.1?} (slowest {slowest:.1?}): {ok} read ({faces} faces imported), errors {errors:#?}");
    assert!(ok > 0 && errors.len() > 3, "the mutations reach both outcomes");
    assert!(total < Duration::from_secs(300), "{total:?}");
}
