//! Which CPU this is, for benchmark reports: vendor, family, model and
//! name, so that a figure can be matched to a microarchitecture (Zen 4 is
//! AMD family 25 model 17; the name string alone often reads just "AMD
//! EPYC" or "Intel Xeon Processor" in a VM).

use serde::Serialize;

/// The CPU identity as CPUID (x86_64) or `/proc/cpuinfo` (elsewhere)
/// reports it. Fields a platform does not report are `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CpuIdentity {
    /// "GenuineIntel", "AuthenticAMD", or the ARM implementer code.
    pub vendor: Option<String>,
    /// Display family (base + extended family on x86_64).
    pub family: Option<u32>,
    /// Display model (base + extended model on x86_64), or the ARM part.
    pub model: Option<u32>,
    /// The brand string ("model name" in `/proc/cpuinfo`).
    pub name: Option<String>,
}

impl CpuIdentity {
    /// This machine's CPU.
    pub fn detect() -> CpuIdentity {
        let name = proc_cpuinfo_field(&["model name", "Model"]);
        #[cfg(target_arch = "x86_64")]
        {
            let (vendor, family, model) = x86_signature();
            CpuIdentity {
                vendor: Some(vendor),
                family: Some(family),
                model: Some(model),
                name,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let parse_hex = |s: String| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
            CpuIdentity {
                vendor: proc_cpuinfo_field(&["CPU implementer"]),
                family: proc_cpuinfo_field(&["CPU architecture"]).and_then(|s| s.parse().ok()),
                model: proc_cpuinfo_field(&["CPU part"]).and_then(parse_hex),
                name,
            }
        }
    }
}

impl std::fmt::Display for CpuIdentity {
    /// `GenuineIntel family 6 model 167 "Intel(R) Xeon(R) Processor"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.vendor.as_deref().unwrap_or("unknown vendor"))?;
        if let Some(family) = self.family {
            write!(f, " family {family}")?;
        }
        if let Some(model) = self.model {
            write!(f, " model {model}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " \"{name}\"")?;
        }
        Ok(())
    }
}

/// The first value of any of `keys` in `/proc/cpuinfo`.
fn proc_cpuinfo_field(keys: &[&str]) -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        keys.contains(&key.trim())
            .then(|| value.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// Vendor string, display family and display model from CPUID leaves 0
/// and 1 (Intel SDM vol. 2A, CPUID: the extended family is added when the
/// base family is 15, the extended model is prepended when the family is 6
/// or 15).
#[cfg(target_arch = "x86_64")]
fn x86_signature() -> (String, u32, u32) {
    let (leaf0, leaf1) = (
        core::arch::x86_64::__cpuid(0),
        core::arch::x86_64::__cpuid(1),
    );
    let vendor: Vec<u8> = [leaf0.ebx, leaf0.edx, leaf0.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    let vendor = String::from_utf8_lossy(&vendor).into_owned();
    let eax = leaf1.eax;
    let base_family = (eax >> 8) & 0xF;
    let base_model = (eax >> 4) & 0xF;
    let family = if base_family == 0xF {
        base_family + ((eax >> 20) & 0xFF)
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xF {
        (((eax >> 16) & 0xF) << 4) | base_model
    } else {
        base_model
    };
    (vendor, family, model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPUID must agree with what the kernel read from it.
    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn cpuid_matches_proc_cpuinfo() {
        let cpu = CpuIdentity::detect();
        let family: u32 = proc_cpuinfo_field(&["cpu family"])
            .unwrap()
            .parse()
            .unwrap();
        let model: u32 = proc_cpuinfo_field(&["model"]).unwrap().parse().unwrap();
        let vendor = proc_cpuinfo_field(&["vendor_id"]).unwrap();
        assert_eq!(cpu.family, Some(family));
        assert_eq!(cpu.model, Some(model));
        assert_eq!(cpu.vendor.as_deref(), Some(vendor.as_str()));
        assert!(cpu
            .to_string()
            .contains(&format!("family {family} model {model}")));
    }
}
