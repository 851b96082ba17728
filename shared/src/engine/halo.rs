//! How far a tile's edge reaches into its outputs.
//!
//! Reflect padding at a tile edge that is not an image edge reads the wrong
//! pixels; the error spreads inwards one row per convolution at each level,
//! halves through a max-pool and doubles through an upsample. Propagating
//! that *contamination depth* through the graph gives the halo: with at
//! least that many real pixels beyond each side of the rows and columns one
//! wants, and tiles starting on the pooling grid, a tile's outputs there
//! equal whole-image inference bit for bit.

use alloc::vec;

use crate::model::{ConvTopology, Graph, Node};

/// Rows (and columns) of level-0 context a tile needs beyond the outputs it
/// keeps, for graph outputs identical to whole-image inference.
pub fn receptive_halo<Q, C: ConvTopology>(graph: &Graph<Q, C>) -> usize {
    let mut depth = vec![0usize; graph.tensors.len()];
    for node in &graph.nodes {
        let out = node.output() as usize;
        depth[out] = match node {
            Node::Input(_) => 0,
            Node::Conv(c) => depth[c.input() as usize] + 1,
            Node::MaxPool(u) => depth[u.input as usize].div_ceil(2),
            Node::Upsample(u) => depth[u.input as usize] * 2,
            Node::Concat(c) => c
                .inputs
                .iter()
                .map(|&t| depth[t as usize])
                .max()
                .unwrap_or(0),
        };
    }
    graph
        .outputs
        .iter()
        .map(|o| depth[o.tensor as usize])
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ArchConfig, TensorId};

    struct Shape(TensorId, TensorId);
    impl ConvTopology for Shape {
        fn input(&self) -> TensorId {
            self.0
        }
        fn output(&self) -> TensorId {
            self.1
        }
    }

    #[test]
    fn anglerfish_halo_is_67_pixels() {
        // Per U-Net: 3 convs, pool, 3, pool, 3, up, 3, up, 3 (see the module
        // comment); two U-Nets in sequence, then two head convs.
        let graph = ArchConfig::seed()
            .build(|s| Shape(s.input, s.output))
            .unwrap();
        assert_eq!(receptive_halo(&graph), 67);
    }
}
