//! Out-of-core runs: when a call's activations do not fit the memory budget, its recorded work
//! (the ops a planning recording kept, each naming the plan requests it binds) runs with only
//! the requests the next op binds on the GPU; the others wait in host memory. The schedule is
//! decided before anything runs — which request moves out, which comes back, and when — so a dry
//! run reports the GPU bytes, host bytes and bytes moved of a call, and a budget too small for
//! one op's working set is refused before touching the GPU.
//!
//! Eviction follows Belady: the request whose next use is farthest leaves first, and it is
//! copied out only if it holds values written since it was last stored and is used again.

/// How one op uses a plan request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Use {
    pub req: usize,
    /// Whether the op may write it.
    pub writes: bool,
}

/// A recorded call as the scheduler sees it.
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// The requests each op binds, in order.
    pub ops: Vec<Vec<Use>>,
    /// Bytes of each request's buffer.
    pub sizes: Vec<u64>,
    /// Requests that must be on the GPU after the last op (the call's result).
    pub outputs: Vec<usize>,
}

/// What happens to one request before an op runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Copy it to host memory, then release its buffer.
    Store(usize),
    /// Release its buffer (the host copy is current, or it holds nothing used again).
    Release(usize),
    /// Take a buffer and copy its values back from host memory.
    Load(usize),
    /// Take a buffer for it; it holds nothing yet.
    Fresh(usize),
}

/// An out-of-core run's steps and what it costs.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// Steps before op `i`; the last entry (index `ops.len()`) brings the outputs back.
    pub before: Vec<Vec<Step>>,
    /// Requests whose last use is op `i`, released after it.
    pub after: Vec<Vec<usize>>,
    /// Most bytes of request buffers on the GPU at once.
    pub peak_gpu: u64,
    /// Most bytes held in host memory at once.
    pub peak_host: u64,
    /// Bytes copied out to the host and back in, in all.
    pub moved: u64,
    /// Bytes of the staging buffer values leave the GPU through (0 where nothing moves).
    pub staging: u64,
}

/// The most bytes one op binds at once (and the outputs at the end): the least room any
/// schedule needs.
pub fn least_room(p: &Program) -> u64 {
    let out: u64 = p.outputs.iter().map(|&r| p.sizes[r]).sum();
    (p.ops.iter())
        .map(|op| distinct(op).map(|r| p.sizes[r]).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(out)
}

/// The requests of an op, each once.
fn distinct(op: &[Use]) -> impl Iterator<Item = usize> + '_ {
    (op.iter().enumerate())
        .filter(|(i, u)| !op[..*i].iter().any(|v| v.req == u.req))
        .map(|(_, u)| u.req)
}

/// Schedules `p` so that request buffers on the GPU never exceed `room` bytes, with a staging
/// buffer of `staging` bytes among them where anything moves; or returns the least room that
/// would do ([`least_room`], and the staging buffer where that needs moves).
pub fn schedule(p: &Program, room: u64, staging: u64) -> Result<Schedule, u64> {
    // The least room: everything held as long as it lives, or moves and a staging buffer.
    let least = || {
        let held = schedule_within(p, u64::MAX).map_or(u64::MAX, |s| s.peak_gpu);
        held.min(least_room(p) + staging)
    };
    let s = schedule_within(p, room).map_err(|_| least())?;
    if s.moved == 0 {
        return Ok(s);
    }
    let room = room.checked_sub(staging).ok_or_else(least)?;
    let mut s = schedule_within(p, room).map_err(|_| least())?;
    s.staging = staging;
    Ok(s)
}

/// [`schedule`] without a staging buffer.
fn schedule_within(p: &Program, room: u64) -> Result<Schedule, u64> {
    let least = least_room(p);
    if least > room {
        return Err(least);
    }
    let n = p.ops.len();
    let reqs = p.sizes.len();
    // The ops using each request, in order; the outputs are used once more at the end.
    let mut uses: Vec<Vec<usize>> = vec![Vec::new(); reqs];
    for (i, op) in p.ops.iter().enumerate() {
        for r in distinct(op) {
            uses[r].push(i);
        }
    }
    for &r in &p.outputs {
        uses[r].push(n);
    }
    let mut next = vec![0usize; reqs];
    let mut s = Schedule {
        before: vec![Vec::new(); n + 1],
        after: vec![Vec::new(); n],
        ..Default::default()
    };
    for (r, u) in uses.iter().enumerate() {
        if let Some(&last) = u.last() {
            if last < n {
                s.after[last].push(r);
            }
        }
    }
    let mut resident = vec![false; reqs];
    // Values written and not yet stored; a host copy that is current.
    let mut dirty = vec![false; reqs];
    let mut on_host = vec![false; reqs];
    let (mut gpu, mut host) = (0u64, 0u64);
    for i in 0..=n {
        let need: Vec<usize> = match p.ops.get(i) {
            Some(op) => distinct(op).collect(),
            None => p.outputs.clone(),
        };
        for &r in &need {
            next[r] += 1; // `uses[r][next[r] - 1] == i`: the use now being served
        }
        for &r in &need {
            if resident[r] {
                continue;
            }
            while gpu + p.sizes[r] > room {
                // Farthest next use among what this op does not bind.
                let victim = (0..reqs)
                    .filter(|&v| resident[v] && !need.contains(&v))
                    .max_by_key(|&v| uses[v].get(next[v]).copied().unwrap_or(usize::MAX))
                    .expect("least_room guarantees a victim");
                let used_again = next[victim] < uses[victim].len();
                if dirty[victim] && used_again {
                    s.before[i].push(Step::Store(victim));
                    s.moved += p.sizes[victim];
                    on_host[victim] = true;
                    host += p.sizes[victim];
                    s.peak_host = s.peak_host.max(host);
                    dirty[victim] = false;
                } else {
                    s.before[i].push(Step::Release(victim));
                }
                resident[victim] = false;
                gpu -= p.sizes[victim];
            }
            if on_host[r] {
                s.before[i].push(Step::Load(r));
                s.moved += p.sizes[r];
            } else {
                s.before[i].push(Step::Fresh(r));
            }
            resident[r] = true;
            gpu += p.sizes[r];
            s.peak_gpu = s.peak_gpu.max(gpu);
        }
        let Some(op) = p.ops.get(i) else { break };
        for u in op.iter().filter(|u| u.writes) {
            dirty[u.req] = true;
            if on_host[u.req] {
                on_host[u.req] = false;
                host -= p.sizes[u.req];
            }
        }
        for &r in &s.after[i] {
            resident[r] = false;
            gpu -= p.sizes[r];
            if on_host[r] {
                on_host[r] = false;
                host -= p.sizes[r];
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(reqs: &[(usize, bool)]) -> Vec<Use> {
        (reqs.iter())
            .map(|&(req, writes)| Use { req, writes })
            .collect()
    }

    /// A chain a → b → c where a is read again at the end, as a residual is.
    fn residual_chain() -> Program {
        Program {
            ops: vec![
                op(&[(0, true)]),
                op(&[(0, false), (1, true)]),
                op(&[(1, false), (2, true)]),
                op(&[(2, false), (0, true)]),
            ],
            sizes: vec![100, 100, 100],
            outputs: vec![0],
        }
    }

    #[test]
    fn with_room_for_everything_nothing_moves() {
        let s = schedule(&residual_chain(), 300, 10).unwrap();
        assert_eq!((s.moved, s.peak_host), (0, 0));
        assert_eq!(s.peak_gpu, 300);
    }

    #[test]
    fn the_residual_waits_on_the_host_and_comes_back() {
        let s = schedule(&residual_chain(), 210, 10).unwrap();
        assert_eq!(s.before[2], vec![Step::Store(0), Step::Fresh(2)]);
        assert_eq!(s.before[3], vec![Step::Load(0)]);
        assert_eq!((s.moved, s.peak_host, s.peak_gpu), (200, 100, 200));
        assert_eq!(s.staging, 10);
    }

    #[test]
    fn too_little_room_names_the_least() {
        assert_eq!(schedule(&residual_chain(), 199, 10).unwrap_err(), 210);
        // Room for the chain but not for its staging buffer too.
        assert_eq!(schedule(&residual_chain(), 205, 10).unwrap_err(), 210);
        // A staging buffer larger than holding everything: the least holds everything.
        assert_eq!(schedule(&residual_chain(), 205, 200).unwrap_err(), 300);
    }

    #[test]
    fn read_only_values_are_not_stored_twice() {
        // 0 is written once, then read by ops far apart while 1 and 2 take turns.
        let p = Program {
            ops: vec![
                op(&[(0, true)]),
                op(&[(1, true)]),
                op(&[(0, false)]),
                op(&[(2, true)]),
                op(&[(0, false), (1, false), (2, false)]),
            ],
            sizes: vec![10, 10, 10],
            outputs: vec![],
        };
        let s = schedule(&p, 30, 5).unwrap();
        assert_eq!((s.moved, s.staging), (0, 0));
        assert_eq!(schedule(&p, 20, 5).unwrap_err(), 30);
    }
}
