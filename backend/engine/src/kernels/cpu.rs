//! Proof that the CPU has the features a SIMD path was compiled for.
//!
//! A `#[target_feature]` function may run only on a CPU that has its features. The engine
//! calls one only while holding one of these tokens, and a token is made only by run-time
//! detection (`is_x86_feature_detected!`), so each call's SAFETY comment names the token that
//! proves it. No token is ever made on other architectures.

/// This CPU runs AVX-512F code.
#[derive(Debug, Clone, Copy)]
pub struct Avx512 {
    _detected: (),
}

impl Avx512 {
    /// The token, where the CPU (and the OS) run AVX-512F.
    #[inline]
    pub fn detect() -> Option<Avx512> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(Avx512 { _detected: () });
        }
        None
    }
}

/// This CPU runs AVX-512F and FMA code.
#[derive(Debug, Clone, Copy)]
pub struct Avx512Fma {
    _detected: (),
}

impl Avx512Fma {
    /// The token, where the CPU runs AVX-512F and FMA.
    #[inline]
    pub fn detect() -> Option<Avx512Fma> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
            return Some(Avx512Fma { _detected: () });
        }
        None
    }
}

/// This CPU runs AVX2 and FMA code.
#[derive(Debug, Clone, Copy)]
pub struct Avx2Fma {
    _detected: (),
}

impl Avx2Fma {
    /// The token, where the CPU runs AVX2 and FMA.
    #[inline]
    pub fn detect() -> Option<Avx2Fma> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Some(Avx2Fma { _detected: () });
        }
        None
    }
}
