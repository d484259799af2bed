//! The SSD prior boxes ("anchors") and the box coder that turns predicted offsets into boxes.
//!
//! face-api.js does not compute its anchors: it loads them from the weights as the constant
//! `Output/extra_dim` (`[1, 5118, 4]`), exported from the TensorFlow Object Detection API's
//! `ssd_anchor_generator`. [`generate`] reproduces that generator (checked against the shipped
//! tensor in the tests), so [`SsdMobilenetV1Config::init`](super::SsdMobilenetV1Config::init)
//! can build a complete network without weights.
//!
//! Boxes are normalized to the square network input and ordered `[ymin, xmin, ymax, xmax]`,
//! as in TensorFlow.

/// A box normalized to the network input: `[ymin, xmin, ymax, xmax]`.
pub type NormBox = [f32; 4];

/// Number of box predictors, one per feature map.
pub const FEATURE_MAPS: usize = 6;

/// Smallest and largest anchor scale of the generator (relative to the input side).
const MIN_SCALE: f64 = 0.2;
const MAX_SCALE: f64 = 0.95;

/// The box coder's scale factors for `(ty, tx, th, tw)` (TF's `faster_rcnn_box_coder`).
const Y_SCALE: f32 = 10.0;
const X_SCALE: f32 = 10.0;
const H_SCALE: f32 = 5.0;
const W_SCALE: f32 = 5.0;

/// One feature map a box predictor reads: a `grid` x `grid` map with `per_cell` anchors at
/// each position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureMap {
    pub grid: usize,
    pub per_cell: usize,
}

impl FeatureMap {
    pub fn anchors(&self) -> usize {
        self.grid * self.grid * self.per_cell
    }
}

/// The six feature maps for a square input of side `input_size`: MobileNet's conv 11
/// (stride 16), its output (stride 32) and four extra layers, each halving the grid
/// (TensorFlow "same" padding, so sizes round up).
pub fn feature_maps(input_size: usize) -> [FeatureMap; FEATURE_MAPS] {
    let mut grid = (0..4).fold(input_size, |s, _| s.div_ceil(2));
    std::array::from_fn(|i| {
        if i > 0 {
            grid = grid.div_ceil(2);
        }
        FeatureMap { grid, per_cell: if i == 0 { 3 } else { 6 } }
    })
}

/// Total number of anchors for `input_size` (5118 for 512).
pub fn anchor_count(input_size: usize) -> usize {
    feature_maps(input_size).iter().map(FeatureMap::anchors).sum()
}

/// The `(scale, aspect ratio)` of the anchors at one cell of feature map `layer`.
fn box_specs(layer: usize) -> Vec<(f64, f64)> {
    let scale = |k: usize| match k {
        k if k < FEATURE_MAPS => MIN_SCALE + (MAX_SCALE - MIN_SCALE) * k as f64 / (FEATURE_MAPS - 1) as f64,
        _ => 1.0,
    };
    let s = scale(layer);
    if layer == 0 {
        // `reduce_boxes_in_lowest_layer`: a small square and two boxes of the first scale.
        return vec![(0.1, 1.0), (s, 2.0), (s, 0.5)];
    }
    let between = (s * scale(layer + 1)).sqrt();
    vec![(s, 1.0), (between, 1.0), (s, 2.0), (s, 0.5), (s, 3.0), (s, 0.3333)]
}

/// All anchors for `input_size`, in the order the predictions are concatenated: feature map,
/// then row, column, and anchor within the cell.
pub fn generate(input_size: usize) -> Vec<NormBox> {
    let mut out = Vec::with_capacity(anchor_count(input_size));
    for (layer, map) in feature_maps(input_size).iter().enumerate() {
        let specs = box_specs(layer);
        debug_assert_eq!(specs.len(), map.per_cell);
        let step = 1.0 / map.grid as f64;
        for row in 0..map.grid {
            for col in 0..map.grid {
                let (cy, cx) = ((row as f64 + 0.5) * step, (col as f64 + 0.5) * step);
                for &(scale, ratio) in &specs {
                    let (h, w) = (scale / ratio.sqrt(), scale * ratio.sqrt());
                    out.push([cy - h / 2.0, cx - w / 2.0, cy + h / 2.0, cx + w / 2.0].map(|v| v as f32));
                }
            }
        }
    }
    out
}

/// Applies predicted offsets `(ty, tx, th, tw)` to an anchor (TF's `faster_rcnn_box_coder`
/// with scale factors 10, 10, 5, 5).
pub fn decode(encoding: [f32; 4], anchor: NormBox) -> NormBox {
    let [ty, tx, th, tw] = encoding;
    let [ymin, xmin, ymax, xmax] = anchor;
    let (ha, wa) = (ymax - ymin, xmax - xmin);
    let (cya, cxa) = (ymin + ha / 2.0, xmin + wa / 2.0);
    let cy = ty / Y_SCALE * ha + cya;
    let cx = tx / X_SCALE * wa + cxa;
    let half_h = (th / H_SCALE).exp() * ha / 2.0;
    let half_w = (tw / W_SCALE).exp() * wa / 2.0;
    [cy - half_h, cx - half_w, cy + half_h, cx + half_w]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_512_input_has_5118_anchors() {
        let grids: Vec<(usize, usize)> = feature_maps(512).iter().map(|m| (m.grid, m.per_cell)).collect();
        assert_eq!(grids, [(32, 3), (16, 6), (8, 6), (4, 6), (2, 6), (1, 6)]);
        let per_map: Vec<usize> = feature_maps(512).iter().map(FeatureMap::anchors).collect();
        assert_eq!(per_map, [3072, 1536, 384, 96, 24, 6]);
        assert_eq!(anchor_count(512), 5118);
        assert_eq!(generate(512).len(), 5118);
    }

    #[test]
    fn generated_anchors_start_and_end_like_tensorflow() {
        let a = generate(512);
        let close = |got: NormBox, want: NormBox| got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-4);
        assert!(close(a[0], [-0.0344, -0.0344, 0.0656, 0.0656]), "{:?}", a[0]);
        assert!(close(a[1], [-0.0551, -0.1258, 0.0863, 0.1570]), "{:?}", a[1]);
        assert!(close(a[5117], [-0.3228, 0.2258, 1.3228, 0.7742]), "{:?}", a[5117]);
    }

    #[test]
    fn zero_offsets_give_the_anchor_and_sizes_grow_exponentially() {
        let anchor = [0.2, 0.1, 0.6, 0.3];
        let same = decode([0.0; 4], anchor);
        assert!(same.iter().zip(anchor).all(|(a, b)| (a - b).abs() < 1e-6), "{same:?}");
        let [ymin, xmin, ymax, xmax] = decode([10.0, -10.0, 5.0 * 2f32.ln(), 0.0], anchor);
        // Moved down by one anchor height and left by one width; twice as tall.
        assert!((ymin - 0.4).abs() < 1e-6 && (ymax - 1.2).abs() < 1e-6, "{ymin} {ymax}");
        assert!((xmin + 0.1).abs() < 1e-6 && (xmax - 0.1).abs() < 1e-6, "{xmin} {xmax}");
    }
}
