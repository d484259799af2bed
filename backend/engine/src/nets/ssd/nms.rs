//! Greedy non-maximum suppression, as face-api.js runs it after the SSD detector.

use crate::geometry::Rect;

/// How [`non_max_suppression`] selects boxes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NmsOptions {
    /// Boxes scoring at or below this are dropped before suppression.
    pub min_score: f32,
    /// A box is suppressed when its IoU with a kept, higher-scoring box exceeds this.
    pub iou_threshold: f32,
    /// At most this many boxes are kept.
    pub max_results: usize,
}

/// Indices of the boxes to keep, best score first.
///
/// Candidates are the boxes scoring above `min_score`, visited by descending score (ties in
/// index order); each is kept unless its IoU with an already kept box exceeds
/// `iou_threshold`. Equivalent to face-api.js' `nonMaxSuppression`.
pub fn non_max_suppression(boxes: &[Rect], scores: &[f32], options: &NmsOptions) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "one score per box");
    let mut candidates: Vec<usize> = (0..boxes.len()).filter(|&i| scores[i] > options.min_score).collect();
    candidates.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut kept: Vec<usize> = Vec::new();
    for i in candidates {
        if kept.len() >= options.max_results {
            break;
        }
        if kept.iter().all(|&k| boxes[i].iou(&boxes[k]) <= options.iou_threshold) {
            kept.push(i);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: NmsOptions = NmsOptions { min_score: 0.5, iou_threshold: 0.5, max_results: 100 };

    #[test]
    fn overlapping_boxes_keep_the_best_one() {
        let boxes = [
            Rect::new(0.0, 0.0, 10.0, 10.0),
            Rect::new(1.0, 1.0, 10.0, 10.0), // IoU with the first 81/119 = 0.68
            Rect::new(50.0, 50.0, 10.0, 10.0),
            Rect::new(5.0, 0.0, 10.0, 10.0), // IoU 1/3 with the first: kept
        ];
        let keep = non_max_suppression(&boxes, &[0.7, 0.9, 0.8, 0.6], &OPTIONS);
        assert_eq!(keep, [1, 2, 3]);
    }

    #[test]
    fn threshold_is_exclusive_and_max_results_caps() {
        let boxes: Vec<Rect> = (0..5).map(|i| Rect::new(20.0 * i as f32, 0.0, 10.0, 10.0)).collect();
        let scores = [0.5, 0.51, 0.9, 0.2, 0.95];
        assert_eq!(non_max_suppression(&boxes, &scores, &OPTIONS), [4, 2, 1]);
        let two = NmsOptions { max_results: 2, ..OPTIONS };
        assert_eq!(non_max_suppression(&boxes, &scores, &two), [4, 2]);
    }

    #[test]
    fn iou_exactly_at_the_threshold_is_kept() {
        // Second box overlaps the first by 10x10 out of a union of 20x10: IoU 0.5.
        let boxes = [Rect::new(0.0, 0.0, 20.0, 10.0), Rect::new(10.0, 0.0, 10.0, 10.0)];
        assert_eq!(non_max_suppression(&boxes, &[0.9, 0.8], &OPTIONS), [0, 1]);
        assert!(non_max_suppression(&[], &[], &OPTIONS).is_empty());
    }
}
