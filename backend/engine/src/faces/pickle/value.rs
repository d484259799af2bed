//! The plain values a pickle holds.

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
