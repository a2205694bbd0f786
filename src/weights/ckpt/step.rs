//! The reader's state machine: what each state does with the bytes that arrive, and what a zip
//! entry's local header starts.
use super::pickle::{self, Parse};
use super::{zip, After, CkptReader, State, Step, MAX_PICKLE_BYTES, MAX_RECORD_BYTES};
use crate::weights::reader::ReadEvents;
use crate::weights::WeightsError;

impl CkptReader {
    /// Appends up to `need` bytes in all to `pending`; true once it holds them.
    fn fill(&mut self, data: &[u8], need: usize, took: &mut usize) -> bool {
        let take = need.saturating_sub(self.pending.len()).min(data.len());
        self.pending.extend_from_slice(&data[..take]);
        *took = take;
        self.pos += take as u64;
        self.pending.len() >= need
    }

    pub(super) fn step<E: ReadEvents>(
        &mut self,
        data: &[u8],
        events: &mut E,
    ) -> Result<Step, E::Error> {
        let mut took = 0;
        match &mut self.state {
            State::Local => {
                if !self.fill(data, zip::LOCAL_BYTES, &mut took) {
                    return Ok(Step::Took(took));
                }
                let sig = &self.pending[..4];
                if sig == zip::CENTRAL || sig == zip::END || sig == zip::END64 {
                    self.pending.clear();
                    self.state = State::Tail;
                    return Ok(Step::Took(took));
                }
                if sig != zip::LOCAL {
                    let at = self.pos - self.pending.len() as u64;
                    let msg = format!("no zip entry header at byte {at}");
                    return Err(WeightsError::Checkpoint(msg).into());
                }
                let need = zip::local_len(&self.pending);
                let mut more = 0;
                if !self.fill(&data[took..], need, &mut more) {
                    return Ok(Step::Took(took + more));
                }
                let local = zip::local(&self.pending)?;
                self.pending.clear();
                self.entry(local)?;
                Ok(Step::Took(took + more))
            }
            State::Pickle { next_try } => {
                let next_try = *next_try;
                let limit = MAX_PICKLE_BYTES - self.pending.len().min(MAX_PICKLE_BYTES);
                let take = data.len().min(limit + 1);
                self.pending.extend_from_slice(&data[..take]);
                self.pos += take as u64;
                if self.pending.len() < next_try {
                    return Ok(Step::Took(take));
                }
                let base = self.pos - self.pending.len() as u64;
                match pickle::parse(&self.pending, base)? {
                    Parse::NeedMore if self.pending.len() > MAX_PICKLE_BYTES => {
                        let msg = format!("its pickle is over {MAX_PICKLE_BYTES} bytes");
                        Err(WeightsError::Checkpoint(msg).into())
                    }
                    Parse::NeedMore => {
                        let n = self.pending.len();
                        self.state = State::Pickle {
                            next_try: (2 * n).max(n + 4096),
                        };
                        Ok(Step::Took(take))
                    }
                    Parse::Done(p, used) => {
                        let rest = self.pending.split_off(used);
                        self.pending.clear();
                        self.pos -= rest.len() as u64;
                        self.pickle(p, used, events)?;
                        Ok(Step::Replace {
                            took: take,
                            unused: rest,
                        })
                    }
                }
            }
            State::Record { name } => {
                let take = data.len().min(MAX_RECORD_BYTES + 64);
                self.pending.extend_from_slice(&data[..take]);
                self.pos += take as u64;
                let Some((size, desc)) = zip::find_descriptor(&self.pending) else {
                    if self.pending.len() > MAX_RECORD_BYTES {
                        let msg = format!("zip entry {name} is over {MAX_RECORD_BYTES} bytes");
                        return Err(WeightsError::Checkpoint(msg).into());
                    }
                    return Ok(Step::Took(take));
                };
                if name.ends_with("/byteorder") && self.pending[..size] != *b"little" {
                    let msg = "the checkpoint is big-endian (byteorder says so)";
                    return Err(WeightsError::Checkpoint(msg.into()).into());
                }
                self.skipped += size as u64;
                let rest = self.pending.split_off(size + desc);
                self.pending.clear();
                self.pos -= rest.len() as u64;
                self.state = State::Local;
                Ok(Step::Replace {
                    took: take,
                    unused: rest,
                })
            }
            State::Descriptor { name, size, zip64 } => {
                let first = zip::descriptor_len(data, *zip64);
                let need = match self.pending.len() {
                    0 => first,
                    _ => zip::descriptor_len(&self.pending, *zip64),
                };
                let (name, size, zip64) = (name.clone(), *size, *zip64);
                if !self.fill(data, need, &mut took) {
                    return Ok(Step::Took(took));
                }
                let recorded = zip::descriptor_size(&self.pending, zip64);
                self.pending.clear();
                if recorded != size {
                    let msg = format!(
                        "zip entry {name}: {size} bytes were read but its descriptor says \
                         {recorded}"
                    );
                    return Err(WeightsError::Checkpoint(msg).into());
                }
                self.state = State::Local;
                Ok(Step::Took(took))
            }
            State::Count { index } => {
                let index = *index;
                if !self.fill(data, 8, &mut took) {
                    return Ok(Step::Took(took));
                }
                let count = u64::from_le_bytes(self.pending[..8].try_into().unwrap_or([0; 8]));
                self.pending.clear();
                self.legacy_storage(index, count)?;
                Ok(Step::Took(took))
            }
            State::Data { .. } => self.data(data, events).map(Step::Took),
            State::Tail => {
                self.pos += data.len() as u64;
                Ok(Step::Took(data.len()))
            }
            State::Done => Err(WeightsError::TrailingBytes {
                extra: data.len() as u64,
                file_bytes: self.pos,
            }
            .into()),
        }
    }

    /// Decides what to do with a zip entry from its local header.
    fn entry(&mut self, local: zip::Local) -> Result<(), WeightsError> {
        let name = local.name;
        // `<dir>/data.pkl`, `<dir>/data/<key>`; `<dir>` is any one folder.
        let inner = (name.split_once('/')).map_or(String::new(), |(_, rest)| rest.to_string());
        let after = match local.descriptor {
            true => After::Descriptor { zip64: local.zip64 },
            false => After::Local,
        };
        if local.method != 0 && (inner == "data.pkl" || inner.starts_with("data/")) {
            return Err(WeightsError::Checkpoint(format!(
                "zip entry {name} is compressed (method {}); torch.save stores entries \
                 uncompressed, so this archive was repacked: unzip it and load the .ckpt inside",
                local.method
            )));
        }
        if inner == "data.pkl" {
            if self.plan.is_some() {
                return Err(WeightsError::Checkpoint(format!(
                    "a second data.pkl: {name}"
                )));
            }
            self.pickle_entry = Some((name, after));
            self.state = State::Pickle { next_try: 0 };
            return Ok(());
        }
        if let Some(key) = inner.strip_prefix("data/").map(str::to_string) {
            let Some(plan) = &self.plan else {
                return Err(WeightsError::Checkpoint(format!(
                    "zip entry {name} comes before data.pkl"
                )));
            };
            let storage = plan.storages.get(&key).ok_or_else(|| {
                WeightsError::Checkpoint(format!("zip entry {name}: no tensor uses storage {key}"))
            })?;
            let size = storage.bytes();
            if local.size.is_some_and(|s| s != size) {
                return Err(WeightsError::Checkpoint(format!(
                    "zip entry {name} holds {} bytes, but its storage needs {size}",
                    local.size.unwrap_or(0)
                )));
            }
            self.state = State::Data {
                name,
                key: Some(key),
                left: size,
                size,
                after,
            };
            return Ok(());
        }
        if name.ends_with(".ckpt") || name.ends_with(".pt") || name.ends_with(".pth") {
            return Err(WeightsError::Checkpoint(format!(
                "this zip holds a checkpoint, {name}: unzip it and load that file"
            )));
        }
        self.state = match local.size {
            Some(size) => State::Data {
                name,
                key: None,
                left: size,
                size,
                after,
            },
            None => State::Record { name },
        };
        Ok(())
    }
}
