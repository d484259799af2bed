//! The objects plain data may construct (REDUCE / NEWOBJ) and their state (BUILD): NumPy
//! arrays, dtypes and scalars, bytes, ordered dicts. NumPy shapes are checked against the
//! array's bytes, so no later reader trusts a shape the data does not have.

use super::{Item, NdArray, PickleError, Value};

/// What a constructor or a state made: the item, how deep it nests, and the bytes it
/// allocated beyond its (moved) arguments.
pub(super) struct Made {
    pub(super) item: Item,
    pub(super) depth: u32,
    pub(super) new_bytes: u64,
}

fn made(value: Value) -> Made {
    Made { item: Item::Value(value), depth: 0, new_bytes: 0 }
}

fn is_numpy(module: &str) -> bool {
    matches!(module, "numpy" | "numpy.core.multiarray" | "numpy._core.multiarray" | "numpy.core.numeric" | "numpy._core.numeric")
}

/// The objects plain data may construct (REDUCE / NEWOBJ).
pub(super) fn construct(callable: Value, args: Value) -> Result<Made, PickleError> {
    let Value::Global(module, name) = callable else { return Err(PickleError::Malformed("a call of something that is not a name")) };
    let mut args = match args {
        Value::Tuple(a) => a,
        _ => return Err(PickleError::Malformed("call arguments that are not a tuple")),
    };
    Ok(match (module.as_str(), name.as_str()) {
        (m, "_reconstruct") if is_numpy(m) => Made { item: Item::EmptyArray, depth: 0, new_bytes: 0 },
        (m, "dtype") if is_numpy(m) => match args.first() {
            Some(Value::Str(kind)) => made(Value::Dtype { kind: kind.clone(), order: '|' }),
            _ => return Err(PickleError::Malformed("a dtype without a type")),
        },
        (m, "_frombuffer") if is_numpy(m) => {
            args.truncate(4);
            match <[Value; 4]>::try_from(args) {
                Ok([Value::Bytes(data), Value::Dtype { kind, order }, shape, Value::Str(layout)]) => {
                    made(Value::Array(array(kind, order, &shape, layout == "F", data)?))
                }
                _ => return Err(PickleError::Malformed("a NumPy buffer without dtype or shape")),
            }
        }
        (m, "scalar") if is_numpy(m) => match args.as_slice() {
            [Value::Dtype { kind, order }, Value::Bytes(data)] => {
                let a = NdArray { kind: kind.clone(), order: *order, shape: Vec::new(), fortran: false, data: data.clone() };
                let v = a.to_f64().and_then(|v| v.first().copied()).map(Value::Float);
                made(v.ok_or_else(|| PickleError::Unsupported(format!("a NumPy {kind} scalar")))?)
            }
            _ => return Err(PickleError::Malformed("a NumPy scalar without dtype")),
        },
        ("builtins" | "__builtin__", "bytearray" | "bytes") => match args.into_iter().next() {
            Some(Value::Bytes(b)) => made(Value::Bytes(b)),
            None => made(Value::Bytes(Vec::new())),
            _ => return Err(PickleError::Unsupported("bytes from text".into())),
        },
        ("_codecs", "encode") => match args.first() {
            // Protocol 2 bytes: text of code points < 256.
            Some(Value::Str(s)) => {
                let bytes: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
                let new_bytes = bytes.len() as u64;
                Made { new_bytes, ..made(Value::Bytes(bytes)) }
            }
            _ => return Err(PickleError::Malformed("codecs.encode without text")),
        },
        ("collections", "OrderedDict") => Made { depth: 1, ..made(Value::Dict(Vec::new())) },
        _ => return Err(PickleError::Unsupported(format!("{module}.{name}"))),
    })
}

/// An object's state (BUILD): an array's shape, dtype and bytes, a dtype's byte order.
pub(super) fn build(obj: Item, state: Value) -> Result<Made, PickleError> {
    match obj {
        Item::EmptyArray => {
            let Value::Tuple(s) = state else { return Err(PickleError::Malformed("an array state that is not a tuple")) };
            let Ok([_, shape, Value::Dtype { kind, order }, fortran, data]) = <[Value; 5]>::try_from(s) else {
                return Err(PickleError::Malformed("an array state of the wrong length"));
            };
            let (data, new_bytes) = match data {
                Value::Bytes(b) => (b, 0),
                Value::Str(s) => {
                    let b: Vec<u8> = s.chars().map(|c| c as u32 as u8).collect();
                    let n = b.len() as u64;
                    (b, n)
                }
                _ => return Err(PickleError::Unsupported("a NumPy array of Python objects".into())),
            };
            let a = array(kind, order, &shape, matches!(fortran, Value::Bool(true)), data)?;
            Ok(Made { new_bytes, ..made(Value::Array(a)) })
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
            Ok(made(Value::Dtype { kind, order: if order == '=' { '<' } else { order } }))
        }
        Item::Value(Value::Dict(mut d)) => {
            if let Value::Dict(more) = state {
                d.extend(more);
            }
            // The caller takes the deeper of the dict's and the state's nesting.
            Ok(Made { depth: 1, ..made(Value::Dict(d)) })
        }
        Item::Value(other) => Err(PickleError::Unsupported(format!("a state for {}", kind_of(&other)))),
    }
}

/// A short name of a value's kind, for messages (never the value itself: it may be huge).
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an int",
        Value::Float(_) => "a float",
        Value::Str(_) => "a str",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "a list",
        Value::Tuple(_) => "a tuple",
        Value::Dict(_) => "a dict",
        Value::Array(_) => "an array",
        Value::Dtype { .. } => "a dtype",
        Value::Global(..) => "a global name",
    }
}

/// An array whose shape fits its data: the product of the shape must not overflow and,
/// for a dtype of known item size, times that size is exactly the data's length.
fn array(kind: String, order: char, shape: &Value, fortran: bool, data: Vec<u8>) -> Result<NdArray, PickleError> {
    let shape = shape_of(shape)?;
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or(PickleError::Malformed("an array shape whose size overflows"))?;
    if let Some(item) = item_size(&kind) {
        if count.checked_mul(item) != Some(data.len()) {
            return Err(PickleError::Malformed("an array shape that does not match its data"));
        }
    }
    Ok(NdArray { kind, order, shape, fortran, data })
}

/// Bytes per element of a NumPy type string (`f4`, `u1`, `U8`: 4 bytes per character),
/// `None` for one without a size.
fn item_size(kind: &str) -> Option<usize> {
    let kind = kind.trim_start_matches(['<', '>', '|', '=']);
    let letter = kind.chars().next()?;
    let n: usize = kind[letter.len_utf8()..].parse().ok()?;
    match letter {
        'U' => n.checked_mul(4),
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'V' | 'M' | 'm' | 'B' => Some(n),
        _ => None,
    }
}

fn shape_of(v: &Value) -> Result<Vec<usize>, PickleError> {
    let dim = |x: &Value| match x {
        Value::Int(i) if *i >= 0 => usize::try_from(*i).map_err(|_| PickleError::Malformed("an array dimension too large")),
        _ => Err(PickleError::Malformed("an array shape that is not whole numbers")),
    };
    match v {
        Value::Tuple(t) | Value::List(t) => t.iter().map(dim).collect(),
        Value::Int(_) => Ok(vec![dim(v)?]),
        _ => Err(PickleError::Malformed("an array shape that is not a tuple")),
    }
}
