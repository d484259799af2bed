//! Command-line flags, parsed by clap, then checked into a validated configuration.

use clap::{Args, Parser, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Doppel: a face-swap studio in the browser, and its engine on the command line.
#[derive(Debug, Parser)]
#[command(name = "doppel", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app (prints a one-time setup link on first start).
    Serve(ServeArgs),
    /// Find faces in images: box, score, 68 landmarks and identity descriptor, as JSON.
    Detect(DetectArgs),
    /// Extract aligned faces (PNGs with metadata) and an alignments store from a video or an
    /// image folder. Stopped runs resume.
    Extract(crate::extract_cli::ExtractArgs),
    /// Train a swap model on two face sets (A and B). Saves every few hundred iterations;
    /// stopped runs resume where they were.
    Train(crate::train_cli::TrainArgs),
    /// Swap the faces of a video with a trained model; writes the video with the source's
    /// audio, marked as synthetic.
    Convert(crate::convert_cli::ConvertArgs),
    /// Alignments store jobs: remove-faces, missing-frames, no-faces, multi-faces, export,
    /// merge, smooth, draw, from-faces.
    #[command(subcommand)]
    Alignments(crate::alignments_cli::AlignmentsCommand),
    /// Sort a faces folder (identity, histogram, blur, yaw, pitch, size, colour) and group it.
    Sort(crate::sort_cli::SortArgs),
    /// Media tools: info, frames, video, mux-audio, rotate, slice.
    #[command(subcommand)]
    Media(crate::media_cli::MediaCommand),
    /// Measure speed against a reference run in the same go.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// List the compute devices this build can use here (for `--device`), the default first
    /// marked.
    Devices(DevicesArgs),
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `doppel devices`.
pub fn list_devices(args: DevicesArgs) -> anyhow::Result<()> {
    let devices = doppel_engine::device::available();
    let default = doppel_engine::device::preferred(&devices);
    if args.json {
        let rows: Vec<serde_json::Value> = devices
            .iter()
            .map(|d| serde_json::json!({ "device": d.device, "name": d.name, "memory_bytes": d.memory_bytes, "software": d.software, "default": d.device == default }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for d in &devices {
        let memory = d.memory_bytes.map(|b| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))).unwrap_or_else(|| "memory not reported".into());
        let mark = if d.device == default { "*" } else { " " };
        let note = if d.software { " (software renderer on the CPU: for tests, slower than cpu)" } else { "" };
        println!("{mark} {:<8} {} [{memory}]{note}", d.device.to_string(), d.name);
    }
    let missing: Vec<&str> = [("cuda", cfg!(feature = "cuda")), ("wgpu", cfg!(feature = "wgpu"))].into_iter().filter(|(_, on)| !on).map(|(f, _)| f).collect();
    if !missing.is_empty() {
        println!("(built without: {}; scripts/serve.sh picks the backend for this machine)", missing.join(", "));
    }
    Ok(())
}

/// The swap models, by the names faceswap users know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    Original,
    Lightweight,
    Dfaker,
    #[value(name = "dfl-h128")]
    DflH128,
}

impl ModelArg {
    pub fn kind(self) -> doppel_engine::train::ModelKind {
        use doppel_engine::train::ModelKind;
        match self {
            ModelArg::Original => ModelKind::Original,
            ModelArg::Lightweight => ModelKind::Lightweight,
            ModelArg::Dfaker => ModelKind::Dfaker,
            ModelArg::DflH128 => ModelKind::DflH128,
        }
    }
}

/// A flag set by the first Ctrl-C (after printing `message`); a second Ctrl-C quits at once
/// (everything on disk is consistent: writes are atomic).
pub fn stop_on_ctrl_c(message: &'static str) -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::atomic::Ordering;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\n{message}");
    })?;
    Ok(stop)
}

/// The engine's device for a `--device` flag: `auto` is the first GPU this build can use
/// (not a software renderer), else the CPU.
pub fn to_device(arg: DeviceArg) -> doppel_engine::device::ComputeDevice {
    match arg {
        DeviceArg::Auto => arg.resolve(&doppel_engine::device::available()),
        DeviceArg::Exact(device) => device,
    }
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Print the results as JSON (the only output format).
    #[arg(long, required = true)]
    pub json: bool,
    /// Images in any format the `image` crate reads (PNG, JPEG, PPM/PGM, BMP, GIF, WebP, TIFF).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Folder with the fetched network weights (scripts/fetch-models.sh).
    #[arg(long, env = "DOPPEL_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse, help = DeviceArg::HELP)]
    pub device: DeviceArg,
    /// Faces scoring at or below this are dropped.
    #[arg(long, default_value_t = 0.5)]
    pub min_confidence: f32,
}

/// `--device`: `auto`, `cpu`, `cuda[:N]` or `wgpu[:N]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceArg {
    /// The first GPU, else the CPU.
    Auto,
    Exact(doppel_engine::device::ComputeDevice),
}

impl DeviceArg {
    /// Help text shared by every `--device` flag.
    pub const HELP: &'static str = "Compute device: auto (the first GPU, else the CPU), cpu, cuda[:N] or wgpu[:N] (Vulkan, Metal or DX12); `doppel devices` lists them";

    /// The device meant, among the machine's `devices`.
    pub fn resolve(self, devices: &[doppel_engine::device::DeviceInfo]) -> doppel_engine::device::ComputeDevice {
        match self {
            DeviceArg::Auto => doppel_engine::device::preferred(devices),
            DeviceArg::Exact(device) => device,
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(DeviceArg::Auto);
        }
        s.parse().map(DeviceArg::Exact).map_err(|e: doppel_engine::device::DeviceError| e.to_string())
    }
}

impl std::fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceArg::Auto => f.write_str("auto"),
            DeviceArg::Exact(d) => d.fmt(f),
        }
    }
}

impl DetectArgs {
    pub fn into_config(self) -> anyhow::Result<crate::detect::DetectConfig> {
        if !(0.0..1.0).contains(&self.min_confidence) {
            anyhow::bail!("--min-confidence must be at least 0 and below 1, not {}", self.min_confidence);
        }
        let device = to_device(self.device);
        let options = doppel_engine::nets::ssd::DetectOptions { min_confidence: self.min_confidence, ..Default::default() };
        Ok(crate::detect::DetectConfig {
            images: self.images,
            models: doppel_engine::nets::ModelsDir::new(self.models_dir),
            device,
            options,
        })
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on.
    #[arg(long, env = "DOPPEL_PORT", default_value_t = 3000)]
    pub port: u16,
    /// Address to bind. Keep 127.0.0.1 and reach a remote server through an SSH tunnel.
    #[arg(long, env = "DOPPEL_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Where the database, uploads and results live.
    #[arg(long, env = "DOPPEL_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The built browser bundle (`scripts/build-site.sh` writes it to `site/`).
    #[arg(long, env = "DOPPEL_SITE_DIR", default_value = "site")]
    pub site_dir: PathBuf,
    /// Largest upload accepted, in bytes (suffixes K, M, G, T: powers of 1024).
    #[arg(long, env = "DOPPEL_MAX_UPLOAD", default_value = "4G", value_parser = parse_size)]
    pub max_upload: u64,
    /// Folder with the fetched network weights (scripts/fetch-models.sh).
    #[arg(long, env = "DOPPEL_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse, help = DeviceArg::HELP)]
    pub device: DeviceArg,
    /// The address users type when Doppel sits behind a reverse proxy, e.g.
    /// `https://doppel.example.com`. Its host is answered besides 127.0.0.1 and localhost;
    /// `https` makes session cookies `Secure`.
    #[arg(long, env = "DOPPEL_PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,
}

/// `--public-url`: the scheme and host (with port, if any) users reach Doppel by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    pub https: bool,
    /// `host` or `host:port`, lower case.
    pub host: String,
}

impl PublicUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(format!("'{s}' is not an http:// or https:// address"));
        };
        let host = rest.split('/').next().unwrap_or("").to_ascii_lowercase();
        let ok = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !ok {
            return Err(format!("'{s}' has no valid host name"));
        }
        Ok(PublicUrl { https, host })
    }
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub site_dir: PathBuf,
    pub max_upload: u64,
    /// Set when Doppel is reached through a proxy under another name (`--public-url`).
    pub public_url: Option<PublicUrl>,
    /// A session ends after this long unused (default 14 days).
    pub session_idle: std::time::Duration,
}

/// How long a session lives unused, by default.
pub const SESSION_IDLE: std::time::Duration = std::time::Duration::from_secs(14 * 24 * 3600);

impl ServeConfig {
    /// A configuration with the defaults for everything but the paths and the address.
    pub fn new(addr: SocketAddr, data_dir: PathBuf, site_dir: PathBuf) -> Self {
        ServeConfig { addr, data_dir, site_dir, max_upload: 4 << 30, public_url: None, session_idle: SESSION_IDLE }
    }

    /// Session cookies are `Secure` when users reach the server over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.as_ref().is_some_and(|u| u.https)
    }
}

impl ServeArgs {
    /// Where the jobs find the network weights, and their device.
    /// The engine's settings: the devices found on this machine (looked for once, here) and the
    /// default one (`--device`; `auto`: the first hardware GPU, else the CPU).
    pub fn engine_config(&self) -> anyhow::Result<crate::jobs::EngineConfig> {
        let devices = doppel_engine::device::available();
        let device = self.device.resolve(&devices);
        crate::jobs::EngineConfig::new(doppel_engine::nets::ModelsDir::new(&self.models_dir), device, devices).map_err(|e| anyhow::anyhow!("--device {}: {e}", self.device))
    }

    pub fn into_config(self) -> anyhow::Result<ServeConfig> {
        let pkg = self.site_dir.join("pkg");
        if !pkg.join("doppel.js").is_file() {
            anyhow::bail!(
                "the browser bundle is missing: {} has no pkg/doppel.js; build it with scripts/build-site.sh or pass --site-dir",
                self.site_dir.display()
            );
        }
        Ok(ServeConfig {
            addr: SocketAddr::new(self.host, self.port),
            data_dir: self.data_dir,
            site_dir: self.site_dir,
            max_upload: self.max_upload,
            public_url: self.public_url,
            session_idle: SESSION_IDLE,
        })
    }
}

/// `4G` -> 4 GiB; plain numbers are bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix '{c}': use K, M, G or T")),
            };
            (&s[..i], mult)
        }
        _ => (s, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| format!("'{s}' is not a size like 4G or 500M"))?;
    n.checked_mul(mult).ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_needs_images_and_checks_the_threshold() {
        assert!(Cli::try_parse_from(["doppel", "detect", "--json"]).is_err());
        let cli = Cli::try_parse_from(["doppel", "detect", "--json", "--min-confidence", "1.5", "a.png"]).unwrap();
        let Command::Detect(args) = cli.command else { panic!("detect parses as Detect") };
        assert!(args.into_config().is_err());
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("500m"), Ok(500 << 20));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("4X").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn serve_defaults_match_the_readme() {
        let cli = Cli::try_parse_from(["doppel", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("serve parses as Serve") };
        assert_eq!(args.port, 3000);
        assert_eq!(args.host.to_string(), "127.0.0.1");
        assert_eq!(args.data_dir, PathBuf::from("data"));
        assert_eq!(args.max_upload, 4 << 30);
        assert_eq!(args.public_url, None);
    }

    #[test]
    fn public_urls_give_scheme_and_host() {
        assert_eq!(PublicUrl::parse("https://Doppel.example.com/"), Ok(PublicUrl { https: true, host: "doppel.example.com".into() }));
        assert_eq!(PublicUrl::parse("http://gpu-box:3000"), Ok(PublicUrl { https: false, host: "gpu-box:3000".into() }));
        assert!(PublicUrl::parse("doppel.example.com").is_err());
        assert!(PublicUrl::parse("https://").is_err());
        assert!(PublicUrl::parse("https://a b").is_err());
    }
}
