//! The model concern's rules: `[model]` as written ([`ModelSection`]) resolved into the typed
//! [`Model`] — an encoder per modality with its kind's keys and geometry (a resnet18's width
//! filled in), the fusion's arity and keys, and which unimodal-logits mode a fusion allows.
//! Problems are [`ConfigProblem`]s with keys relative to `[model]`; `recipe/` reports them.

use super::config::*;
use crate::config_problem::ConfigProblem;
use crate::kind_name::kind_name;

/// The kind field of an encoder, as messages write it.
const ENCODER_KIND: &str = "model.encoders.*.kind";
/// The kind field of the fusion, as messages write it.
const FUSION_KIND: &str = "model.fusion.kind";

impl ModelSection {
    /// The section's rules for the recipe's `modalities` (in order) whose image shapes are
    /// `shapes` (`None`: a flat feature vector), defaults written back and the encoders of
    /// unused modalities dropped; the typed model.
    pub fn resolve(
        &mut self,
        modalities: &[String],
        shapes: &[Option<[usize; 3]>],
    ) -> Result<Model, ConfigProblem> {
        let mut encoders = Vec::with_capacity(modalities.len());
        for (name, shape) in modalities.iter().zip(shapes) {
            let Some(spec) = self.encoders.get_mut(name) else {
                return Err(ConfigProblem::MissingEncoder {
                    modality: name.clone(),
                }
                .inside("encoders"));
            };
            let encoder = spec
                .resolve(name, *shape)
                .map_err(|p| p.inside(name.as_str()).inside("encoders"))?;
            encoders.push(encoder);
        }
        self.encoders.retain(|k, _| modalities.contains(k));
        let (fusion, unimodal_logits) =
            self.fusion
                .resolve(modalities, &encoders, self.unimodal_logits)?;
        self.unimodal_logits = Some(unimodal_logits);
        Ok(Model {
            encoders,
            fusion,
            unimodal_logits,
        })
    }
}

impl FusionSpec {
    /// The fusion's keys, arity and widths; with the unimodal-logits mode it allows (`given`,
    /// the recipe's, checked against it).
    fn resolve(
        &mut self,
        modalities: &[String],
        encoders: &[Encoder],
        given: Option<UnimodalLogits>,
    ) -> Result<(Fusion, UnimodalLogits), ConfigProblem> {
        let kind = kind_name(&self.kind);
        let inside = |p: ConfigProblem| p.inside("fusion");
        self.keys_apply(&kind).map_err(inside)?;
        let arity = |needs: usize| match modalities.len() == needs {
            true => Ok(()),
            false => Err(inside(ConfigProblem::FusionArity {
                fusion: kind.clone(),
                needs,
                got: modalities.len(),
            })),
        };
        let pick = |key: &str, value: &Option<String>| {
            let chosen = value.clone().unwrap_or_else(|| modalities[0].clone());
            modalities.iter().position(|n| *n == chosen).ok_or_else(|| {
                inside(ConfigProblem::UnknownModality {
                    key: key.into(),
                    got: chosen,
                    known: modalities.join(", "),
                })
            })
        };
        let probe_only = || match given {
            Some(UnimodalLogits::Decompose) => Err(ConfigProblem::DecomposeNeedsLinearFusion {
                fusion: kind.clone(),
            }),
            _ => Ok(UnimodalLogits::Probe),
        };
        Ok(match self.kind {
            FusionKind::Concat | FusionKind::Sum | FusionKind::SumHeads => {
                let unimodal = given.unwrap_or(UnimodalLogits::Decompose);
                let fusion = match self.kind {
                    FusionKind::Sum => {
                        equal_widths(modalities, encoders).map_err(inside)?;
                        Fusion::Sum
                    }
                    FusionKind::SumHeads => Fusion::SumHeads,
                    _ => Fusion::Concat,
                };
                (fusion, unimodal)
            }
            FusionKind::Film => {
                arity(2)?;
                let condition = pick("condition", &self.condition)?;
                self.condition = Some(modalities[condition].clone());
                (Fusion::Film { condition }, probe_only()?)
            }
            FusionKind::Gated => {
                arity(2)?;
                let gate = pick("gate", &self.gate)?;
                // The gated projection defaults to the other modality's feature width.
                let dim = self.dim.unwrap_or(encoders[1 - gate].out);
                ConfigProblem::positive_int("dim", dim).map_err(inside)?;
                self.gate = Some(modalities[gate].clone());
                self.dim = Some(dim);
                (Fusion::Gated { gate, dim }, probe_only()?)
            }
        })
    }

    /// `condition` belongs to film, `gate` and `dim` to gated.
    fn keys_apply(&self, kind: &str) -> Result<(), ConfigProblem> {
        if self.kind != FusionKind::Film {
            ConfigProblem::not_for_kind("condition", &self.condition, "film", FUSION_KIND, kind)?;
        }
        if self.kind != FusionKind::Gated {
            ConfigProblem::not_for_kind("gate", &self.gate, "gated", FUSION_KIND, kind)?;
            ConfigProblem::not_for_kind("dim", &self.dim, "gated", FUSION_KIND, kind)?;
        }
        Ok(())
    }
}

/// Sum fusion adds the features, so every encoder's output is as wide.
fn equal_widths(modalities: &[String], encoders: &[Encoder]) -> Result<(), ConfigProblem> {
    let widths: Vec<usize> = encoders.iter().map(|e| e.out).collect();
    if widths.windows(2).all(|w| w[0] == w[1]) {
        return Ok(());
    }
    Err(ConfigProblem::SumWidthMismatch {
        widths: modalities
            .iter()
            .zip(&widths)
            .map(|(n, w)| format!("{n}: {w}"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

impl EncoderSpec {
    /// The encoder of modality `name`, whose input has image shape `shape` (if any): its
    /// kind's keys, its geometry, its feature width (filled in for resnet18).
    fn resolve(&mut self, name: &str, shape: Option<[usize; 3]>) -> Result<Encoder, ConfigProblem> {
        let kind = kind_name(&self.kind);
        if self.kind == EncoderKind::ResNet18 {
            return self.resolve_resnet(&kind, name, shape);
        }
        let resnet = "resnet18";
        ConfigProblem::not_for_kind(
            "in_channels",
            &self.in_channels,
            resnet,
            ENCODER_KIND,
            &kind,
        )?;
        ConfigProblem::not_for_kind("width", &self.width, resnet, ENCODER_KIND, &kind)?;
        let Some(out) = self.out else {
            return Err(ConfigProblem::KeyRequiredForKind {
                key: "out".into(),
                kind_key: ENCODER_KIND,
                kind,
            });
        };
        ConfigProblem::positive_int("out", out)?;
        let body = self.resolve_body(name, shape)?;
        for (i, h) in self.hidden.iter().enumerate() {
            ConfigProblem::positive_int(format!("hidden[{i}]"), *h)?;
        }
        Ok(Encoder {
            body,
            hidden: self.hidden.clone(),
            out,
            activation: self.activation,
        })
    }

    /// A resnet18: no conv or hidden keys, frames of `in_channels` channels, `out` = 8 × width.
    fn resolve_resnet(
        &mut self,
        kind: &str,
        name: &str,
        shape: Option<[usize; 3]>,
    ) -> Result<Encoder, ConfigProblem> {
        let channels = (!self.channels.is_empty()).then_some(());
        ConfigProblem::not_for_kind("channels", &channels, "conv", ENCODER_KIND, kind)?;
        ConfigProblem::not_for_kind("kernel", &self.kernel, "conv", ENCODER_KIND, kind)?;
        let hidden = (!self.hidden.is_empty()).then_some(());
        ConfigProblem::not_for_kind("hidden", &hidden, "mlp and conv", ENCODER_KIND, kind)?;
        let shape @ [c, _, _] = shape.ok_or_else(|| needs_shape(name))?;
        let width = *self.width.get_or_insert(RESNET_WIDTH);
        ConfigProblem::positive_int("width", width)?;
        let in_channels = *self.in_channels.get_or_insert(c);
        ConfigProblem::positive_int("in_channels", in_channels)?;
        if !c.is_multiple_of(in_channels) {
            return Err(ConfigProblem::Geometry {
                key: "in_channels".into(),
                detail: format!(
                    "modality `{name}` has {c} channels, not a whole number of {in_channels}-channel frames"
                ),
            });
        }
        let out = 8 * width;
        match self.out {
            Some(given) if given != out => {
                return Err(ConfigProblem::Geometry {
                    key: "out".into(),
                    detail: format!(
                        "a resnet18 feature is 8 × width = {out} wide (got {given}); leave `out` out"
                    ),
                });
            }
            _ => self.out = Some(out),
        }
        Ok(Encoder {
            body: EncoderBody::ResNet18 {
                shape,
                in_channels,
                width,
                frames: c / in_channels,
            },
            hidden: Vec::new(),
            out,
            activation: self.activation,
        })
    }

    /// The layers before the fully connected ones: none for mlp, conv blocks that each halve
    /// the map for conv.
    fn resolve_body(
        &mut self,
        name: &str,
        shape: Option<[usize; 3]>,
    ) -> Result<EncoderBody, ConfigProblem> {
        if self.kind == EncoderKind::Mlp {
            let channels = (!self.channels.is_empty()).then_some(());
            ConfigProblem::not_for_kind("channels", &channels, "conv", ENCODER_KIND, "mlp")?;
            ConfigProblem::not_for_kind("kernel", &self.kernel, "conv", ENCODER_KIND, "mlp")?;
            return Ok(EncoderBody::Mlp);
        }
        let shape @ [_, mut h, mut w] = shape.ok_or_else(|| needs_shape(name))?;
        let geometry = |key: &str, detail: String| ConfigProblem::Geometry {
            key: key.into(),
            detail,
        };
        if self.channels.is_empty() {
            return Err(geometry(
                "channels",
                "must list at least one conv block".into(),
            ));
        }
        let k = *self.kernel.get_or_insert(CONV_KERNEL);
        if k.is_multiple_of(2) || k == 0 {
            return Err(geometry("kernel", format!("must be odd (got {k})")));
        }
        for (i, &c) in self.channels.iter().enumerate() {
            ConfigProblem::positive_int(format!("channels[{i}]"), c)?;
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
            channels: self.channels.clone(),
            kernel: k,
        })
    }
}

/// An image encoder on `modality`, which has no image shape.
fn needs_shape(modality: &str) -> ConfigProblem {
    ConfigProblem::NeedsImageShape {
        key: "kind".into(),
        modality: modality.into(),
    }
}
