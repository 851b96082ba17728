//! Writes tiles as MERlin's raw layout, so simulated FOVs can be fed
//! through the same reader a lab's `.dax` acquisition takes: per FOV and
//! imaging round one 2-frame `.dax` (650 nm, then 750 nm) with its `.inf`,
//! plus `dataorganization.csv`, `codebook.csv`, `positions.csv` and
//! `microscope_parameters.json`.
//!
//! Frames are written in the FOV's own orientation and the microscope
//! parameters say so (no transpose, no flips), rather than MERlin's
//! defaults, so nobody has to undo an orientation to compare pixels.
use crate::data::{io_error, DataError};
use crate::sim::{BitOrder, Codebook, Tile, IMAGE_COUNT};
use robofish_shared::codebook::{COLOURS, ROUNDS};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The image type every file of a written acquisition has (MERlin's
/// convention names the colours it holds, longest wavelength first).
const IMAGE_TYPE: &str = "Conventional_750_650";
/// MERlin's usual file-name pattern: image type, FOV, imaging round.
const IMAGE_PATTERN: &str = r"(?P<imageType>[\w|-]+)_(?P<fov>[0-9]+)_(?P<imagingRound>[0-9]+)";
/// The colours' wavelengths, ascending: frame `c` of each `.dax` holds
/// colour `c`.
const COLOURS_NM: [u32; COLOURS] = [650, 750];

/// Writes FOVs into a MERlin raw-layout folder (each FOV on its own, so
/// they can be written in parallel); [`finish`] writes the files that
/// describe them all.
///
/// [`finish`]: MerlinWriter::finish
#[derive(Debug, Clone)]
pub struct MerlinWriter {
    dir: PathBuf,
    order: BitOrder,
    pixel_size_um: f64,
}

impl MerlinWriter {
    /// A writer into `dir` (created), for tiles whose bit `i` is image
    /// `order.image_of_bit(i)`, with pixels of `pixel_size_um`.
    pub fn create(dir: &Path, order: BitOrder, pixel_size_um: f64) -> Result<Self, DataError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        Ok(MerlinWriter {
            dir: dir.to_path_buf(),
            order,
            pixel_size_um,
        })
    }

    /// Writes FOV `id` at stage position `stage_um` (x, y): 8 `.dax` files
    /// of 2 frames and their `.inf` headers.
    pub fn write_fov(&self, id: usize, tile: &Tile, stage_um: (f64, f64)) -> Result<(), DataError> {
        for round in 0..ROUNDS {
            let stem = format!("{IMAGE_TYPE}_{id:03}_{round:02}");
            let dax = self.dir.join(format!("{stem}.dax"));
            let mut bytes = Vec::with_capacity(2 * COLOURS * tile.height * tile.width);
            for colour in 0..COLOURS {
                let image = tile.image(colour * ROUNDS + round);
                bytes.extend(image.iter().flat_map(|v| v.to_le_bytes()));
            }
            write_file(&dax, &bytes)?;
            let inf = format!(
                "binning = 1 x 1\ndata type = 16 bit integers (binary, little endian)\n\
                 frame dimensions = {} x {}\nnumber of frames = {COLOURS}\nStage X = {}\n\
                 Stage Y = {}\n",
                tile.width, tile.height, stage_um.0, stage_um.1
            );
            write_file(&dax.with_extension("inf"), inf.as_bytes())?;
        }
        Ok(())
    }

    /// Writes the data organisation, `codebook`, the stage positions
    /// (`positions[k]` = FOV `k`, µm) and the microscope parameters for
    /// FOVs of `height` x `width`.
    pub fn finish(
        &self,
        codebook: &Codebook,
        positions: &[(f64, f64)],
        (height, width): (usize, usize),
    ) -> Result<(), DataError> {
        let dir = &self.dir;
        write_file(
            &dir.join("dataorganization.csv"),
            data_organization(self.order).as_bytes(),
        )?;
        write_file(&dir.join("codebook.csv"), codebook.to_csv().as_bytes())?;
        let positions: String = positions
            .iter()
            .map(|(x, y)| format!("{x},{y}\n"))
            .collect();
        write_file(&dir.join("positions.csv"), positions.as_bytes())?;
        let microscope = format!(
            "{{\"flip_horizontal\": false, \"flip_vertical\": false, \"transpose\": false, \
             \"microns_per_pixel\": {}, \"image_dimensions\": [{width}, {height}]}}\n",
            self.pixel_size_um
        );
        write_file(
            &dir.join("microscope_parameters.json"),
            microscope.as_bytes(),
        )
    }
}

/// MERlin's data organisation for `order`: bit `b` is imaged in the round
/// and colour of image `order.image_of_bit(b)` (`colour * 8 + round`).
fn data_organization(order: BitOrder) -> String {
    let mut text = String::from(
        "channelName,readoutName,imageType,imageRegExp,bitNumber,imagingRound,color,frame,zPos,\
         fiducialImageType,fiducialRegExp,fiducialImagingRound,fiducialFrame,fiducialColor\n",
    );
    for bit in 0..IMAGE_COUNT {
        let image = order.image_of_bit(bit);
        let (colour, round) = (image / ROUNDS, image % ROUNDS);
        text += &format!(
            "bit{n},bit{n},{IMAGE_TYPE},{IMAGE_PATTERN},{n},{round},{nm},{colour},0,\
             {IMAGE_TYPE},{IMAGE_PATTERN},{round},{colour},{nm}\n",
            n = bit + 1,
            nm = COLOURS_NM[colour],
        );
    }
    text
}

/// Writes `bytes` to `path` through a temporary file and a rename, so an
/// interrupted write never leaves a file that looks whole.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".partial");
    let temp = PathBuf::from(temp);
    let mut file = std::fs::File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(bytes).map_err(io_error(&temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io_error(path))
}
