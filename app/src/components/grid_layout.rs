//! Where each face of a gallery sits, without asking the DOM: rows of fixed-size cells, a header
//! row before each group. The virtualised grid renders only the rows in view, and the rubber
//! band and the arrow keys find faces from the same numbers.

/// Side of one cell (thumbnail and gap), in CSS pixels.
pub const CELL: f64 = 104.0;
/// Height of a group's header row.
pub const HEADER: f64 = 34.0;
/// Padding inside the scrolling box.
pub const PAD: f64 = 6.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row {
    /// The label of group `group` (faces of a group are next to each other).
    Header { group: u32, top: f64 },
    /// Faces `start..end` of the gallery, left to right.
    Faces { start: usize, end: usize, top: f64 },
}

impl Row {
    pub fn top(&self) -> f64 {
        match *self {
            Row::Header { top, .. } | Row::Faces { top, .. } => top,
        }
    }

    pub fn height(&self) -> f64 {
        match self {
            Row::Header { .. } => HEADER,
            Row::Faces { .. } => CELL,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub cols: usize,
    pub rows: Vec<Row>,
    pub height: f64,
    /// Row of each face.
    row_of: Vec<usize>,
}

impl Layout {
    /// The rows for faces whose groups are `groups` (in gallery order), in a box `width` wide;
    /// `headers`: a header row before each group.
    pub fn new(groups: &[u32], width: f64, headers: bool) -> Layout {
        let cols = (((width - 2.0 * PAD) / CELL).floor() as usize).max(1);
        let (mut rows, mut row_of, mut top) = (Vec::new(), Vec::with_capacity(groups.len()), PAD);
        let mut i = 0;
        while i < groups.len() {
            let g = groups[i];
            let end = groups[i..].iter().position(|&x| x != g).map_or(groups.len(), |k| i + k);
            if headers {
                rows.push(Row::Header { group: g, top });
                top += HEADER;
            }
            for start in (i..end).step_by(cols) {
                let stop = (start + cols).min(end);
                row_of.extend(std::iter::repeat_n(rows.len(), stop - start));
                rows.push(Row::Faces { start, end: stop, top });
                top += CELL;
            }
            i = end;
        }
        Layout { cols, rows, height: top + PAD, row_of }
    }

    /// Rows that overlap `top..bottom` (content pixels), with `margin` rows more each side.
    pub fn rows_in(&self, top: f64, bottom: f64, margin: usize) -> std::ops::Range<usize> {
        let first = self.rows.partition_point(|r| r.top() + r.height() <= top);
        let last = self.rows.partition_point(|r| r.top() < bottom);
        first.saturating_sub(margin)..(last + margin).min(self.rows.len())
    }

    /// Top-left corner of face `i`'s cell.
    pub fn position(&self, i: usize) -> Option<(f64, f64)> {
        let row = self.rows.get(*self.row_of.get(i)?)?;
        match *row {
            Row::Faces { start, top, .. } => Some((PAD + (i - start) as f64 * CELL, top)),
            Row::Header { .. } => None,
        }
    }

    /// Faces whose cells a rectangle (content pixels, any corner order) touches.
    pub fn hits(&self, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> Vec<usize> {
        let (left, right, top, bottom) = (x0.min(x1), x0.max(x1), y0.min(y1), y0.max(y1));
        let col = |x: f64| ((x - PAD) / CELL).floor();
        let (c0, c1) = (col(left).max(0.0) as usize, col(right));
        if c1 < 0.0 {
            return Vec::new();
        }
        let c1 = (c1 as usize).min(self.cols - 1);
        let mut out = Vec::new();
        for row in &self.rows[self.rows_in(top, bottom, 0)] {
            if let Row::Faces { start, end, .. } = *row {
                out.extend((start + c0..=start + c1).take_while(|&i| i < end));
            }
        }
        out
    }

    /// The face a key press moves to from `i`: left/right one face, up/down one row (the same
    /// column, or the row's last face when it is shorter). `None` past either end.
    pub fn step(&self, i: usize, key: &str) -> Option<usize> {
        let n = self.row_of.len();
        match key {
            "ArrowLeft" => i.checked_sub(1),
            "ArrowRight" => (i + 1 < n).then_some(i + 1),
            "ArrowUp" | "ArrowDown" => {
                let row = *self.row_of.get(i)?;
                let Row::Faces { start, .. } = self.rows[row] else { return None };
                let col = i - start;
                let mut r = row;
                loop {
                    r = if key == "ArrowUp" { r.checked_sub(1)? } else { r + 1 };
                    if let Row::Faces { start, end, .. } = *self.rows.get(r)? {
                        return Some((start + col).min(end - 1));
                    }
                }
            }
            "Home" => (n > 0).then_some(0),
            "End" => n.checked_sub(1),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn width(cols: usize) -> f64 {
        2.0 * PAD + cols as f64 * CELL + 1.0
    }

    #[test]
    fn rows_follow_the_width_and_the_groups() {
        let l = Layout::new(&[0; 10], width(4), false);
        assert_eq!(l.cols, 4);
        assert_eq!(l.rows.len(), 3);
        assert_eq!(l.position(5), Some((PAD + CELL, PAD + CELL)));
        // Two groups: each starts a row of its own, after its header.
        let l = Layout::new(&[0, 0, 0, 1, 1], width(2), true);
        let kinds: Vec<&str> = l.rows.iter().map(|r| if matches!(r, Row::Header { .. }) { "h" } else { "f" }).collect();
        assert_eq!(kinds, ["h", "f", "f", "h", "f"]);
        assert_eq!(l.position(3), Some((PAD, PAD + 2.0 * HEADER + 2.0 * CELL)));
        assert!((l.height - (2.0 * PAD + 2.0 * HEADER + 3.0 * CELL)).abs() < 1e-9);
    }

    #[test]
    fn only_rows_in_view_are_rendered() {
        let l = Layout::new(&vec![0; 10_000], width(8), false);
        assert_eq!(l.rows.len(), 1250);
        let r = l.rows_in(50.0 * CELL, 50.0 * CELL + 600.0, 2);
        assert!(r.len() <= 12, "{r:?}");
        assert!(r.contains(&50) && r.contains(&55));
    }

    #[test]
    fn a_rubber_band_selects_the_cells_it_touches() {
        let l = Layout::new(&[0; 12], width(4), false);
        // From inside face 1 to inside face 6 (row 1, column 2).
        let hits = l.hits((PAD + CELL + 10.0, PAD + 10.0), (PAD + 2.0 * CELL + 10.0, PAD + CELL + 10.0));
        assert_eq!(hits, vec![1, 2, 5, 6]);
        assert!(l.hits((0.0, 0.0), (1.0, 1.0)).is_empty(), "the padding holds no face");
        // Past the right edge: up to the last column.
        assert_eq!(l.hits((PAD + 3.0 * CELL + 5.0, PAD + 2.0 * CELL + 5.0), (9999.0, PAD + 2.0 * CELL + 6.0)), vec![11]);
    }

    #[test]
    fn arrows_move_by_face_and_by_row() {
        let l = Layout::new(&[0, 0, 0, 0, 0, 1, 1], width(3), true);
        assert_eq!(l.step(0, "ArrowRight"), Some(1));
        assert_eq!(l.step(0, "ArrowLeft"), None);
        assert_eq!(l.step(1, "ArrowDown"), Some(4));
        // Down from face 2 (col 2) into group 0's short second row: its last face.
        assert_eq!(l.step(2, "ArrowDown"), Some(4));
        // Across the header into group 1.
        assert_eq!(l.step(4, "ArrowDown"), Some(6));
        assert_eq!(l.step(6, "ArrowUp"), Some(4));
        assert_eq!(l.step(6, "ArrowDown"), None);
        assert_eq!(l.step(3, "End"), Some(6));
    }
}
