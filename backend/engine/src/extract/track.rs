//! Following faces through a video, so that a real face the face check doubts (eyes closed,
//! looking down: the aligner's points wander there as they do on a dog) is kept when it is
//! where a face that passed was a moment before or after, and looks like the same person.
//!
//! Stills have no such neighbours: a doubtful face in a photo stays doubtful.

use std::collections::VecDeque;

use crate::geometry::Rect;
use crate::nets::recognition::FaceDescriptor;

/// How far apart in time a face that passed may vouch for a doubtful one (seconds). Vouching
/// chains: a face kept this way vouches in turn, so a run of doubtful frames longer than
/// this is kept when every step of it is short.
pub const TRACK_SECONDS: f64 = 0.5;
/// Least overlap of the two boxes. Measured on talk_woman_a.mp4: a doubtful face and the
/// faces that passed within 0.5 s of it overlap by 0.77 to 0.99.
pub const TRACK_IOU: f32 = 0.6;
/// Largest identity distance: face-api.js' same-person threshold. Measured on
/// talk_woman_a.mp4: 0.12 to 0.58 between a doubtful face and its nearest passed one.
pub const TRACK_DISTANCE: f32 = 0.6;

/// Where a face is in a frame, and whose it is.
#[derive(Debug, Clone, Copy)]
pub struct Sighting {
    pub time: f64,
    pub rect: Rect,
    pub identity: FaceDescriptor,
}

impl Sighting {
    /// Whether `self` and `other` are one face seen twice.
    fn same_face(&self, other: &Sighting) -> bool {
        (self.time - other.time).abs() <= TRACK_SECONDS && self.rect.iou(&other.rect) >= TRACK_IOU && self.identity.distance(&other.identity) <= TRACK_DISTANCE
    }
}

/// Faces that passed in the last [`TRACK_SECONDS`], and doubtful faces waiting for one to
/// come along, each with what the caller needs to keep it (`T`).
pub struct Tracker<T> {
    passed: VecDeque<Sighting>,
    waiting: VecDeque<(Sighting, T)>,
}

impl<T> Default for Tracker<T> {
    fn default() -> Self {
        Tracker { passed: VecDeque::new(), waiting: VecDeque::new() }
    }
}

impl<T> Tracker<T> {
    /// Moves the clock to `now` (frames come in time order): returns the doubtful faces no
    /// face can vouch for any more, which stay doubtful.
    pub fn advance(&mut self, now: f64) -> Vec<T> {
        self.passed.retain(|s| now - s.time <= TRACK_SECONDS);
        let mut expired = Vec::new();
        while self.waiting.front().is_some_and(|(s, _)| now - s.time > TRACK_SECONDS) {
            expired.extend(self.waiting.pop_front().map(|(_, t)| t));
        }
        expired
    }

    /// A face that passed the check: returns the waiting doubtful faces it vouches for,
    /// directly or through one another, to be kept.
    pub fn passed(&mut self, face: Sighting) -> Vec<T> {
        let mut kept = Vec::new();
        let mut vouchers = vec![face];
        while let Some(voucher) = vouchers.pop() {
            self.passed.push_back(voucher);
            let mut k = 0;
            while k < self.waiting.len() {
                if self.waiting[k].0.same_face(&voucher) {
                    let (sighting, item) = self.waiting.remove(k).expect("index in range");
                    vouchers.push(sighting);
                    kept.push(item);
                } else {
                    k += 1;
                }
            }
        }
        kept
    }

    /// A face that failed the check. When a face that passed vouches for it, it comes back
    /// at once with the waiting faces it in turn vouches for, all to be kept; otherwise it
    /// waits (an empty list).
    pub fn doubtful(&mut self, face: Sighting, item: T) -> Vec<T> {
        if self.passed.iter().any(|p| p.same_face(&face)) {
            let mut kept = vec![item];
            kept.extend(self.passed(face));
            kept
        } else {
            self.waiting.push_back((face, item));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time: f64, x: f32, who: f32) -> Sighting {
        let mut identity = [0.0; 128];
        identity[0] = who;
        Sighting { time, rect: Rect::new(x, 0.0, 100.0, 100.0), identity: FaceDescriptor(identity) }
    }

    #[test]
    fn a_face_that_passed_vouches_for_the_same_face_nearby_in_time() {
        let mut t = Tracker::default();
        assert!(t.passed(at(0.0, 0.0, 0.0)).is_empty());
        t.advance(0.1);
        assert_eq!(t.doubtful(at(0.1, 5.0, 0.3), "same place, same person"), vec!["same place, same person"]);
        assert!(t.doubtful(at(0.1, 60.0, 0.0), "elsewhere").is_empty());
        assert!(t.doubtful(at(0.1, 0.0, 1.0), "someone else").is_empty());
        // Nobody vouches for them within the window: they stay doubtful.
        assert!(t.advance(0.55).is_empty());
        assert_eq!(t.advance(0.7), vec!["elsewhere", "someone else"]);
    }

    /// Doubtful faces wait for a face that passed after them, and a run of them longer than
    /// the window is kept step by step.
    #[test]
    fn vouching_works_backwards_in_time_and_chains() {
        let mut t = Tracker::default();
        // 25 frames/s, the face moving 10 px a frame: a face overlaps its neighbours two
        // frames away by 0.67, three frames away by 0.54 (less than TRACK_IOU).
        let (step, moving) = (0.04, 10.0);
        let mut expired = Vec::new();
        for k in 0..30 {
            let time = k as f64 * step;
            expired.extend(t.advance(time));
            assert!(t.doubtful(at(time, moving * k as f32, 0.05 * (k % 3) as f32), k).is_empty());
        }
        let time = 30.0 * step;
        expired.extend(t.advance(time));
        assert_eq!(expired, (0..18).collect::<Vec<_>>(), "further back than the window");
        let mut kept = t.passed(at(time, moving * 30.0, 0.0));
        kept.sort();
        assert_eq!(kept, (18..30).collect::<Vec<_>>());
        assert!(t.advance(f64::INFINITY).is_empty());
    }

    #[test]
    fn a_face_too_far_away_in_time_does_not_vouch() {
        let mut t = Tracker::default();
        t.passed(at(0.0, 0.0, 0.0));
        t.advance(0.6);
        assert!(t.doubtful(at(0.6, 0.0, 0.0), 1).is_empty());
        assert_eq!(t.advance(f64::INFINITY), vec![1]);
    }
}
