//! Typed geometry shared by the detection and alignment stages, in image pixels (x to the
//! right, y down, origin at the top-left corner of the top-left pixel).

/// A point in image pixels, with sub-pixel precision.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

impl Point {
    pub const fn new(x: f32, y: f32) -> Point {
        Point { x, y }
    }

    /// Euclidean distance to `other`.
    pub fn distance(self, other: Point) -> f32 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// An axis-aligned rectangle in image pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl Rect {
    pub const fn new(x: f32, y: f32, width: f32, height: f32) -> Rect {
        Rect { x, y, width, height }
    }

    /// The whole-pixel region `(x, y, width, height)` this rectangle covers inside an image of
    /// `width` x `height` (outward rounding, clipped), or `None` if nothing of it is inside.
    pub fn pixel_region(&self, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
        let clip = |v: f32, max: u32| if v.is_nan() { 0.0 } else { v.clamp(0.0, max as f32) };
        let (x0, y0) = (clip(self.x.floor(), width), clip(self.y.floor(), height));
        let (x1, y1) = (clip((self.x + self.width).ceil(), width), clip((self.y + self.height).ceil(), height));
        (x1 > x0 && y1 > y0).then(|| (x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
    }
}

impl Rect {
    /// The rectangle between two corners, in either order.
    pub fn from_corners(a: Point, b: Point) -> Rect {
        let (x, y) = (a.x.min(b.x), a.y.min(b.y));
        Rect { x, y, width: (a.x - b.x).abs(), height: (a.y - b.y).abs() }
    }

    pub fn right(&self) -> f32 {
        self.x + self.width
    }

    pub fn bottom(&self) -> f32 {
        self.y + self.height
    }

    /// The area, 0 for an empty or inverted rectangle.
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    /// Intersection over union with `other`: 0 when either is empty, 1 for equal rectangles.
    pub fn iou(&self, other: &Rect) -> f32 {
        let (a, b) = (self.area(), other.area());
        if a <= 0.0 || b <= 0.0 {
            return 0.0;
        }
        let w = (self.right().min(other.right()) - self.x.max(other.x)).max(0.0);
        let h = (self.bottom().min(other.bottom()) - self.y.max(other.y)).max(0.0);
        let inter = w * h;
        inter / (a + b - inter)
    }
}

/// A detected face: its box in the pixels of the image it was found in, and the detector's
/// confidence in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detection {
    pub rect: Rect,
    pub score: f32,
}

/// The 68 iBUG 300-W landmarks of one face, in image pixels: jaw 0..17, eyebrows 17..27,
/// nose 27..36, eyes 36..48 (the subject's right eye, on the image's left, first),
/// mouth 48..68.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Landmarks68(pub [Point; 68]);

impl Landmarks68 {
    pub fn points(&self) -> &[Point; 68] {
        &self.0
    }

    /// The smallest rectangle holding all 68 points.
    pub fn bounds(&self) -> Rect {
        let (lo, hi) = self.0.iter().fold((self.0[0], self.0[0]), |(lo, hi), p| (Point::new(lo.x.min(p.x), lo.y.min(p.y)), Point::new(hi.x.max(p.x), hi.y.max(p.y))));
        Rect::from_corners(lo, hi)
    }
}

/// Stored as 68 `[x, y]` pairs.
impl serde::Serialize for Landmarks68 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| [p.x, p.y]))
    }
}

impl<'de> serde::Deserialize<'de> for Landmarks68 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs = Vec::<[f32; 2]>::deserialize(d)?;
        let n = pairs.len();
        let points: [Point; 68] = pairs
            .into_iter()
            .map(|[x, y]| Point::new(x, y))
            .collect::<Vec<_>>()
            .try_into()
            .map_err(|_| serde::de::Error::invalid_length(n, &"68 landmarks"))?;
        Ok(Landmarks68(points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_pixel_region_rounds_outward_and_clips() {
        assert_eq!(Rect::new(1.5, 2.2, 3.0, 3.0).pixel_region(100, 100), Some((1, 2, 4, 4)));
        assert_eq!(Rect::new(-10.0, 90.0, 30.0, 30.0).pixel_region(100, 100), Some((0, 90, 20, 10)));
        assert_eq!(Rect::new(120.0, 0.0, 30.0, 30.0).pixel_region(100, 100), None);
        assert_eq!(Rect::new(5.0, 5.0, 0.0, 3.0).pixel_region(100, 100), None);
    }

    #[test]
    fn landmarks_round_trip_as_pairs_and_refuse_other_counts() {
        let lm = Landmarks68(std::array::from_fn(|i| Point::new(i as f32, 0.5)));
        let json = serde_json::to_string(&lm).unwrap();
        assert!(json.starts_with("[[0.0,0.5],[1.0,0.5]"));
        assert_eq!(serde_json::from_str::<Landmarks68>(&json).unwrap(), lm);
        let err = serde_json::from_str::<Landmarks68>("[[1,2],[3,4]]").unwrap_err();
        assert!(err.to_string().contains("68 landmarks"), "{err}");
    }

    #[test]
    fn landmark_bounds_hold_every_point() {
        let lm = Landmarks68(std::array::from_fn(|i| Point::new(10.0 + (i % 7) as f32, 20.0 - (i % 5) as f32)));
        assert_eq!(lm.bounds(), Rect::new(10.0, 16.0, 6.0, 4.0));
    }

    #[test]
    fn point_distance() {
        assert_eq!(Point::new(0.0, 0.0).distance(Point::new(3.0, 4.0)), 5.0);
    }
}

#[cfg(test)]
mod rect_tests {
    use super::*;

    #[test]
    fn iou_of_equal_disjoint_half_overlapping_and_empty_rects() {
        let a = Rect::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&Rect::new(20.0, 0.0, 10.0, 10.0)), 0.0);
        // Overlap 5x10 = 50, union 150.
        assert!((a.iou(&Rect::new(5.0, 0.0, 10.0, 10.0)) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&Rect::new(0.0, 0.0, 0.0, 10.0)), 0.0);
    }

    #[test]
    fn from_corners_orders_them() {
        let r = Rect::from_corners(Point::new(4.0, 1.0), Point::new(1.0, 3.0));
        assert_eq!(r, Rect::new(1.0, 1.0, 3.0, 2.0));
        assert_eq!((r.right(), r.bottom(), r.area()), (4.0, 3.0, 6.0));
    }
}
