//! The frame editor's state without the DOM: the 68 landmarks' groups, the view (zoom and pan)
//! between frame and canvas pixels, finding the point under the cursor, moving a point or its
//! group, brushing a mask, and undo/redo.

use std::ops::Range;

/// The iBUG 68-point groups, with the keys that pick them.
pub const GROUPS: [(&str, Range<usize>, bool); 8] = [
    ("jaw", 0..17, false),
    ("right brow", 17..22, false),
    ("left brow", 22..27, false),
    ("nose", 27..36, false),
    ("right eye", 36..42, true),
    ("left eye", 42..48, true),
    ("outer lips", 48..60, true),
    ("inner lips", 60..68, true),
];

/// The group of point `i`: its range and whether it is a closed outline.
pub fn group_of(i: usize) -> (Range<usize>, bool) {
    GROUPS.iter().find(|(_, r, _)| r.contains(&i)).map(|(_, r, closed)| (r.clone(), *closed)).unwrap_or((i..i + 1, false))
}

/// The aligner's box in frame pixels: centre, size and a turn (radians, clockwise on screen:
/// frame y points down), so a tilted head can be boxed upright for the aligner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    pub cx: f32,
    pub cy: f32,
    pub w: f32,
    pub h: f32,
    pub angle: f32,
}

/// Smallest side of a box, in frame pixels.
const MIN_SIDE: f32 = 4.0;

impl FaceBox {
    /// An upright box from `[x, y, w, h]`.
    pub fn from_rect(r: [f32; 4]) -> FaceBox {
        FaceBox { cx: r[0] + r[2] / 2.0, cy: r[1] + r[3] / 2.0, w: r[2], h: r[3], angle: 0.0 }
    }

    /// Box-local `(u, v)` (from the centre, along the box's sides) -> frame.
    fn to_frame(&self, u: f32, v: f32) -> [f32; 2] {
        let (s, c) = self.angle.sin_cos();
        [self.cx + c * u - s * v, self.cy + s * u + c * v]
    }

    /// Frame -> box-local `(u, v)`.
    fn to_local(&self, p: [f32; 2]) -> (f32, f32) {
        let (s, c) = self.angle.sin_cos();
        let (dx, dy) = (p[0] - self.cx, p[1] - self.cy);
        (c * dx + s * dy, -s * dx + c * dy)
    }

    /// Top left, top right, bottom right, bottom left (as the box is turned).
    pub fn corners(&self) -> [[f32; 2]; 4] {
        let (u, v) = (self.w / 2.0, self.h / 2.0);
        [self.to_frame(-u, -v), self.to_frame(u, -v), self.to_frame(u, v), self.to_frame(-u, v)]
    }

    /// The turning handle: `above` frame pixels over the middle of the top side.
    pub fn handle(&self, above: f32) -> [f32; 2] {
        self.to_frame(0.0, -self.h / 2.0 - above)
    }

    pub fn contains(&self, p: [f32; 2]) -> bool {
        let (u, v) = self.to_local(p);
        u.abs() <= self.w / 2.0 && v.abs() <= self.h / 2.0
    }

    pub fn moved(&self, dx: f32, dy: f32) -> FaceBox {
        FaceBox { cx: self.cx + dx, cy: self.cy + dy, ..*self }
    }

    /// Corner `corner` (as in [`Self::corners`]) at `p`, the opposite corner kept.
    pub fn resized(&self, corner: usize, p: [f32; 2]) -> FaceBox {
        let kept = self.corners()[(corner + 2) % 4];
        let (ku, kv) = self.to_local(kept);
        let (pu, pv) = self.to_local(p);
        let (w, h) = ((pu - ku).abs().max(MIN_SIDE), (pv - kv).abs().max(MIN_SIDE));
        let (mu, mv) = (ku + (pu - ku).signum() * w / 2.0, kv + (pv - kv).signum() * h / 2.0);
        let c = self.to_frame(mu, mv);
        FaceBox { cx: c[0], cy: c[1], w, h, ..*self }
    }

    /// Turned so that its top points at `p`.
    pub fn turned_towards(&self, p: [f32; 2]) -> FaceBox {
        let angle = (p[0] - self.cx).atan2(-(p[1] - self.cy));
        FaceBox { angle, ..*self }
    }

    /// The upright `[x, y, w, h]` that holds the box.
    pub fn bounds(&self) -> [f32; 4] {
        let c = self.corners();
        let (x0, x1) = c.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[0]), b.max(p[0])));
        let (y0, y1) = c.iter().fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
        [x0, y0, x1 - x0, y1 - y0]
    }

    /// The box as upright `[x, y, w, h]` of its own size, for the aligner with [`Self::angle`].
    pub fn unturned(&self) -> [f32; 4] {
        [self.cx - self.w / 2.0, self.cy - self.h / 2.0, self.w, self.h]
    }
}

/// Frame pixels -> canvas pixels: `canvas = frame * scale + offset`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub scale: f64,
    pub ox: f64,
    pub oy: f64,
}

impl View {
    /// The view that shows `rect` (`[x, y, w, h]` in frame pixels) with a margin of its own
    /// size around it, centred in a `w` x `h` canvas.
    pub fn around(rect: [f32; 4], w: f64, h: f64) -> View {
        let (rw, rh) = (f64::from(rect[2]).max(1.0) * 2.0, f64::from(rect[3]).max(1.0) * 2.0);
        let scale = (w / rw).min(h / rh).clamp(0.05, 40.0);
        let (cx, cy) = (f64::from(rect[0]) + f64::from(rect[2]) / 2.0, f64::from(rect[1]) + f64::from(rect[3]) / 2.0);
        View { scale, ox: w / 2.0 - cx * scale, oy: h / 2.0 - cy * scale }
    }

    pub fn to_canvas(&self, p: [f32; 2]) -> (f64, f64) {
        (f64::from(p[0]) * self.scale + self.ox, f64::from(p[1]) * self.scale + self.oy)
    }

    pub fn to_frame(&self, x: f64, y: f64) -> [f32; 2] {
        [((x - self.ox) / self.scale) as f32, ((y - self.oy) / self.scale) as f32]
    }

    /// Zoomed by `factor` keeping the frame point under canvas `(x, y)` where it is.
    pub fn zoomed(&self, factor: f64, x: f64, y: f64) -> View {
        let scale = (self.scale * factor).clamp(0.05, 40.0);
        let f = scale / self.scale;
        View { scale, ox: x - (x - self.ox) * f, oy: y - (y - self.oy) * f }
    }
}

/// The landmark nearest canvas `(x, y)` within `radius` canvas pixels.
pub fn nearest(points: &[[f32; 2]], view: &View, x: f64, y: f64, radius: f64) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (px, py) = view.to_canvas(*p);
            (i, (px - x).hypot(py - y))
        })
        .filter(|(_, d)| *d <= radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// `start` with point `i` (or its whole group) moved by `(dx, dy)` frame pixels.
pub fn moved(start: &[[f32; 2]], i: usize, whole_group: bool, dx: f32, dy: f32) -> Vec<[f32; 2]> {
    let range = if whole_group { group_of(i).0 } else { i..i + 1 };
    start.iter().enumerate().map(|(k, p)| if range.contains(&k) { [p[0] + dx, p[1] + dy] } else { *p }).collect()
}

/// Paints (255) or erases (0) a disc of `radius` mask pixels at `(cx, cy)` in a square mask of
/// `side` pixels; returns whether anything changed.
pub fn brush(mask: &mut [u8], side: usize, cx: f64, cy: f64, radius: f64, paint: bool) -> bool {
    let value = if paint { 255 } else { 0 };
    let mut changed = false;
    let (y0, y1) = ((cy - radius).floor().max(0.0) as usize, ((cy + radius).ceil().max(0.0) as usize).min(side));
    let (x0, x1) = ((cx - radius).floor().max(0.0) as usize, ((cx + radius).ceil().max(0.0) as usize).min(side));
    for y in y0..y1 {
        for x in x0..x1 {
            if (x as f64 + 0.5 - cx).hypot(y as f64 + 0.5 - cy) <= radius && mask[y * side + x] != value {
                mask[y * side + x] = value;
                changed = true;
            }
        }
    }
    changed
}

/// Undo and redo over whole states.
#[derive(Debug, Clone, PartialEq)]
pub struct History<T> {
    past: Vec<T>,
    now: T,
    future: Vec<T>,
}

/// Most undo steps kept.
const MOST_STEPS: usize = 100;

impl<T: Clone + PartialEq> History<T> {
    pub fn new(start: T) -> History<T> {
        History { past: Vec::new(), now: start, future: Vec::new() }
    }

    pub fn now(&self) -> &T {
        &self.now
    }

    /// A new state (nothing happens when it equals the current one); clears the redo steps.
    pub fn push(&mut self, next: T) {
        if next == self.now {
            return;
        }
        self.past.push(std::mem::replace(&mut self.now, next));
        if self.past.len() > MOST_STEPS {
            self.past.remove(0);
        }
        self.future.clear();
    }

    pub fn undo(&mut self) -> bool {
        let Some(prev) = self.past.pop() else { return false };
        self.future.push(std::mem::replace(&mut self.now, prev));
        true
    }

    pub fn redo(&mut self) -> bool {
        let Some(next) = self.future.pop() else { return false };
        self.past.push(std::mem::replace(&mut self.now, next));
        true
    }

    pub fn can_undo(&self) -> bool {
        !self.past.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.future.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_the_68_points_once() {
        let mut seen = [0; 68];
        for (_, r, _) in GROUPS {
            r.for_each(|i| seen[i] += 1);
        }
        assert!(seen.iter().all(|&n| n == 1));
        assert_eq!(group_of(40), (36..42, true));
        assert_eq!(group_of(5).0, 0..17);
    }

    #[test]
    fn the_view_maps_both_ways_and_zooms_about_the_cursor() {
        let v = View::around([100.0, 50.0, 80.0, 100.0], 400.0, 400.0);
        let (x, y) = v.to_canvas([140.0, 100.0]);
        assert!((x - 200.0).abs() < 1e-6 && (y - 200.0).abs() < 1e-6, "the box's centre is the canvas' centre");
        assert_eq!(v.to_frame(x, y), [140.0, 100.0]);
        let z = v.zoomed(2.0, 50.0, 70.0);
        assert!((z.scale - 2.0 * v.scale).abs() < 1e-9);
        let before = v.to_frame(50.0, 70.0);
        let after = z.to_frame(50.0, 70.0);
        assert!((before[0] - after[0]).abs() < 1e-4 && (before[1] - after[1]).abs() < 1e-4);
    }

    #[test]
    fn points_are_picked_and_moved_alone_or_with_their_group() {
        let points: Vec<[f32; 2]> = (0..68).map(|i| [i as f32 * 10.0, 0.0]).collect();
        let v = View { scale: 1.0, ox: 0.0, oy: 0.0 };
        assert_eq!(nearest(&points, &v, 401.0, 2.0, 6.0), Some(40));
        assert_eq!(nearest(&points, &v, 405.0, 20.0, 6.0), None);
        let one = moved(&points, 40, false, 3.0, -1.0);
        assert_eq!((one[40], one[41]), ([403.0, -1.0], [410.0, 0.0]));
        let eye = moved(&points, 40, true, 3.0, 0.0);
        assert!((36..42).all(|k| eye[k][0] == points[k][0] + 3.0) && eye[35] == points[35] && eye[42] == points[42]);
    }

    #[test]
    fn the_brush_paints_and_erases_discs() {
        let mut mask = vec![0u8; 16 * 16];
        assert!(brush(&mut mask, 16, 8.0, 8.0, 3.0, true));
        let painted = mask.iter().filter(|&&v| v == 255).count();
        assert!((20..=36).contains(&painted), "{painted} pixels for a radius of 3");
        assert!(!brush(&mut mask, 16, 8.0, 8.0, 3.0, true), "painting again changes nothing");
        assert!(brush(&mut mask, 16, 8.0, 8.0, 1.0, false));
        assert!(mask.iter().filter(|&&v| v == 255).count() < painted);
        // At the edge: clipped, no panic.
        assert!(brush(&mut mask, 16, -1.0, 15.5, 4.0, true));
    }

    #[test]
    fn boxes_move_resize_and_turn() {
        let close = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3;
        let b = FaceBox::from_rect([10.0, 20.0, 100.0, 50.0]);
        assert_eq!(b.unturned(), [10.0, 20.0, 100.0, 50.0]);
        assert!(close(b.corners()[0], [10.0, 20.0]) && close(b.corners()[2], [110.0, 70.0]));
        assert!(b.contains([60.0, 45.0]) && !b.contains([5.0, 45.0]));
        assert_eq!(b.moved(5.0, -5.0).unturned(), [15.0, 15.0, 100.0, 50.0]);
        // The bottom right corner out by 10: larger, the top left kept.
        let r = b.resized(2, [120.0, 80.0]);
        assert!(close(r.corners()[0], [10.0, 20.0]) && close([r.w, r.h], [110.0, 60.0]));
        // Dragged past the opposite corner: flipped, never below the smallest side.
        let tiny = b.resized(1, [10.0, 70.0]);
        assert!(tiny.w >= 4.0 && tiny.h >= 4.0);
        // Turned a quarter to the right: the top points along +x, the handle too.
        let t = b.turned_towards([200.0, 45.0]);
        assert!((t.angle - std::f32::consts::FRAC_PI_2).abs() < 1e-4, "{}", t.angle);
        let h = t.handle(10.0);
        assert!(h[0] > t.cx + t.h / 2.0 && (h[1] - t.cy).abs() < 1e-3);
        // Its bounds hold the turned box: 50 wide, 100 high.
        let bounds = t.bounds();
        assert!((bounds[2] - 50.0).abs() < 1e-3 && (bounds[3] - 100.0).abs() < 1e-3);
        // Resizing a turned box keeps its opposite corner.
        let kept = t.corners()[0];
        let grown = t.resized(2, [t.corners()[2][0] + 3.0, t.corners()[2][1] + 4.0]);
        assert!(close(grown.corners()[0], kept));
    }

    #[test]
    fn undo_and_redo_walk_the_states() {
        let mut h = History::new(1);
        h.push(2);
        h.push(2);
        h.push(3);
        assert!(h.undo() && *h.now() == 2);
        assert!(h.undo() && *h.now() == 1);
        assert!(!h.undo());
        assert!(h.redo() && *h.now() == 2);
        h.push(5);
        assert!(!h.can_redo(), "a new edit drops the redo steps");
        assert!(h.undo() && *h.now() == 2);
    }
}
