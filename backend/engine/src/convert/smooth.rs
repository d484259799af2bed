//! Temporal smoothing of landmarks before cropping, so a swapped face does not swim or shake
//! from frame to frame: a one-euro filter (Casiez et al. 2012) per landmark coordinate of each
//! face track. Slow motion is smoothed hard; fast motion lowers the smoothing so the face keeps
//! up with the head.

use crate::geometry::{Landmarks68, Point};

/// A one-euro filter over one value.
#[derive(Debug, Clone)]
struct OneEuro {
    value: f64,
    speed: f64,
}

/// Smoothing factor of a first-order low-pass at `cutoff` Hz over `dt` seconds.
fn alpha(cutoff: f64, dt: f64) -> f64 {
    let tau = 1.0 / (2.0 * std::f64::consts::PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

/// The cut-off of the speed estimate, Hz.
const SPEED_CUTOFF: f64 = 1.0;

impl OneEuro {
    fn step(&mut self, x: f64, dt: f64, min_cutoff: f64, beta: f64) -> f64 {
        let raw_speed = (x - self.value) / dt;
        self.speed += alpha(SPEED_CUTOFF, dt) * (raw_speed - self.speed);
        let cutoff = min_cutoff + beta * self.speed.abs();
        self.value += alpha(cutoff, dt) * (x - self.value);
        self.value
    }
}

/// One face followed through the frames.
struct Track {
    filters: Vec<OneEuro>,
    centre: Point,
    time: f64,
}

/// How strongly landmarks are smoothed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SmoothSettings {
    /// Minimum cut-off frequency in Hz: lower is steadier (1 to 3 suits talking heads).
    pub min_cutoff: f64,
    /// How fast motion opens the filter, per face-size per second.
    pub beta: f64,
}

impl SmoothSettings {
    pub fn with_cutoff(min_cutoff: f64) -> SmoothSettings {
        SmoothSettings { min_cutoff, beta: 2.0 }
    }
}

/// Follows faces from frame to frame and smooths their landmarks.
pub struct Smoother {
    settings: SmoothSettings,
    tracks: Vec<Track>,
}

/// A track is continued only by a face this close (in face sizes) and this soon (seconds).
const MAX_JUMP: f32 = 0.5;
const MAX_GAP: f64 = 0.5;

fn centre(face: &Landmarks68) -> Point {
    let p = face.points();
    let n = p.len() as f32;
    Point::new(p.iter().map(|q| q.x).sum::<f32>() / n, p.iter().map(|q| q.y).sum::<f32>() / n)
}

/// The face's size: the distance between the outer eye corners.
fn size(face: &Landmarks68) -> f32 {
    face.points()[36].distance(face.points()[45]).max(1.0)
}

impl Smoother {
    pub fn new(settings: SmoothSettings) -> Smoother {
        Smoother { settings, tracks: Vec::new() }
    }

    /// The smoothed landmarks of the faces of the frame at `time` seconds.
    pub fn smooth(&mut self, time: f64, faces: &[Landmarks68]) -> Vec<Landmarks68> {
        let mut old = std::mem::take(&mut self.tracks);
        let mut out = Vec::with_capacity(faces.len());
        for face in faces {
            let (c, s) = (centre(face), size(face));
            let near = old.iter().enumerate().filter(|(_, t)| time - t.time <= MAX_GAP && time > t.time && t.centre.distance(c) <= MAX_JUMP * s).min_by(|a, b| a.1.centre.distance(c).total_cmp(&b.1.centre.distance(c))).map(|(i, _)| i);
            let coords = face.points().iter().flat_map(|p| [f64::from(p.x), f64::from(p.y)]);
            let mut track = match near {
                Some(i) => {
                    let mut t = old.swap_remove(i);
                    let dt = time - t.time;
                    let beta = self.settings.beta / f64::from(s);
                    for (f, x) in t.filters.iter_mut().zip(coords) {
                        f.step(x, dt, self.settings.min_cutoff, beta);
                    }
                    t
                }
                None => Track { filters: coords.map(|x| OneEuro { value: x, speed: 0.0 }).collect(), centre: c, time },
            };
            track.time = time;
            track.centre = c;
            out.push(Landmarks68(std::array::from_fn(|i| Point::new(track.filters[2 * i].value as f32, track.filters[2 * i + 1].value as f32))));
            self.tracks.push(track);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::{mean_face, Similarity};

    fn face(x: f32, y: f32) -> Landmarks68 {
        Landmarks68(mean_face().points().map(|p| Similarity { scale: 100.0, angle: 0.0, tx: f64::from(x), ty: f64::from(y) }.apply(p)))
    }

    #[test]
    fn jitter_is_damped_and_real_motion_followed() {
        let mut s = Smoother::new(SmoothSettings::with_cutoff(1.0));
        // A still face with 2 px of jitter: the output moves far less.
        let mut moved = 0.0;
        let mut last = None;
        for i in 0..60 {
            let jitter = if i % 2 == 0 { 1.0 } else { -1.0 };
            let out = s.smooth(i as f64 / 30.0, &[face(200.0 + jitter, 200.0)]);
            let x = out[0].points()[30].x;
            if let Some(l) = last {
                moved += (x - l as f32).abs();
            }
            last = Some(x);
        }
        assert!(moved / 59.0 < 0.5, "mean motion {} px for 2 px of jitter", moved / 59.0);
        // A face that moves 300 px in a second ends up near where it went.
        let mut s = Smoother::new(SmoothSettings::with_cutoff(1.0));
        let mut out = Vec::new();
        for i in 0..=30 {
            out = s.smooth(i as f64 / 30.0, &[face(200.0 + 10.0 * i as f32, 200.0)]);
        }
        let target = face(500.0, 200.0).points()[30].x;
        assert!((out[0].points()[30].x - target).abs() < 30.0, "{} vs {target}", out[0].points()[30].x);
        // Two faces far apart are two tracks; a new face starts unsmoothed.
        let two = s.smooth(31.0 / 30.0, &[face(510.0, 200.0), face(100.0, 400.0)]);
        assert_eq!(two[1], face(100.0, 400.0));
    }
}
