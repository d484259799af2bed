use super::*;

#[test]
fn plain_data_of_protocols_4_and_2() {
    // pickle.dumps({"a": [1, -2, 3.5, None, True], "b": (b"xy", "é"), "n": 70000}, protocol=4)
    let bytes: &[u8] = b"\x80\x04\x958\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00N\x88e\x8c\x01b\x94C\x02xy\x94\x8c\x02\xc3\xa9\x94\x86\x94\x8c\x01n\x94Jp\x11\x01\x00u.";
    let v = load(bytes).unwrap();
    assert_eq!(v.get("a"), Some(&Value::List(vec![Value::Int(1), Value::Int(-2), Value::Float(3.5), Value::None, Value::Bool(true)])));
    assert_eq!(v.get("b"), Some(&Value::Tuple(vec![Value::Bytes(b"xy".to_vec()), Value::Str("\u{e9}".into())])));
    assert_eq!(v.get("n"), Some(&Value::Int(70000)));
    // pickle.dumps({"big": 2**40, "neg": -300, "f": 1e-3}, protocol=2)
    let old: &[u8] = b"\x80\x02}q\x00(X\x03\x00\x00\x00bigq\x01\x8a\x06\x00\x00\x00\x00\x00\x01X\x03\x00\x00\x00negq\x02J\xd4\xfe\xff\xffX\x01\x00\x00\x00fq\x03G?PbM\xd2\xf1\xa9\xfcu.";
    let v = load(old).unwrap();
    assert_eq!((v.get("big"), v.get("neg"), v.get("f")), (Some(&Value::Int(1 << 40)), Some(&Value::Int(-300)), Some(&Value::Float(1e-3))));
}

#[test]
fn code_and_damage_are_refused() {
    // An object whose __reduce__ is (os.system, ("echo hi",)), pickled.
    let evil: &[u8] = b"\x80\x04\x95\"\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x07echo hi\x94\x85\x94R\x94.";
    assert_eq!(load(evil), Err(PickleError::Unsupported("posix.system".into())));
    assert_eq!(load(b"\x80\x04}\x94(\x8c\x01a"), Err(PickleError::Truncated));
    assert!(matches!(load(b"\x80\x04\xff"), Err(PickleError::Opcode(0xff, 2))));
}

/// `\x80\x04` then `body` then STOP.
fn p4(body: &[u8]) -> Vec<u8> {
    let mut out = b"\x80\x04".to_vec();
    out.extend_from_slice(body);
    out.push(b'.');
    out
}

#[test]
fn memo_and_dup_bombs_stop_at_the_budget() {
    // Each round puts the list in the memo and makes a list of two copies of it: 2^64 nodes.
    let mut body = b"]q\x00".to_vec();
    for _ in 0..64 {
        body.extend_from_slice(b"(h\x00h\x00lq\x00");
    }
    let started = std::time::Instant::now();
    assert_eq!(load(&p4(&body)), Err(PickleError::TooLarge(budget_for(p4(&body).len()))));
    // DUP and APPEND: the list holds a copy of itself, again and again.
    let mut body = b"]".to_vec();
    for _ in 0..200 {
        body.extend_from_slice(b"2a");
    }
    assert!(matches!(load(&p4(&body)), Err(PickleError::TooLarge(_))));
    // A list that holds a copy of itself from the memo, renewed each round.
    let mut body = b"]q\x00".to_vec();
    for _ in 0..200 {
        body.extend_from_slice(b"h\x00aq\x00");
    }
    assert!(matches!(load(&p4(&body)), Err(PickleError::TooLarge(_))));
    let msg = load_within(&p4(&body), 1 << 20).unwrap_err().to_string();
    assert_eq!(msg, "the pickle builds more than 1 MiB of values (a memo or duplication bomb?)");
    eprintln!("three bombs refused in {:.2} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_million_deep_nesting_is_refused_without_recursion() {
    let n = 1_000_000;
    // MARK a million times, then LIST a million times.
    let mut body = vec![b'('; n];
    body.extend(std::iter::repeat_n(b'l', n));
    assert_eq!(load(&p4(&body)), Err(PickleError::TooDeep));
    // EMPTY_LIST a million times, then APPEND a million times.
    let mut body = vec![b']'; n];
    body.extend(std::iter::repeat_n(b'a', n - 1));
    assert_eq!(load(&p4(&body)), Err(PickleError::TooDeep));
    // Tuples of one, and dicts, nested the same way.
    let mut body = b"N".to_vec();
    body.extend(std::iter::repeat_n(0x85, n));
    assert_eq!(load(&p4(&body)), Err(PickleError::TooDeep));
    // Dicts: {1: {1: {1: ...}}} by SETITEM.
    let mut body = Vec::new();
    for _ in 0..10_000 {
        body.extend_from_slice(b"}K\x01");
    }
    body.push(b'}');
    body.extend(std::iter::repeat_n(b's', 10_000));
    assert_eq!(load(&p4(&body)), Err(PickleError::TooDeep));
    // Within the limit, nesting works: 255 lists deep, and marks alone do not nest.
    let mut ok = vec![b']'; 256];
    ok.extend(std::iter::repeat_n(b'a', 255));
    assert!(load(&p4(&ok)).is_ok());
    let mut marks = vec![b'('; n];
    marks.push(b'N');
    assert_eq!(load(&p4(&marks)), Ok(Value::None));
}

#[test]
fn lengths_near_the_limits_are_errors() {
    // BINUNICODE8 and BINBYTES8 of u64::MAX bytes, BINBYTES of 4 GiB: nothing is allocated.
    let huge = [0xff; 8];
    for op in [0x8d, 0x8e, 0x96] {
        let mut body = vec![op];
        body.extend_from_slice(&huge);
        assert!(matches!(load(&p4(&body)), Err(PickleError::Truncated | PickleError::Malformed(_))), "{op:x}");
    }
    assert_eq!(load(&p4(b"B\xff\xff\xff\xffab")), Err(PickleError::Truncated));
    assert_eq!(load(&p4(b"X\xff\xff\xff\xffab")), Err(PickleError::Truncated));
    // LONG4 of 4 GiB digits.
    assert!(matches!(load(&p4(b"\x8b\xff\xff\xff\xff")), Err(PickleError::Unsupported(_))));
    // A frame header of u64::MAX, a memo key of u32::MAX.
    assert!(load(&p4(b"\x95\xff\xff\xff\xff\xff\xff\xff\xffN")).is_ok());
    assert_eq!(load(&p4(b"j\xff\xff\xff\xff")), Err(PickleError::Malformed("get of an unknown memo")));
}

/// `numpy.core.numeric._frombuffer(data, numpy.dtype(kind), shape, "C")` pickled.
fn frombuffer(data: &[u8], kind: &str, shape: &[u64]) -> Vec<u8> {
    let mut b = b"\x8c\x12numpy.core.numeric\x8c\x0b_frombuffer\x93(".to_vec();
    b.push(0x8e);
    b.extend_from_slice(&(data.len() as u64).to_le_bytes());
    b.extend_from_slice(data);
    b.extend_from_slice(b"\x8c\x05numpy\x8c\x05dtype\x93");
    b.push(0x8c);
    b.push(kind.len() as u8);
    b.extend_from_slice(kind.as_bytes());
    b.extend_from_slice(b"\x85R(");
    for &d in shape {
        b.extend_from_slice(b"\x8a\x08");
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.extend_from_slice(b"t\x8c\x01CtR");
    p4(&b)
}

#[test]
fn numpy_shapes_must_fit_their_data() {
    let data: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let Value::Array(a) = load(&frombuffer(&data, "f4", &[2])).unwrap() else { panic!() };
    assert_eq!((a.shape.clone(), a.to_f64()), (vec![2], Some(vec![1.5, -2.0])));
    assert_eq!(load(&frombuffer(&data, "f4", &[1 << 62, 1 << 62])), Err(PickleError::Malformed("an array shape whose size overflows")));
    assert_eq!(load(&frombuffer(&data, "f4", &[1000])), Err(PickleError::Malformed("an array shape that does not match its data")));
    assert_eq!(load(&frombuffer(&data, "f4", &[1 << 61])), Err(PickleError::Malformed("an array shape that does not match its data")));
    assert_eq!(load(&frombuffer(&data, "f4", &[u64::MAX])), Err(PickleError::Malformed("an array shape that is not whole numbers")));
    assert!(load(&frombuffer(&data, "u1", &[2, 4])).is_ok());
}

#[test]
fn every_cut_of_a_pickle_is_an_error() {
    let bytes: &[u8] = b"\x80\x04\x958\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00N\x88e\x8c\x01b\x94C\x02xy\x94\x8c\x02\xc3\xa9\x94\x86\x94\x8c\x01n\x94Jp\x11\x01\x00u.";
    for n in 0..bytes.len() {
        assert!(load(&bytes[..n]).is_err(), "cut at {n}");
    }
}
