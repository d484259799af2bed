//! The Burn compute device that models run on.

use serde::{Deserialize, Serialize};

/// Burn's device handle, for callers that keep one (they need not depend on Burn).
pub use burn::tensor::Device;

/// A compute device the engine can run models on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ComputeDevice {
    /// The CPU, through Burn's pure-Rust `flex` backend.
    #[default]
    Cpu,
    /// The first NVIDIA GPU, through Burn's CUDA backend (feature `cuda`).
    Cuda,
}

/// Why a compute device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The engine was built without the backend for this device.
    #[error("{device} is not available: the engine was built without the `{feature}` feature")]
    NotCompiled {
        /// The device's name, e.g. "cuda".
        device: &'static str,
        /// The Cargo feature that enables it.
        feature: &'static str,
    },
}

/// Devices this build can run on, CPU first. CUDA is listed when the engine is built with the
/// `cuda` feature; whether a GPU is present is only known when it is first used.
pub fn available() -> Vec<ComputeDevice> {
    let mut devices = vec![ComputeDevice::Cpu];
    if cfg!(feature = "cuda") {
        devices.push(ComputeDevice::Cuda);
    }
    devices
}

impl ComputeDevice {
    /// Short lowercase name, as used in settings and logs: "cpu" or "cuda".
    pub fn name(&self) -> &'static str {
        match self {
            ComputeDevice::Cpu => "cpu",
            ComputeDevice::Cuda => "cuda",
        }
    }

    /// The Burn device to create tensors and modules on.
    pub fn to_burn(&self) -> Result<burn::tensor::Device, DeviceError> {
        match self {
            ComputeDevice::Cpu => Ok(burn::tensor::Device::flex()),
            #[cfg(feature = "cuda")]
            ComputeDevice::Cuda => Ok(burn::tensor::Device::cuda(0usize)),
            #[cfg(not(feature = "cuda"))]
            ComputeDevice::Cuda => Err(DeviceError::NotCompiled {
                device: self.name(),
                feature: "cuda",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tensor;

    #[test]
    fn cpu_device_computes_a_sum() {
        let device = ComputeDevice::Cpu.to_burn().expect("cpu device");
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]], &device);
        assert_eq!(x.dims(), [2, 3]);
        let sum: f32 = x.sum().into_scalar();
        assert_eq!(sum, 21.5);
    }

    #[test]
    fn cpu_is_default_and_always_available() {
        assert_eq!(ComputeDevice::default(), ComputeDevice::Cpu);
        assert_eq!(available().first(), Some(&ComputeDevice::Cpu));
        assert_eq!(
            available().contains(&ComputeDevice::Cuda),
            cfg!(feature = "cuda")
        );
        assert_eq!(
            serde_json::to_string(&ComputeDevice::Cuda).unwrap(),
            "\"cuda\""
        );
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        let err = ComputeDevice::Cuda.to_burn().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cuda is not available: the engine was built without the `cuda` feature"
        );
    }
}
