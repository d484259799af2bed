//! Augmentation of training faces, as faceswap users know it: colour jitter in L*a*b*,
//! random rotation, zoom, shift and flip applied to input, target and mask alike, then a warp
//! of the input only (a random smooth warp, or a warp towards the landmarks of a similar face
//! of the other side).
//!
//! Every random choice comes from the `rng` passed in, so a seed gives the same examples.

use image::GrayImage;
use palette::{IntoColor, Lab, LinSrgb, Srgb};
use rand::Rng;

use super::planes::{Affine, Planes};
use super::warp::{landmark_field, random_grid};
use crate::geometry::Point;
use crate::mask::{region_mask, FaceRegion};

/// How the model's input is warped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarpMode {
    /// Not at all.
    None,
    /// A random smooth grid warp.
    #[default]
    Random,
    /// Towards the landmarks of a similar face of the other side.
    ToLandmarks,
}

/// The ranges of the random changes (faceswap's defaults).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AugmentSettings {
    pub warp: WarpMode,
    /// Strength of the random warp: standard deviation of a control point's move, as a
    /// fraction of the side.
    pub warp_strength: f32,
    /// Rotation, degrees either way.
    pub rotation: f32,
    /// Zoom, a fraction either way.
    pub zoom: f32,
    /// Shift, a fraction of the side either way.
    pub shift: f32,
    /// Chance of a left-right flip.
    pub flip: f32,
    /// Lightness change, a fraction of the L* range either way.
    pub lightness: f32,
    /// a* and b* change, a fraction of their range either way.
    pub ab: f32,
}

impl Default for AugmentSettings {
    fn default() -> Self {
        AugmentSettings {
            warp: WarpMode::Random,
            warp_strength: 0.02,
            rotation: 10.0,
            zoom: 0.05,
            shift: 0.05,
            flip: 0.5,
            lightness: 0.3,
            ab: 0.08,
        }
    }
}

impl AugmentSettings {
    /// No change at all: what previews and timelapses use.
    pub const NONE: AugmentSettings = AugmentSettings {
        warp: WarpMode::None,
        warp_strength: 0.0,
        rotation: 0.0,
        zoom: 0.0,
        shift: 0.0,
        flip: 0.0,
        lightness: 0.0,
        ab: 0.0,
    };
}

/// A face ready to augment: its training crop, mask and landmarks (in the crop's pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub rgb: Planes,
    pub mask: Planes,
    pub landmarks: [Point; 68],
}

/// One training example.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// What the encoder gets, at the model's input size.
    pub input: Planes,
    /// What the decoder should make, at its output size.
    pub target: Planes,
    /// The face mask at the output size.
    pub mask: Planes,
    /// The eye and mouth regions at the output size (for the loss multipliers).
    pub eyes: Planes,
    pub mouth: Planes,
}

/// Augments `source` into an example of `input` and `output` side. `partner` are the
/// landmarks (in the same crop frame and size) of the face to warp towards with
/// [`WarpMode::ToLandmarks`]; without one, that mode warps randomly.
pub fn augment(
    source: &Source,
    partner: Option<&[Point; 68]>,
    settings: &AugmentSettings,
    input: usize,
    output: usize,
    rng: &mut impl Rng,
) -> Example {
    let side = source.rgb.side;
    let rgb = jitter_colour(&source.rgb, settings, rng);
    let transform = random_transform(side, settings, rng);
    let to_source = |size: usize| {
        transform
            .inverse()
            .unwrap_or(Affine::IDENTITY)
            .after(&Affine::rescale(size, side))
    };
    let landmarks_at = |points: &[Point; 68], size: usize| -> [Point; 68] {
        let to = Affine::rescale(side, size).after(&transform);
        points.map(|p| {
            let (x, y) = to.apply(p.x, p.y);
            Point::new(x, y)
        })
    };

    let target = rgb.warp_affine(&to_source(output), output);
    let mask = source.mask.warp_affine(&to_source(output), output);
    let at_output = landmarks_at(&source.landmarks, output);
    let region = |r| grey_planes(&region_mask(r, &at_output, output as u32));
    let (eyes, mouth) = (region(FaceRegion::Eyes), region(FaceRegion::Mouth));

    let straight = rgb.warp_affine(&to_source(input), input);
    let field = match (settings.warp, partner) {
        (WarpMode::None, _) => None,
        (WarpMode::ToLandmarks, Some(partner)) => {
            let from: Vec<(f32, f32)> = landmarks_at(&source.landmarks, input)
                .iter()
                .map(|p| (p.x, p.y))
                .collect();
            let to: Vec<(f32, f32)> = landmarks_at(partner, input)
                .iter()
                .map(|p| (p.x, p.y))
                .collect();
            landmark_field(&from, &to, input)
        }
        (WarpMode::Random | WarpMode::ToLandmarks, _) => {
            Some(random_grid(input, settings.warp_strength, rng))
        }
    };
    let input = match field {
        Some(field) => straight.warp_field(&field),
        None => straight,
    };
    Example {
        input,
        target,
        mask,
        eyes,
        mouth,
    }
}

/// A random rotation, zoom and shift about the centre, then maybe a flip: crop pixels ->
/// crop pixels.
fn random_transform(side: usize, s: &AugmentSettings, rng: &mut impl Rng) -> Affine {
    let either =
        |rng: &mut dyn rand::RngCore, r: f32| if r > 0.0 { rng.gen_range(-r..=r) } else { 0.0 };
    let angle = either(rng, s.rotation).to_radians();
    let scale = 1.0 + either(rng, s.zoom);
    let (tx, ty) = (
        either(rng, s.shift) * side as f32,
        either(rng, s.shift) * side as f32,
    );
    let flip = s.flip > 0.0 && rng.gen::<f32>() < s.flip;
    let c = (side as f32 - 1.0) / 2.0;
    let (cos, sin) = (angle.cos() * scale, angle.sin() * scale);
    // p' = R s (p - c) + c + t
    let turn = Affine([
        [cos, -sin, c - cos * c + sin * c + tx],
        [sin, cos, c - sin * c - cos * c + ty],
    ]);
    if flip {
        Affine([[-1.0, 0.0, 2.0 * c], [0.0, 1.0, 0.0]]).after(&turn)
    } else {
        turn
    }
}

/// Each of L*, a* and b* moved towards its top or bottom by a random fraction (faceswap's
/// colour augmentation): `v (1 - r) + r` for `r > 0`, `v (1 + r)` for `r < 0`, on the channel
/// scaled to `[0, 1]`.
fn jitter_colour(rgb: &Planes, s: &AugmentSettings, rng: &mut impl Rng) -> Planes {
    if s.lightness <= 0.0 && s.ab <= 0.0 {
        return rgb.clone();
    }
    let pick =
        |rng: &mut dyn rand::RngCore, r: f32| if r > 0.0 { rng.gen_range(-r..=r) } else { 0.0 };
    let amounts = [pick(rng, s.lightness), pick(rng, s.ab), pick(rng, s.ab)];
    let toward = |v: f32, r: f32| {
        if r > 0.0 {
            v * (1.0 - r) + r
        } else {
            v * (1.0 + r)
        }
    };
    let n = rgb.side * rgb.side;
    let mut out = rgb.clone();
    for i in 0..n {
        let px = Srgb::new(rgb.data[i], rgb.data[n + i], rgb.data[2 * n + i]);
        let lab: Lab = px.into_linear::<f32>().into_color();
        // L* in [0, 100], a* and b* in about [-128, 127].
        let l = toward(lab.l / 100.0, amounts[0]) * 100.0;
        let a = toward((lab.a + 128.0) / 255.0, amounts[1]) * 255.0 - 128.0;
        let b = toward((lab.b + 128.0) / 255.0, amounts[2]) * 255.0 - 128.0;
        let lin: LinSrgb = Lab::new(l, a, b).into_color();
        let back: Srgb<f32> = Srgb::from_linear(lin);
        out.data[i] = back.red.clamp(0.0, 1.0);
        out.data[n + i] = back.green.clamp(0.0, 1.0);
        out.data[2 * n + i] = back.blue.clamp(0.0, 1.0);
    }
    out
}

/// A grey image as one plane in `[0, 1]`.
pub fn grey_planes(image: &GrayImage) -> Planes {
    assert_eq!(image.width(), image.height(), "a square image");
    Planes::new(
        1,
        image.width() as usize,
        image.pixels().map(|p| f32::from(p[0]) / 255.0).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A synthetic face crop: a bright disc on a dark ground, mean-face landmarks.
    fn source(side: usize) -> Source {
        let c = side as f32 / 2.0;
        let lum: Vec<f32> = (0..side * side)
            .map(|i| {
                if ((i % side) as f32 - c).hypot((i / side) as f32 - c) < side as f32 * 0.3 {
                    0.8
                } else {
                    0.2
                }
            })
            .collect();
        let mut rgb = lum.clone();
        rgb.extend(lum.iter().map(|v| v * 0.9));
        rgb.extend(lum.iter().map(|v| v * 0.7));
        let mask = lum
            .iter()
            .map(|&v| if v > 0.5 { 1.0 } else { 0.0 })
            .collect();
        let mean = crate::align::mean_face();
        let landmarks = mean.points().map(|p| {
            Point::new(
                c + p.x * side as f32 * 0.5,
                c * 0.9 + p.y * side as f32 * 0.5,
            )
        });
        Source {
            rgb: Planes::new(3, side, rgb),
            mask: Planes::new(1, side, mask),
            landmarks,
        }
    }

    #[test]
    fn without_augmentation_input_and_target_are_the_crop_resized() {
        let src = source(128);
        let ex = augment(
            &src,
            None,
            &AugmentSettings::NONE,
            64,
            128,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        assert_eq!(ex.target, src.rgb);
        assert_eq!(ex.input, src.rgb.resized(64));
        assert_eq!((ex.mask.side, ex.eyes.side, ex.mouth.side), (128, 128, 128));
        let on = |p: &Planes| p.data.iter().filter(|v| **v > 0.5).count();
        assert!(
            on(&ex.eyes) > 20 && on(&ex.mouth) > 20,
            "the regions are drawn"
        );
    }

    #[test]
    fn the_seed_decides_every_change_and_only_the_input_is_warped() {
        let src = source(64);
        let settings = AugmentSettings::default();
        let run = |seed| {
            augment(
                &src,
                None,
                &settings,
                64,
                64,
                &mut rand::rngs::StdRng::seed_from_u64(seed),
            )
        };
        let (a, b, c) = (run(3), run(3), run(4));
        assert_eq!(a, b);
        assert_ne!(a.target, c.target);
        let diff = |x: &Planes, y: &Planes| {
            x.data
                .iter()
                .zip(&y.data)
                .map(|(p, q)| (p - q).abs())
                .sum::<f32>()
                / x.data.len() as f32
        };
        assert!(
            diff(&a.input, &a.target) > 1e-3,
            "the warp changes the input"
        );
        // Mask and target move together: the mask is on where the target is bright.
        let agree = a
            .mask
            .data
            .iter()
            .zip(a.target.plane(0))
            .filter(|(m, t)| (**m > 0.5) == (**t > 0.5))
            .count();
        assert!(agree as f32 > 0.97 * (64 * 64) as f32, "{agree}");
    }

    #[test]
    fn colour_jitter_changes_lightness_within_its_range() {
        let src = source(32);
        let settings = AugmentSettings {
            lightness: 0.3,
            ab: 0.0,
            ..AugmentSettings::NONE
        };
        let mean = |p: &Planes| p.data.iter().sum::<f32>() / p.data.len() as f32;
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let means: Vec<f32> = (0..20)
            .map(|_| mean(&jitter_colour(&src.rgb, &settings, &mut rng)))
            .collect();
        let base = mean(&src.rgb);
        assert!(
            means.iter().any(|m| m > &(base + 0.02)) && means.iter().any(|m| m < &(base - 0.02)),
            "{base} {means:?}"
        );
        assert!(means.iter().all(|m| (0.0..=1.0).contains(m)));
    }

    #[test]
    fn warping_to_landmarks_moves_the_face_towards_the_partner() {
        let src = source(64);
        // The partner's face is the same but a little wider.
        let partner = src
            .landmarks
            .map(|p| Point::new(32.0 + (p.x - 32.0) * 1.15, p.y));
        let settings = AugmentSettings {
            warp: WarpMode::ToLandmarks,
            ..AugmentSettings::NONE
        };
        let ex = augment(
            &src,
            Some(&partner),
            &settings,
            64,
            64,
            &mut rand::rngs::StdRng::seed_from_u64(1),
        );
        // The left jaw landmark's pixel in the input is where the partner's jaw is.
        let width = |p: &Planes| {
            p.plane(0)[32 * 64..33 * 64]
                .iter()
                .filter(|v| **v > 0.5)
                .count()
        };
        assert!(
            width(&ex.input) > width(&ex.target),
            "the disc grows wider with the partner: {} vs {}",
            width(&ex.input),
            width(&ex.target)
        );
    }
}
