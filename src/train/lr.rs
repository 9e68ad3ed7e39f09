//! Learning-rate schedules, evaluated once per epoch.

use crate::recipe::file::{LrScheduleKind, OptimSection};

/// The learning rate of `epoch` (0-based) out of `epochs`.
///
/// Warm-up (w epochs): epoch e < w uses lr · (e + 1)/(w + 1). After warm-up: constant → lr;
/// step → lr · γ^⌊(e − w)/every⌋; cosine → min + (lr − min)(1 + cos(π (e − w)/(E − w)))/2.
pub fn learning_rate(cfg: &OptimSection, epoch: usize, epochs: usize) -> f64 {
    let s = &cfg.schedule;
    let w = s.warmup;
    if epoch < w {
        return cfg.lr * (epoch + 1) as f64 / (w + 1) as f64;
    }
    let e = epoch - w;
    match s.kind {
        LrScheduleKind::Constant => cfg.lr,
        LrScheduleKind::Step => {
            let every = s.every.unwrap_or(1).max(1);
            cfg.lr * s.gamma.unwrap_or(0.1).powi((e / every) as i32)
        }
        LrScheduleKind::Cosine => {
            let min = s.min_lr.unwrap_or(0.0);
            let span = (epochs - w).max(1) as f64;
            min + (cfg.lr - min) * (1.0 + (std::f64::consts::PI * e as f64 / span).cos()) / 2.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::file::LrScheduleSection;

    fn optim(kind: LrScheduleKind, every: Option<usize>, warmup: usize) -> OptimSection {
        OptimSection {
            lr: 0.1,
            schedule: LrScheduleSection {
                kind,
                every,
                gamma: Some(0.5),
                warmup,
                min_lr: Some(0.0),
            },
            ..OptimSection::default()
        }
    }

    #[test]
    fn step_schedule_decays_every_n_epochs() {
        let o = optim(LrScheduleKind::Step, Some(2), 0);
        let lrs: Vec<f64> = (0..5).map(|e| learning_rate(&o, e, 5)).collect();
        assert_eq!(lrs, vec![0.1, 0.1, 0.05, 0.05, 0.025]);
    }

    #[test]
    fn cosine_with_warmup_rises_then_falls_to_min() {
        let o = optim(LrScheduleKind::Cosine, None, 2);
        assert!((learning_rate(&o, 0, 12) - 0.1 / 3.0).abs() < 1e-12);
        assert!((learning_rate(&o, 2, 12) - 0.1).abs() < 1e-12);
        assert!(learning_rate(&o, 11, 12) < 0.01);
        assert!(learning_rate(&o, 7, 12) < learning_rate(&o, 6, 12));
    }
}
