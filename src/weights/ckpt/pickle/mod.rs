//! A restricted unpickler for exactly what `torch.save` writes: plain values (None, bools, ints,
//! floats, strings, bytes, tuples, lists, dicts), `collections.OrderedDict`, tensors rebuilt by
//! `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter` from persistent-id storages of the
//! `torch.*Storage` types. Any other global or opcode is an error naming it: nothing in the file
//! is ever called, imported or run — "calling" one of the allowed globals only builds a value
//! here.
//!
//! Values live in an arena and refer to each other by index, so the memo shares objects as
//! pickle does, cycles are harmless and dropping a deep structure never recurses.
use safetensors::Dtype;

use crate::weights::WeightsError;

mod calls;
mod run;

/// A value on the pickle machine's stack; containers and strings live in [`Pickle::nodes`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Node(usize),
}

#[derive(Debug)]
pub enum Node {
    Str(String),
    /// A bytes object (its content is not kept).
    Bytes,
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// A dict or `OrderedDict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
}

/// The globals a checkpoint may name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    /// `torch.FloatStorage` etc.: the storage's element type.
    StorageType(Dtype),
}

/// A storage named by a persistent id: `('storage', type, key, location, numel[, view])`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: Dtype,
    pub numel: u64,
}

/// A view of a storage: elements `offset + Σ index_i · stride_i`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// A parsed pickle: its arena and the value `STOP` returned.
#[derive(Debug)]
pub struct Pickle {
    pub nodes: Vec<Node>,
    pub root: Value,
}

impl Pickle {
    pub fn node(&self, v: Value) -> Option<&Node> {
        match v {
            Value::Node(i) => self.nodes.get(i),
            _ => None,
        }
    }
    pub fn str(&self, v: Value) -> Option<&str> {
        match self.node(v)? {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The outcome of parsing the bytes so far.
pub enum Parse {
    /// The pickle and how many bytes it took (up to and including `STOP`).
    Done(Pickle, usize),
    /// The bytes end before `STOP`.
    NeedMore,
}

/// Where `torch.*Storage` type names map to.
fn storage_dtype(name: &str) -> Option<Dtype> {
    Some(match name {
        "FloatStorage" => Dtype::F32,
        "HalfStorage" => Dtype::F16,
        "BFloat16Storage" => Dtype::BF16,
        "DoubleStorage" => Dtype::F64,
        "LongStorage" => Dtype::I64,
        "IntStorage" => Dtype::I32,
        "ShortStorage" => Dtype::I16,
        "CharStorage" => Dtype::I8,
        "ByteStorage" => Dtype::U8,
        "BoolStorage" => Dtype::BOOL,
        _ => return None,
    })
}

/// Bytes per element of a storage type.
pub fn element_size(dtype: Dtype) -> u64 {
    match dtype {
        Dtype::F64 | Dtype::I64 => 8,
        Dtype::F32 | Dtype::I32 => 4,
        Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
        _ => 1,
    }
}

fn global(module: &str, name: &str) -> Option<Global> {
    match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("torch", storage) => storage_dtype(storage).map(Global::StorageType),
        _ => None,
    }
}

/// Names of the opcodes a checkpoint may not use, for the error message.
fn opcode_name(op: u8) -> &'static str {
    match op {
        b'i' => "INST",
        b'o' => "OBJ",
        b'P' => "PERSID",
        b'p' => "PUT",
        b'g' => "GET",
        b'I' => "INT",
        b'L' => "LONG",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'F' => "FLOAT",
        0x82..=0x84 => "EXT",
        0x90 => "EMPTY_SET",
        0x91 => "ADDITEMS",
        0x92 => "FROZENSET",
        0x96..=0x98 => "BYTEARRAY8/NEXT_BUFFER/READONLY_BUFFER",
        _ => "unknown",
    }
}

struct Machine<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Offset of `bytes` in the file, for messages.
    base: u64,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u32, Value>,
    nodes: Vec<Node>,
}

/// Signals the bytes ran out (not an error: more may come).
struct Short;

enum Fault {
    Short,
    Error(WeightsError),
}

impl From<Short> for Fault {
    fn from(_: Short) -> Self {
        Fault::Short
    }
}

impl From<WeightsError> for Fault {
    fn from(e: WeightsError) -> Self {
        Fault::Error(e)
    }
}

/// Parses one pickle from the start of `bytes` (`base`: its offset in the file, for messages).
pub fn parse(bytes: &[u8], base: u64) -> Result<Parse, WeightsError> {
    let mut m = Machine {
        bytes,
        pos: 0,
        base,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: Default::default(),
        nodes: Vec::new(),
    };
    match m.run() {
        Ok(root) => Ok(Parse::Done(
            Pickle {
                nodes: m.nodes,
                root,
            },
            m.pos,
        )),
        Err(Fault::Short) => Ok(Parse::NeedMore),
        Err(Fault::Error(e)) => Err(e),
    }
}

impl Machine<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short)?;
        let s = self.bytes.get(self.pos..end).ok_or(Short)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().map_err(|_| Short)?,
        ))
    }
    fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| Short)?,
        ))
    }
    fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| Short)?,
        ))
    }
    fn line(&mut self) -> Result<String, Fault> {
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        let Some(n) = rest.iter().take(256).position(|&b| b == b'\n') else {
            if rest.len() >= 256 {
                return Err(self.error("a GLOBAL name longer than 256 bytes").into());
            }
            return Err(Fault::Short);
        };
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn error(&self, message: impl std::fmt::Display) -> WeightsError {
        WeightsError::Pickle {
            at: self.base + self.pos as u64,
            message: message.to_string(),
        }
    }

    fn push_node(&mut self, node: Node) {
        self.nodes.push(node);
        self.stack.push(Value::Node(self.nodes.len() - 1));
    }

    fn pop(&mut self) -> Result<Value, WeightsError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.error("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.error("stack underflow"))
    }

    fn top(&mut self) -> Result<&mut Value, WeightsError> {
        let e = self.error("stack underflow");
        self.stack.last_mut().ok_or(e)
    }

    /// Items above the latest mark, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, WeightsError> {
        let mark = self.marks.pop().ok_or_else(|| self.error("no MARK"))?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn string(&mut self, n: usize) -> Result<(), Fault> {
        let bytes = self.take(n)?.to_vec();
        let s = String::from_utf8(bytes).map_err(|_| self.error("a string is not UTF-8"))?;
        self.push_node(Node::Str(s));
        Ok(())
    }

    fn bytes(&mut self, n: usize) -> Result<(), Fault> {
        self.take(n)?;
        self.push_node(Node::Bytes);
        Ok(())
    }

    fn len(&self, n: u64) -> Result<usize, Fault> {
        // A string longer than what is left can only be truncated; one longer than the buffer
        // could ever be is refused (the callers cap the buffer).
        usize::try_from(n).map_err(|_| self.error(format!("a length of {n} bytes")).into())
    }

    fn container(&mut self, v: Value) -> Result<&mut Node, WeightsError> {
        let e = self.error("APPEND/SETITEM on a value that is not a list or dict");
        match v {
            Value::Node(i) => self.nodes.get_mut(i).ok_or(e),
            _ => Err(e),
        }
    }

    fn node_at(&self, v: Value) -> Option<&Node> {
        match v {
            Value::Node(i) => self.nodes.get(i),
            _ => None,
        }
    }

    fn str_of(&self, v: Value) -> Option<String> {
        match self.node_at(v)? {
            Node::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn put(&mut self, i: u32) -> Result<(), WeightsError> {
        let v = *self.top()?;
        self.memo.insert(i, v);
        Ok(())
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, &'static str> {
    if !items.len().is_multiple_of(2) {
        return Err("a dict with an odd number of items");
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}
