//! A reader for Python pickles of plain data, as faceswap writes its alignments files: dicts,
//! lists, tuples, strings, bytes, numbers and NumPy arrays. It runs no code: the only objects it
//! builds are the few NumPy and standard-library constructors that such data uses, from an
//! allow-list; anything else is an error that names it.

use std::collections::HashMap;

/// A value read from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Keys in the pickle's order.
    Dict(Vec<(Value, Value)>),
    Array(NdArray),
    /// A NumPy dtype: its type string (`f4`, `u1`, ...) and byte order (`<`, `>`, `|`).
    Dtype { kind: String, order: char },
    /// A module-level name (`numpy.ndarray`), only as a constructor's argument.
    Global(String, String),
}

/// A NumPy array: its dtype, shape and raw bytes (row-major unless `fortran`).
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    pub kind: String,
    pub order: char,
    pub shape: Vec<usize>,
    pub fortran: bool,
    pub data: Vec<u8>,
}

impl NdArray {
    /// The elements as `f64`, for float and integer dtypes.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        let big = self.order == '>';
        let take = |n: usize| self.data.chunks_exact(n).map(move |c| {
            let mut b = c.to_vec();
            if big {
                b.reverse();
            }
            b
        });
        Some(match self.kind.as_str() {
            "f4" => take(4).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect(),
            "f8" => take(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect(),
            "i4" => take(4).map(|b| f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect(),
            "i8" => take(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f64).collect(),
            "u1" => self.data.iter().map(|&v| f64::from(v)).collect(),
            _ => return None,
        })
    }
}

impl Value {
    /// The value under string key `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            Value::Bool(b) => Some(f64::from(u8::from(b))),
            _ => None,
        }
    }

    /// A list, a tuple, or the flattened numbers of an array.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        match self {
            Value::Array(a) => a.to_f64(),
            Value::List(v) | Value::Tuple(v) => {
                let mut out = Vec::new();
                for x in v {
                    match x.as_f64() {
                        Some(n) => out.push(n),
                        None => out.extend(x.numbers()?),
                    }
                }
                Some(out)
            }
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PickleError {
    #[error("the pickle ends early")]
    Truncated,
    #[error("unknown pickle opcode 0x{0:02x} at byte {1}")]
    Opcode(u8, usize),
    #[error("the pickle builds {0}, which is not plain data")]
    Unsupported(String),
    #[error("malformed pickle: {0}")]
    Malformed(&'static str),
}

/// Reads one pickled value.
pub fn load(bytes: &[u8]) -> Result<Value, PickleError> {
    Machine { bytes, at: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new() }.run()
}

/// What the stack holds: values, and objects waiting for their state (`BUILD`).
#[derive(Debug, Clone)]
enum Item {
    Value(Value),
    /// `numpy.core.multiarray._reconstruct(...)`: an array whose state comes next.
    EmptyArray,
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Item>,
    marks: Vec<usize>,
    memo: HashMap<u32, Item>,
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PickleError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(PickleError::Truncated)?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn uint(&mut self, n: usize) -> Result<usize, PickleError> {
        let b = self.take(n)?;
        let mut v = 0u64;
        for (i, &x) in b.iter().enumerate() {
            v |= u64::from(x) << (8 * i);
        }
        usize::try_from(v).map_err(|_| PickleError::Malformed("a length too large"))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.bytes[self.at..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or(PickleError::Truncated)?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.at += end + 1;
        Ok(s)
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Item::Value(v));
    }

    fn pop(&mut self) -> Result<Item, PickleError> {
        self.stack.pop().ok_or(PickleError::Malformed("pop from an empty stack"))
    }

    fn pop_value(&mut self) -> Result<Value, PickleError> {
        match self.pop()? {
            Item::Value(v) => Ok(v),
            Item::EmptyArray => Err(PickleError::Malformed("an array without its state")),
        }
    }

    /// The values since the last mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let mark = self.marks.pop().ok_or(PickleError::Malformed("no mark"))?;
        if mark > self.stack.len() {
            return Err(PickleError::Malformed("a mark past the stack"));
        }
        self.stack.split_off(mark).into_iter().map(|i| match i {
            Item::Value(v) => Ok(v),
            Item::EmptyArray => Err(PickleError::Malformed("an array without its state")),
        }).collect()
    }

    fn top_mut(&mut self) -> Result<&mut Value, PickleError> {
        match self.stack.last_mut() {
            Some(Item::Value(v)) => Ok(v),
            _ => Err(PickleError::Malformed("no container on the stack")),
        }
    }

    fn string(&mut self, n: usize) -> Result<(), PickleError> {
        let s = String::from_utf8(self.take(n)?.to_vec()).map_err(|_| PickleError::Malformed("a string that is not UTF-8"))?;
        self.push(Value::Str(s));
        Ok(())
    }

    fn bytes_of(&mut self, n: usize) -> Result<(), PickleError> {
        let b = self.take(n)?.to_vec();
        self.push(Value::Bytes(b));
        Ok(())
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let at = self.at;
            let op = *self.take(1)?.first().ok_or(PickleError::Truncated)?;
            match op {
                0x80 => {
                    self.take(1)?;
                }
                0x95 => {
                    self.take(8)?;
                }
                b'.' => return self.pop_value(),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.push(Value::Dict(Vec::new())),
                b']' => self.push(Value::List(Vec::new())),
                b')' => self.push(Value::Tuple(Vec::new())),
                0x8f => self.push(Value::List(Vec::new())),
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| PickleError::Truncated)?;
                    self.push(Value::Int(i64::from(i32::from_le_bytes(b))));
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.push(Value::Int(v as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.uint(1)? } else { self.uint(4)? };
                    let b = self.take(n)?.to_vec();
                    if n > 8 {
                        return Err(PickleError::Unsupported("an integer wider than 64 bits".into()));
                    }
                    let mut v: i64 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= i64::from(x) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v));
                }
                b'G' => {
                    let b: [u8; 8] = self.take(8)?.try_into().map_err(|_| PickleError::Truncated)?;
                    self.push(Value::Float(f64::from_be_bytes(b)));
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    let t = line.trim_end_matches('L');
                    let v = match t {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => Value::Int(t.parse().map_err(|_| PickleError::Malformed("a text integer"))?),
                    };
                    self.push(v);
                }
                b'F' => {
                    let line = self.line()?;
                    self.push(Value::Float(line.parse().map_err(|_| PickleError::Malformed("a text float"))?));
                }
                b'X' => {
                    let n = self.uint(4)?;
                    self.string(n)?;
                }
                0x8c => {
                    let n = self.uint(1)?;
                    self.string(n)?;
                }
                0x8d => {
                    let n = self.uint(8)?;
                    self.string(n)?;
                }
                b'U' => {
                    let n = self.uint(1)?;
                    self.bytes_of(n)?;
                }
                b'T' => {
                    let n = self.uint(4)?;
                    self.bytes_of(n)?;
                }
                b'C' => {
                    let n = self.uint(1)?;
                    self.bytes_of(n)?;
                }
                b'B' => {
                    let n = self.uint(4)?;
                    self.bytes_of(n)?;
                }
                0x8e | 0x96 => {
                    let n = self.uint(8)?;
                    self.bytes_of(n)?;
                }
                0x97 | 0x98 => return Err(PickleError::Unsupported("out-of-band buffers".into())),
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err(PickleError::Malformed("a tuple longer than the stack"));
                    }
                    let items = (0..n).map(|_| self.pop_value()).collect::<Result<Vec<_>, _>>()?;
                    self.push(Value::Tuple(items.into_iter().rev().collect()));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items));
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = items.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone())).collect();
                    self.push(Value::Dict(pairs));
                }
                b'a' => {
                    let v = self.pop_value()?;
                    match self.top_mut()? {
                        Value::List(l) => l.push(v),
                        _ => return Err(PickleError::Malformed("append to a non-list")),
                    }
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    match self.top_mut()? {
                        Value::List(l) => l.extend(items),
                        _ => return Err(PickleError::Malformed("append to a non-list")),
                    }
                }
                b's' => {
                    let v = self.pop_value()?;
                    let k = self.pop_value()?;
                    match self.top_mut()? {
                        Value::Dict(d) => d.push((k, v)),
                        _ => return Err(PickleError::Malformed("set an item of a non-dict")),
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    match self.top_mut()? {
                        Value::Dict(d) => d.extend(items.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone()))),
                        _ => return Err(PickleError::Malformed("set items of a non-dict")),
                    }
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.stack.last().cloned().ok_or(PickleError::Malformed("dup of an empty stack"))?;
                    self.stack.push(top);
                }
                0x94 => {
                    let top = self.stack.last().cloned().ok_or(PickleError::Malformed("memoize an empty stack"))?;
                    self.memo.insert(self.memo.len() as u32, top);
                }
                b'q' | b'r' => {
                    let k = if op == b'q' { self.uint(1)? } else { self.uint(4)? } as u32;
                    let top = self.stack.last().cloned().ok_or(PickleError::Malformed("put of an empty stack"))?;
                    self.memo.insert(k, top);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' { self.uint(1)? } else { self.uint(4)? } as u32;
                    let v = self.memo.get(&k).cloned().ok_or(PickleError::Malformed("get of an unknown memo"))?;
                    self.stack.push(v);
                }
                b'c' => {
                    let (module, name) = (self.line()?, self.line()?);
                    self.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop_value()?;
                    let module = self.pop_value()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.push(Value::Global(m, n)),
                        _ => return Err(PickleError::Malformed("a global without names")),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop_value()?;
                    let callable = self.pop_value()?;
                    let made = construct(callable, args)?;
                    self.stack.push(made);
                }
                b'b' => {
                    let state = self.pop_value()?;
                    let obj = self.pop()?;
                    let built = build(obj, state)?;
                    self.push(built);
                }
                other => return Err(PickleError::Opcode(other, at)),
            }
        }
    }
}

fn is_numpy(module: &str) -> bool {
    matches!(module, "numpy" | "numpy.core.multiarray" | "numpy._core.multiarray" | "numpy.core.numeric" | "numpy._core.numeric")
}

/// The objects plain data may construct (REDUCE / NEWOBJ).
fn construct(callable: Value, args: Value) -> Result<Item, PickleError> {
    let Value::Global(module, name) = callable else { return Err(PickleError::Malformed("a call of something that is not a name")) };
    let args = match args {
        Value::Tuple(a) => a,
        _ => return Err(PickleError::Malformed("call arguments that are not a tuple")),
    };
    Ok(Item::Value(match (module.as_str(), name.as_str()) {
        (m, "_reconstruct") if is_numpy(m) => return Ok(Item::EmptyArray),
        (m, "dtype") if is_numpy(m) => match args.first() {
            Some(Value::Str(kind)) => Value::Dtype { kind: kind.clone(), order: '|' },
            _ => return Err(PickleError::Malformed("a dtype without a type")),
        },
        (m, "_frombuffer") if is_numpy(m) => match args.as_slice() {
            [Value::Bytes(data), Value::Dtype { kind, order }, shape, Value::Str(layout), ..] => Value::Array(NdArray {
                kind: kind.clone(),
                order: *order,
                shape: shape_of(shape)?,
                fortran: layout == "F",
                data: data.clone(),
            }),
            _ => return Err(PickleError::Malformed("a NumPy buffer without dtype or shape")),
        },
        (m, "scalar") if is_numpy(m) => match args.as_slice() {
            [Value::Dtype { kind, order }, Value::Bytes(data)] => {
                let a = NdArray { kind: kind.clone(), order: *order, shape: Vec::new(), fortran: false, data: data.clone() };
                a.to_f64().and_then(|v| v.first().copied()).map(Value::Float).ok_or_else(|| PickleError::Unsupported(format!("a NumPy {kind} scalar")))?
            }
            _ => return Err(PickleError::Malformed("a NumPy scalar without dtype")),
        },
        ("builtins" | "__builtin__", "bytearray" | "bytes") => match args.first() {
            Some(Value::Bytes(b)) => Value::Bytes(b.clone()),
            None => Value::Bytes(Vec::new()),
            _ => return Err(PickleError::Unsupported("bytes from text".into())),
        },
        ("_codecs", "encode") => match args.first() {
            // Protocol 2 bytes: text of code points < 256.
            Some(Value::Str(s)) => Value::Bytes(s.chars().map(|c| c as u32 as u8).collect()),
            _ => return Err(PickleError::Malformed("codecs.encode without text")),
        },
        ("collections", "OrderedDict") => Value::Dict(Vec::new()),
        _ => return Err(PickleError::Unsupported(format!("{module}.{name}"))),
    }))
}

/// An object's state (BUILD): an array's shape, dtype and bytes, a dtype's byte order.
fn build(obj: Item, state: Value) -> Result<Value, PickleError> {
    match obj {
        Item::EmptyArray => {
            let Value::Tuple(s) = state else { return Err(PickleError::Malformed("an array state that is not a tuple")) };
            let [_, shape, Value::Dtype { kind, order }, fortran, data] = s.as_slice() else {
                return Err(PickleError::Malformed("an array state of the wrong length"));
            };
            let data = match data {
                Value::Bytes(b) => b.clone(),
                Value::Str(s) => s.chars().map(|c| c as u32 as u8).collect(),
                _ => return Err(PickleError::Unsupported("a NumPy array of Python objects".into())),
            };
            Ok(Value::Array(NdArray { kind: kind.clone(), order: *order, shape: shape_of(shape)?, fortran: matches!(fortran, Value::Bool(true)), data }))
        }
        Item::Value(Value::Dtype { kind, .. }) => {
            let order = match &state {
                Value::Tuple(s) => match s.get(1) {
                    Some(Value::Str(o)) => o.chars().next().unwrap_or('|'),
                    _ => '|',
                },
                _ => '|',
            };
            // '=' is the machine's order; pickles come from little-endian machines.
            Ok(Value::Dtype { kind, order: if order == '=' { '<' } else { order } })
        }
        Item::Value(Value::Dict(mut d)) => {
            if let Value::Dict(more) = state {
                d.extend(more);
            }
            Ok(Value::Dict(d))
        }
        Item::Value(other) => Err(PickleError::Unsupported(format!("state for {other:?}"))),
    }
}

fn shape_of(v: &Value) -> Result<Vec<usize>, PickleError> {
    match v {
        Value::Tuple(t) | Value::List(t) => t.iter().map(|x| match x {
            Value::Int(i) if *i >= 0 => Ok(*i as usize),
            _ => Err(PickleError::Malformed("an array shape that is not whole numbers")),
        }).collect(),
        Value::Int(i) if *i >= 0 => Ok(vec![*i as usize]),
        _ => Err(PickleError::Malformed("an array shape that is not a tuple")),
    }
}

#[cfg(test)]
mod tests {
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
}
