//! anglerFISH as data: an [`ArchConfig`] expands into a graph.
//!
//! The network (see ORIGINAL.md): one U-Net per colour over that colour's
//! rounds, their outputs concatenated, a second-stage U-Net, then a position
//! head (conv, conv, sigmoid) and a barcode head (conv, conv, sigmoid). A
//! U-Net of depth `d` with widths `w[0..=d]` is `Down(cin, w0) .. Down(w[d-2],
//! w[d-1])`, `Bottleneck(w[d-1], w[d])`, then `Up(w[l+1] + w[l], w[l], out)`
//! back to level 0, where `out` is `w[l]` except for the last Up. Every block
//! is `convs_per_block` 3x3 convolutions with ELU.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use super::ir::{
    ActivationKind, Concat, Graph, InputNode, Node, Output, OutputKind, TensorId, TensorShape,
    Unary,
};

/// Why an [`ArchConfig`] does not make a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchError {
    /// Fewer than 2 or more than 7 widths.
    Widths(usize),
    /// A channel width outside `1..=2048`.
    ChannelWidth(u16),
    /// Rounds, colours or barcode bits is zero.
    ZeroCount,
    /// Convolutions per block outside `1..=8`.
    ConvsPerBlock(u8),
}

impl fmt::Display for ArchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchError::Widths(n) => write!(
                f,
                "architecture needs 2 to 7 widths (depth 1 to 6), got {n}"
            ),
            ArchError::ChannelWidth(w) => write!(f, "channel width {w} outside 1..=2048"),
            ArchError::ZeroCount => {
                f.write_str("rounds, colours and barcode bits must be positive")
            }
            ArchError::ConvsPerBlock(_) => f.write_str("convs_per_block must be 1..=8"),
        }
    }
}

impl core::error::Error for ArchError {}

/// The shape of an anglerFISH network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchConfig {
    /// Imaging rounds per colour (8).
    pub rounds: u8,
    /// Colour channels (2: 647 nm, 750 nm).
    pub colours: u8,
    /// U-Net widths per level, bottleneck last: `[48, 96, 192]` is depth 2.
    pub widths: Vec<u16>,
    /// Convolutions per Down / Bottleneck / Up block (3).
    pub convs_per_block: u8,
    /// Output channels of each first-stage U-Net (48).
    pub first_stage_out: u16,
    /// Output channels of the second-stage U-Net (48).
    pub second_stage_out: u16,
    /// Hidden width of both heads (48).
    pub head_width: u16,
    /// Barcode bits (16).
    pub barcode_bits: u8,
    /// One set of first-stage weights for both colours (half the size).
    pub shared_first_stage: bool,
}

/// One convolution the architecture asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Unique, stable name (`stage1_647.down0.conv1`).
    pub name: String,
    /// Name of the parameters it uses: differs from `name` only when weights
    /// are shared (the 750 nm first stage reusing the 647 nm one).
    pub weight_name: String,
    /// Tensor read.
    pub input: TensorId,
    /// Tensor written.
    pub output: TensorId,
    /// Input channels.
    pub in_channels: u16,
    /// Output channels.
    pub out_channels: u16,
    /// Fused activation.
    pub activation: ActivationKind,
}

impl ArchConfig {
    /// The original anglerFISH: widths 48/96/192, two first stages, heads of 48.
    pub fn seed() -> ArchConfig {
        ArchConfig {
            rounds: 8,
            colours: 2,
            widths: alloc::vec![48, 96, 192],
            convs_per_block: 3,
            first_stage_out: 48,
            second_stage_out: 48,
            head_width: 48,
            barcode_bits: 16,
            shared_first_stage: false,
        }
    }

    /// Every width scaled by `factor` (at least 1 channel), e.g. 0.125.
    pub fn scaled(&self, factor: f32) -> ArchConfig {
        let scale = |w: u16| ((w as f32 * factor) as u16).max(1);
        ArchConfig {
            widths: self.widths.iter().map(|&w| scale(w)).collect(),
            first_stage_out: scale(self.first_stage_out),
            second_stage_out: scale(self.second_stage_out),
            head_width: scale(self.head_width),
            ..self.clone()
        }
    }

    /// Number of pooling levels.
    pub fn depth(&self) -> usize {
        self.widths.len().saturating_sub(1)
    }

    /// Raw image channels (rounds x colours).
    pub fn input_channels(&self) -> u16 {
        self.rounds as u16 * self.colours as u16
    }

    /// Checks the numbers make a network.
    pub fn check(&self) -> Result<(), ArchError> {
        if self.widths.len() < 2 || self.widths.len() > 7 {
            return Err(ArchError::Widths(self.widths.len()));
        }
        let channel_counts = self.widths.iter().chain([
            &self.first_stage_out,
            &self.second_stage_out,
            &self.head_width,
        ]);
        for &w in channel_counts {
            if w == 0 || w > 2048 {
                return Err(ArchError::ChannelWidth(w));
            }
        }
        if self.rounds == 0 || self.colours == 0 || self.barcode_bits == 0 {
            return Err(ArchError::ZeroCount);
        }
        if self.convs_per_block == 0 || self.convs_per_block > 8 {
            return Err(ArchError::ConvsPerBlock(self.convs_per_block));
        }
        Ok(())
    }

    /// Expands the architecture into a graph with convolution payloads made
    /// by `make_conv` (called in execution order).
    pub fn build<C>(
        &self,
        mut make_conv: impl FnMut(&ConvSpec) -> C,
    ) -> Result<Graph<(), C>, ArchError> {
        self.check()?;
        let mut b = Builder {
            tensors: Vec::new(),
            nodes: Vec::new(),
            convs_per_block: self.convs_per_block,
            make_conv: &mut make_conv,
        };
        let mut stage_outputs = Vec::new();
        for colour in 0..self.colours {
            let name = colour_name(colour);
            let input = b.tensor(self.rounds as u16, 0);
            b.nodes.push(Node::Input(InputNode {
                output: input,
                first_channel: colour as u16 * self.rounds as u16,
                channels: self.rounds as u16,
                quant: (),
            }));
            let prefix = format!("stage1_{name}");
            let weight_prefix = if self.shared_first_stage {
                format!("stage1_{}", colour_name(0))
            } else {
                prefix.clone()
            };
            let out = b.unet(
                &prefix,
                &weight_prefix,
                input,
                &self.widths,
                self.first_stage_out,
            );
            stage_outputs.push(out);
        }
        let joined = b.concat(&stage_outputs, 0);
        let second = b.unet(
            "stage2",
            "stage2",
            joined,
            &self.widths,
            self.second_stage_out,
        );

        let hidden = b.conv(
            "head_pos.conv1",
            second,
            self.head_width,
            ActivationKind::Identity,
        );
        let position = b.conv("head_pos.conv2", hidden, 1, ActivationKind::Sigmoid);
        let hidden = b.conv(
            "head_bc.conv1",
            second,
            self.head_width,
            ActivationKind::Identity,
        );
        let barcode = b.conv(
            "head_bc.conv2",
            hidden,
            self.barcode_bits as u16,
            ActivationKind::Sigmoid,
        );
        Ok(Graph {
            input_channels: self.input_channels(),
            tensors: b.tensors,
            nodes: b.nodes,
            outputs: alloc::vec![
                Output {
                    kind: OutputKind::Position,
                    tensor: position,
                },
                Output {
                    kind: OutputKind::Barcode,
                    tensor: barcode,
                },
            ],
        })
    }
}

fn colour_name(colour: u8) -> String {
    match colour {
        0 => "647".into(),
        1 => "750".into(),
        other => format!("c{other}"),
    }
}

struct Builder<'f, C> {
    tensors: Vec<TensorShape>,
    nodes: Vec<Node<(), C>>,
    convs_per_block: u8,
    make_conv: &'f mut dyn FnMut(&ConvSpec) -> C,
}

impl<C> Builder<'_, C> {
    fn tensor(&mut self, channels: u16, level: u8) -> TensorId {
        self.tensors.push(TensorShape { channels, level });
        (self.tensors.len() - 1) as TensorId
    }

    fn conv(&mut self, name: &str, input: TensorId, out: u16, act: ActivationKind) -> TensorId {
        self.conv_shared(name, name, input, out, act)
    }

    fn conv_shared(
        &mut self,
        name: &str,
        weight_name: &str,
        input: TensorId,
        out_channels: u16,
        activation: ActivationKind,
    ) -> TensorId {
        let shape = self.tensors[input as usize];
        let output = self.tensor(out_channels, shape.level);
        let spec = ConvSpec {
            name: name.into(),
            weight_name: weight_name.into(),
            input,
            output,
            in_channels: shape.channels,
            out_channels,
            activation,
        };
        let conv = (self.make_conv)(&spec);
        self.nodes.push(Node::Conv(conv));
        output
    }

    /// `convs_per_block` ELU convolutions; the last one has `last` channels.
    fn block(
        &mut self,
        name: &str,
        weight_name: &str,
        mut x: TensorId,
        width: u16,
        last: u16,
    ) -> TensorId {
        for i in 0..self.convs_per_block {
            let out = if i + 1 == self.convs_per_block {
                last
            } else {
                width
            };
            let conv = format!("{name}.conv{}", i + 1);
            let weights = format!("{weight_name}.conv{}", i + 1);
            x = self.conv_shared(&conv, &weights, x, out, ActivationKind::Elu);
        }
        x
    }

    fn unary(&mut self, input: TensorId, level: u8, up: bool) -> TensorId {
        let channels = self.tensors[input as usize].channels;
        let output = self.tensor(channels, level);
        let node = Unary { input, output };
        self.nodes.push(if up {
            Node::Upsample(node)
        } else {
            Node::MaxPool(node)
        });
        output
    }

    fn concat(&mut self, inputs: &[TensorId], level: u8) -> TensorId {
        let channels = inputs
            .iter()
            .map(|&t| self.tensors[t as usize].channels)
            .sum();
        let output = self.tensor(channels, level);
        self.nodes.push(Node::Concat(Concat {
            inputs: inputs.to_vec(),
            output,
        }));
        output
    }

    fn unet(
        &mut self,
        prefix: &str,
        weight_prefix: &str,
        input: TensorId,
        widths: &[u16],
        last: u16,
    ) -> TensorId {
        let depth = widths.len() - 1;
        let mut skips = Vec::new();
        let mut x = input;
        for (level, &width) in widths[..depth].iter().enumerate() {
            let name = format!("{prefix}.down{level}");
            let weights = format!("{weight_prefix}.down{level}");
            let skip = self.block(&name, &weights, x, width, width);
            skips.push(skip);
            x = self.unary(skip, level as u8 + 1, false);
        }
        let name = format!("{prefix}.bottleneck");
        let weights = format!("{weight_prefix}.bottleneck");
        x = self.block(&name, &weights, x, widths[depth], widths[depth]);
        for level in (0..depth).rev() {
            let up = self.unary(x, level as u8, true);
            let joined = self.concat(&[up, skips[level]], level as u8);
            let out = if level == 0 { last } else { widths[level] };
            let name = format!("{prefix}.up{level}");
            let weights = format!("{weight_prefix}.up{level}");
            x = self.block(&name, &weights, joined, widths[level], out);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Shape(TensorId, TensorId, u16, u16);
    impl super::super::ir::ConvTopology for Shape {
        fn input(&self) -> TensorId {
            self.0
        }
        fn output(&self) -> TensorId {
            self.1
        }
    }

    #[test]
    fn seed_matches_the_original_size() {
        let mut params = 0usize;
        let graph = ArchConfig::seed()
            .build(|s| {
                params +=
                    9 * s.in_channels as usize * s.out_channels as usize + s.out_channels as usize;
                Shape(s.input, s.output, s.in_channels, s.out_channels)
            })
            .unwrap();
        // ORIGINAL.md: about 4.85 M parameters, about 1.15 M MAC per pixel.
        assert!((4_800_000..4_900_000).contains(&params), "{params}");
        let macs = graph.macs_per_pixel();
        assert!((1.10e6..1.20e6).contains(&macs), "{macs}");
        assert_eq!(graph.outputs.len(), 2);
        let convs = graph
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Conv(_)))
            .count();
        // 3 U-Nets x 5 blocks x 3 convs + 4 head convs.
        assert_eq!(convs, 49);
        let _ = graph.nodes.iter().map(|n| match n {
            Node::Conv(Shape(_, _, cin, cout)) => (*cin, *cout),
            _ => (0, 0),
        });
    }

    #[test]
    fn shared_first_stage_reuses_weight_names() {
        let mut cfg = ArchConfig::seed();
        cfg.shared_first_stage = true;
        let mut names = Vec::new();
        cfg.build(|s| {
            names.push((s.name.clone(), s.weight_name.clone()));
            Shape(s.input, s.output, 0, 0)
        })
        .unwrap();
        let shared = names
            .iter()
            .filter(|(n, w)| n.starts_with("stage1_750") && w.starts_with("stage1_647"))
            .count();
        assert_eq!(shared, 15);
    }

    #[test]
    fn rejects_bad_configs() {
        let mut cfg = ArchConfig::seed();
        cfg.widths = alloc::vec![48];
        assert!(cfg.build(|s| Shape(s.input, s.output, 0, 0)).is_err());
        let mut cfg = ArchConfig::seed();
        cfg.head_width = 0;
        assert!(cfg.check().is_err());
    }
}
