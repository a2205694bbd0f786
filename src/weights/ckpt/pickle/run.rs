//! The pickle machine's opcode loop.
use super::{opcode_name, pairs, Fault, Machine, Node, Short, Value};

impl Machine<'_> {
    pub(super) fn run(&mut self) -> Result<Value, Fault> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.error(format!("pickle protocol {proto}")).into());
                    }
                }
                0x95 => {
                    self.u64()?;
                }
                b'.' => return Ok(self.pop()?),
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v.into()));
                }
                0x8a | 0x8b => {
                    let n = match op {
                        0x8a => self.u8()? as usize,
                        _ => self.u32()? as usize,
                    };
                    if n > 16 {
                        return Err(self.error(format!("an integer of {n} bytes")).into());
                    }
                    let b = self.take(n)?;
                    let mut le = [0u8; 16];
                    le[..n].copy_from_slice(b);
                    if n > 0 && n < 16 && b[n - 1] & 0x80 != 0 {
                        le[n..].fill(0xff);
                    }
                    self.stack.push(Value::Int(i128::from_le_bytes(le)));
                }
                b'G' => {
                    let b = self.take(8)?.try_into().map_err(|_| Short)?;
                    self.stack.push(Value::Float(f64::from_be_bytes(b)));
                }
                b'X' | b'T' => {
                    let n = self.u32()?.into();
                    let n = self.len(n)?;
                    self.string(n)?;
                }
                0x8c | b'U' => {
                    let n = self.u8()?.into();
                    self.string(n)?;
                }
                0x8d => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    self.string(n)?;
                }
                b'B' => {
                    let n = self.u32()?.into();
                    let n = self.len(n)?;
                    self.bytes(n)?;
                }
                b'C' => {
                    let n = self.u8()?.into();
                    self.bytes(n)?;
                }
                0x8e => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    self.bytes(n)?;
                }
                b')' => self.push_node(Node::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let floor = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < floor + n {
                        return Err(self.error("stack underflow").into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push_node(Node::Tuple(items));
                }
                b']' => self.push_node(Node::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_node(Node::List(items));
                }
                b'}' => self.push_node(Node::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items).map_err(|m| self.error(m))?;
                    self.push_node(Node::Dict(pairs));
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = *self.top()?;
                    match self.container(list)? {
                        Node::List(l) => l.push(item),
                        _ => return Err(self.error("APPEND to a value that is not a list").into()),
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = *self.top()?;
                    match self.container(list)? {
                        Node::List(l) => l.extend(items),
                        _ => {
                            return Err(self.error("APPENDS to a value that is not a list").into())
                        }
                    }
                }
                b's' | b'u' => {
                    let items = match op {
                        b's' => {
                            let v = self.pop()?;
                            let k = self.pop()?;
                            vec![k, v]
                        }
                        _ => self.pop_mark()?,
                    };
                    let new = pairs(items).map_err(|m| self.error(m))?;
                    let dict = *self.top()?;
                    match self.container(dict)? {
                        Node::Dict(d) => d.extend(new),
                        _ => {
                            return Err(self.error("SETITEM on a value that is not a dict").into())
                        }
                    }
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.str_of(module), self.str_of(name))
                    else {
                        return Err(self
                            .error("STACK_GLOBAL of values that are not strings")
                            .into());
                    };
                    self.global(&module, &name)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.call(callable, args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    // BUILD sets an object's state; the only objects here are dicts, whose
                    // state (an OrderedDict's `_metadata`) carries no tensor.
                    self.pop()?;
                    let target = *self.top()?;
                    if !matches!(self.node_at(target), Some(Node::Dict(_) | Node::Tensor(_))) {
                        return Err(self.error("BUILD on a value that is not a dict").into());
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let storage = self.storage(pid)?;
                    self.push_node(Node::Storage(storage));
                }
                b'q' => {
                    let i = self.u8()?.into();
                    self.put(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.put(i)?;
                }
                b'h' | b'j' => {
                    let i = match op {
                        b'h' => self.u8()?.into(),
                        _ => self.u32()?,
                    };
                    let v = (self.memo.get(&i).copied())
                        .ok_or_else(|| self.error(format!("memo entry {i} was never stored")))?;
                    self.stack.push(v);
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = *self.top()?;
                    self.stack.push(v);
                }
                other => {
                    self.pos -= 1;
                    let msg = format!(
                        "opcode {:#04x} ({}) is not allowed in a checkpoint",
                        other,
                        opcode_name(other)
                    );
                    return Err(self.error(msg).into());
                }
            }
        }
    }
}
