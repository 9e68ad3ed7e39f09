//! Rules of `[mixup]`: α, probability, epoch windows, B-MM requirements (fold, two or more
//! modalities, EMA and γ ranges).

use crate::kind_name::kind_name;
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;
use crate::recipe::typed::Mixer;
use crate::recipe::validate::Checker;

impl Checker<'_> {
    pub(in crate::recipe) fn check_mixup(
        &self,
        x: &mut MixupSection,
        modalities: usize,
        epochs: usize,
    ) -> Result<Mixer, RecipeError> {
        self.positive("mixup.alpha", x.alpha)?;
        self.in_range("mixup.probability", x.probability, "[0, 1]", |v| {
            (0.0..=1.0).contains(&v)
        })?;
        let window = x.epochs.unwrap_or(EpochWindow {
            start: 0,
            stop: epochs,
        });
        self.window("mixup.epochs", &window, epochs)?;
        x.epochs = Some(window);
        let method = kind_name(&x.method);
        if x.method != MixupMethod::Bmm {
            self.not_for_kind(
                "mixup.balance",
                &x.balance,
                "method = \"bmm\"",
                "mixup.method",
                &method,
            )?;
            return Ok(match x.method {
                MixupMethod::Input => Mixer::Input,
                MixupMethod::Mm => Mixer::Mm(x.point),
                _ => Mixer::None,
            });
        }
        if !x.fold {
            return Err(RecipeError::BmmWithoutFold {
                origin: self.o("mixup.fold"),
            });
        }
        if modalities < 2 {
            return Err(RecipeError::BmmNeedsModalities {
                origin: self.o("dataset.modalities"),
                got: modalities,
            });
        }
        let b = x.balance.get_or_insert_with(BalanceSection::default);
        self.in_range("mixup.balance.ema", b.ema, "[0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        self.in_range("mixup.balance.gamma", b.gamma, "[0, ∞)", |v| v >= 0.0)?;
        Ok(Mixer::Bmm(b.clone()))
    }
}
