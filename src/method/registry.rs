//! The macro that turns the one list of methods (`MethodSection` in [`super::config`], each
//! variant `Kind(ItsConfig) => ItsSettings`) into everything that dispatches on the kind: the
//! kind alone (`MethodKind`), the typed choice (`Method`), resolving, reading a `[method]`
//! table once its kind is known, the keys each kind takes, and building the method
//! ([`super::own_step::OwnStep`]). Adding a method is a file of its own and a line in that
//! list.

/// Expands the list of methods; see the module docs.
macro_rules! method_kinds {
    (
        $(#[$meta:meta])*
        pub enum $section:ident {
            $(#[$standard_meta:meta])*
            Standard,
            $(
                $(#[$variant_meta:meta])*
                $kind:ident($config:ty) => $settings:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub enum $section {
            $(#[$standard_meta])*
            Standard,
            $(
                $(#[$variant_meta])*
                $kind($config),
            )*
        }

        /// `method.kind`, read alone first: it decides which config reads the rest of
        /// `[method]`.
        #[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
        #[serde(rename_all = "kebab-case")]
        pub enum MethodKind {
            /// The standard one-forward step.
            #[default]
            Standard,
            $(
                $(#[$variant_meta])*
                $kind,
            )*
        }

        /// `[method]`: the step a run takes, resolved.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Method {
            /// The standard step with the recipe's mixer, modulation and losses.
            Standard,
            $(
                $(#[$variant_meta])*
                $kind($settings),
            )*
        }

        impl $section {
            /// The kind.
            pub fn kind(&self) -> MethodKind {
                match self {
                    $section::Standard => MethodKind::Standard,
                    $($section::$kind(_) => MethodKind::$kind,)*
                }
            }

            /// The typed method, every default written back into the section; checked by
            /// the method's own rules.
            pub fn resolve(&mut self, cx: &MethodContext) -> Result<Method, ConfigProblem> {
                Ok(match self {
                    $section::Standard => Method::Standard,
                    $($section::$kind(c) => Method::$kind(c.resolve(cx)?),)*
                })
            }

            /// The section of `kind`, its keys read from `table` by the kind's config.
            pub fn read<R: TableReader>(kind: MethodKind, table: &R) -> Result<$section, R::Error> {
                Ok(match kind {
                    MethodKind::Standard => $section::Standard,
                    $(MethodKind::$kind => $section::$kind(table.read()?),)*
                })
            }
        }

        /// Each method kind with the `[method]` keys its config takes, in order (the
        /// standard step takes none): read from the config structs themselves, so a key is
        /// stated once.
        pub fn method_keys() -> Vec<(MethodKind, &'static [&'static str])> {
            use super::resolve::field_names;
            vec![
                (MethodKind::Standard, &[]),
                $((MethodKind::$kind, field_names::<$config>()),)*
            ]
        }

        impl Method {
            /// The method with its own step, built (`None`: the standard step).
            pub fn build_own<D: crate::model::Backend>(
                &self,
                cx: &super::own_step::BuildContext,
            ) -> Option<Box<dyn super::Method<D>>> {
                use super::own_step::OwnStep;
                match self {
                    Method::Standard => None,
                    $(Method::$kind(s) => Some(s.build::<D>(cx)),)*
                }
            }
        }
    };
}

pub(crate) use method_kinds;
