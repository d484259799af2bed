//! What the engine's jobs run with: the network weights, the compute devices found at start,
//! and the default device; which device a job runs on.

use doppel_engine::device::{ComputeDevice, DeviceInfo};
use doppel_engine::nets::ModelsDir;

/// What the engine's jobs run with: where the network weights are, the devices they can run
/// on, and the default one.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub models: ModelsDir,
    /// The device of jobs that name none (`--device`; `auto`: the first hardware GPU).
    pub device: ComputeDevice,
    /// Every device found on this machine at start (`doppel_engine::device::available`),
    /// the CPU first; `device` is one of them.
    pub devices: Vec<DeviceInfo>,
}

impl EngineConfig {
    /// The settings of a server with `devices`, jobs on `device` unless they name another;
    /// refused when `device` is not among `devices`.
    pub fn new(models: ModelsDir, device: ComputeDevice, devices: Vec<DeviceInfo>) -> Result<EngineConfig, String> {
        let config = EngineConfig { models, device, devices };
        if config.info(device).is_none() {
            return Err(format!("the device {device} is not on this machine; it has {}", config.device_list()));
        }
        Ok(config)
    }

    /// On the CPU only, without looking for GPUs (tests).
    pub fn cpu_only(models: ModelsDir) -> EngineConfig {
        let cpu = DeviceInfo { device: ComputeDevice::Cpu, name: "CPU".into(), memory_bytes: None, software: false };
        EngineConfig { models, device: ComputeDevice::Cpu, devices: vec![cpu] }
    }

    /// `DOPPEL_MODELS_DIR` (default `models/`), on the CPU.
    pub fn from_env() -> EngineConfig {
        EngineConfig::cpu_only(ModelsDir::from_env())
    }

    /// What the server knows of `device`, if it has it.
    pub fn info(&self, device: ComputeDevice) -> Option<&DeviceInfo> {
        self.devices.iter().find(|d| d.device == device)
    }

    /// The devices as the web app shows them, the default marked.
    pub fn device_dtos(&self) -> Vec<app::api::DeviceDto> {
        self.devices
            .iter()
            .map(|d| app::api::DeviceDto {
                id: d.device.to_string(),
                name: d.name.clone(),
                backend: d.device.backend().to_string(),
                memory_bytes: d.memory_bytes,
                software: d.software,
                default: d.device == self.device,
            })
            .collect()
    }

    /// "cpu, wgpu:0": the devices' names, for messages.
    pub fn device_list(&self) -> String {
        self.devices.iter().map(|d| d.device.to_string()).collect::<Vec<_>>().join(", ")
    }

    /// The device a job's parameters name (`params.device`), the default when they name none;
    /// an error that says what the server has when it is not one of its devices.
    pub fn job_device(&self, params: &serde_json::Value) -> Result<ComputeDevice, String> {
        let Some(named) = params.get("device").filter(|d| !d.is_null()) else { return Ok(self.device) };
        let text = named.as_str().ok_or_else(|| format!("the job's device {named} is not a device name"))?;
        let device: ComputeDevice = text.parse().map_err(|e| format!("{e}"))?;
        match self.info(device) {
            Some(_) => Ok(device),
            None => Err(format!("this job runs on {device}, which this server does not have (it has {}): start it again on another device", self.device_list())),
        }
    }
}
