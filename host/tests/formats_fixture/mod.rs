//! One simulated acquisition written in every format robofish reads: a
//! 112 x 112 scene cut into 4 overlapping 64 x 64 FOVs (a 2 x 2 grid, 16
//! pixels of overlap), so every FOV's stage position is known exactly.
#![allow(dead_code)]

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use robofish_host::data::{write_codebook, write_tile};
use robofish_host::sim::{preset, Codebook, Simulator, Split, Tile, IMAGE_COUNT};
use tiff::encoder::{colortype, TiffEncoder};
use tiff::tags::Tag;

/// Side of the scene and of a FOV, pixels.
pub const SCENE: usize = 112;
pub const SIDE: usize = 64;
/// µm per pixel.
pub const PIXEL_UM: f64 = 0.25;
/// Stage position (x, y) in µm of the centre of the scene's pixel (0, 0).
pub const ORIGIN_UM: (f64, f64) = (1000.0, -500.0);
/// The FOVs' pixel (0, 0) in the scene, (row, column), by FOV id.
pub const OFFSETS: [(usize, usize); 4] = [(0, 0), (0, 48), (48, 0), (48, 48)];

/// The scene, its FOVs and their codebook.
pub struct Grid {
    pub scene: Tile,
    pub fovs: Vec<Tile>,
    pub codebook: Codebook,
}

impl Grid {
    /// Simulates the scene (seed preset, fixed seed) and cuts the FOVs.
    pub fn new() -> Grid {
        let mut config = preset("seed").unwrap();
        config.height = SCENE;
        config.width = SCENE;
        let codebook = Codebook::mhd4(config.real_genes);
        let scene = Simulator::new(config, codebook.clone(), 11)
            .unwrap()
            .tile(Split::Test, 0);
        let fovs = OFFSETS.iter().map(|&offset| cut(&scene, offset)).collect();
        Grid {
            scene,
            fovs,
            codebook,
        }
    }

    /// Stage position (x, y) µm of FOV `id` (centre of its pixel (0, 0)).
    pub fn stage_um(id: usize) -> (f64, f64) {
        let (row, col) = OFFSETS[id];
        (
            ORIGIN_UM.0 + col as f64 * PIXEL_UM,
            ORIGIN_UM.1 + row as f64 * PIXEL_UM,
        )
    }

    /// Stage (x, y) µm of scene pixel coordinates (y, x).
    pub fn scene_global(y: f64, x: f64) -> (f64, f64) {
        (
            ORIGIN_UM.0 + (x - 0.5) * PIXEL_UM,
            ORIGIN_UM.1 + (y - 0.5) * PIXEL_UM,
        )
    }

    /// `x,y` per line, line k = FOV k (MERlin's positions file).
    pub fn positions_csv(header: bool) -> String {
        let mut text = String::from(if header { "fov,x,y\n" } else { "" });
        for id in 0..OFFSETS.len() {
            let (x, y) = Grid::stage_um(id);
            if header {
                text += &format!("{id},{x},{y}\n");
            } else {
                text += &format!("{x},{y}\n");
            }
        }
        text
    }

    /// The seed layout: `<dir>/test/1/...` with truth, a codebook, a
    /// positions file and a config.yml another tool wrote.
    pub fn write_seed(&self, dir: &Path) {
        let split = dir.join("test/1");
        for (id, tile) in self.fovs.iter().enumerate() {
            write_tile(&split, id + 1, tile, &self.codebook, 16).unwrap();
        }
        write_codebook(dir, &self.codebook).unwrap();
        std::fs::write(dir.join("positions.csv"), Grid::positions_csv(false)).unwrap();
        std::fs::write(
            split.join("config.yml"),
            "simulation:\n  image_size: 64.0\n  tile_count: 4.0\n  emitter_count: 15.0\n  \
             microscope: {objective: 60x, na: 1.4}\n  pixel_size_um: 0.25\nwritten_by: other-tool\n",
        )
        .unwrap();
    }

    /// Just the images of the seed layout's split folder: no truth, no
    /// config.yml, no codebook, no positions.
    pub fn write_images_only(&self, dir: &Path) {
        for (id, tile) in self.fovs.iter().enumerate() {
            write_tile(dir, id + 1, tile, &self.codebook, 16).unwrap();
        }
        std::fs::remove_dir_all(dir.join("groundtruths")).unwrap();
    }

    /// MERlin's raw layout: per FOV and round a 2-frame `.dax` (650 nm,
    /// then 750 nm) in camera orientation, which the microscope parameters
    /// (transpose, flip vertically) turn into the FOV.
    pub fn write_merlin(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (id, tile) in self.fovs.iter().enumerate() {
            for round in 0..8 {
                let name = format!("Conventional_750_650_{id:03}_{round:02}");
                let mut bytes = Vec::new();
                for colour in 0..2 {
                    let camera = to_camera(tile.image(colour * 8 + round));
                    bytes.extend(camera.iter().flat_map(|v| v.to_le_bytes()));
                }
                std::fs::write(dir.join(format!("{name}.dax")), bytes).unwrap();
                std::fs::write(
                    dir.join(format!("{name}.inf")),
                    format!(
                        "binning = 1 x 1\ndata type = 16 bit integers (binary, little endian)\n\
                         frame dimensions = {SIDE} x {SIDE}\nnumber of frames = 2\n\
                         Lock Target = 0.0\nx_start = 1\n"
                    ),
                )
                .unwrap();
            }
        }
        std::fs::write(dir.join("dataorganization.csv"), data_organization()).unwrap();
        std::fs::write(dir.join("codebook.csv"), self.codebook.to_csv()).unwrap();
        std::fs::write(dir.join("positions.csv"), Grid::positions_csv(false)).unwrap();
        std::fs::write(
            dir.join("microscope_parameters.json"),
            format!(
                "{{\"flip_horizontal\": false, \"flip_vertical\": true, \"transpose\": true, \
                 \"microns_per_pixel\": {PIXEL_UM}, \"image_dimensions\": [{SIDE}, {SIDE}]}}"
            ),
        )
        .unwrap();
    }

    /// One OME-TIFF per FOV: pages in `XYCZT` order (colour fastest), the
    /// stage position and pixel size in the OME-XML.
    pub fn write_ome(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (id, tile) in self.fovs.iter().enumerate() {
            let (x, y) = Grid::stage_um(id);
            let pages: Vec<&[u16]> = (0..IMAGE_COUNT)
                .map(|page| tile.image((page % 2) * 8 + page / 2))
                .collect();
            write_stack(
                &dir.join(format!("fov_{id:03}.ome.tif")),
                &pages,
                Some(&ome_xml("XYCZT", 8, x, y)),
            );
        }
    }

    /// One plain multi-page TIFF per FOV, pages colour fastest (read with
    /// `--planes ctz`), positions in a headed CSV.
    pub fn write_plain_stack(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (id, tile) in self.fovs.iter().enumerate() {
            let pages: Vec<&[u16]> = (0..IMAGE_COUNT)
                .map(|page| tile.image((page % 2) * 8 + page / 2))
                .collect();
            write_stack(&dir.join(format!("stack-{id}.tif")), &pages, None);
        }
        std::fs::write(dir.join("positions.csv"), Grid::positions_csv(true)).unwrap();
    }
}

/// FOV `offset` of `scene`, with the truth inside it, shifted.
fn cut(scene: &Tile, (row0, col0): (usize, usize)) -> Tile {
    let mut images = Vec::with_capacity(IMAGE_COUNT * SIDE * SIDE);
    for image in 0..IMAGE_COUNT {
        let plane = scene.image(image);
        for row in row0..row0 + SIDE {
            images.extend_from_slice(&plane[row * SCENE + col0..row * SCENE + col0 + SIDE]);
        }
    }
    let (y0, x0) = (row0 as f32, col0 as f32);
    let truth = scene
        .truth
        .iter()
        .filter(|e| (y0..y0 + SIDE as f32).contains(&e.y) && (x0..x0 + SIDE as f32).contains(&e.x))
        .map(|e| robofish_host::sim::Emitter {
            y: e.y - y0,
            x: e.x - x0,
            ..*e
        })
        .collect();
    Tile {
        height: SIDE,
        width: SIDE,
        images,
        truth,
    }
}

/// The camera frame that MERlin's transpose-then-flip-vertically turns
/// into `image` (square): undo the flip, then the transpose.
fn to_camera(image: &[u16]) -> Vec<u16> {
    let mut camera = vec![0; SIDE * SIDE];
    for row in 0..SIDE {
        for col in 0..SIDE {
            // processed[row][col] = transposed[SIDE-1-row][col] = camera[col][SIDE-1-row]
            camera[col * SIDE + (SIDE - 1 - row)] = image[row * SIDE + col];
        }
    }
    camera
}

/// MERlin's columns; bits 1-8 are 650 nm rounds 0-7 (frame 0), bits 9-16
/// 750 nm (frame 1); a DAPI row that is no barcode bit.
pub fn data_organization() -> String {
    let pattern = r"(?P<imageType>[\w|-]+)_(?P<fov>[0-9]+)_(?P<imagingRound>[0-9]+)";
    let mut text = String::from(
        "channelName,readoutName,imageType,imageRegExp,bitNumber,imagingRound,color,frame,zPos,\
         fiducialImageType,fiducialRegExp,fiducialImagingRound,fiducialFrame,fiducialColor\n",
    );
    for bit in 1..=16 {
        let (round, colour, frame) = ((bit - 1) % 8, [650, 750][(bit - 1) / 8], (bit - 1) / 8);
        text += &format!(
            "bit{bit},bit{bit},Conventional_750_650,{pattern},{bit},{round},{colour},{frame},0,\
             Conventional_750_650,{pattern},{round},2,561\n"
        );
    }
    text += &format!(
        "DAPI,cellstain,Conventional_750_650,{pattern},48,0,488,3,0,Conventional_750_650,\
         {pattern},0,2,561\n"
    );
    text
}

/// OME-XML of one FOV: 1 z plane, 2 channels, `rounds` time points.
pub fn ome_xml(order: &str, rounds: usize, x: f64, y: f64) -> String {
    let planes = 2 * rounds;
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" Creator="robofish tests">
  <Image ID="Image:0" Name="fov">
    <Pixels ID="Pixels:0" DimensionOrder="{order}" Type="uint16" SizeX="{SIDE}" SizeY="{SIDE}"
        SizeZ="1" SizeC="2" SizeT="{rounds}" PhysicalSizeX="{PIXEL_UM}" PhysicalSizeXUnit="&#181;m"
        PhysicalSizeY="{PIXEL_UM}" PhysicalSizeYUnit="&#181;m">
      <Channel ID="Channel:0:0" Name="647nm" SamplesPerPixel="1"/>
      <Channel ID="Channel:0:1" Name="750nm" SamplesPerPixel="1"/>
      <TiffData IFD="0" PlaneCount="{planes}"/>
      <Plane TheZ="0" TheC="0" TheT="0" PositionX="{x}" PositionXUnit="&#181;m" PositionY="{y}" PositionYUnit="&#181;m"/>
    </Pixels>
  </Image>
</OME>"#
    )
}

/// A multi-page 16-bit TIFF of `pages` (each SIDE x SIDE), with
/// `description` as the first page's ImageDescription.
pub fn write_stack(path: &Path, pages: &[&[u16]], description: Option<&str>) {
    let file = BufWriter::new(File::create(path).unwrap());
    let mut encoder = TiffEncoder::new(file).unwrap();
    for (index, page) in pages.iter().enumerate() {
        let mut image = encoder
            .new_image::<colortype::Gray16>(SIDE as u32, SIDE as u32)
            .unwrap();
        if let (0, Some(text)) = (index, description) {
            image
                .encoder()
                .write_tag(Tag::ImageDescription, text)
                .unwrap();
        }
        image.write_data(page).unwrap();
    }
}

/// Every format of the grid under `root`: (name, folder, extra arguments).
pub fn write_all(grid: &Grid, root: &Path) -> Vec<(&'static str, PathBuf, Vec<String>)> {
    let seed = root.join("seed");
    grid.write_seed(&seed);
    let images = root.join("images-only");
    grid.write_images_only(&images);
    let merlin = root.join("merlin");
    grid.write_merlin(&merlin);
    let ome = root.join("ome");
    grid.write_ome(&ome);
    let plain = root.join("plain");
    grid.write_plain_stack(&plain);
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    vec![
        ("seed", seed, args(&[])),
        ("images-only", images, args(&["--pixel-size", "0.25"])),
        ("merlin", merlin, args(&[])),
        ("ome-tiff", ome, args(&[])),
        (
            "plain stack",
            plain,
            args(&["--planes", "ctz", "--pixel-size", "0.25"]),
        ),
    ]
}
