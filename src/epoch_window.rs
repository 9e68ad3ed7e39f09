//! An epoch window `[start, stop)`: when a schedule (mixing, a modulation, a loss) is active.
//! A leaf shared by every concern that has one.

use serde::{Deserialize, Serialize};

/// An epoch window `[start, stop)`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EpochWindow {
    /// First epoch inside the window (0-based).
    pub start: usize,
    /// First epoch after the window.
    pub stop: usize,
}

impl EpochWindow {
    /// Whether `epoch` lies in `[start, stop)`.
    pub fn contains(&self, epoch: usize) -> bool {
        (self.start..self.stop).contains(&epoch)
    }
}
