//! The bundled font: DejaVu Sans, compiled in (licence in
//! `host/assets/fonts/`), so every machine draws the same letters and
//! nothing is read from the system.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use anyhow::{anyhow, Result};

/// DejaVu Sans 2.37 (Debian's `fonts-dejavu-core`).
const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

pub(crate) fn face() -> Result<&'static FontRef<'static>> {
    static FACE: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FACE.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
        .ok_or_else(|| anyhow!("the bundled DejaVu Sans font does not load"))
}

/// Registers the bundled font with plotters too, once per process, so that
/// whatever plotters lays out (it measures even empty labels) has a font.
pub(crate) fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            DEJAVU_SANS,
        )
        .is_ok()
    });
    if *ok {
        Ok(())
    } else {
        Err(anyhow!("the bundled DejaVu Sans font does not load"))
    }
}
