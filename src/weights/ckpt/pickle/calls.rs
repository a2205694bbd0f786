//! What the allowed globals build, and the persistent ids of storages.
use super::{global, Global, Machine, Node, StorageRef, TensorRef, Value};
use crate::weights::WeightsError;

impl Machine<'_> {
    pub(super) fn global(&mut self, module: &str, name: &str) -> Result<(), WeightsError> {
        match global(module, name) {
            Some(g) => {
                self.push_node(Node::Global(g));
                Ok(())
            }
            None => Err(WeightsError::RefusedGlobal {
                name: format!("{module}.{name}"),
                at: self.base + self.pos as u64,
            }),
        }
    }

    fn tuple(&self, v: Value) -> Option<&[Value]> {
        match self.node_at(v)? {
            Node::Tuple(t) => Some(t),
            _ => None,
        }
    }

    fn int(&self, v: Value, what: &str) -> Result<u64, WeightsError> {
        match v {
            Value::Int(i) => u64::try_from(i).map_err(|_| self.error(format!("{what} is {i}"))),
            _ => Err(self.error(format!("{what} is not an integer"))),
        }
    }

    fn ints(&self, v: Value, what: &str) -> Result<Vec<usize>, WeightsError> {
        let items = self
            .tuple(v)
            .ok_or_else(|| self.error(format!("{what} is not a tuple")))?;
        (items.iter())
            .map(|&x| {
                let n = self.int(x, what)?;
                usize::try_from(n).map_err(|_| self.error(format!("{what} holds {n}")))
            })
            .collect()
    }

    /// `('storage', torch.XStorage, key, location, numel[, view_metadata])`.
    pub(super) fn storage(&self, pid: Value) -> Result<StorageRef, WeightsError> {
        let bad = |m: &str| self.error(format!("persistent id: {m}"));
        let t = self.tuple(pid).ok_or_else(|| bad("not a tuple"))?;
        let [tag, ty, key, _location, numel, rest @ ..] = t else {
            return Err(bad("not a 5-tuple ('storage', type, key, location, size)"));
        };
        if self.str_of(*tag).as_deref() != Some("storage") {
            return Err(bad("does not start with 'storage'"));
        }
        let Some(Node::Global(Global::StorageType(dtype))) = self.node_at(*ty) else {
            return Err(bad("its second item is not a torch storage type"));
        };
        if let Some(view) = rest.first() {
            if *view != Value::None {
                return Err(bad("a storage view (view_metadata) is not supported"));
            }
        }
        let key = match (self.str_of(*key), key) {
            (Some(s), _) => s,
            (None, Value::Int(i)) => i.to_string(),
            _ => return Err(bad("its key is not a string")),
        };
        Ok(StorageRef {
            key,
            dtype: *dtype,
            numel: self.int(*numel, "storage size")?,
        })
    }

    pub(super) fn call(&mut self, callable: Value, args: Value) -> Result<Value, WeightsError> {
        let Some(Node::Global(g)) = self.node_at(callable) else {
            return Err(self.error("REDUCE of a value that is not an allowed global"));
        };
        let g = *g;
        let args = (self.tuple(args))
            .ok_or_else(|| self.error("REDUCE arguments are not a tuple"))?
            .to_vec();
        let node = match (g, args.as_slice()) {
            (Global::OrderedDict, []) => Node::Dict(Vec::new()),
            (Global::RebuildTensorV2, [storage, offset, size, stride, _grad, _hooks, ..]) => {
                let Some(Node::Storage(s)) = self.node_at(*storage) else {
                    return Err(self.error("_rebuild_tensor_v2 of a value that is not a storage"));
                };
                Node::Tensor(TensorRef {
                    storage: s.clone(),
                    offset: self.int(*offset, "storage offset")?,
                    shape: self.ints(*size, "tensor size")?,
                    stride: self.ints(*stride, "tensor stride")?,
                })
            }
            (Global::RebuildParameter, [tensor, ..]) => match self.node_at(*tensor) {
                Some(Node::Tensor(_)) => return Ok(*tensor),
                _ => return Err(self.error("_rebuild_parameter of a value that is not a tensor")),
            },
            (g, args) => {
                return Err(self.error(format!(
                    "{g:?} called with {} arguments it does not take",
                    args.len()
                )))
            }
        };
        self.nodes.push(node);
        Ok(Value::Node(self.nodes.len() - 1))
    }
}
