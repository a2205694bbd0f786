//! What the reader does with a finished pickle and with storage bytes as they stream.
use super::pickle::Pickle;
use super::plan::{self, Plan};
use super::{After, CkptReader, Format, State};
use crate::weights::reader::ReadEvents;
use crate::weights::WeightsError;

fn bad(msg: impl Into<String>) -> WeightsError {
    WeightsError::Checkpoint(msg.into())
}

impl CkptReader {
    /// Acts on a pickle that took `used` bytes.
    pub(super) fn pickle<E: ReadEvents>(
        &mut self,
        p: Pickle,
        used: usize,
        events: &mut E,
    ) -> Result<(), E::Error> {
        if self.format == Format::Zip {
            self.plan_tensors(&p, events)?;
            self.state = match self.pickle_entry.take() {
                Some((name, After::Descriptor { zip64 })) => State::Descriptor {
                    name,
                    size: used as u64,
                    zip64,
                },
                _ => State::Local,
            };
            return Ok(());
        }
        let n = self.legacy;
        self.legacy += 1;
        self.state = State::Pickle { next_try: 0 };
        match n {
            0 if plan::int(&p) != Some(plan::LEGACY_MAGIC) => {
                return Err(bad("not a torch.save file: its magic number differs").into())
            }
            1 => match plan::int(&p) {
                Some(plan::LEGACY_PROTOCOL) => {}
                v => {
                    let msg = format!("legacy checkpoint protocol {v:?}; 1001 is supported");
                    return Err(bad(msg).into());
                }
            },
            2 if plan::big_endian(&p) => {
                return Err(bad("the checkpoint was saved on a big-endian machine").into())
            }
            3 => self.plan_tensors(&p, events)?,
            4 => {
                self.legacy_keys = plan::key_list(&p)?;
                self.state = match self.legacy_keys.is_empty() {
                    true => State::Done,
                    false => State::Count { index: 0 },
                };
            }
            _ => {}
        }
        Ok(())
    }

    fn plan_tensors<E: ReadEvents>(&mut self, p: &Pickle, events: &mut E) -> Result<(), E::Error> {
        let mut plan = Plan::new(plan::tensors(p)?)?;
        let wanted = events.header(&plan.header)?;
        plan.want(&wanted);
        self.wanted = wanted.iter().filter(|&&w| w).count();
        self.plan = Some(plan);
        Ok(())
    }

    /// A legacy storage's element count has arrived: its bytes follow.
    pub(super) fn legacy_storage(&mut self, index: usize, count: u64) -> Result<(), WeightsError> {
        let key = (self.legacy_keys.get(index).cloned()).unwrap_or_default();
        let plan = (self.plan.as_ref()).ok_or_else(|| bad("storage data before the tensors"))?;
        let storage = (plan.storages.get(&key))
            .ok_or_else(|| bad(format!("storage {key} is listed but no tensor uses it")))?;
        if count != storage.numel {
            return Err(bad(format!(
                "storage {key} holds {count} elements, but its tensors say {}",
                storage.numel
            )));
        }
        let size = storage.bytes();
        self.state = State::Data {
            name: format!("storage {key}"),
            key: Some(key),
            left: size,
            size,
            after: After::Count { index },
        };
        Ok(())
    }

    /// Streams entry bytes; returns how many it took.
    pub(super) fn data<E: ReadEvents>(
        &mut self,
        data: &[u8],
        events: &mut E,
    ) -> Result<usize, E::Error> {
        let State::Data {
            key,
            left,
            size,
            after,
            ..
        } = &mut self.state
        else {
            return Ok(0);
        };
        let take = (*left).min(data.len() as u64) as usize;
        let part = &data[..take];
        *left -= take as u64;
        let done = *left == 0;
        let (size, after) = (*size, *after);
        let storage = key.clone().filter(|k| {
            let plan = self.plan.as_ref();
            plan.and_then(|p| p.storages.get(k))
                .is_some_and(|s| !s.views.is_empty())
        });
        self.pos += take as u64;
        match storage {
            Some(key) if done && self.partial.is_empty() && take as u64 == size => {
                self.emit(&key, Source::Chunk(part), events)?;
            }
            Some(key) => {
                if self.partial.is_empty() {
                    // The size is the pickle's word: reserve what a VAE tensor may need, and let
                    // bytes that really arrive grow it.
                    self.partial.reserve_exact(size.min(64 << 20) as usize);
                }
                self.partial.extend_from_slice(part);
                self.peak_buffered = self.peak_buffered.max(self.partial.capacity());
                if done {
                    self.emit(&key, Source::Partial, events)?;
                    self.partial.clear();
                }
            }
            None => self.skipped += take as u64,
        }
        if done {
            let name = match &mut self.state {
                State::Data { name, .. } => std::mem::take(name),
                _ => String::new(),
            };
            self.state = match after {
                After::Local => State::Local,
                After::Descriptor { zip64 } => State::Descriptor { name, size, zip64 },
                After::Count { index } if index + 1 < self.legacy_keys.len() => {
                    State::Count { index: index + 1 }
                }
                After::Count { .. } => State::Done,
            };
        }
        Ok(take)
    }

    /// Hands on every wanted tensor that views storage `key`, whose bytes are complete.
    fn emit<E: ReadEvents>(
        &mut self,
        key: &str,
        source: Source,
        events: &mut E,
    ) -> Result<(), E::Error> {
        let CkptReader {
            plan,
            partial,
            scratch,
            emitted,
            ..
        } = self;
        let Some(plan) = plan.as_mut() else {
            return Ok(());
        };
        let Some(storage) = plan.storages.get_mut(key) else {
            return Ok(());
        };
        let views = std::mem::take(&mut storage.views);
        let expected = storage.bytes();
        let bytes = match source {
            Source::Chunk(b) => b,
            Source::Partial => partial.as_slice(),
        };
        if bytes.len() as u64 != expected {
            let msg = format!("storage {key}: {} bytes, expected {expected}", bytes.len());
            return Err(bad(msg).into());
        }
        for i in views {
            let cut = plan.cut(i, bytes, scratch)?;
            if let Some(entry) = plan.header.tensors.get(i) {
                events.tensor(i, entry, cut)?;
            }
            *emitted += 1;
        }
        Ok(())
    }
}

/// Where a complete storage's bytes are.
enum Source<'a> {
    Chunk(&'a [u8]),
    Partial,
}
