//! Where the planes a part of a plan reads or writes sit in the tensors it is given.

/// Where a part's planes sit in a tensor of planes [height, width].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// Plane for plane, pixel for pixel.
    Planes,
    /// Space-to-depth: plane 4c + 2a + b, pixel (i, j) is the tensor's plane c, pixel
    /// (2i + a - padding, 2j + b - padding), zero outside it.
    SpaceToDepth {
        height: usize,
        width: usize,
        padding: usize,
    },
}

/// Where one plane of a part sits in its tensor: the tensor's plane, the step between the
/// plane's pixels there, and where its pixel (0, 0) is.
#[derive(Clone, Copy)]
pub(super) struct Placement {
    pub(super) plane: usize,
    pub(super) step: usize,
    pub(super) row: isize,
    pub(super) col: isize,
}

impl Layout {
    pub(super) fn place(self, ch: usize) -> Placement {
        match self {
            Layout::Planes => Placement {
                plane: ch,
                step: 1,
                row: 0,
                col: 0,
            },
            Layout::SpaceToDepth { padding, .. } => Placement {
                plane: ch / 4,
                step: 2,
                row: (ch / 2 % 2) as isize - padding as isize,
                col: (ch % 2) as isize - padding as isize,
            },
        }
    }

    /// The part's planes per plane of the tensor.
    pub(super) fn planes_per_plane(self) -> usize {
        match self {
            Layout::SpaceToDepth { .. } => 4,
            Layout::Planes => 1,
        }
    }

    /// The tensor's planes (height, width), for the part's planes of `height` x `width`.
    pub(super) fn tensor_plane(self, height: usize, width: usize) -> (usize, usize) {
        match self {
            Layout::Planes => (height, width),
            Layout::SpaceToDepth { height, width, .. } => (height, width),
        }
    }
}

/// Where tap k = 2u + v of the space-to-depth filter of plane 4c + 2a + b (`sub` = 2a + b) is in
/// the 4x4 filter of channel c: at (2u + a) x 4 + 2v + b.
pub(super) fn space_to_depth_tap(sub: usize, k: usize) -> usize {
    let (a, b, u, v) = (sub / 2, sub % 2, k / 2, k % 2);
    (2 * u + a) * 4 + 2 * v + b
}
