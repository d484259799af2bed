//! Training options: what the form sends (text, possibly empty), checked into the parameters
//! of a `train` job, and the loss history made small enough for a graph. The same checks run
//! in the server function; the job reads the parameters back with serde.

use serde::{Deserialize, Serialize};

/// The job kind that trains a model (the server's `JobKind::Train`).
pub const TRAIN_JOB: &str = "train";

/// The engine's model names, in the order the form offers them.
pub const MODEL_KINDS: [&str; 4] = ["original", "lightweight", "dfaker", "dfl-h128"];
pub const DEFAULT_MODEL_KIND: &str = "original";

/// Model sizes, for `doppel train --help` and the web form.
pub const MODELS_HELP: &str = "\
Models (measured by `doppel bench train -t MODEL --batch-size 16` on a 2-core CPU: peak memory,
training speed):
  original     64 px in and out, 82 M parameters; 1.7 GB, 10.3 examples/s
  lightweight  64 px in and out, 36 M parameters, for low memory; 1.0 GB, 21.8 examples/s
  dfaker       64 px in, 128 px out, residual decoder, 113 M parameters; 3.2 GB, 2.6 examples/s
  dfl-h128     128 px in and out, 108 M parameters; 3.6 GB, 1.6 examples/s";

/// Defaults shown in the form and used for empty fields.
pub const DEFAULT_BATCH: u32 = 16;
pub const DEFAULT_SAVE_EVERY: u64 = 250;
/// Adam's learning rate when none is given (the engine's default).
pub const DEFAULT_LEARNING_RATE: f64 = 5e-5;

/// Bounds, inclusive.
pub const BATCH_RANGE: (u32, u32) = (1, 512);
pub const MAX_SAVE_EVERY: u64 = 1_000_000;
pub const MAX_ITERATIONS: u64 = 100_000_000;
pub const MAX_LEARNING_RATE: f64 = 0.01;

/// Most points per side the loss graph gets from the server (bucket means beyond that).
pub const MAX_GRAPH_POINTS: usize = 800;

/// How the model's input is warped while training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarpChoice {
    /// A random smooth grid warp.
    #[default]
    Random,
    /// Towards the landmarks of a similar face of the other side.
    ToLandmarks,
    None,
}

impl WarpChoice {
    pub const ALL: [WarpChoice; 3] = [WarpChoice::Random, WarpChoice::ToLandmarks, WarpChoice::None];

    pub fn as_str(self) -> &'static str {
        match self {
            WarpChoice::Random => "random",
            WarpChoice::ToLandmarks => "to-landmarks",
            WarpChoice::None => "none",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WarpChoice::Random => "random",
            WarpChoice::ToLandmarks => "to landmarks",
            WarpChoice::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<WarpChoice> {
        WarpChoice::ALL.into_iter().find(|w| w.as_str() == s)
    }
}

/// The parameters of a `train` job, as stored in the job table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Set by the store when it creates the model with the job.
    #[serde(default)]
    pub model_id: i64,
    /// The model's name, for the job's title.
    pub label: String,
    pub face_set_a: i64,
    pub face_set_b: i64,
    /// One of [`MODEL_KINDS`].
    pub kind: String,
    pub batch: u32,
    /// Stop when the model has this many iterations in all (`None`: until stopped).
    pub iterations: Option<u64>,
    pub save_every: u64,
    pub warp: WarpChoice,
    /// `None`: the engine's default for a new model, the model's own when resuming.
    pub learning_rate: Option<f64>,
    /// The compute device it runs on (`cpu`, `cuda:0`, `wgpu:1`), checked against the
    /// server's when the job is made; the server's default is written when the form names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// The form's fields as sent: empty means "the default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainForm {
    pub face_set_a: String,
    pub face_set_b: String,
    pub kind: String,
    pub batch: String,
    pub iterations: String,
    pub save_every: String,
    pub warp: String,
    pub learning_rate: String,
}

impl TrainForm {
    /// Checks every field; `label` is the model's name.
    pub fn parse(&self, label: &str) -> Result<TrainParams, String> {
        let face_set_a = face_set(&self.face_set_a, "A")?;
        let face_set_b = face_set(&self.face_set_b, "B")?;
        if face_set_a == face_set_b {
            return Err("person A and person B need two different face sets".into());
        }
        let kind = match self.kind.trim() {
            "" => DEFAULT_MODEL_KIND,
            k => MODEL_KINDS.into_iter().find(|m| *m == k).ok_or_else(|| format!("'{k}' is not a model; pick one of {}", MODEL_KINDS.join(", ")))?,
        };
        let (lo, hi) = BATCH_RANGE;
        let batch = super::whole_number(&self.batch, "the batch size", DEFAULT_BATCH, lo, hi)?;
        let iterations = match self.iterations.trim() {
            "" => None,
            _ => Some(super::whole_number(&self.iterations, "the target iteration count", 0, 1, MAX_ITERATIONS)?),
        };
        let save_every = super::whole_number(&self.save_every, "save every", DEFAULT_SAVE_EVERY, 1, MAX_SAVE_EVERY)?;
        let warp = match self.warp.trim() {
            "" => WarpChoice::default(),
            w => WarpChoice::parse(w).ok_or_else(|| format!("'{w}' is not a warp; pick random, to-landmarks or none"))?,
        };
        let learning_rate = match self.learning_rate.trim() {
            "" => None,
            t => Some(
                t.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0 && *v <= MAX_LEARNING_RATE)
                    .ok_or_else(|| format!("the learning rate must be a number above 0 and at most {MAX_LEARNING_RATE}, such as 5e-5, not '{t}'"))?,
            ),
        };
        Ok(TrainParams { model_id: 0, label: label.to_string(), face_set_a, face_set_b, kind: kind.to_string(), batch, iterations, save_every, warp, learning_rate, device: None })
    }
}

/// The target of a further run of a model at `iteration`: a whole number above it.
pub fn parse_more_iterations(raw: &str, iteration: u64) -> Result<u64, String> {
    let target = super::whole_number(raw, "the target iteration count", 0, 1, MAX_ITERATIONS)?;
    if raw.trim().is_empty() || target <= iteration {
        return Err(format!("the model has {iteration} iterations: the target must be above that"));
    }
    Ok(target)
}

/// A model's name when the user gives none.
pub fn default_model_name(a: &str, b: &str) -> String {
    format!("{a} to {b}").chars().take(120).collect::<String>().trim().to_string()
}

fn face_set(raw: &str, side: &str) -> Result<i64, String> {
    match raw.trim() {
        "" => Err(format!("pick the face set of person {side}")),
        t => t.parse::<i64>().map_err(|_| format!("'{t}' is not a face set of this project (person {side})")),
    }
}


/// One point of the loss graph: the losses of A and B at an iteration (counted from 1), or
/// their means over the iterations up to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    pub iteration: u64,
    pub a: f32,
    pub b: f32,
}

/// At most `max` points from a per-iteration history: the means of equal runs of iterations,
/// each placed at its last iteration. Non-finite losses are left out of the means.
pub fn downsample(history: &[[f32; 2]], max: usize) -> Vec<LossPoint> {
    if history.is_empty() || max == 0 {
        return Vec::new();
    }
    let per = history.len().div_ceil(max);
    history
        .chunks(per)
        .enumerate()
        .filter_map(|(i, chunk)| {
            let mean = |side: usize| {
                let (sum, n) = chunk.iter().map(|l| l[side]).filter(|v| v.is_finite()).fold((0.0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
                (n > 0).then(|| (sum / n as f64) as f32)
            };
            let last = (i * per + chunk.len()) as u64;
            Some(LossPoint { iteration: last, a: mean(0)?, b: mean(1)? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(a: &str, b: &str) -> TrainForm {
        TrainForm { face_set_a: a.into(), face_set_b: b.into(), ..Default::default() }
    }

    #[test]
    fn empty_fields_take_the_defaults() {
        let p = form("3", "4").parse("A to B").unwrap();
        assert_eq!((p.face_set_a, p.face_set_b, p.kind.as_str(), p.batch), (3, 4, "original", 16));
        assert_eq!((p.iterations, p.save_every, p.warp, p.learning_rate), (None, 250, WarpChoice::Random, None));
        assert_eq!(p.label, "A to B");
    }

    #[test]
    fn fields_are_read_and_checked() {
        let f = TrainForm {
            kind: "lightweight".into(),
            batch: " 2 ".into(),
            iterations: "6".into(),
            save_every: "2".into(),
            warp: "to-landmarks".into(),
            learning_rate: "1e-4".into(),
            ..form("7", "9")
        };
        let p = f.parse("m").unwrap();
        assert_eq!((p.kind.as_str(), p.batch, p.iterations, p.save_every, p.warp, p.learning_rate), ("lightweight", 2, Some(6), 2, WarpChoice::ToLandmarks, Some(1e-4)));
        for w in WarpChoice::ALL {
            assert_eq!(WarpChoice::parse(w.as_str()), Some(w));
            assert_eq!(serde_json::to_value(w).unwrap(), w.as_str(), "the job stores the same name");
        }
    }

    #[test]
    fn bad_values_get_messages_that_say_what_to_fix() {
        let err = |f: TrainForm| f.parse("m").unwrap_err();
        assert!(err(form("", "4")).contains("pick the face set of person A"));
        assert!(err(form("3", "x")).contains("'x' is not a face set of this project (person B)"));
        assert!(err(form("3", "3")).contains("two different face sets"));
        assert!(err(TrainForm { kind: "villain".into(), ..form("1", "2") }).contains("'villain' is not a model; pick one of original, lightweight, dfaker, dfl-h128"));
        assert!(err(TrainForm { batch: "0".into(), ..form("1", "2") }).contains("the batch size must be a whole number from 1 to 512, not '0'"));
        assert!(err(TrainForm { batch: "513".into(), ..form("1", "2") }).contains("from 1 to 512"));
        assert!(err(TrainForm { iterations: "0".into(), ..form("1", "2") }).contains("the target iteration count must be a whole number from 1"));
        assert!(err(TrainForm { iterations: "-5".into(), ..form("1", "2") }).contains("'-5'"));
        assert!(err(TrainForm { save_every: "0".into(), ..form("1", "2") }).contains("save every must be a whole number from 1"));
        assert!(err(TrainForm { warp: "sideways".into(), ..form("1", "2") }).contains("'sideways' is not a warp"));
        for lr in ["0", "-1", "NaN", "inf", "0.5", "fast"] {
            assert!(err(TrainForm { learning_rate: lr.into(), ..form("1", "2") }).contains("the learning rate must be a number above 0 and at most 0.01"), "{lr}");
        }
    }

    #[test]
    fn a_further_run_must_go_beyond_the_model() {
        assert_eq!(parse_more_iterations(" 600 ", 300), Ok(600));
        assert!(parse_more_iterations("300", 300).unwrap_err().contains("the model has 300 iterations: the target must be above that"));
        assert!(parse_more_iterations("", 300).unwrap_err().contains("above"));
        assert!(parse_more_iterations("lots", 300).unwrap_err().contains("'lots'"));
        assert_eq!(default_model_name("Woman A", "Woman B"), "Woman A to Woman B");
        assert_eq!(default_model_name(&"x".repeat(100), &"y".repeat(100)).chars().count(), 120);
    }

    #[test]
    fn short_histories_are_kept_and_long_ones_become_bucket_means() {
        let h: Vec<[f32; 2]> = (1..=5).map(|i| [i as f32, 10.0 * i as f32]).collect();
        let p = downsample(&h, 800);
        assert_eq!(p.len(), 5);
        assert_eq!(p[0], LossPoint { iteration: 1, a: 1.0, b: 10.0 });
        assert_eq!(p[4], LossPoint { iteration: 5, a: 5.0, b: 50.0 });

        // 2001 iterations into at most 800 points: buckets of 3, the last one partial.
        let h: Vec<[f32; 2]> = (1..=2001).map(|i| [i as f32, 1.0]).collect();
        let p = downsample(&h, 800);
        assert_eq!(p.len(), 667);
        assert_eq!(p[0], LossPoint { iteration: 3, a: 2.0, b: 1.0 }, "the mean of 1, 2, 3 at iteration 3");
        assert_eq!(p[666], LossPoint { iteration: 2001, a: 2000.0, b: 1.0 }, "the mean of 1999..2001");
        assert!(downsample(&[], 800).is_empty());
    }

    #[test]
    fn non_finite_losses_are_left_out_of_the_means() {
        let h = [[1.0, f32::NAN], [3.0, 2.0], [f32::INFINITY, f32::NAN], [f32::NAN, f32::NAN]];
        let p = downsample(&h, 2);
        assert_eq!(p, vec![LossPoint { iteration: 2, a: 2.0, b: 2.0 }], "the second bucket has no finite loss at all");
    }
}
