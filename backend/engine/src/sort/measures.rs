//! Per-face measures for sorting: sharpness, colour histogram, colourfulness, head pose.

use image::RgbImage;

use crate::geometry::Landmarks68;

/// Sharpness: the variance of the Laplacian of the grey crop (higher is sharper).
pub fn blur(image: &RgbImage) -> f32 {
    let (w, h) = image.dimensions();
    if w < 3 || h < 3 {
        return 0.0;
    }
    let grey = |x: u32, y: u32| {
        let p = image.get_pixel(x, y);
        0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
    };
    let mut values = Vec::with_capacity(((w - 2) * (h - 2)) as usize);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            values.push(grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1) - 4.0 * grey(x, y));
        }
    }
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / values.len() as f32
}

/// 8 bins per channel, each channel's bins summing to 1, over the crop's central half (the face,
/// not the background around it).
pub fn histogram(image: &RgbImage) -> [f32; 24] {
    let (w, h) = image.dimensions();
    let mut bins = [0.0f32; 24];
    let mut n = 0.0f32;
    for y in h / 4..h - h / 4 {
        for x in w / 4..w - w / 4 {
            let p = image.get_pixel(x, y);
            for c in 0..3 {
                bins[c * 8 + usize::from(p[c] / 32)] += 1.0;
            }
            n += 1.0;
        }
    }
    bins.map(|b| b / n.max(1.0))
}

/// Hasler and Süsstrunk's colourfulness of the crop's central half.
pub fn colourfulness(image: &RgbImage) -> f32 {
    let (w, h) = image.dimensions();
    let (mut rg, mut yb) = (Vec::new(), Vec::new());
    for y in h / 4..h - h / 4 {
        for x in w / 4..w - w / 4 {
            let p = image.get_pixel(x, y);
            let (r, g, b) = (f32::from(p[0]), f32::from(p[1]), f32::from(p[2]));
            rg.push(r - g);
            yb.push(0.5 * (r + g) - b);
        }
    }
    let stats = |v: &[f32]| {
        let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len().max(1) as f32;
        (mean, var.sqrt())
    };
    let ((m1, s1), (m2, s2)) = (stats(&rg), stats(&yb));
    (s1 * s1 + s2 * s2).sqrt() + 0.3 * (m1 * m1 + m2 * m2).sqrt()
}

/// (yaw, pitch) of the head from its landmarks, each about -1..1: yaw is how far the nose tip
/// sits from the middle of the eyes, in inter-ocular distances (positive: towards the image's
/// right); pitch is where the nose tip sits between the eye line and the chin (0 at its usual
/// place, positive: looking down).
pub fn pose(landmarks: &Landmarks68) -> (f32, f32) {
    let p = landmarks.points();
    let mean = |range: std::ops::Range<usize>| {
        let n = range.len() as f32;
        let (x, y) = range.fold((0.0, 0.0), |(x, y), i| (x + p[i].x, y + p[i].y));
        (x / n, y / n)
    };
    let (right_eye, left_eye) = (mean(36..42), mean(42..48));
    let eyes = ((right_eye.0 + left_eye.0) / 2.0, (right_eye.1 + left_eye.1) / 2.0);
    let span = ((left_eye.0 - right_eye.0).powi(2) + (left_eye.1 - right_eye.1).powi(2)).sqrt().max(1e-3);
    let (nose, chin) = (p[30], p[8]);
    let yaw = (nose.x - eyes.0) / span;
    let drop = (chin.y - eyes.1).max(1e-3);
    // On a frontal face the nose tip sits about 40 % of the way from the eye line to the chin.
    let pitch = (nose.y - eyes.1) / drop - 0.4;
    (yaw, pitch)
}
