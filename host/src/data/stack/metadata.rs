//! What a multi-page TIFF's first ImageDescription says about its pages:
//! OME-XML (`Pixels` with `DimensionOrder`, `SizeZ/C/T`, `TiffData`,
//! `Plane` positions, `PhysicalSizeX`) or ImageJ's hyperstack keys
//! (`channels`, `slices`, `frames`; channels fastest, then slices).
use crate::data::planes::{Axis, PlaneOrder, PlaneSizes};
use std::collections::BTreeMap;

/// One `TiffData` element: `count` planes from `first` (z, c, t) onwards,
/// in the dimension order, are in pages `ifd`, `ifd + 1`, ...
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TiffData {
    /// First page.
    pub ifd: usize,
    /// `(FirstZ, FirstC, FirstT)`.
    pub first: (usize, usize, usize),
    /// `PlaneCount`; `None` when the element does not say.
    pub count: Option<usize>,
    /// Whether the element gives `IFD` (the count then defaults to 1).
    pub has_ifd: bool,
}

/// The page layout and physical metadata of a file's (first) image.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StackMetadata {
    /// Planes per axis.
    pub sizes: PlaneSizes,
    /// Order of the pages.
    pub order: PlaneOrder,
    /// OME `TiffData` elements (empty: page `k` is plane `k` in `order`).
    pub tiff_data: Vec<TiffData>,
    /// µm per pixel.
    pub pixel_size_um: Option<f64>,
    /// Stage `(x, y)` µm of the first plane.
    pub stage_um: Option<(f64, f64)>,
    /// z in µm per z index: plane positions, else `PhysicalSizeZ` steps.
    pub z_um: BTreeMap<usize, f64>,
}

/// Parses OME-XML text.
pub(super) fn parse_ome(xml: &str) -> Result<StackMetadata, String> {
    let document = roxmltree::Document::parse(xml).map_err(|err| format!("bad OME-XML: {err}"))?;
    let pixels = document
        .descendants()
        .find(|node| node.has_tag_name_local("Pixels"))
        .ok_or("OME-XML has no Pixels element")?;
    let size = |name: &str| -> Result<usize, String> {
        match pixels.attribute(name) {
            None => Ok(1),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("Pixels {name} = `{text}` is not a count")),
        }
    };
    let sizes = PlaneSizes {
        z: size("SizeZ")?,
        c: size("SizeC")?,
        t: size("SizeT")?,
    };
    let order_text = pixels.attribute("DimensionOrder").unwrap_or("XYZCT");
    let order: PlaneOrder = order_text.parse()?;
    let index = |node: roxmltree::Node, name: &str| -> Result<Option<usize>, String> {
        node.attribute(name)
            .map(|text| {
                text.parse::<usize>().map_err(|_| {
                    format!(
                        "{} {name} = `{text}` is not an index",
                        node.tag_name().name()
                    )
                })
            })
            .transpose()
    };
    let mut tiff_data = Vec::new();
    let mut plane_positions = Vec::new();
    for child in pixels.children().filter(|n| n.is_element()) {
        if child.has_tag_name_local("TiffData") {
            tiff_data.push(TiffData {
                ifd: index(child, "IFD")?.unwrap_or(0),
                first: (
                    index(child, "FirstZ")?.unwrap_or(0),
                    index(child, "FirstC")?.unwrap_or(0),
                    index(child, "FirstT")?.unwrap_or(0),
                ),
                count: index(child, "PlaneCount")?,
                has_ifd: child.attribute("IFD").is_some(),
            });
        } else if child.has_tag_name_local("Plane") {
            let z = index(child, "TheZ")?.unwrap_or(0);
            let x = length(child, "PositionX")?;
            let y = length(child, "PositionY")?;
            let position_z = length(child, "PositionZ")?;
            plane_positions.push((z, x.zip(y), position_z));
        }
    }
    // A plane's own PositionZ first, else PhysicalSizeZ steps from 0.
    let mut z_um = BTreeMap::new();
    for (z, _, position_z) in &plane_positions {
        if let Some(value) = position_z {
            z_um.entry(*z).or_insert(*value);
        }
    }
    if let Some(step) = length(pixels, "PhysicalSizeZ")? {
        for z in 0..sizes.z {
            z_um.entry(z).or_insert(z as f64 * step);
        }
    }
    Ok(StackMetadata {
        sizes,
        order,
        tiff_data,
        pixel_size_um: length(pixels, "PhysicalSizeX")?,
        stage_um: plane_positions.iter().find_map(|(_, xy, _)| *xy),
        z_um,
    })
}

/// Parses ImageJ's description (`ImageJ=...`, `channels=2`, ...); `None`
/// when it is not one.
pub(super) fn parse_imagej(text: &str) -> Option<StackMetadata> {
    if !text.starts_with("ImageJ=") {
        return None;
    }
    let key = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or(1)
    };
    Some(StackMetadata {
        sizes: PlaneSizes {
            z: key("slices"),
            c: key("channels"),
            t: key("frames"),
        },
        order: PlaneOrder([Axis::C, Axis::Z, Axis::T]),
        tiff_data: Vec::new(),
        pixel_size_um: None,
        stage_um: None,
        z_um: BTreeMap::new(),
    })
}

/// A length attribute in µm, converted from its `...Unit` attribute
/// (default µm; the OME "reference frame" unit counts as µm).
fn length(node: roxmltree::Node, name: &str) -> Result<Option<f64>, String> {
    let Some(text) = node.attribute(name) else {
        return Ok(None);
    };
    let value: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("{name} = `{text}` is not a number"))?;
    let unit = node
        .attribute(format!("{name}Unit").as_str())
        .unwrap_or("µm");
    let scale = match unit {
        "µm" | "um" | "micron" | "reference frame" => 1.0,
        "nm" => 1e-3,
        "mm" => 1e3,
        "cm" => 1e4,
        "m" => 1e6,
        other => {
            return Err(format!(
                "{name}Unit `{other}` is not a length unit robofish knows"
            ))
        }
    };
    Ok(Some(value * scale))
}

/// Element names without their namespace.
trait LocalName {
    fn has_tag_name_local(&self, name: &str) -> bool;
}

impl LocalName for roxmltree::Node<'_, '_> {
    fn has_tag_name_local(&self, name: &str) -> bool {
        self.is_element() && self.tag_name().name() == name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OME: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
  <Image ID="Image:0"><Pixels ID="Pixels:0" DimensionOrder="XYCTZ" Type="uint16"
      SizeX="64" SizeY="64" SizeZ="2" SizeC="2" SizeT="8"
      PhysicalSizeX="108" PhysicalSizeXUnit="nm" PhysicalSizeY="0.108" PhysicalSizeZ="1.5">
    <TiffData IFD="0" PlaneCount="32"/>
    <Plane TheZ="0" TheC="0" TheT="0" PositionX="12.5" PositionY="-3" PositionZ="4"/>
  </Pixels></Image>
</OME>"#;

    #[test]
    fn ome_xml_gives_sizes_order_and_positions() {
        let meta = parse_ome(OME).unwrap();
        assert_eq!(meta.sizes, PlaneSizes { z: 2, c: 2, t: 8 });
        assert_eq!(meta.order.to_string(), "ctz");
        assert_eq!(meta.tiff_data[0].count, Some(32));
        assert!((meta.pixel_size_um.unwrap() - 0.108).abs() < 1e-12);
        assert_eq!(meta.stage_um, Some((12.5, -3.0)));
        assert_eq!((meta.z_um[&0], meta.z_um[&1]), (4.0, 1.5));
    }

    #[test]
    fn bad_ome_says_what() {
        assert!(parse_ome("<OME>").unwrap_err().contains("bad OME-XML"));
        assert!(parse_ome("<OME/>").unwrap_err().contains("no Pixels"));
        let bad_size = OME.replace("SizeC=\"2\"", "SizeC=\"two\"");
        assert!(parse_ome(&bad_size).unwrap_err().contains("SizeC"));
        let bad_unit = OME.replace("\"nm\"", "\"furlong\"");
        assert!(parse_ome(&bad_unit).unwrap_err().contains("furlong"));
    }

    #[test]
    fn imagej_hyperstacks_run_channels_first() {
        let meta =
            parse_imagej("ImageJ=1.54f\nimages=32\nchannels=2\nslices=2\nframes=8\n").unwrap();
        assert_eq!(meta.sizes, PlaneSizes { z: 2, c: 2, t: 8 });
        assert_eq!(meta.order.to_string(), "czt");
        assert!(parse_imagej("<OME/>").is_none());
    }
}
