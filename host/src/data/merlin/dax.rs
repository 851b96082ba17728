//! `.dax` movies and their `.inf` headers (the Zhuang lab's format, which
//! MERlin reads): the `.dax` is raw 16-bit frames back to back, the `.inf`
//! text says `frame dimensions = W x H`, `number of frames = N`, the byte
//! order (`... little endian` or `big endian`; little when unsaid) and
//! optionally `Stage X = ...`, `Stage Y = ...` in µm.
use crate::data::{io_error, DataError, GrayImage};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// What an `.inf` says.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct InfHeader {
    /// Rows per frame.
    pub height: usize,
    /// Columns per frame.
    pub width: usize,
    /// Frames in the `.dax`.
    pub frames: usize,
    /// Byte order of the samples.
    pub big_endian: bool,
    /// `Stage X`, `Stage Y` in µm, when both are given.
    pub stage_um: Option<(f64, f64)>,
}

/// The `.inf` next to `dax`.
pub(super) fn inf_path(dax: &Path) -> PathBuf {
    dax.with_extension("inf")
}

/// Reads the `.inf` of `dax`.
pub(super) fn read_inf(dax: &Path) -> Result<InfHeader, DataError> {
    let path = inf_path(dax);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: path.clone(),
            what: format!(
                "the .inf header (frame size and count) of {}",
                dax.display()
            ),
        },
        _ => DataError::Io {
            path: path.clone(),
            source,
        },
    })?;
    parse_inf(&text).map_err(|message| DataError::BadFile { path, message })
}

fn parse_inf(text: &str) -> Result<InfHeader, String> {
    let (mut size, mut frames, mut big_endian) = (None, None, false);
    let (mut stage_x, mut stage_y) = (None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
        let number = |what: &str| {
            value
                .parse::<f64>()
                .map_err(|_| format!("`{}` = `{value}` is not {what}", key))
        };
        match key.as_str() {
            "frame dimensions" => {
                let parse = |v: &str| v.trim().parse::<usize>().ok().filter(|&n| n > 0);
                let dims = value.split_once(['x', 'X']);
                let (width, height) = dims
                    .and_then(|(w, h)| Some((parse(w)?, parse(h)?)))
                    .ok_or_else(|| {
                        format!("`frame dimensions` = `{value}` is not `WIDTH x HEIGHT`")
                    })?;
                size = Some((height, width));
            }
            "number of frames" => {
                frames = Some(value.parse::<usize>().map_err(|_| {
                    format!("`number of frames` = `{value}` is not a whole number")
                })?);
            }
            "data type" => big_endian = value.contains("big endian"),
            "stage x" => stage_x = Some(number("a position in µm")?),
            "stage y" => stage_y = Some(number("a position in µm")?),
            _ => {}
        }
    }
    let (height, width) = size.ok_or("no `frame dimensions = WIDTH x HEIGHT` line")?;
    let frames = frames.ok_or("no `number of frames = N` line")?;
    Ok(InfHeader {
        height,
        width,
        frames,
        big_endian,
        stage_um: stage_x.zip(stage_y),
    })
}

/// Reads frame `frame` of `dax`, after checking that the file holds every
/// frame its `.inf` promises.
pub(super) fn read_dax_frame(
    dax: &Path,
    header: &InfHeader,
    frame: usize,
) -> Result<GrayImage, DataError> {
    if frame >= header.frames {
        return Err(DataError::MissingFrame {
            path: dax.to_path_buf(),
            frame,
            frames: header.frames,
        });
    }
    let frame_bytes = header.height * header.width * 2;
    let mut file = std::fs::File::open(dax).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing {
            path: dax.to_path_buf(),
            what: "a .dax movie named by its .inf".into(),
        },
        _ => io_error(dax)(source),
    })?;
    let found = file.metadata().map_err(io_error(dax))?.len();
    let expected = (frame_bytes * header.frames) as u64;
    if found < expected {
        return Err(DataError::ShortFile {
            path: dax.to_path_buf(),
            expected,
            found,
            header: inf_path(dax),
        });
    }
    let mut bytes = vec![0u8; frame_bytes];
    file.seek(SeekFrom::Start((frame * frame_bytes) as u64))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(io_error(dax))?;
    let pixels = bytes
        .chunks_exact(2)
        .map(|pair| {
            let pair = [pair[0], pair[1]];
            if header.big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        })
        .collect();
    Ok(GrayImage {
        height: header.height,
        width: header.width,
        bits: 16,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merlin_test_header_parses() {
        // MERlin's test/auxiliary_files/test.inf, shortened.
        let header = parse_inf(
            "binning = 1 x 1\ndata type = 16 bit integers (binary, big endian)\n\
             frame dimensions = 256 x 128\nnumber of frames = 10\nLock Target = 0.0\n\
             Stage X = -12.5\nStage Y = 40\n",
        )
        .unwrap();
        assert_eq!((header.height, header.width, header.frames), (128, 256, 10));
        assert!(header.big_endian);
        assert_eq!(header.stage_um, Some((-12.5, 40.0)));
        let little = parse_inf("frame dimensions = 4 x 4\nnumber of frames = 1\n").unwrap();
        assert!(!little.big_endian && little.stage_um.is_none());
    }

    #[test]
    fn incomplete_headers_say_what_is_missing() {
        assert!(parse_inf("number of frames = 2")
            .unwrap_err()
            .contains("frame dimensions"));
        assert!(parse_inf("frame dimensions = 4 x 4")
            .unwrap_err()
            .contains("number of frames"));
        assert!(parse_inf("frame dimensions = 4 by 4")
            .unwrap_err()
            .contains("WIDTH x HEIGHT"));
    }

    #[test]
    fn frames_read_in_either_byte_order_and_short_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let dax = dir.path().join("m_000_00.dax");
        let samples: Vec<u16> = (0..2 * 6).map(|v| v * 300 + 1).collect();
        let mut header = InfHeader {
            height: 2,
            width: 3,
            frames: 2,
            big_endian: false,
            stage_um: None,
        };
        let le: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&dax, &le).unwrap();
        let frame = read_dax_frame(&dax, &header, 1).unwrap();
        assert_eq!(frame.pixels, samples[6..]);
        let be: Vec<u8> = samples.iter().flat_map(|v| v.to_be_bytes()).collect();
        std::fs::write(&dax, &be).unwrap();
        header.big_endian = true;
        assert_eq!(
            read_dax_frame(&dax, &header, 0).unwrap().pixels,
            samples[..6]
        );
        let err = read_dax_frame(&dax, &header, 2).unwrap_err().to_string();
        assert!(
            err.contains("m_000_00.dax") && err.contains("frame 2"),
            "{err}"
        );
        std::fs::write(&dax, &be[..20]).unwrap();
        let err = read_dax_frame(&dax, &header, 0).unwrap_err().to_string();
        assert!(
            err.contains("m_000_00.dax") && err.contains("20 bytes"),
            "{err}"
        );
    }
}
