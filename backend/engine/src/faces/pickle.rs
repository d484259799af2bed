//! A reader for Python pickles of plain data, as faceswap writes its alignments files: dicts,
//! lists, tuples, strings, bytes, numbers and NumPy arrays. It runs no code: the only objects it
//! builds are the few NumPy and standard-library constructors that such data uses, from an
//! allow-list; anything else is an error that names it.
//!
//! It is bounded for hostile files: containers nest at most [`MAX_DEPTH`] deep (so no walk
//! over a value, its `Drop` included, can overflow the stack), and every value made (read,
//! copied from the memo or duplicated) is counted, in bytes, against a budget
//! ([`budget_for`]), so a memo bomb that doubles a list with each `GET` stops at the budget
//! instead of filling memory. Lengths are checked against the bytes left before anything is
//! allocated, and NumPy shapes against their data. Time is linear in the pickle plus the
//! budget.

use std::collections::HashMap;

mod objects;
mod value;
use objects::{build, construct};
pub use value::{NdArray, Value};

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
    #[error("the pickle nests containers more than {MAX_DEPTH} deep")]
    TooDeep,
    #[error("the pickle builds more than {mib} MiB of values (a memo or duplication bomb?)", mib = .0 >> 20)]
    TooLarge(u64),
}

/// Deepest nesting of containers (lists, tuples, dicts) a pickle may build. faceswap's
/// alignments nest 6 deep.
pub const MAX_DEPTH: u32 = 256;

/// The value budget of a pickle of `len` bytes: 256 MiB plus 16 bytes per byte of pickle
/// (a list of floats takes about 10 times its pickled size), at most 4 GiB.
pub fn budget_for(len: usize) -> u64 {
    (256u64 << 20).saturating_add((len as u64).saturating_mul(16)).min(4 << 30)
}

/// Reads one pickled value within [`budget_for`] its length.
pub fn load(bytes: &[u8]) -> Result<Value, PickleError> {
    load_within(bytes, budget_for(bytes.len()))
}

/// Reads one pickled value, making at most `budget` bytes of values.
pub fn load_within(bytes: &[u8], budget: u64) -> Result<Value, PickleError> {
    Machine { bytes, at: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), spent: 0, budget }.run()
}

/// What the stack holds: values, and objects waiting for their state (`BUILD`).
#[derive(Debug, Clone)]
enum Item {
    Value(Value),
    /// `numpy.core.multiarray._reconstruct(...)`: an array whose state comes next.
    EmptyArray,
}

/// A stack or memo entry with what its value costs: how deep its containers nest (0 for a
/// scalar) and its bytes (nodes and payload), so copies are charged before they are made.
#[derive(Debug, Clone)]
struct Entry {
    item: Item,
    depth: u32,
    cost: u64,
}

/// The bytes charged per value (its node), on top of its payload.
const NODE: u64 = std::mem::size_of::<Value>() as u64;

/// A popped value with its depth and cost.
struct Popped {
    value: Value,
    depth: u32,
    cost: u64,
}

/// Values popped together (a mark's, a tuple's): their deepest nesting and total cost.
fn gather(entries: Vec<Popped>) -> (Vec<Value>, u32, u64) {
    let depth = entries.iter().map(|p| p.depth).max().unwrap_or(0);
    let cost = entries.iter().map(|p| p.cost).sum();
    (entries.into_iter().map(|p| p.value).collect(), depth, cost)
}

/// Key-value pairs from a flat list (an odd last item is dropped, as before).
fn pairs(items: Vec<Value>) -> Vec<(Value, Value)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Entry>,
    marks: Vec<usize>,
    memo: HashMap<u32, Entry>,
    /// Bytes of values made so far, against `budget`.
    spent: u64,
    budget: u64,
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

    /// Counts `cost` bytes of new values against the budget.
    fn charge(&mut self, cost: u64) -> Result<(), PickleError> {
        self.spent = self.spent.saturating_add(cost);
        if self.spent > self.budget {
            return Err(PickleError::TooLarge(self.budget));
        }
        Ok(())
    }

    /// Pushes a new scalar (number, string, bytes, name) of `payload` bytes.
    fn push_scalar(&mut self, v: Value, payload: usize) -> Result<(), PickleError> {
        let cost = NODE + payload as u64;
        self.charge(cost)?;
        self.stack.push(Entry { item: Item::Value(v), depth: 0, cost });
        Ok(())
    }

    fn push(&mut self, v: Value) -> Result<(), PickleError> {
        self.push_scalar(v, 0)
    }

    /// Pushes a new container over children of nesting `depth` and total `cost`.
    fn push_container(&mut self, v: Value, depth: u32, cost: u64) -> Result<(), PickleError> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return Err(PickleError::TooDeep);
        }
        self.charge(NODE)?;
        self.stack.push(Entry { item: Item::Value(v), depth, cost: cost.saturating_add(NODE) });
        Ok(())
    }

    /// A copy of the top of the stack (DUP, PUT, MEMOIZE), charged before it is made.
    fn copy_top(&mut self, empty: &'static str) -> Result<Entry, PickleError> {
        let cost = self.stack.last().map(|e| e.cost).ok_or(PickleError::Malformed(empty))?;
        self.charge(cost)?;
        self.stack.last().cloned().ok_or(PickleError::Malformed(empty))
    }

    /// A copy of memo entry `k` (GET), charged before it is made.
    fn copy_memo(&mut self, k: u32) -> Result<Entry, PickleError> {
        const UNKNOWN: PickleError = PickleError::Malformed("get of an unknown memo");
        let cost = self.memo.get(&k).map(|e| e.cost).ok_or(UNKNOWN)?;
        self.charge(cost)?;
        self.memo.get(&k).cloned().ok_or(UNKNOWN)
    }

    fn pop(&mut self) -> Result<Entry, PickleError> {
        self.stack.pop().ok_or(PickleError::Malformed("pop from an empty stack"))
    }

    fn pop_value(&mut self) -> Result<Popped, PickleError> {
        let Entry { item, depth, cost } = self.pop()?;
        match item {
            Item::Value(value) => Ok(Popped { value, depth, cost }),
            Item::EmptyArray => Err(PickleError::Malformed("an array without its state")),
        }
    }

    /// The values since the last mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Popped>, PickleError> {
        let mark = self.marks.pop().ok_or(PickleError::Malformed("no mark"))?;
        if mark > self.stack.len() {
            return Err(PickleError::Malformed("a mark past the stack"));
        }
        self.stack.split_off(mark).into_iter().map(|Entry { item, depth, cost }| match item {
            Item::Value(value) => Ok(Popped { value, depth, cost }),
            Item::EmptyArray => Err(PickleError::Malformed("an array without its state")),
        }).collect()
    }

    /// Adds children of nesting `depth` and `cost` to the container on top of the stack,
    /// which `add` receives.
    fn add_to_top(&mut self, depth: u32, cost: u64, add: impl FnOnce(&mut Value) -> Result<(), PickleError>) -> Result<(), PickleError> {
        let top = self.stack.last_mut().ok_or(PickleError::Malformed("no container on the stack"))?;
        let Item::Value(v) = &mut top.item else { return Err(PickleError::Malformed("no container on the stack")) };
        let nested = top.depth.max(depth + 1);
        if nested > MAX_DEPTH {
            return Err(PickleError::TooDeep);
        }
        add(v)?;
        top.depth = nested;
        top.cost = top.cost.saturating_add(cost);
        Ok(())
    }

    fn string(&mut self, n: usize) -> Result<(), PickleError> {
        let s = String::from_utf8(self.take(n)?.to_vec()).map_err(|_| PickleError::Malformed("a string that is not UTF-8"))?;
        self.push_scalar(Value::Str(s), n)
    }

    fn bytes_of(&mut self, n: usize) -> Result<(), PickleError> {
        let b = self.take(n)?.to_vec();
        self.push_scalar(Value::Bytes(b), n)
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
                b'.' => return self.pop_value().map(|p| p.value),
                b'(' => {
                    self.charge(std::mem::size_of::<usize>() as u64)?;
                    self.marks.push(self.stack.len());
                }
                b'}' => self.push_container(Value::Dict(Vec::new()), 0, 0)?,
                b']' | 0x8f => self.push_container(Value::List(Vec::new()), 0, 0)?,
                b')' => self.push_container(Value::Tuple(Vec::new()), 0, 0)?,
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| PickleError::Truncated)?;
                    self.push(Value::Int(i64::from(i32::from_le_bytes(b))))?;
                }
                b'K' => {
                    let v = self.uint(1)?;
                    self.push(Value::Int(v as i64))?;
                }
                b'M' => {
                    let v = self.uint(2)?;
                    self.push(Value::Int(v as i64))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.uint(1)? } else { self.uint(4)? };
                    if n > 8 {
                        return Err(PickleError::Unsupported("an integer wider than 64 bits".into()));
                    }
                    let b = self.take(n)?.to_vec();
                    let mut v: i64 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= i64::from(x) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Value::Int(v))?;
                }
                b'G' => {
                    let b: [u8; 8] = self.take(8)?.try_into().map_err(|_| PickleError::Truncated)?;
                    self.push(Value::Float(f64::from_be_bytes(b)))?;
                }
                b'I' | b'L' => {
                    let line = self.line()?;
                    let t = line.trim_end_matches('L');
                    let v = match t {
                        "00" => Value::Bool(false),
                        "01" => Value::Bool(true),
                        _ => Value::Int(t.parse().map_err(|_| PickleError::Malformed("a text integer"))?),
                    };
                    self.push(v)?;
                }
                b'F' => {
                    let line = self.line()?;
                    self.push(Value::Float(line.parse().map_err(|_| PickleError::Malformed("a text float"))?))?;
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
                b'U' | b'C' => {
                    let n = self.uint(1)?;
                    self.bytes_of(n)?;
                }
                b'T' | b'B' => {
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
                    let mut items = (0..n).map(|_| self.pop_value()).collect::<Result<Vec<_>, _>>()?;
                    items.reverse();
                    let (items, depth, cost) = gather(items);
                    self.push_container(Value::Tuple(items), depth, cost)?;
                }
                b't' => {
                    let (items, depth, cost) = gather(self.pop_mark()?);
                    self.push_container(Value::Tuple(items), depth, cost)?;
                }
                0x91 | b'l' => {
                    let (items, depth, cost) = gather(self.pop_mark()?);
                    self.push_container(Value::List(items), depth, cost)?;
                }
                b'd' => {
                    let (items, depth, cost) = gather(self.pop_mark()?);
                    self.push_container(Value::Dict(pairs(items)), depth, cost)?;
                }
                b'a' => {
                    let Popped { value, depth, cost } = self.pop_value()?;
                    self.add_to_top(depth, cost, |top| match top {
                        Value::List(l) => {
                            l.push(value);
                            Ok(())
                        }
                        _ => Err(PickleError::Malformed("append to a non-list")),
                    })?;
                }
                b'e' | 0x90 => {
                    let (items, depth, cost) = gather(self.pop_mark()?);
                    self.add_to_top(depth, cost, |top| match top {
                        Value::List(l) => {
                            l.extend(items);
                            Ok(())
                        }
                        _ => Err(PickleError::Malformed("append to a non-list")),
                    })?;
                }
                b's' => {
                    let v = self.pop_value()?;
                    let k = self.pop_value()?;
                    let (depth, cost) = (v.depth.max(k.depth), v.cost.saturating_add(k.cost));
                    self.add_to_top(depth, cost, |top| match top {
                        Value::Dict(d) => {
                            d.push((k.value, v.value));
                            Ok(())
                        }
                        _ => Err(PickleError::Malformed("set an item of a non-dict")),
                    })?;
                }
                b'u' => {
                    let (items, depth, cost) = gather(self.pop_mark()?);
                    self.add_to_top(depth, cost, |top| match top {
                        Value::Dict(d) => {
                            d.extend(pairs(items));
                            Ok(())
                        }
                        _ => Err(PickleError::Malformed("set items of a non-dict")),
                    })?;
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let copy = self.copy_top("dup of an empty stack")?;
                    self.stack.push(copy);
                }
                0x94 => {
                    let copy = self.copy_top("memoize an empty stack")?;
                    self.memo.insert(self.memo.len() as u32, copy);
                }
                b'q' | b'r' => {
                    let k = if op == b'q' { self.uint(1)? } else { self.uint(4)? } as u32;
                    let copy = self.copy_top("put of an empty stack")?;
                    self.memo.insert(k, copy);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' { self.uint(1)? } else { self.uint(4)? } as u32;
                    let copy = self.copy_memo(k)?;
                    self.stack.push(copy);
                }
                b'c' => {
                    let (module, name) = (self.line()?, self.line()?);
                    let payload = module.len() + name.len();
                    self.push_scalar(Value::Global(module, name), payload)?;
                }
                0x93 => {
                    let name = self.pop_value()?;
                    let module = self.pop_value()?;
                    match (module.value, name.value) {
                        (Value::Str(m), Value::Str(n)) => {
                            let payload = m.len() + n.len();
                            self.push_scalar(Value::Global(m, n), payload)?;
                        }
                        _ => return Err(PickleError::Malformed("a global without names")),
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop_value()?;
                    let callable = self.pop_value()?;
                    let made = construct(callable.value, args.value)?;
                    self.charge(NODE.saturating_add(made.new_bytes))?;
                    self.stack.push(Entry { item: made.item, depth: made.depth, cost: NODE.saturating_add(args.cost) });
                }
                b'b' => {
                    let state = self.pop_value()?;
                    let obj = self.pop()?;
                    let depth = obj.depth.max(state.depth);
                    let cost = obj.cost.saturating_add(state.cost);
                    let built = build(obj.item, state.value)?;
                    self.charge(built.new_bytes)?;
                    self.stack.push(Entry { item: built.item, depth: built.depth.max(depth), cost });
                }
                other => return Err(PickleError::Opcode(other, at)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
