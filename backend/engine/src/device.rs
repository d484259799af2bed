//! The compute device that models run on: the CPU, an NVIDIA GPU through CUDA, or any
//! Vulkan, Metal or DX12 GPU through Burn's WebGPU backend.
//!
//! A device is named as the command line and the web app name it: `cpu`, `cuda:N`, `wgpu:N`
//! (`cuda` and `wgpu` alone mean index 0). `wgpu:N` is the N-th adapter Burn's wgpu runtime
//! lists on this machine, GPUs first (a software Vulkan driver such as lavapipe comes last).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Burn's device handle, for callers that keep one (they need not depend on Burn).
pub use burn::tensor::Device;

/// A compute device the engine can run models on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ComputeDevice {
    /// The CPU, through Burn's pure-Rust `flex` backend and the engine's own kernels.
    #[default]
    Cpu,
    /// The N-th NVIDIA GPU, through Burn's CUDA backend (feature `cuda`).
    Cuda(usize),
    /// The N-th adapter of Burn's WebGPU backend (feature `wgpu`): Vulkan, Metal or DX12.
    Wgpu(usize),
}

/// Why a compute device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The name is not a device at all.
    #[error("unknown device '{0}': use cpu, cuda[:N] or wgpu[:N]")]
    Unknown(String),
    /// The engine was built without the backend for this device.
    #[error("{device} is not available: this build of Doppel has no `{feature}` feature (rebuild with --features {feature}, or let scripts/serve.sh choose)")]
    NotCompiled {
        /// The device's name, e.g. "cuda:0".
        device: String,
        /// The Cargo feature that enables it.
        feature: &'static str,
    },
    /// The backend is built in, but the machine has no such device.
    #[error("{device} is not on this machine: {found}")]
    NotPresent {
        /// The device's name, e.g. "wgpu:2".
        device: String,
        /// What the backend did find, e.g. "2 wgpu devices (wgpu:0, wgpu:1)".
        found: String,
    },
}

impl ComputeDevice {
    /// The backend's name: "cpu", "cuda" or "wgpu".
    pub fn backend(&self) -> &'static str {
        match self {
            ComputeDevice::Cpu => "cpu",
            ComputeDevice::Cuda(_) => "cuda",
            ComputeDevice::Wgpu(_) => "wgpu",
        }
    }

    /// Whether this is a GPU backend (CUDA or wgpu), where the engine runs Burn's own kernels.
    pub fn is_gpu(&self) -> bool {
        !matches!(self, ComputeDevice::Cpu)
    }

    /// The Burn device to create tensors and modules on.
    pub fn to_burn(&self) -> Result<Device, DeviceError> {
        match *self {
            ComputeDevice::Cpu => Ok(Device::flex()),
            ComputeDevice::Cuda(index) => cuda_device(self, index),
            ComputeDevice::Wgpu(index) => wgpu_device(self, index),
        }
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeDevice::Cpu => f.write_str("cpu"),
            ComputeDevice::Cuda(i) => write!(f, "cuda:{i}"),
            ComputeDevice::Wgpu(i) => write!(f, "wgpu:{i}"),
        }
    }
}

impl FromStr for ComputeDevice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || DeviceError::Unknown(s.to_string());
        let text = s.trim().to_ascii_lowercase();
        let (kind, index) = match text.split_once(':') {
            Some((kind, index)) => {
                let index: usize = index.parse().map_err(|_| unknown())?;
                (kind.to_string(), Some(index))
            }
            None => (text, None),
        };
        match (kind.as_str(), index) {
            ("cpu", None | Some(0)) => Ok(ComputeDevice::Cpu),
            ("cuda", i) => Ok(ComputeDevice::Cuda(i.unwrap_or(0))),
            ("wgpu", i) => Ok(ComputeDevice::Wgpu(i.unwrap_or(0))),
            _ => Err(unknown()),
        }
    }
}

impl Serialize for ComputeDevice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ComputeDevice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The most bytes one activation tensor of a batched forward pass may take on a GPU backend.
/// Vulkan drivers commonly allow 128 MiB per storage buffer binding (lavapipe does, and wgpu
/// asks for no more by default), and a batch whose largest tensor is bigger fails to run.
pub const GPU_TENSOR_BUDGET: usize = 96 << 20;

/// How many items (frames, faces) go through a network in one pass on `device`, when each
/// item's largest activation takes `bytes_per_item`: everything at once on the CPU, within
/// [`GPU_TENSOR_BUDGET`] on a GPU (at least one).
pub fn items_per_pass(device: &Device, bytes_per_item: usize) -> usize {
    if device.clone().inner() == Device::flex() {
        usize::MAX
    } else {
        (GPU_TENSOR_BUDGET / bytes_per_item.max(1)).max(1)
    }
}

/// A device found on this machine, as the Admin page and the job forms show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// How to ask for it: `cpu`, `cuda:0`, `wgpu:1`.
    pub device: ComputeDevice,
    /// What the device calls itself, e.g. "NVIDIA GeForce RTX 4090" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Bytes of device memory, where the backend reports them (the CPU: the machine's RAM).
    pub memory_bytes: Option<u64>,
    /// A GPU backend running on the CPU (a software Vulkan driver such as lavapipe): usable,
    /// and right for tests, but slower than the CPU backend, so never chosen by default.
    pub software: bool,
}

/// Every device this build can run on, on this machine: the CPU first, then CUDA GPUs, then
/// wgpu adapters. Opens each GPU once, so call it at start and keep the answer.
pub fn available() -> Vec<DeviceInfo> {
    let mut devices = vec![DeviceInfo {
        device: ComputeDevice::Cpu,
        name: cpu_name(),
        memory_bytes: machine_memory(),
        software: false,
    }];
    for (i, device) in cuda_devices().iter().enumerate() {
        let (name, software) = identify(device).unwrap_or_else(|| ("CUDA GPU".to_string(), false));
        devices.push(DeviceInfo { device: ComputeDevice::Cuda(i), name, memory_bytes: None, software });
    }
    for (i, device) in wgpu_devices().iter().enumerate() {
        let (name, software) = identify(device).unwrap_or_else(|| ("wgpu adapter".to_string(), false));
        devices.push(DeviceInfo { device: ComputeDevice::Wgpu(i), name, memory_bytes: None, software });
    }
    devices
}

/// The device jobs use unless told otherwise: the first hardware GPU of `devices`, else the CPU.
pub fn preferred(devices: &[DeviceInfo]) -> ComputeDevice {
    devices.iter().find(|d| d.device.is_gpu() && !d.software).map(|d| d.device).unwrap_or(ComputeDevice::Cpu)
}

#[cfg(feature = "cuda")]
fn cuda_devices() -> Vec<Device> {
    Device::enumerate(burn::tensor::DeviceType::Cuda).into_vec()
}

#[cfg(not(feature = "cuda"))]
fn cuda_devices() -> Vec<Device> {
    Vec::new()
}

/// The wgpu adapters, discrete GPUs first and CPU (software) adapters last, so that `wgpu:0`
/// is the best one.
#[cfg(feature = "wgpu")]
fn wgpu_devices() -> Vec<Device> {
    use std::sync::OnceLock;
    // Listing opens every adapter; the list does not change while the process runs.
    static DEVICES: OnceLock<Vec<Device>> = OnceLock::new();
    DEVICES
        .get_or_init(|| {
            let all = Device::enumerate(burn::tensor::DeviceType::Wgpu).into_vec();
            let (mut gpus, cpus): (Vec<Device>, Vec<Device>) = all.into_iter().partition(|d| !identify(d).is_some_and(|(_, software)| software));
            gpus.extend(cpus);
            gpus
        })
        .clone()
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_devices() -> Vec<Device> {
    Vec::new()
}

#[cfg(feature = "cuda")]
fn cuda_device(device: &ComputeDevice, index: usize) -> Result<Device, DeviceError> {
    pick(device, cuda_devices(), index)
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(device: &ComputeDevice, _index: usize) -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled { device: device.to_string(), feature: "cuda" })
}

#[cfg(feature = "wgpu")]
fn wgpu_device(device: &ComputeDevice, index: usize) -> Result<Device, DeviceError> {
    pick(device, wgpu_devices(), index)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device(device: &ComputeDevice, _index: usize) -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled { device: device.to_string(), feature: "wgpu" })
}

#[cfg(any(feature = "cuda", feature = "wgpu"))]
fn pick(device: &ComputeDevice, found: Vec<Device>, index: usize) -> Result<Device, DeviceError> {
    let count = found.len();
    found.into_iter().nth(index).ok_or_else(|| {
        let kind = device.backend();
        let found = match count {
            0 if kind == "wgpu" => "no wgpu adapter found (is a Vulkan, Metal or DX12 driver installed? on Debian: mesa-vulkan-drivers)".to_string(),
            0 => "no CUDA GPU found (is the NVIDIA driver loaded? see nvidia-smi)".to_string(),
            n => {
                let names: Vec<String> = (0..n).map(|i| format!("{kind}:{i}")).collect();
                format!("{n} {kind} device{} ({})", if n == 1 { "" } else { "s" }, names.join(", "))
            }
        };
        DeviceError::NotPresent { device: device.to_string(), found }
    })
}

/// What a GPU backend's device says of itself: its name, and whether it is no card at all (a
/// software renderer on the CPU). `None` where the backend does not say.
#[allow(dead_code)] // used only when a GPU feature is on
fn identify(device: &Device) -> Option<(String, bool)> {
    #[cfg(any(feature = "cuda", feature = "wgpu"))]
    if let Some(identity) = device.identity() {
        return Some((identity.name, identity.physical.is_none()));
    }
    let _ = device;
    None
}

/// The CPU's model name, from /proc/cpuinfo where there is one.
fn cpu_name() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
        text.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    format!("{} ({cores} threads)", model.unwrap_or_else(|| "CPU".to_string()))
}

/// The machine's RAM, from /proc/meminfo where there is one.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The GPU device the engine's tests run on: `wgpu:0`, which the test setup provides with
/// lavapipe (Mesa's Vulkan driver on the CPU) where there is no GPU.
#[cfg(all(test, feature = "wgpu"))]
pub(crate) fn test_gpu() -> Device {
    ComputeDevice::Wgpu(0)
        .to_burn()
        .unwrap_or_else(|e| panic!("{e}: the tests of a wgpu build need a Vulkan driver (scripts/setup.sh --test installs lavapipe)"))
}

#[cfg(test)]
mod tests;
