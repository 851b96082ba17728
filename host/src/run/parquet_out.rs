//! `detected_transcripts.parquet`: the transcripts table through parquet's
//! low-level column writer (no arrow), one row group, Snappy pages. The
//! columns and their order are [`COLUMNS`](super::COLUMNS); SpatialData
//! and pandas read it as a points table.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::transcript::Transcript;

/// The schema, in [`COLUMNS`](super::COLUMNS) order.
const SCHEMA: &str = "message detected_transcripts {
    REQUIRED INT64 barcode_id;
    REQUIRED DOUBLE global_x;
    REQUIRED DOUBLE global_y;
    REQUIRED DOUBLE global_z;
    REQUIRED DOUBLE x;
    REQUIRED DOUBLE y;
    REQUIRED INT64 fov;
    REQUIRED BYTE_ARRAY gene (STRING);
    REQUIRED BYTE_ARRAY transcript_id (STRING);
    REQUIRED FLOAT confidence;
    REQUIRED INT32 hamming_distance;
    REQUIRED FLOAT intensity;
}";

/// Writes `transcripts` as Parquet to `out`.
pub fn write_parquet<W: Write + Send>(out: W, transcripts: &[Transcript]) -> Result<()> {
    let schema = Arc::new(parse_message_type(SCHEMA).context("the Parquet schema")?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, schema, properties)?;
    let mut group = writer.next_row_group()?;
    let mut index = 0;
    while let Some(mut column) = group.next_column()? {
        let t = transcripts;
        let f64s = |f: fn(&Transcript) -> f64| t.iter().map(f).collect::<Vec<f64>>();
        let f32s = |f: fn(&Transcript) -> f32| t.iter().map(f).collect::<Vec<f32>>();
        let strings = |f: fn(&Transcript) -> &str| {
            t.iter()
                .map(|r| ByteArray::from(f(r)))
                .collect::<Vec<ByteArray>>()
        };
        let longs = |f: fn(&Transcript) -> i64| t.iter().map(f).collect::<Vec<i64>>();
        match index {
            0 => column.typed::<Int64Type>().write_batch(
                &longs(|r| i64::from(r.barcode_id)),
                None,
                None,
            ),
            1..=5 => {
                let get: fn(&Transcript) -> f64 = match index {
                    1 => |r| r.global_x,
                    2 => |r| r.global_y,
                    3 => |r| r.global_z,
                    4 => |r| r.x,
                    _ => |r| r.y,
                };
                column
                    .typed::<DoubleType>()
                    .write_batch(&f64s(get), None, None)
            }
            6 => column
                .typed::<Int64Type>()
                .write_batch(&longs(|r| i64::from(r.fov)), None, None),
            7 => column
                .typed::<ByteArrayType>()
                .write_batch(&strings(|r| &r.gene), None, None),
            8 => column.typed::<ByteArrayType>().write_batch(
                &strings(|r| &r.transcript_id),
                None,
                None,
            ),
            9 => column
                .typed::<FloatType>()
                .write_batch(&f32s(|r| r.confidence), None, None),
            10 => column.typed::<Int32Type>().write_batch(
                &t.iter()
                    .map(|r| i32::from(r.hamming_distance))
                    .collect::<Vec<_>>(),
                None,
                None,
            ),
            _ => column
                .typed::<FloatType>()
                .write_batch(&f32s(|r| r.intensity), None, None),
        }?;
        column.close()?;
        index += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(())
}
