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
fn names_parse_and_print_back() {
    for (text, device) in [
        ("cpu", ComputeDevice::Cpu),
        ("cuda", ComputeDevice::Cuda(0)),
        ("cuda:1", ComputeDevice::Cuda(1)),
        ("wgpu", ComputeDevice::Wgpu(0)),
        ("WGPU:3", ComputeDevice::Wgpu(3)),
    ] {
        assert_eq!(text.parse::<ComputeDevice>().unwrap(), device, "{text}");
    }
    assert_eq!(ComputeDevice::Cuda(1).to_string(), "cuda:1");
    assert_eq!(serde_json::to_string(&ComputeDevice::Wgpu(2)).unwrap(), "\"wgpu:2\"");
    assert_eq!(serde_json::from_str::<ComputeDevice>("\"cuda\"").unwrap(), ComputeDevice::Cuda(0));
}

#[test]
fn unknown_names_are_clear_errors() {
    for text in ["gpu", "tpu:0", "cuda:x", "wgpu:-1", "cpu:1", ""] {
        let err = text.parse::<ComputeDevice>().unwrap_err();
        assert_eq!(err, DeviceError::Unknown(text.to_string()));
        assert!(err.to_string().contains("use cpu, cuda[:N] or wgpu[:N]"), "{err}");
    }
    assert!(serde_json::from_str::<ComputeDevice>("\"metal\"").is_err());
}

#[test]
fn cpu_is_listed_first_and_preferred_only_without_a_gpu() {
    let devices = available();
    assert_eq!(devices[0].device, ComputeDevice::Cpu);
    assert!(devices[0].memory_bytes.unwrap_or(0) > 0 || !cfg!(target_os = "linux"));
    let cpu_only = &devices[..1];
    assert_eq!(preferred(cpu_only), ComputeDevice::Cpu);
    let with_gpu = vec![
        devices[0].clone(),
        DeviceInfo { device: ComputeDevice::Wgpu(0), name: "llvmpipe".into(), memory_bytes: None, software: true },
        DeviceInfo { device: ComputeDevice::Wgpu(1), name: "a GPU".into(), memory_bytes: None, software: false },
    ];
    assert_eq!(preferred(&with_gpu[..2]), ComputeDevice::Cpu, "a software renderer is slower than the CPU backend");
    assert_eq!(preferred(&with_gpu), ComputeDevice::Wgpu(1));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    let err = ComputeDevice::Cuda(0).to_burn().unwrap_err();
    assert_eq!(
        err.to_string(),
        "cuda:0 is not available: this build of Doppel has no `cuda` feature (rebuild with --features cuda, or let scripts/serve.sh choose)"
    );
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn wgpu_without_the_feature_is_a_clear_error() {
    let err = ComputeDevice::Wgpu(0).to_burn().unwrap_err();
    assert!(matches!(err, DeviceError::NotCompiled { feature: "wgpu", .. }), "{err}");
}

/// The test setup installs lavapipe (a Vulkan driver that runs on the CPU), so a wgpu build
/// has at least one adapter here.
#[cfg(feature = "wgpu")]
#[test]
fn wgpu_device_is_found_and_computes() {
    let devices = available();
    let wgpu: Vec<_> = devices.iter().filter(|d| d.device.backend() == "wgpu").collect();
    assert!(!wgpu.is_empty(), "no wgpu adapter: install mesa-vulkan-drivers (lavapipe); found {devices:?}");
    assert!(!wgpu[0].name.is_empty());
    let device = ComputeDevice::Wgpu(0).to_burn().expect("wgpu:0");
    let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]], &device);
    let y = x.clone().matmul(x.transpose());
    let v: Vec<f32> = y.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(v, vec![14.0, 33.5, 33.5, 83.25]);
}

#[cfg(feature = "wgpu")]
#[test]
fn a_wgpu_device_that_is_not_there_is_a_clear_error() {
    let count = available().iter().filter(|d| d.device.backend() == "wgpu").count();
    let err = ComputeDevice::Wgpu(count + 5).to_burn().unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("wgpu:{} is not on this machine: ", count + 5)), "{text}");
    assert!(text.contains("wgpu:0"), "{text}");
}
