//! The server's compute devices: listed for every signed-in user (the Admin page's table,
//! the job forms' device choice), and the check of the device a job form names.

use super::{AppError, DeviceDto};
use leptos::prelude::*;

/// The devices the server found at start, the CPU first, its default marked.
#[server(endpoint = "list_devices")]
pub async fn list_devices() -> Result<Vec<DeviceDto>, AppError> {
    use super::ssr::*;
    require_user().await?;
    Ok(context()?.devices.to_vec())
}

/// The device a job form names (`cpu`, `cuda[:N]`, `wgpu[:N]`, any case), as jobs store it
/// (`cpu`, `cuda:0`, `wgpu:1`), if it is one of `devices`; empty means the default device.
pub fn pick_device(devices: &[DeviceDto], raw: &str) -> Result<String, String> {
    let text = raw.trim().to_ascii_lowercase();
    if text.is_empty() {
        return devices
            .iter()
            .find(|d| d.default)
            .or(devices.first())
            .map(|d| d.id.clone())
            .ok_or_else(|| "this server has no compute device".to_string());
    }
    let id = match text.as_str() {
        "cpu:0" => "cpu".to_string(),
        "cuda" | "wgpu" => format!("{text}:0"),
        _ => text,
    };
    match devices.iter().find(|d| d.id == id) {
        Some(d) => Ok(d.id.clone()),
        None => Err(format!("there is no device '{}' on this server; it has {}", raw.trim(), device_list(devices))),
    }
}

/// "cpu (default), wgpu:0": the ids of `devices`, for messages.
pub fn device_list(devices: &[DeviceDto]) -> String {
    let ids: Vec<String> = devices.iter().map(|d| if d.default { format!("{} (default)", d.id) } else { d.id.clone() }).collect();
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}

/// How a device is offered in a form: "wgpu:0: NVIDIA GeForce RTX 4090 (24.0 GB)".
pub fn device_label(d: &DeviceDto) -> String {
    let memory = d.memory_bytes.map(|b| format!(", {}", crate::format::bytes(b as f64))).unwrap_or_default();
    let software = if d.software { ", software renderer: slow" } else { "" };
    format!("{}: {}{memory}{software}", d.id, d.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str, default: bool) -> DeviceDto {
        let backend = id.split(':').next().unwrap_or(id).to_string();
        DeviceDto { id: id.into(), name: format!("{id} device"), backend, memory_bytes: None, software: false, default }
    }

    #[test]
    fn a_form_names_one_of_the_servers_devices_or_gets_the_default() {
        let devices = [device("cpu", false), device("wgpu:0", true), device("wgpu:1", false)];
        assert_eq!(pick_device(&devices, ""), Ok("wgpu:0".into()), "empty: the default");
        assert_eq!(pick_device(&devices, " CPU "), Ok("cpu".into()));
        assert_eq!(pick_device(&devices, "wgpu"), Ok("wgpu:0".into()), "an index of 0 may be left out");
        assert_eq!(pick_device(&devices, "wgpu:1"), Ok("wgpu:1".into()));
        let err = pick_device(&devices, "wgpu:99").unwrap_err();
        assert_eq!(err, "there is no device 'wgpu:99' on this server; it has cpu, wgpu:0 (default), wgpu:1");
        assert!(pick_device(&devices, "bogus").unwrap_err().starts_with("there is no device 'bogus' on this server"));
        assert!(pick_device(&devices, "cuda").unwrap_err().contains("'cuda'"), "a backend the server lacks");
        assert_eq!(pick_device(&[device("cpu", false)], ""), Ok("cpu".into()), "no default marked: the first");
    }
}
