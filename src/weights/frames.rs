//! How a tiny autoencoder's layers see frames. The TAESD family has one frame throughout; TAEHV
//! (`weights::taehv`) is a video model whose blocks read the previous frame, pool frames together
//! and grow new ones, and one image runs through it as taehv.py runs one: the encoder on the
//! image repeated to its time stride, the decoder keeping only the last frame it makes.
//!
//! [`plan`] says, layer by layer, which distinct tensors to make and from what: frames that are
//! the same tensor (the repeated image, until a block's past tells them apart) are made once, and
//! a tensor nothing downstream of the last frame reads is not made at all. The model runs the
//! plan and the cost counts it, so the work counted is the work run.

use super::tiny::Layer;

/// How a layer makes one of its distinct output tensors from the tensors before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Make {
    /// From one input: a convolution or block (part 0), or a `TGrow`'s part for one of the frames
    /// it grows.
    One { input: usize, part: usize },
    /// A `MemBlock`: the frame's input and the previous frame's (None for the first frame).
    Mem { input: usize, past: Option<usize> },
    /// A `TPool`: its joined frames' inputs, in order.
    Join(Vec<usize>),
}

/// One layer's plan: its distinct output tensors (None where nothing after it reads one) and the
/// tensor each of its output frames is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    pub make: Vec<Option<Make>>,
    pub of: Vec<usize>,
}

impl Make {
    /// The tensors it reads, by index into the layer before's (a `MemBlock`'s input before its
    /// past).
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Make::One { input, .. } => vec![*input],
            Make::Mem { input, past } => std::iter::once(*input).chain(*past).collect(),
            Make::Join(group) => group.clone(),
        }
    }
}

/// The plan of `layers` on `frames` copies of one input, whose result is the last frame.
pub fn plan(layers: &[Layer], frames: usize) -> Vec<LayerPlan> {
    let mut of = vec![0; frames];
    let mut plans: Vec<LayerPlan> = Vec::with_capacity(layers.len());
    for layer in layers {
        let keys: Vec<Make> = match *layer {
            Layer::Mem(_) => (0..of.len())
                .map(|t| Make::Mem {
                    input: of[t],
                    past: t.checked_sub(1).map(|p| of[p]),
                })
                .collect(),
            Layer::Pool(_, stride) => of.chunks(stride).map(|g| Make::Join(g.to_vec())).collect(),
            Layer::Grow(_, _, run) => (of.iter())
                .flat_map(|&input| (0..run).map(move |part| Make::One { input, part }))
                .collect(),
            _ => (of.iter())
                .map(|&input| Make::One { input, part: 0 })
                .collect(),
        };
        let (distinct, next) = dedupe(keys);
        let make = distinct.into_iter().map(Some).collect();
        plans.push(LayerPlan {
            make,
            of: next.clone(),
        });
        of = next;
    }
    // Back from the last frame: a tensor is made only if something it leads to is.
    let mut needed = vec![false; plans.last().map_or(1, |p| p.make.len())];
    if let Some(&last) = of.last() {
        needed[last] = true;
    }
    for k in (0..plans.len()).rev() {
        let before = match k {
            0 => 1,
            _ => plans[k - 1].make.len(),
        };
        let mut read = vec![false; before];
        for (make, &need) in plans[k].make.iter_mut().zip(&needed) {
            match (need, make.as_ref()) {
                (true, Some(m)) => m.inputs().into_iter().for_each(|i| read[i] = true),
                _ => *make = None,
            }
        }
        needed = read;
    }
    plans
}

/// The distinct keys in order of first appearance, and the one each key is.
fn dedupe<K: PartialEq>(keys: Vec<K>) -> (Vec<K>, Vec<usize>) {
    let mut distinct: Vec<K> = Vec::new();
    let mut of = Vec::with_capacity(keys.len());
    for key in keys {
        let i = match distinct.iter().position(|d| *d == key) {
            Some(i) => i,
            None => {
                distinct.push(key);
                distinct.len() - 1
            }
        };
        of.push(i);
    }
    (distinct, of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::taehv::{decoder_layers, encoder_layers};
    use crate::weights::tiny::Video;
    use Make::*;

    fn made(p: &LayerPlan) -> Vec<Make> {
        p.make.iter().flatten().cloned().collect()
    }

    #[test]
    fn the_encoder_makes_each_distinct_frame_once() {
        let layers = encoder_layers(16, &Video::TAEW2_1);
        let plans = plan(&layers, 4);
        // The four copies are one tensor through the first conv and the first pool.
        assert_eq!(plans[0].of, [0, 0, 0, 0]);
        assert_eq!(made(&plans[2]), [Join(vec![0, 0])]);
        assert_eq!(plans[2].of, [0, 0]);
        // The first MemBlock sees (x, none) and (x, x): two tensors until the next pool.
        let mem = |input, past| Mem { input, past };
        assert_eq!(made(&plans[4]), [mem(0, None), mem(0, Some(0))]);
        assert_eq!(made(&plans[5]), [mem(0, None), mem(1, Some(0))]);
        assert_eq!(made(&plans[7]), [Join(vec![0, 1])]);
        assert!(plans[8..].iter().all(|p| p.of == [0]));
    }

    #[test]
    fn the_decoder_makes_only_what_the_last_frame_needs() {
        let layers = decoder_layers(16, &Video::TAEW2_1);
        let plans = plan(&layers, 1);
        // The second TGrow makes two frames; the second's blocks read the first's past.
        assert_eq!(
            made(&plans[13]),
            [One { input: 0, part: 0 }, One { input: 0, part: 1 }]
        );
        let mem = |input, past| Mem { input, past };
        assert_eq!(made(&plans[15]), [mem(0, None), mem(1, Some(0))]);
        // The last TGrow makes four frames, but only the last is kept: its part 1 of frame 1.
        assert_eq!(plans[19].of, [0, 1, 2, 3]);
        assert_eq!(made(&plans[19]), [One { input: 1, part: 1 }]);
        assert_eq!(plans.last().unwrap().make.iter().flatten().count(), 1);
    }
}
