//! The kernels' raw memory access in one place: the `gemm` crate's matrix product behind
//! checked matrix views, and the output buffer that parallel tasks write in disjoint parts.
//!
//! A matrix view ([`Mat`], [`MatMut`]) is a slice and a [`Layout`] checked against the
//! slice's length when the view is made, so [`gemm_checked`] only has to check that the
//! shapes agree before it hands raw pointers to `gemm`. Every product of the engine goes
//! through it. [`SharedMut`] is the one way a task reaches its part of a buffer that other
//! tasks write at the same time: bounds are checked, disjointness is what its (unsafe)
//! methods' callers state.

use std::marker::PhantomData;

/// Where a matrix's elements lie in a buffer: `rows` x `cols`, element `(i, j)` at
/// `i * row_stride + j * col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl Layout {
    /// Rows of `cols` consecutive floats, one after another.
    pub fn row_major(rows: usize, cols: usize) -> Layout {
        Layout { rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// Rows of `cols` consecutive floats, `row_stride` apart.
    pub fn rows_apart(rows: usize, cols: usize, row_stride: usize) -> Layout {
        Layout { rows, cols, row_stride, col_stride: 1 }
    }

    /// The transpose of a row-major `cols` x `rows` matrix: columns of `rows` consecutive
    /// floats, one after another.
    pub fn transposed(rows: usize, cols: usize) -> Layout {
        Layout { rows, cols, row_stride: 1, col_stride: rows }
    }

    /// Floats a buffer needs to hold the matrix: one past its last element (0 when it is
    /// empty). Panics when that overflows `usize`.
    pub fn span(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return 0;
        }
        let last = (self.rows - 1).checked_mul(self.row_stride).zip((self.cols - 1).checked_mul(self.col_stride)).and_then(|(r, c)| r.checked_add(c)?.checked_add(1));
        last.unwrap_or_else(|| panic!("matrix layout {self:?} overflows"))
    }

    /// Whether no two elements share a float: the axis of the smaller stride fits between
    /// two steps along the other (sufficient, and true of every layout the kernels use).
    pub fn distinct(&self) -> bool {
        let ((a, na), (b, nb)) = if self.row_stride <= self.col_stride {
            ((self.row_stride, self.rows), (self.col_stride, self.cols))
        } else {
            ((self.col_stride, self.cols), (self.row_stride, self.rows))
        };
        (na <= 1 || a >= 1) && (nb <= 1 || b > a.saturating_mul(na.saturating_sub(1)))
    }

    /// The strides as `gemm` takes them: `(column, row)`.
    fn strides(&self) -> (isize, isize) {
        let signed = |v: usize| isize::try_from(v).unwrap_or_else(|_| panic!("matrix layout {self:?}: stride too large"));
        (signed(self.col_stride), signed(self.row_stride))
    }
}

/// A matrix read from a slice that holds all of it (checked when made).
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    data: &'a [f32],
    layout: Layout,
}

impl<'a> Mat<'a> {
    /// The matrix `layout` at the start of `data`. Panics when `data` is too short for it.
    pub fn new(data: &'a [f32], layout: Layout) -> Mat<'a> {
        assert!(layout.span() <= data.len(), "matrix {layout:?} needs {} floats, the slice has {}", layout.span(), data.len());
        Mat { data, layout }
    }

    /// The row-major `rows` x `cols` matrix at the start of `data`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Mat<'a> {
        Mat::new(data, Layout::row_major(rows, cols))
    }
}

/// A matrix written in place: its elements lie inside one buffer (checked when made) that
/// nothing else reads or writes while the view lives.
#[derive(Debug)]
pub struct MatMut<'a> {
    ptr: *mut f32,
    layout: Layout,
    _data: PhantomData<&'a mut [f32]>,
}

impl<'a> MatMut<'a> {
    /// The matrix `layout` at the start of `data`. Panics when `data` is too short for it or
    /// its elements overlap.
    pub fn new(data: &'a mut [f32], layout: Layout) -> MatMut<'a> {
        assert!(layout.span() <= data.len(), "matrix {layout:?} needs {} floats, the slice has {}", layout.span(), data.len());
        assert!(layout.distinct(), "matrix {layout:?}: elements overlap");
        MatMut { ptr: data.as_mut_ptr(), layout, _data: PhantomData }
    }

    /// The row-major `rows` x `cols` matrix at the start of `data`.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> MatMut<'a> {
        MatMut::new(data, Layout::row_major(rows, cols))
    }

    /// Row `i`, for a matrix whose rows are consecutive floats. Panics on any other.
    pub fn row(&mut self, i: usize) -> &mut [f32] {
        let l = self.layout;
        assert!(i < l.rows && (l.col_stride == 1 || l.cols <= 1), "row {i} of {l:?}");
        // SAFETY: the row's floats i * row_stride .. + cols are elements of the matrix, all
        // inside the buffer (checked when the view was made) and reachable through this view
        // alone (its constructors' contract); `&mut self` keeps this the only slice of them.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * l.row_stride), l.cols) }
    }
}

/// `dst = lhs * rhs`, or `dst += lhs * rhs` when `accumulate`, by the `gemm` crate: `dst`
/// `m` x `n`, `lhs` `m` x `k`, `rhs` `k` x `n`. Panics when the shapes disagree; that each
/// operand lies inside its buffer was checked when its view was made.
pub fn gemm_checked(dst: &mut MatMut<'_>, accumulate: bool, lhs: Mat<'_>, rhs: Mat<'_>, parallelism: gemm::Parallelism) {
    let (d, l, r) = (dst.layout, lhs.layout, rhs.layout);
    assert!(d.rows == l.rows && d.cols == r.cols && l.cols == r.rows, "matrix product {l:?} x {r:?} into {d:?}: shapes disagree");
    let (m, n, k) = (d.rows, d.cols, l.cols);
    let ((d_cs, d_rs), (l_cs, l_rs), (r_cs, r_rs)) = (d.strides(), l.strides(), r.strides());
    // SAFETY: every element gemm reads or writes, (i, j) of an m x k, k x n or m x n matrix
    // at i * row stride + j * column stride, lies inside its view's buffer: each view checked
    // span <= length when made, and the shapes agree (asserted). `dst`'s elements are
    // distinct (checked when made) and no one else reads or writes them while the view lives
    // (its contract), so they alias neither operand; the operands are only read.
    unsafe {
        gemm::gemm(
            m, n, k,
            dst.ptr, d_cs, d_rs,
            accumulate,
            lhs.data.as_ptr(), l_cs, l_rs,
            rhs.data.as_ptr(), r_cs, r_rs,
            if accumulate { 1.0 } else { 0.0 }, 1.0,
            false, false, false,
            parallelism,
        );
    }
}

/// A buffer that parallel tasks write in disjoint parts: bounds are checked, disjointness
/// is what the caller of each (unsafe) access states.
#[derive(Debug, Clone, Copy)]
pub struct SharedMut<'a> {
    ptr: *mut f32,
    len: usize,
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: a SharedMut gives access to its buffer only through its unsafe methods, whose
// callers guarantee that what they take is touched by no other task meanwhile; the buffer is
// borrowed mutably for 'a, so it outlives every task holding a copy.
unsafe impl Send for SharedMut<'_> {}
// SAFETY: as for Send: a shared reference reaches the buffer only through those methods.
unsafe impl Sync for SharedMut<'_> {}

impl<'a> SharedMut<'a> {
    /// `data`, to be written in disjoint parts.
    pub fn new(data: &'a mut [f32]) -> SharedMut<'a> {
        SharedMut { ptr: data.as_mut_ptr(), len: data.len(), _data: PhantomData }
    }

    /// Floats `offset..offset + len`. Panics when they are not all inside the buffer.
    ///
    /// # Safety
    /// Nothing else reads or writes these floats while the slice lives.
    #[inline]
    pub unsafe fn slice(&self, offset: usize, len: usize) -> &'a mut [f32] {
        assert!(offset <= self.len && len <= self.len - offset, "floats {offset}..+{len} of a buffer of {}", self.len);
        // SAFETY: inside the buffer (asserted), which lives for 'a; exclusive by the contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(offset), len) }
    }

    /// Writes `v` at `offset`. Panics when `offset` is outside the buffer.
    ///
    /// # Safety
    /// Nothing else reads or writes float `offset` meanwhile.
    #[inline]
    pub unsafe fn write(&self, offset: usize, v: f32) {
        assert!(offset < self.len, "float {offset} of a buffer of {}", self.len);
        // SAFETY: inside the buffer (asserted), not accessed by anyone else (the contract).
        unsafe { *self.ptr.add(offset) = v };
    }

    /// The matrix `layout` from float `offset` on. Panics when it does not lie inside the
    /// buffer or its elements overlap.
    ///
    /// # Safety
    /// Nothing else reads or writes the matrix's elements while the view lives.
    pub unsafe fn matrix(&self, offset: usize, layout: Layout) -> MatMut<'a> {
        assert!(offset <= self.len && layout.span() <= self.len - offset, "matrix {layout:?} at {offset} of a buffer of {}", self.len);
        assert!(layout.distinct(), "matrix {layout:?}: elements overlap");
        // SAFETY: offset <= len (asserted): inside the buffer or one past its end.
        MatMut { ptr: unsafe { self.ptr.add(offset) }, layout, _data: PhantomData }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by definition, for any layouts.
    fn naive(a: &[f32], la: Layout, b: &[f32], lb: Layout) -> Vec<f32> {
        let at = |d: &[f32], l: Layout, i: usize, j: usize| d[i * l.row_stride + j * l.col_stride];
        (0..la.rows).flat_map(|i| (0..lb.cols).map(move |j| (0..la.cols).map(|t| at(a, la, i, t) * at(b, lb, t, j)).sum())).collect()
    }

    /// Row-major, transposed and strided operands, overwritten and accumulated.
    #[test]
    fn products_match_the_definition() {
        let values = |n: usize, seed: f32| (0..n).map(|i| ((i as f32 * 0.37 + seed).sin() * 4.0).round()).collect::<Vec<f32>>();
        let (m, n, k) = (5, 7, 3);
        let a = values(m * k, 1.0);
        let b = values(k * 9, 2.0); // k rows of n, 9 apart
        let (la, lb) = (Layout::row_major(m, k), Layout::rows_apart(k, n, 9));
        let want = naive(&a, la, &b, lb);
        let mut dst = vec![f32::NAN; m * n];
        gemm_checked(&mut MatMut::row_major(&mut dst, m, n), false, Mat::new(&a, la), Mat::new(&b, lb), gemm::Parallelism::None);
        assert_eq!(dst, want, "overwritten, NaN in the destination ignored");
        // a^T stored row-major as [k, m], read transposed.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        gemm_checked(&mut MatMut::row_major(&mut dst, m, n), true, Mat::new(&at, Layout::transposed(m, k)), Mat::new(&b, lb), gemm::Parallelism::Rayon(2));
        assert_eq!(dst, want.iter().map(|v| 2.0 * v).collect::<Vec<_>>(), "accumulated");
    }

    #[test]
    #[should_panic(expected = "needs 15 floats")]
    fn a_short_operand_is_refused() {
        let short = vec![0.0f32; 14];
        Mat::row_major(&short, 5, 3);
    }

    #[test]
    #[should_panic(expected = "shapes disagree")]
    fn disagreeing_shapes_are_refused() {
        let (a, b, mut c) = (vec![0.0f32; 6], vec![0.0f32; 6], vec![0.0f32; 4]);
        gemm_checked(&mut MatMut::row_major(&mut c, 2, 2), false, Mat::row_major(&a, 2, 3), Mat::row_major(&b, 2, 3), gemm::Parallelism::None);
    }

    #[test]
    fn layouts_know_their_span_and_overlap() {
        assert_eq!(Layout::row_major(3, 4).span(), 12);
        assert_eq!(Layout::rows_apart(3, 4, 10).span(), 24);
        assert_eq!(Layout::transposed(3, 4).span(), 12);
        assert_eq!(Layout::row_major(0, 4).span(), 0);
        assert!(Layout::row_major(3, 4).distinct() && Layout::transposed(3, 4).distinct() && Layout::rows_apart(1, 4, 0).distinct());
        assert!(!Layout::rows_apart(3, 4, 3).distinct() && !Layout::rows_apart(2, 1, 0).distinct());
    }

    #[test]
    #[should_panic(expected = "of a buffer of 8")]
    fn shared_parts_stay_inside_the_buffer() {
        let mut data = vec![0.0f32; 8];
        let shared = SharedMut::new(&mut data);
        // SAFETY: the only access to the buffer.
        unsafe { shared.slice(5, 4) };
    }
}
