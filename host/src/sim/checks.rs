//! The rules simulation parameters are checked by, shared by the fixed
//! configurations and the domain ranges.

/// Why a configuration cannot be simulated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A parameter is outside its valid range.
    #[error("invalid simulation parameter `{name}` = {value}: {requirement}")]
    OutOfRange {
        /// Parameter name.
        name: &'static str,
        /// Offending value.
        value: f64,
        /// What it must satisfy.
        requirement: &'static str,
    },
}

/// Checks a parameter: `Ok` when `ok` holds and `value` is finite.
pub(crate) fn check(
    name: &'static str,
    value: f64,
    ok: bool,
    requirement: &'static str,
) -> Result<(), ConfigError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            name,
            value,
            requirement,
        })
    }
}

/// Checks that `[lo, hi]` is an ordered range inside `[min, max]`.
pub(crate) fn check_range(
    name: &'static str,
    [lo, hi]: [f64; 2],
    min: f64,
    max: f64,
    requirement: &'static str,
) -> Result<(), ConfigError> {
    check(name, lo, lo >= min && lo <= hi, requirement)?;
    check(name, hi, hi <= max, requirement)
}
