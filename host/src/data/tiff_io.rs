//! Grayscale TIFF reading and writing.
use super::{io_error, DataError};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek};
use std::path::Path;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::encoder::{colortype, TiffEncoder};
use tiff::ColorType;

/// One grayscale image as read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrayImage {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Bits per sample on disk (8 or 16).
    pub bits: u8,
    /// Row-major values.
    pub pixels: Vec<u16>,
}

/// Writes `pixels` (row-major) as an uncompressed grayscale TIFF of `bits`
/// (8 or 16) bits per pixel; for 8 bits values above 255 are clipped.
pub fn write_gray_tiff(
    path: &Path,
    height: usize,
    width: usize,
    pixels: &[u16],
    bits: u8,
) -> Result<(), DataError> {
    let tiff_error = |source| DataError::Tiff {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(io_error(path))?;
    let mut encoder = TiffEncoder::new(BufWriter::new(file)).map_err(tiff_error)?;
    let (w, h) = (width as u32, height as u32);
    if bits == 8 {
        let bytes: Vec<u8> = pixels.iter().map(|&v| v.min(255) as u8).collect();
        encoder
            .write_image::<colortype::Gray8>(w, h, &bytes)
            .map_err(tiff_error)
    } else {
        encoder
            .write_image::<colortype::Gray16>(w, h, pixels)
            .map_err(tiff_error)
    }
}

/// Reads an 8- or 16-bit grayscale TIFF, or channel 0 of an RGB(A) TIFF
/// (the original stored its 8-bit images as RGB).
pub fn read_gray_tiff(path: &Path) -> Result<GrayImage, DataError> {
    decode_gray_tiff(open_file(path, "a round image")?, path)
}

/// Decodes TIFF bytes from `reader` as [`read_gray_tiff`] does; `path` only
/// names the source in errors. Hostile bytes give an error, never a panic
/// (the decoder's buffer limits refuse absurd image sizes).
pub fn decode_gray_tiff<R: Read + Seek>(reader: R, path: &Path) -> Result<GrayImage, DataError> {
    let mut decoder = Decoder::new(reader).map_err(tiff_error(path))?;
    decode_current(&mut decoder, path)
}

/// A multi-page TIFF opened for reading pages in any order.
pub struct TiffPages {
    decoder: Decoder<BufReader<File>>,
    path: std::path::PathBuf,
}

impl TiffPages {
    /// Opens `path`; `what` says what the file should hold, for a missing one.
    pub fn open(path: &Path, what: &str) -> Result<TiffPages, DataError> {
        let decoder = Decoder::new(open_file(path, what)?).map_err(tiff_error(path))?;
        Ok(TiffPages {
            decoder,
            path: path.to_path_buf(),
        })
    }

    /// The first page's ImageDescription (where OME-XML and ImageJ
    /// metadata live), if it has one.
    pub fn description(&mut self) -> Result<Option<String>, DataError> {
        self.decoder
            .seek_to_image(0)
            .map_err(tiff_error(&self.path))?;
        match self.decoder.find_tag(tiff::tags::Tag::ImageDescription) {
            Ok(Some(value)) => Ok(value.into_string().ok()),
            Ok(None) => Ok(None),
            Err(source) => Err(tiff_error(&self.path)(source)),
        }
    }

    /// How many pages (IFDs) the file has; reads only their headers.
    pub fn count(&self) -> Result<usize, DataError> {
        // A fresh decoder: `more_images` follows the chain from the last
        // page read in order, which `seek_to_image` does not reset.
        let mut decoder =
            Decoder::new(open_file(&self.path, "")?).map_err(tiff_error(&self.path))?;
        let mut pages = 1;
        while decoder.more_images() {
            decoder.next_image().map_err(tiff_error(&self.path))?;
            pages += 1;
        }
        Ok(pages)
    }

    /// Decodes page `page` (0-based) as [`read_gray_tiff`] decodes images.
    pub fn read(&mut self, page: usize) -> Result<GrayImage, DataError> {
        self.decoder
            .seek_to_image(page)
            .map_err(tiff_error(&self.path))?;
        decode_current(&mut self.decoder, &self.path)
    }
}

fn open_file(path: &Path, what: &str) -> Result<BufReader<File>, DataError> {
    let file = File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.to_path_buf(),
            what: what.into(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    })?;
    Ok(BufReader::new(file))
}

fn tiff_error(path: &Path) -> impl Fn(tiff::TiffError) -> DataError + '_ {
    move |source| DataError::Tiff {
        path: path.to_path_buf(),
        source,
    }
}

/// Decodes the decoder's current page.
fn decode_current<R: Read + Seek>(
    decoder: &mut Decoder<R>,
    path: &Path,
) -> Result<GrayImage, DataError> {
    let tiff_error = tiff_error(path);
    let (width, height) = decoder.dimensions().map_err(&tiff_error)?;
    let color = decoder.colortype().map_err(&tiff_error)?;
    let (channels, bits) = match color {
        ColorType::Gray(bits @ (8 | 16)) => (1, bits),
        ColorType::RGB(bits @ (8 | 16)) => (3, bits),
        ColorType::RGBA(bits @ (8 | 16)) => (4, bits),
        other => {
            return Err(DataError::UnsupportedTiff {
                path: path.to_path_buf(),
                found: format!("{other:?}"),
            })
        }
    };
    let samples: Vec<u16> = match decoder.read_image().map_err(&tiff_error)? {
        DecodingResult::U8(values) => values
            .into_iter()
            .step_by(channels)
            .map(u16::from)
            .collect(),
        DecodingResult::U16(values) => values.into_iter().step_by(channels).collect(),
        _ => {
            return Err(DataError::UnsupportedTiff {
                path: path.to_path_buf(),
                found: format!("{color:?} samples"),
            })
        }
    };
    let (height, width) = (height as usize, width as usize);
    if samples.len() != height * width {
        return Err(DataError::UnsupportedTiff {
            path: path.to_path_buf(),
            found: format!(
                "{color:?} with {} samples for {height} x {width} pixels",
                samples.len()
            ),
        });
    }
    Ok(GrayImage {
        height,
        width,
        bits,
        pixels: samples,
    })
}
