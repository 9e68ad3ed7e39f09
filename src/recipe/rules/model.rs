//! Rules of `[model]`: an encoder per modality, widths, conv geometry, fusion arity and keys,
//! and which unimodal-logits mode a fusion allows.

use crate::kind_name::kind_name;
use crate::recipe::error::RecipeError;
use crate::recipe::file::*;
use crate::recipe::typed::{self, EncoderBody, Fusion};
use crate::recipe::validate::Checker;

impl Checker<'_> {
    pub(in crate::recipe) fn check_model(
        &self,
        m: &mut ModelSection,
        modalities: &[String],
    ) -> Result<typed::Model, RecipeError> {
        let mut encoders = Vec::with_capacity(modalities.len());
        for name in modalities {
            let Some(enc) = m.encoders.get_mut(name) else {
                return Err(RecipeError::MissingEncoder {
                    origin: self.o("model.encoders"),
                    modality: name.clone(),
                });
            };
            let key = format!("model.encoders.{name}");
            encoders.push(self.check_encoder(&key, name, enc)?);
        }
        m.encoders.retain(|k, _| modalities.contains(k));
        let fusion = &mut m.fusion;
        let kind_name = kind_name(&fusion.kind);
        let arity = |needs: usize| -> Result<(), RecipeError> {
            if modalities.len() == needs {
                Ok(())
            } else {
                Err(RecipeError::FusionArity {
                    origin: self.o("model.fusion.kind"),
                    fusion: kind_name.clone(),
                    needs,
                    got: modalities.len(),
                })
            }
        };
        let pick = |key: &str, value: &Option<String>| -> Result<usize, RecipeError> {
            let chosen = value.clone().unwrap_or_else(|| modalities[0].clone());
            match modalities.iter().position(|n| *n == chosen) {
                Some(index) => Ok(index),
                None => Err(RecipeError::UnknownModality {
                    origin: self.o(key),
                    key: key.into(),
                    got: chosen,
                    manifest: self.manifest.name.clone(),
                    known: modalities.join(", "),
                }),
            }
        };
        self.fusion_keys_apply(fusion, &kind_name)?;
        let (typed_fusion, unimodal_logits) = match fusion.kind {
            FusionKind::Concat | FusionKind::Sum | FusionKind::SumHeads => {
                if fusion.kind == FusionKind::Sum {
                    let widths: Vec<usize> = encoders.iter().map(|e| e.out).collect();
                    if widths.windows(2).any(|w| w[0] != w[1]) {
                        return Err(RecipeError::SumWidthMismatch {
                            origin: self.o("model.fusion.kind"),
                            widths: modalities
                                .iter()
                                .zip(&widths)
                                .map(|(n, w)| format!("{n}: {w}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                }
                let typed_fusion = match fusion.kind {
                    FusionKind::Sum => Fusion::Sum,
                    FusionKind::SumHeads => Fusion::SumHeads,
                    _ => Fusion::Concat,
                };
                let unimodal = m.unimodal_logits.unwrap_or(UnimodalLogits::Decompose);
                (typed_fusion, unimodal)
            }
            FusionKind::Film => {
                arity(2)?;
                let condition = pick("model.fusion.condition", &fusion.condition)?;
                fusion.condition = Some(modalities[condition].clone());
                self.no_decompose(m.unimodal_logits, &kind_name)?;
                (Fusion::Film { condition }, UnimodalLogits::Probe)
            }
            FusionKind::Gated => {
                arity(2)?;
                let gate = pick("model.fusion.gate", &fusion.gate)?;
                // The gated projection defaults to the other modality's feature width.
                let dim = fusion.dim.unwrap_or(encoders[1 - gate].out);
                self.positive_int("model.fusion.dim", dim)?;
                fusion.gate = Some(modalities[gate].clone());
                fusion.dim = Some(dim);
                self.no_decompose(m.unimodal_logits, &kind_name)?;
                (Fusion::Gated { gate, dim }, UnimodalLogits::Probe)
            }
        };
        m.unimodal_logits = Some(unimodal_logits);
        Ok(typed::Model {
            encoders,
            fusion: typed_fusion,
            unimodal_logits,
        })
    }

    /// One modality's encoder: its kind's keys, its geometry, its feature width (filled in
    /// for resnet18).
    fn check_encoder(
        &self,
        key: &str,
        name: &str,
        enc: &mut EncoderSpec,
    ) -> Result<typed::Encoder, RecipeError> {
        let kind = kind_name(&enc.kind);
        let kind_key = "model.encoders.*.kind";
        if enc.kind != EncoderKind::ResNet18 {
            self.not_for_kind(
                &format!("{key}.in_channels"),
                &enc.in_channels,
                "resnet18",
                kind_key,
                &kind,
            )?;
            self.not_for_kind(
                &format!("{key}.width"),
                &enc.width,
                "resnet18",
                kind_key,
                &kind,
            )?;
            let Some(out) = enc.out else {
                return Err(RecipeError::KeyRequiredForKind {
                    origin: self.o(key),
                    key: format!("{key}.out"),
                    kind_key,
                    kind,
                });
            };
            self.positive_int(&format!("{key}.out"), out)?;
            let body = self.check_conv(key, name, enc)?;
            for (i, h) in enc.hidden.iter().enumerate() {
                self.positive_int(&format!("{key}.hidden[{i}]"), *h)?;
            }
            return Ok(typed::Encoder {
                body,
                hidden: enc.hidden.clone(),
                out,
                activation: enc.activation,
            });
        }
        let channels = (!enc.channels.is_empty()).then_some(());
        self.not_for_kind(
            &format!("{key}.channels"),
            &channels,
            "conv",
            kind_key,
            &kind,
        )?;
        self.not_for_kind(
            &format!("{key}.kernel"),
            &enc.kernel,
            "conv",
            kind_key,
            &kind,
        )?;
        let hidden = (!enc.hidden.is_empty()).then_some(());
        self.not_for_kind(
            &format!("{key}.hidden"),
            &hidden,
            "mlp and conv",
            kind_key,
            &kind,
        )?;
        let shape @ [c, _, _] = self.image_shape(key, name)?;
        let width = *enc.width.get_or_insert(typed::RESNET_WIDTH);
        self.positive_int(&format!("{key}.width"), width)?;
        let in_channels = *enc.in_channels.get_or_insert(c);
        self.positive_int(&format!("{key}.in_channels"), in_channels)?;
        if !c.is_multiple_of(in_channels) {
            let key = format!("{key}.in_channels");
            return Err(RecipeError::ConvGeometry {
                origin: self.o(&key),
                key,
                detail: format!(
                    "modality `{name}` has {c} channels, not a whole number of {in_channels}-channel frames"
                ),
            });
        }
        let out = 8 * width;
        match enc.out {
            Some(given) if given != out => {
                let key = format!("{key}.out");
                return Err(RecipeError::ConvGeometry {
                    origin: self.o(&key),
                    key,
                    detail: format!(
                        "a resnet18 feature is 8 × width = {out} wide (got {given}); leave `out` out"
                    ),
                });
            }
            _ => enc.out = Some(out),
        }
        Ok(typed::Encoder {
            body: EncoderBody::ResNet18 {
                shape,
                in_channels,
                width,
                frames: c / in_channels,
            },
            hidden: Vec::new(),
            out,
            activation: enc.activation,
        })
    }

    /// The modality's `[channels, height, width]` from its manifest, which image encoders need.
    fn image_shape(&self, key: &str, name: &str) -> Result<[usize; 3], RecipeError> {
        self.manifest
            .modalities
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.shape)
            .ok_or_else(|| RecipeError::ConvNeedsShape {
                origin: self.o(&format!("{key}.kind")),
                key: format!("{key}.kind"),
                modality: name.into(),
                manifest: self.manifest.name.clone(),
            })
    }

    fn check_conv(
        &self,
        key: &str,
        name: &str,
        enc: &mut EncoderSpec,
    ) -> Result<EncoderBody, RecipeError> {
        if enc.kind == EncoderKind::Mlp {
            let channels = (!enc.channels.is_empty()).then_some(());
            self.not_for_kind(
                &format!("{key}.channels"),
                &channels,
                "conv",
                "model.encoders.*.kind",
                "mlp",
            )?;
            self.not_for_kind(
                &format!("{key}.kernel"),
                &enc.kernel,
                "conv",
                "model.encoders.*.kind",
                "mlp",
            )?;
            return Ok(EncoderBody::Mlp);
        }
        let shape @ [_, mut h, mut w] = self.image_shape(key, name)?;
        let geometry = |field: &str, detail: String| {
            let key = format!("{key}.{field}");
            RecipeError::ConvGeometry {
                origin: self.o(&key),
                key,
                detail,
            }
        };
        if enc.channels.is_empty() {
            return Err(geometry(
                "channels",
                "must list at least one conv block".into(),
            ));
        }
        let k = *enc.kernel.get_or_insert(typed::CONV_KERNEL);
        if k.is_multiple_of(2) || k == 0 {
            return Err(geometry("kernel", format!("must be odd (got {k})")));
        }
        for (i, &c) in enc.channels.iter().enumerate() {
            self.positive_int(&format!("{key}.channels[{i}]"), c)?;
            if h < 2 || w < 2 {
                return Err(geometry(
                    "channels",
                    format!("block {i} would pool a {h}×{w} map; use fewer blocks"),
                ));
            }
            h /= 2;
            w /= 2;
        }
        Ok(EncoderBody::Conv {
            shape,
            channels: enc.channels.clone(),
            kernel: k,
        })
    }

    /// `condition` belongs to film, `gate` and `dim` to gated.
    pub(in crate::recipe) fn fusion_keys_apply(
        &self,
        f: &FusionSpec,
        kind: &str,
    ) -> Result<(), RecipeError> {
        let key = "model.fusion.kind";
        if f.kind != FusionKind::Film {
            self.not_for_kind("model.fusion.condition", &f.condition, "film", key, kind)?;
        }
        if f.kind != FusionKind::Gated {
            self.not_for_kind("model.fusion.gate", &f.gate, "gated", key, kind)?;
            self.not_for_kind("model.fusion.dim", &f.dim, "gated", key, kind)?;
        }
        Ok(())
    }

    pub(in crate::recipe) fn no_decompose(
        &self,
        u: Option<UnimodalLogits>,
        fusion: &str,
    ) -> Result<(), RecipeError> {
        if u == Some(UnimodalLogits::Decompose) {
            return Err(RecipeError::DecomposeNeedsLinearFusion {
                origin: self.o("model.unimodal_logits"),
                fusion: fusion.into(),
            });
        }
        Ok(())
    }
}

/// The recipe name of a fusion, for messages.
pub(in crate::recipe) fn fusion_name(f: &Fusion) -> String {
    match f {
        Fusion::Concat => "concat",
        Fusion::Sum => "sum",
        Fusion::SumHeads => "sum-heads",
        Fusion::Film { .. } => "film",
        Fusion::Gated { .. } => "gated",
    }
    .into()
}
