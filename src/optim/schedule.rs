//! Learning-rate schedules, evaluated once per epoch.

use super::config::{Optimizer, ScheduleShape};

/// The learning rate of `epoch` (0-based) out of `epochs`.
///
/// Warm-up (w epochs): epoch e < w uses lr · (e + 1)/(w + 1). After warm-up: constant → lr;
/// step → lr · γ^⌊(e − w)/every⌋; cosine → min + (lr − min)(1 + cos(π (e − w)/(E − w)))/2.
pub fn learning_rate(cfg: &Optimizer, epoch: usize, epochs: usize) -> f64 {
    let w = cfg.schedule.warmup;
    if epoch < w {
        return cfg.lr * (epoch + 1) as f64 / (w + 1) as f64;
    }
    let e = epoch - w;
    match cfg.schedule.shape {
        ScheduleShape::Constant => cfg.lr,
        ScheduleShape::Step { every, gamma } => cfg.lr * gamma.powi((e / every.max(1)) as i32),
        ScheduleShape::Cosine { min_lr } => {
            let span = (epochs - w).max(1) as f64;
            min_lr
                + (cfg.lr - min_lr) * (1.0 + (std::f64::consts::PI * e as f64 / span).cos()) / 2.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::config::{Schedule, UpdateRule};

    fn optim(shape: ScheduleShape, warmup: usize) -> Optimizer {
        Optimizer {
            lr: 0.1,
            weight_decay: 0.0,
            rule: UpdateRule::Sgd { momentum: 0.0 },
            schedule: Schedule { warmup, shape },
        }
    }

    #[test]
    fn step_schedule_decays_every_n_epochs() {
        let o = optim(
            ScheduleShape::Step {
                every: 2,
                gamma: 0.5,
            },
            0,
        );
        let lrs: Vec<f64> = (0..5).map(|e| learning_rate(&o, e, 5)).collect();
        assert_eq!(lrs, vec![0.1, 0.1, 0.05, 0.05, 0.025]);
    }

    #[test]
    fn cosine_with_warmup_rises_then_falls_to_min() {
        let o = optim(ScheduleShape::Cosine { min_lr: 0.0 }, 2);
        assert!((learning_rate(&o, 0, 12) - 0.1 / 3.0).abs() < 1e-12);
        assert!((learning_rate(&o, 2, 12) - 0.1).abs() < 1e-12);
        assert!(learning_rate(&o, 11, 12) < 0.01);
        assert!(learning_rate(&o, 7, 12) < learning_rate(&o, 6, 12));
    }
}
